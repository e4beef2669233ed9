//! `POST /operations`: the JSON:API Atomic Operations extension. Operations run in order inside one
//! transaction; the first failure rolls everything back and answers with that operation's status,
//! its pointers re-rooted at `/atomic:operations/N`. Each operation goes through the same write
//! rules (scope, existence, record permission, validation) as the single-resource endpoints.

use std::collections::HashMap;

use actix_web::HttpResponse;
use serde_json::{Map, Value};

use super::phone_numbers::{self, Lids};
use super::view::View;
use super::{prospects, Precondition};
use crate::auth::Caller;
use crate::db::{self, DbConnection};
use crate::errors::{ApiError, ApiResult};
use crate::jsonapi::body::{self, Intent, Target};
use crate::jsonapi::document::{AtomicResults, ResourceType};
use crate::models::{PhoneNumberRow, Prospect};
use crate::permissions::{Access, Principal};

/// Most operations one request may carry.
pub const MAX_OPERATIONS: usize = 1000;

/// What one operation produced, for `atomic:results`.
enum Outcome {
    PhoneNumber(i64),
    Prospect(i64),
    Nothing,
}

/// Local ids created so far, per type.
#[derive(Default)]
struct LocalIds {
    prospects: Lids,
    phone_numbers: Lids,
}

impl LocalIds {
    fn resolve(&self, kind: ResourceType, target: &Target, pointer: &str) -> ApiResult<i64> {
        let lids = if kind == ResourceType::Prospect {
            &self.prospects
        } else {
            &self.phone_numbers
        };
        Ok(target.resolve(kind, pointer, lids)?)
    }
}

fn kind_named(name: &str, pointer: &str) -> ApiResult<ResourceType> {
    match ResourceType::named(name) {
        Some(kind @ (ResourceType::PhoneNumber | ResourceType::Prospect)) => Ok(kind),
        Some(ResourceType::User) | None => Err(ApiError::bad_request(
            pointer,
            format!("Atomic operations work on phoneNumber and prospect, not `{name}`."),
        )),
    }
}

/// Reads and checks the request document: 400 when it is not an Atomic Operations document or has
/// too many operations.
fn operations(bytes: &[u8]) -> ApiResult<Vec<Value>> {
    let document = body::parse_json(bytes)?;
    let operations = document
        .as_object()
        .ok_or_else(|| ApiError::bad_request("", "The document must be a JSON object."))?
        .get("atomic:operations")
        .ok_or_else(|| ApiError::bad_request("", "The document has no `atomic:operations`."))?
        .as_array()
        .ok_or_else(|| {
            ApiError::bad_request(
                "/atomic:operations",
                "`atomic:operations` must be an array.",
            )
        })?;
    if operations.is_empty() {
        return Err(ApiError::bad_request(
            "/atomic:operations",
            "`atomic:operations` is empty.",
        ));
    }
    if operations.len() > MAX_OPERATIONS {
        return Err(ApiError::bad_request(
            "/atomic:operations",
            format!("At most {MAX_OPERATIONS} operations per request; nothing was applied."),
        ));
    }
    Ok(operations.clone())
}

