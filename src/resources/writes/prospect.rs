//! The write rules of a prospect, shared by `/prospects` and `/operations`.

use super::Delete;
use crate::db::DbConnection;
use crate::errors::{ApiError, ApiResult, FieldError};
use crate::jsonapi::body::{self, Attributes, ResourceInput, Sent, Target};
use crate::jsonapi::document::ResourceType;
use crate::jsonapi::schema::Relationship as _;
use crate::models::prospect::{NewProspect, ProspectChanges};
use crate::models::Journal;
use crate::models::{Prospect, User, Versioned};
use crate::permissions::{authorize, Action, Principal};
use crate::resources::conditional::Precondition;
use crate::resources::served::existing;
use crate::schema::{ProspectField, Relationship};

/// The attributes and owner of a prospect write.
struct Draft {
    first_name: Sent<String>,
    last_name: Sent<String>,
    title: Sent<String>,
    company: Sent<String>,
    external_id: Sent<String>,
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
        let (first_name, last_name, title, company, external_id) = (
            attributes.string(F::FirstName, 255),
            attributes.string(F::LastName, 255),
            attributes.string(F::Title, 255),
            attributes.string(F::Company, 255),
            attributes.string(F::ExternalId, 255),
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
                                return Err(ApiError::not_found(
                                    ResourceType::User,
                                    raw.trim_matches('"'),
                                ))
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
                Some(
                    Relationship::PhoneNumberProspect
                    | Relationship::PhoneNumberSharedWith
                    | Relationship::ChangeActor,
                )
                | None => invalid.push(FieldError::new(
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
            external_id,
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
            Err(ApiError::not_found(ResourceType::User, owner))
        }
        _ => Ok(()),
    }
}

/// The prospect a create's resource object asks for, checked in the order of a create (an owner
/// that does not exist 404, the record permission 403, the attributes 422); the owner defaults to
/// the caller. Writes nothing.
pub fn prepare(
    conn: &mut DbConnection,
    principal: &Principal,
    input: &ResourceInput,
) -> ApiResult<NewProspect> {
    let draft = Draft::read(input)?;
    check_owner(conn, draft.owner)?;
    let owner_id = draft.owner.unwrap_or(principal.user_id);
    authorize(principal, &Action::CreateProspect { owner_id })?;
    draft.attributes?;
    Ok(NewProspect {
        owner_id,
        first_name: draft.first_name.value(),
        last_name: draft.last_name.value(),
        title: draft.title.value(),
        company: draft.company.value(),
        external_id: draft.external_id.value(),
    })
}

/// Creates a prospect from a checked resource object; the owner defaults to the caller.
pub fn create(
    conn: &mut DbConnection,
    journal: &mut Journal,
    principal: &Principal,
    input: &ResourceInput,
) -> ApiResult<Prospect> {
    let new = prepare(conn, principal, input)?;
    Ok(Prospect::create(conn, journal, new)?)
}

/// Creates the prospects of `inputs` as [`create`] one after the other would, in one batched
/// write ([`Prospect::create_many`]); refusals as [`super::phone_number::create_many`] reports
/// them (the first, with its index).
pub fn create_many(
    conn: &mut DbConnection,
    journal: &mut Journal,
    principal: &Principal,
    inputs: &[&ResourceInput],
) -> Result<Vec<Prospect>, (usize, ApiError)> {
    super::create_run(
        conn,
        journal,
        inputs,
        |conn, input| prepare(conn, principal, input),
        Prospect::create_many,
        |conn, journal, new| Prospect::create(conn, journal, new.clone()),
    )
}

/// Updates prospect `id` (partial).
pub fn update(
    conn: &mut DbConnection,
    journal: &mut Journal,
    principal: &Principal,
    id: i64,
    input: &ResourceInput,
    precondition: &Precondition,
) -> ApiResult<Prospect> {
    let draft = Draft::read(input)?;
    let current = existing::<Prospect>(conn, id)?;
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
        external_id: draft.external_id.into_change(),
    };
    super::update(conn, journal, current, &changes, precondition)
}

impl super::Deletable for Prospect {
    /// Deletes the prospect and its numbers.
    const DELETE: Delete = <Prospect as Versioned>::delete;

    fn authorize_delete(
        _: &mut DbConnection,
        principal: &Principal,
        row: &Prospect,
    ) -> ApiResult<()> {
        let owner_id = row.owner_id;
        Ok(authorize(principal, &Action::DeleteProspect { owner_id })?)
    }
}

/// Gives prospect `id` the owner a to-one linkage names (`PATCH
/// /prospects/{id}/relationships/owner`, admins only): 404 for a prospect or user that does not
/// exist, 422 for `null` (a prospect always has an owner), after the record permission.
pub fn change_owner(
    conn: &mut DbConnection,
    journal: &mut Journal,
    principal: &Principal,
    id: i64,
    target: Option<Target>,
    precondition: &Precondition,
) -> ApiResult<Prospect> {
    let current = existing::<Prospect>(conn, id)?;
    let owner = match target {
        Some(Target::Id(owner)) => Some(owner),
        Some(Target::Missing(raw)) => {
            return Err(ApiError::not_found(
                ResourceType::User,
                raw.trim_matches('"'),
            ))
        }
        Some(Target::Lid(lid)) => return Err(ApiError::not_found(ResourceType::User, lid)),
        None => None,
    };
    check_owner(conn, owner)?;
    let owner_id = current.owner_id;
    authorize(principal, &Action::ChangeOwner { owner_id })?;
    let Some(owner) = owner else {
        return Err(ApiError::invalid(
            "/data",
            "A prospect always has an owner; `data` may not be null.",
        ));
    };
    let changes = ProspectChanges {
        owner_id: Some(owner),
        ..ProspectChanges::default()
    };
    super::update(conn, journal, current, &changes, precondition)
}
