//! `/prospects`: handlers, and the write rules they share with `/operations`.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse};

use super::view::Graph;
use super::{included_if_asked, path_id, phone_numbers, single, CursorBinding, Precondition};
use crate::auth::Caller;
use crate::clock::now;
use crate::db::DbConnection;
use crate::errors::{ApiError, ApiResult, FieldError};
use crate::jsonapi::body::{self, Attributes, Body, Intent, ResourceInput, Sent, Target};
use crate::jsonapi::document::{Data, Document, Identifier, Linkage, ResourceType};
use crate::jsonapi::query::{Endpoint, Query};
use crate::jsonapi::schema::Relationship as _;
use crate::models::prospect::{NewProspect, ProspectChanges};
use crate::models::{PhoneNumberRow, Prospect, User};
use crate::permissions::{authorize, Access, Action, Principal};
use crate::schema::{PhoneNumberField, ProspectField, Relationship, UserField};

/// The attributes and owner of a prospect write.
struct Draft {
    first_name: Sent<String>,
    last_name: Sent<String>,
    title: Sent<String>,
    company: Sent<String>,
    owner: Option<i64>,
    attributes: Result<(), ApiError>,
}

impl Draft {
    /// Reads the document: malformed linkage (400/409) and an owner that does not exist (404) are
    /// answered now (they decide which records the write touches); validation problems (422:
    /// attributes, unknown relationships, a null owner) are kept for after the permission check.
    fn read(input: &ResourceInput) -> ApiResult<Draft> {
        use ProspectField as F;
        let mut attributes = Attributes::<F>::new(input);
        let (first_name, last_name, title, company) = (
            attributes.string(F::FirstName, 255),
            attributes.string(F::LastName, 255),
            attributes.string(F::Title, 255),
            attributes.string(F::Company, 255),
        );
        let (mut owner, mut invalid) = (None, Vec::new());
        for (name, linkage) in &input.relationships {
            let pointer = format!(
                "{}/relationships/{}",
                input.pointer,
                body::pointer_token(name)
            );
            match Relationship::named(ResourceType::Prospect, name) {
                Some(Relationship::ProspectOwner) if linkage.is_null() => {
                    invalid.push(FieldError::new(
                        pointer,
                        "A prospect always has an owner; `owner` may not be null.",
                    ))
                }
                Some(Relationship::ProspectOwner) => {
                    owner = Some(
                        match body::identifier(
                            linkage,
                            &format!("{pointer}/data"),
                            ResourceType::User,
                        )? {
                            Target::Id(id) => id,
                            Target::Missing(raw) => {
                                return Err(ApiError::not_found("user", raw.trim_matches('"')))
                            }
                            Target::Lid(_) => {
                                return Err(ApiError::bad_request(
                                    format!("{pointer}/data"),
                                    "Users cannot be referred to by `lid`.",
                                ))
                            }
                        },
                    )
                }
                // Read-only here, like `*Phones`: clients such as Ember Data send it back as they got it.
                Some(Relationship::ProspectPhoneNumbers) => {}
                Some(Relationship::PhoneNumberProspect) | None => invalid.push(FieldError::new(
                    pointer,
                    format!("`{name}` is not a relationship of prospect."),
                )),
            }
        }
        let mut errors = attributes.into_errors();
        errors.extend(invalid);
        Ok(Draft {
            first_name,
            last_name,
            title,
            company,
            owner,
            attributes: if errors.is_empty() {
                Ok(())
            } else {
                Err(ApiError::Validation(errors))
            },
        })
    }
}

fn check_owner(conn: &mut DbConnection, owner: Option<i64>) -> ApiResult<()> {
    match owner {
        Some(owner) if User::find(conn, owner)?.is_none() => {
            Err(ApiError::not_found("user", owner))
        }
        _ => Ok(()),
    }
}

/// Creates a prospect from a checked resource object; the owner defaults to the caller.
pub fn create(
    conn: &mut DbConnection,
    principal: &Principal,
    input: &ResourceInput,
) -> ApiResult<Prospect> {
    let draft = Draft::read(input)?;
    check_owner(conn, draft.owner)?;
    let owner_id = draft.owner.unwrap_or(principal.user_id);
    authorize(principal, &Action::CreateProspect { owner_id })?;
    draft.attributes?;
    let at = now();
    Ok(Prospect::create(
        conn,
        NewProspect {
            owner_id,
            first_name: draft.first_name.value(),
            last_name: draft.last_name.value(),
            title: draft.title.value(),
            company: draft.company.value(),
            version: 1,
            created_at: at,
            updated_at: at,
        },
    )?)
}