/// Runs one operation (pointers relative to the operation object).
fn apply(
    conn: &mut DbConnection,
    principal: &Principal,
    region: &str,
    operation: &Value,
    lids: &mut LocalIds,
) -> ApiResult<Outcome> {
    let operation: &Map<String, Value> = operation
        .as_object()
        .ok_or_else(|| ApiError::bad_request("", "An operation must be a JSON object."))?;
    let op = operation
        .get("op")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::bad_request("", "An operation needs `op`."))?;
    let reference = match operation.get("ref") {
        None | Some(Value::Null) => None,
        Some(Value::Object(reference)) => Some(reference),
        Some(_) => return Err(ApiError::bad_request("/ref", "`ref` must be an object.")),
    };
    let data = operation.get("data");
    let require = |kind: ResourceType, access: Access| -> ApiResult<()> {
        crate::permissions::require_scope(principal, kind, access).map_err(ApiError::from)
    };
    match op {
        "add" => {
            let data =
                data.ok_or_else(|| ApiError::bad_request("", "An `add` operation needs `data`."))?;
            let type_name = data.get("type").and_then(Value::as_str).ok_or_else(|| {
                ApiError::bad_request("/data", "The resource object has no `type`.")
            })?;
            let kind = kind_named(type_name, "/data/type")?;
            if let Some(href) = operation.get("href").and_then(Value::as_str) {
                if !href
                    .trim_end_matches('/')
                    .ends_with(&format!("/{}", kind.collection()))
                {
                    return Err(ApiError::bad_request(
                        "/href",
                        format!("`href` must be the {} collection.", kind.collection()),
                    ));
                }
            }
            require(kind, Access::Write)?;
            let input = body::resource_object(data, "/data", kind, Intent::Create)?;
            if kind == ResourceType::Prospect {
                let row = prospects::create(conn, principal, &input)?;
                if let Some(lid) = &input.lid {
                    lids.prospects.insert(lid.clone(), row.id);
                }
                Ok(Outcome::Prospect(row.id))
            } else {
                let row = phone_numbers::create(conn, principal, &input, region, &lids.prospects)?;
                if let Some(lid) = &input.lid {
                    lids.phone_numbers.insert(lid.clone(), row.id);
                }
                Ok(Outcome::PhoneNumber(row.id))
            }
        }
        "update" | "remove" => {
            let (kind, target, relationship) = match reference {
                Some(reference) => {
                    let type_name = reference
                        .get("type")
                        .and_then(Value::as_str)
                        .ok_or_else(|| ApiError::bad_request("/ref", "`ref` needs `type`."))?;
                    let kind = kind_named(type_name, "/ref/type")?;
                    let target = body::identifier(&Value::Object(reference.clone()), "/ref", kind)?;
                    let relationship = reference
                        .get("relationship")
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                    (kind, target, relationship)
                }
                None if op == "update" => {
                    let data = data.ok_or_else(|| {
                        ApiError::bad_request("", "An `update` operation needs `data`.")
                    })?;
                    let type_name = data.get("type").and_then(Value::as_str).ok_or_else(|| {
                        ApiError::bad_request("/data", "The resource object has no `type`.")
                    })?;
                    let kind = kind_named(type_name, "/data/type")?;
                    (kind, body::identifier(data, "/data", kind)?, None)
                }
                None => {
                    return Err(ApiError::bad_request(
                        "",
                        "A `remove` operation needs `ref`.",
                    ))
                }
            };
            let pointer = if reference.is_some() { "/ref" } else { "/data" };
            if op == "remove" {
                if relationship.is_some() {
                    return Err(ApiError::Forbidden("Relationship members cannot be removed: a number always belongs to a prospect.".into()));
                }
                require(kind, Access::Delete)?;
                let id = lids.resolve(kind, &target, pointer)?;
                if kind == ResourceType::Prospect {
                    prospects::delete(conn, principal, id, &Precondition::None)?;
                } else {
                    phone_numbers::delete(conn, principal, id, &Precondition::None)?;
                }
                return Ok(Outcome::Nothing);
            }
            require(kind, Access::Write)?;
            let data = data
                .ok_or_else(|| ApiError::bad_request("", "An `update` operation needs `data`."))?;
            let id = lids.resolve(kind, &target, pointer)?;
            match relationship.as_deref() {
                Some("prospect") if kind == ResourceType::PhoneNumber => {
                    if data.is_null() {
                        return Err(ApiError::invalid(
                            "/data",
                            "A phone number always belongs to a prospect; `data` may not be null.",
                        ));
                    }
                    let target = body::identifier(data, "/data", ResourceType::Prospect)?;
                    let prospect_id = lids.resolve(ResourceType::Prospect, &target, "/data")?;
                    phone_numbers::move_to(
                        conn,
                        principal,
                        (id, prospect_id),
                        &Precondition::None,
                        "/data/relationships/prospect",
                    )?;
                    Ok(Outcome::Nothing)
                }
                Some(other) => Err(ApiError::Forbidden(format!(
                    "The `{other}` relationship of {} cannot be updated with an operation.",
                    kind.name()
                ))),
                None => {
                    let mut data = data.clone();
                    if let (Some(object), Target::Lid(_)) = (data.as_object_mut(), &target) {
                        // A resource named by `lid` gets its real id for the shape check.
                        object.insert("id".into(), Value::String(id.to_string()));
                    }
                    let input = body::resource_object(&data, "/data", kind, Intent::Update { id })?;
                    if kind == ResourceType::Prospect {
                        prospects::update(conn, principal, id, &input, &Precondition::None)?;
                        Ok(Outcome::Prospect(id))
                    } else {
                        phone_numbers::update(
                            conn,
                            principal,
                            id,
                            &input,
                            region,
                            &lids.prospects,
                            &Precondition::None,
                        )?;
                        Ok(Outcome::PhoneNumber(id))
                    }
                }
            }
        }
        other => Err(ApiError::bad_request(
            "/op",
            format!("Unknown operation `{other}`: use add, update or remove."),
        )),
    }
}

pub async fn post_operations(caller: Caller, body: body::Body) -> ApiResult<HttpResponse> {
    caller.no_query_parameters()?;
    let operations = operations(&body.read().await?)?;
    let (principal, region) = (
        caller.principal.clone(),
        caller.state.config.default_region.clone(),
    );
    let (outcomes, numbers, prospects) = caller
        .database(move |conn| {
            db::write_transaction(conn, |conn| {
                let mut lids = LocalIds::default();
                let mut outcomes = Vec::with_capacity(operations.len());
                for (index, operation) in operations.iter().enumerate() {
                    let outcome = apply(conn, &principal, &region, operation, &mut lids).map_err(
                        |error| ApiError::InOperation {
                            index,
                            error: Box::new(error),
                        },
                    )?;
                    outcomes.push(outcome);
                }
                // Results show each record as it stands after the whole request.
                let number_ids: Vec<i64> = outcomes
                    .iter()
                    .filter_map(|o| {
                        if let Outcome::PhoneNumber(id) = o {
                            Some(*id)
                        } else {
                            None
                        }
                    })
                    .collect();
                let prospect_ids: Vec<i64> = outcomes
                    .iter()
                    .filter_map(|o| {
                        if let Outcome::Prospect(id) = o {
                            Some(*id)
                        } else {
                            None
                        }
                    })
                    .collect();
                let numbers: HashMap<i64, PhoneNumberRow> =
                    PhoneNumberRow::by_ids(conn, &number_ids)?
                        .into_iter()
                        .map(|row| (row.id, row))
                        .collect();
                let prospects: HashMap<i64, Prospect> = Prospect::by_ids(conn, &prospect_ids)?
                    .into_iter()
                    .map(|row| (row.id, row))
                    .collect();
                Ok((outcomes, numbers, prospects))
            })
        })
        .await?;
    let fields = Default::default();
    let view = View {
        base: &caller.base,
        fields: &fields,
        meta_for: None,
    };
    let results = outcomes
        .iter()
        .map(|outcome| match outcome {
            Outcome::PhoneNumber(id) => numbers.get(id).map(|row| view.phone_number(row, None)),
            Outcome::Prospect(id) => prospects.get(id).map(|row| view.prospect(row, &row.phones)),
            Outcome::Nothing => None,
        })
        .collect();
    Ok(AtomicResults(results).respond())
}