/// Updates prospect `id` (partial).
pub fn update(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
    input: &ResourceInput,
    precondition: &Precondition,
) -> ApiResult<Prospect> {
    let draft = Draft::read(input)?;
    let current = Prospect::find(conn, id)?.ok_or_else(|| ApiError::not_found("prospect", id))?;
    check_owner(conn, draft.owner)?;
    let changes_owner = draft.owner.is_some_and(|owner| owner != current.owner_id);
    authorize(
        principal,
        &Action::UpdateProspect {
            owner_id: current.owner_id,
            changes_owner,
        },
    )?;
    draft.attributes?;
    let changes = ProspectChanges {
        owner_id: draft.owner.filter(|_| changes_owner),
        first_name: draft.first_name.into_change(),
        last_name: draft.last_name.into_change(),
        title: draft.title.into_change(),
        company: draft.company.into_change(),
    };
    Ok(Prospect::update(conn, id, &changes, &|version| {
        precondition.allows(id, version)
    })?)
}

/// Deletes prospect `id` and its numbers.
pub fn delete(
    conn: &mut DbConnection,
    principal: &Principal,
    id: i64,
    precondition: &Precondition,
) -> ApiResult<()> {
    let current = Prospect::find(conn, id)?.ok_or_else(|| ApiError::not_found("prospect", id))?;
    authorize(
        principal,
        &Action::DeleteProspect {
            owner_id: current.owner_id,
        },
    )?;
    Ok(Prospect::delete(conn, id, &|version| {
        precondition.allows(id, version)
    })?)
}

/// Answers with one prospect: `work` produces it (a lookup, or a write), and what the query
/// includes is loaded in the same database call.
async fn respond_one<F>(
    caller: &Caller,
    query: &Query<ProspectField>,
    status: StatusCode,
    work: F,
) -> ApiResult<HttpResponse>
where
    F: FnOnce(&mut DbConnection) -> ApiResult<Prospect> + Send + 'static,
{
    let needs = caller.needs(query);
    let (row, graph) = caller
        .database(move |conn| {
            let row = work(conn)?;
            let graph = Graph::for_prospects(conn, std::slice::from_ref(&row), needs)?;
            Ok((row, graph))
        })
        .await?;
    let view = caller.view(query);
    let own = caller.base.url(format_args!("/prospects/{}", row.id));
    let mut document = Document::new(
        Data::One(Some(view.prospect(&row, graph.phones_of(&row)))),
        own.clone(),
    );
    if caller.path != format!("/prospects/{}", row.id) && status == StatusCode::OK {
        // A related-resource response (`/phoneNumbers/{id}/prospect`): self is the URL asked for.
        document.links[0].1 = Some(caller.self_link());
    }
    document.included = included_if_asked(
        query,
        graph.included_for_prospects(&view, needs.includes, std::slice::from_ref(&row)),
    );
    let mut response = single(
        caller,
        status,
        document,
        Some(super::etag(row.id, row.version)),
    );
    if status == StatusCode::CREATED {
        response.headers_mut().insert(
            header::LOCATION,
            header::HeaderValue::from_str(&own).map_err(|e| ApiError::Internal(e.to_string()))?,
        );
    }
    Ok(response)
}

pub async fn list_prospects(caller: Caller) -> ApiResult<HttpResponse> {
    let query = caller.query::<ProspectField>(Endpoint::Collection, Access::Read)?;
    let binding = CursorBinding::new(&query, None);
    let listing = caller.listing(&query, &binding)?;
    let needs = caller.needs(&query);
    let db_listing = listing.clone();
    let (page, graph) = caller
        .database(move |conn| {
            let page = Prospect::list(conn, &db_listing)?;
            let graph = Graph::for_prospects(conn, &page.rows, needs)?;
            Ok((page, graph))
        })
        .await?;
    let view = caller.view(&query);
    let data = graph.prospect_resources(&view, &page.rows);
    let included = included_if_asked(
        &query,
        graph.included_for_prospects(&view, needs.includes, &page.rows),
    );
    let document = caller.collection(&page, &listing, &binding, data, included);
    Ok(document.respond(StatusCode::OK))
}

pub async fn get_prospect(caller: Caller, id: web::Path<String>) -> ApiResult<HttpResponse> {
    let query = caller.query::<ProspectField>(Endpoint::Single, Access::Read)?;
    let id = path_id(&id, ResourceType::Prospect)?;
    respond_one(&caller, &query, StatusCode::OK, move |conn| {
        Prospect::find(conn, id)?.ok_or_else(|| ApiError::not_found("prospect", id))
    })
    .await
}

/// The prospect of phone number `phone_number_id` (`GET /phoneNumbers/{id}/prospect`). The path id
/// is resolved after the query and scope checks (API.md section 9).
pub async fn related_prospect(
    caller: Caller,
    phone_number_id: ApiResult<i64>,
) -> ApiResult<HttpResponse> {
    let query = caller.query::<ProspectField>(Endpoint::Single, Access::Read)?;
    let phone_number_id = phone_number_id?;
    respond_one(&caller, &query, StatusCode::OK, move |conn| {
        let number = PhoneNumberRow::find(conn, phone_number_id)?
            .ok_or_else(|| ApiError::not_found("phoneNumber", phone_number_id))?;
        Prospect::find(conn, number.prospect_id)?
            .ok_or_else(|| ApiError::not_found("prospect", number.prospect_id))
    })
    .await
}

pub async fn create_prospect(caller: Caller, body: Body) -> ApiResult<HttpResponse> {
    let query = caller.query::<ProspectField>(Endpoint::Single, Access::Write)?;
    let input =
        body::resource_document(&body.read().await?, ResourceType::Prospect, Intent::Create)?;
    let principal = caller.principal.clone();
    respond_one(&caller, &query, StatusCode::CREATED, move |conn| {
        create(conn, &principal, &input)
    })
    .await
}

pub async fn update_prospect(
    caller: Caller,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<HttpResponse> {
    let query = caller.query::<ProspectField>(Endpoint::Single, Access::Write)?;
    let id = path_id(&id, ResourceType::Prospect)?;
    let input = body::resource_document(
        &body.read().await?,
        ResourceType::Prospect,
        Intent::Update { id },
    )?;
    let principal = caller.principal.clone();
    let precondition = Precondition::from_headers(caller.headers());
    respond_one(&caller, &query, StatusCode::OK, move |conn| {
        update(conn, &principal, id, &input, &precondition)
    })
    .await
}

pub async fn delete_prospect(caller: Caller, id: web::Path<String>) -> ApiResult<HttpResponse> {
    caller.query::<ProspectField>(Endpoint::Bare, Access::Delete)?;
    let id = path_id(&id, ResourceType::Prospect)?;
    let principal = caller.principal.clone();
    let precondition = Precondition::from_headers(caller.headers());
    caller
        .database(move |conn| delete(conn, &principal, id, &precondition))
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /prospects/{id}/phoneNumbers`: the prospect's numbers, with the full query language.
pub async fn list_prospect_phone_numbers(
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    phone_numbers::list(caller, Some(path_id(&id, ResourceType::Prospect))).await
}

/// `GET /prospects/{id}/owner`.
pub async fn get_prospect_owner(caller: Caller, id: web::Path<String>) -> ApiResult<HttpResponse> {
    // Like every related endpoint, this needs the read scope of what it returns (API.md
    // section 9: every resource in a response needs the read scope of its type).
    let query = caller.query::<UserField>(Endpoint::Single, Access::Read)?;
    let id = path_id(&id, ResourceType::Prospect)?;
    let user = caller
        .database(move |conn| {
            let prospect =
                Prospect::find(conn, id)?.ok_or_else(|| ApiError::not_found("prospect", id))?;
            User::find(conn, prospect.owner_id)?
                .ok_or_else(|| ApiError::not_found("user", prospect.owner_id))
        })
        .await?;
    let view = caller.view(&query);
    let mut document = Document::new(Data::One(Some(view.user(&user))), caller.self_link());
    document.included = included_if_asked(&query, Vec::new());
    Ok(document.respond(StatusCode::OK))
}

/// `GET /prospects/{id}/relationships/phoneNumbers`: full linkage in `order`, not paginated.
pub async fn get_prospect_phone_numbers_relationship(
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    caller.query::<ProspectField>(Endpoint::Bare, Access::Read)?;
    let id = path_id(&id, ResourceType::Prospect)?;
    let prospect = caller
        .database(move |conn| {
            Prospect::find(conn, id)?.ok_or_else(|| ApiError::not_found("prospect", id))
        })
        .await?;
    let linkage = Linkage::ToMany(
        prospect
            .phones
            .iter()
            .map(|row| Identifier {
                kind: ResourceType::PhoneNumber,
                id: row.id,
            })
            .collect(),
    );
    Ok(
        super::relationship_document(&caller, Relationship::ProspectPhoneNumbers, id, linkage)
            .respond(StatusCode::OK),
    )
}

/// `POST /prospects/{id}/relationships/phoneNumbers`: moves the listed numbers to this prospect
/// (those already on it stay where they are), all or nothing.
pub async fn add_prospect_phone_numbers(
    caller: Caller,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<HttpResponse> {
    // A move needs `phoneNumbers.write` only (API.md section 9); the record rule then asks
    // whether the caller may write both prospects.
    caller.query::<PhoneNumberField>(Endpoint::Bare, Access::Write)?;
    let id = path_id(&id, ResourceType::Prospect)?;
    let linkage = body::linkage_document(&body.read().await?)?;
    let items = linkage.as_array().ok_or_else(|| {
        ApiError::bad_request(
            "/data",
            "`phoneNumbers` is to-many: `data` must be an array.",
        )
    })?;
    let targets = items
        .iter()
        .enumerate()
        .map(|(index, item)| {
            body::identifier(item, &format!("/data/{index}"), ResourceType::PhoneNumber)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let principal = caller.principal.clone();
    caller
        .database(move |conn| {
            crate::db::write_transaction(conn, |conn| {
                Prospect::find(conn, id)?.ok_or_else(|| ApiError::not_found("prospect", id))?;
                let known: Vec<i64> = targets
                    .iter()
                    .filter_map(|target| match target {
                        Target::Id(number_id) => Some(*number_id),
                        _ => None,
                    })
                    .collect();
                PhoneNumberRow::lock_lists_for_move(conn, &known, id)?;
                for (index, target) in targets.iter().enumerate() {
                    let number_id = match target {
                        Target::Id(number_id) => *number_id,
                        Target::Missing(raw) => {
                            return Err(ApiError::not_found("phoneNumber", raw.trim_matches('"')))
                        }
                        Target::Lid(lid) => return Err(ApiError::not_found("phoneNumber", lid)),
                    };
                    let number = PhoneNumberRow::find(conn, number_id)?
                        .ok_or_else(|| ApiError::not_found("phoneNumber", number_id))?;
                    if number.prospect_id != id {
                        phone_numbers::move_to(
                            conn,
                            &principal,
                            (number_id, id),
                            &Precondition::None,
                            &format!("/data/{index}"),
                        )?;
                    }
                }
                Ok(())
            })
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /prospects/{id}/relationships/owner`.
pub async fn get_prospect_owner_relationship(
    caller: Caller,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    caller.query::<ProspectField>(Endpoint::Bare, Access::Read)?;
    let id = path_id(&id, ResourceType::Prospect)?;
    let row = caller
        .database(move |conn| {
            Prospect::find(conn, id)?.ok_or_else(|| ApiError::not_found("prospect", id))
        })
        .await?;
    let linkage = Linkage::ToOne(Some(Identifier {
        kind: ResourceType::User,
        id: row.owner_id,
    }));
    Ok(
        super::relationship_document(&caller, Relationship::ProspectOwner, id, linkage)
            .respond(StatusCode::OK),
    )
}

/// `PATCH /prospects/{id}/relationships/owner` (admins only).
pub async fn update_prospect_owner_relationship(
    caller: Caller,
    id: web::Path<String>,
    body: Body,
) -> ApiResult<HttpResponse> {
    caller.query::<ProspectField>(Endpoint::Bare, Access::Write)?;
    let id = path_id(&id, ResourceType::Prospect)?;
    let target = body::to_one_linkage(&body.read().await?, "owner", ResourceType::User)?;
    let principal = caller.principal.clone();
    let precondition = Precondition::from_headers(caller.headers());
    let row = caller
        .database(move |conn| {
            let current =
                Prospect::find(conn, id)?.ok_or_else(|| ApiError::not_found("prospect", id))?;
            let owner = match target {
                Some(Target::Id(owner)) => owner,
                Some(Target::Missing(raw)) => {
                    return Err(ApiError::not_found("user", raw.trim_matches('"')))
                }
                Some(Target::Lid(lid)) => return Err(ApiError::not_found("user", lid)),
                None => 0,
            };
            if owner != 0 {
                check_owner(conn, Some(owner))?;
            }
            authorize(
                &principal,
                &Action::ChangeOwner {
                    owner_id: current.owner_id,
                },
            )?;
            if owner == 0 {
                return Err(ApiError::invalid(
                    "/data",
                    "A prospect always has an owner; `data` may not be null.",
                ));
            }
            let changes = ProspectChanges {
                owner_id: Some(owner),
                ..ProspectChanges::default()
            };
            Ok(Prospect::update(conn, id, &changes, &|version| {
                precondition.allows(id, version)
            })?)
        })
        .await?;
    let linkage = Linkage::ToOne(Some(Identifier {
        kind: ResourceType::User,
        id: row.owner_id,
    }));
    let document = super::relationship_document(&caller, Relationship::ProspectOwner, id, linkage);
    Ok(single(
        &caller,
        StatusCode::OK,
        document,
        Some(super::etag(row.id, row.version)),
    ))
}
