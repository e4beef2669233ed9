//! `POST /operations`: the JSON:API Atomic Operations extension. Operations run in order inside one
//! transaction; the first failure rolls everything back and answers with that operation's status,
//! its pointers re-rooted at `/atomic:operations/N`. Each operation goes through the same write
//! rules (scope, existence, record permission, validation) as the single-resource endpoints.

use std::collections::HashMap;
use std::ops::Range;

use actix_web::HttpResponse;
use serde::Deserialize;
use serde_json::Value;

use super::conditional::Precondition;
use super::context::Context;
use super::view::View;
use super::writes::{self, as_actor, phone_number, prospect, Lids};
use crate::db::DbConnection;
use crate::errors::{ApiError, ApiResult};
use crate::jsonapi::body::{self, Intent, ResourceInput, Target};
use crate::jsonapi::document::{AtomicResults, ResourceType};
use crate::models::{Journal, PhoneNumberRow, Prospect};
use crate::permissions::{self, Access, Principal};

/// Most operations one request may carry.
pub const MAX_OPERATIONS: usize = 1000;

/// The request document.
#[derive(Deserialize)]
struct Request {
    #[serde(rename = "atomic:operations")]
    operations: Vec<Value>,
}

/// One operation object, as the extension defines it: `ref` is an object and `href` a string when
/// present (`null` is neither), and an operation has at most one of them.
#[derive(Deserialize)]
struct Operation {
    op: Op,
    #[serde(rename = "ref", default, deserialize_with = "present")]
    reference: Option<Reference>,
    #[serde(default, deserialize_with = "present")]
    href: Option<String>,
    data: Option<Value>,
}

/// A member that, when present, must be a `T` (`null` included in what is refused).
fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

#[derive(Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Op {
    Add,
    Update,
    Remove,
}

/// `ref`: the resource (or one of its relationships) an update or remove targets; on an add, only
/// the type of the resource it creates.
#[derive(Deserialize)]
#[serde(expecting = "an object with a string `type`")]
struct Reference {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default, deserialize_with = "present")]
    id: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    lid: Option<Value>,
    #[serde(default, deserialize_with = "present")]
    relationship: Option<String>,
}

impl Reference {
    /// The identifier object `ref` holds, for the same checks as any linkage.
    fn identifier(&self) -> Value {
        let mut object = serde_json::Map::new();
        object.insert("type".into(), Value::String(self.kind.clone()));
        for (name, value) in [("id", &self.id), ("lid", &self.lid)] {
            if let Some(value) = value {
                object.insert(name.into(), value.clone());
            }
        }
        Value::Object(object)
    }
}

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
        let lids = match kind {
            ResourceType::Prospect => &self.prospects,
            _ => &self.phone_numbers,
        };
        Ok(target.resolve(kind, pointer, lids)?)
    }
}

/// A serde error as a 400 at the JSON pointer of what it concerns (relative to `root`).
fn malformed(error: serde_path_to_error::Error<serde_json::Error>, root: &str) -> ApiError {
    use serde_path_to_error::Segment;
    let mut pointer = root.to_owned();
    for segment in error.path().iter() {
        match segment {
            Segment::Map { key } => pointer.extend(["/", &body::pointer_token(key)]),
            Segment::Seq { index } => pointer.extend(["/", &index.to_string()]),
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    ApiError::bad_request(pointer, format!("Invalid operation: {}.", error.inner()))
}

/// `value` read as a `T`: 400 at the root unless it is a JSON object, else at the member that
/// does not fit.
fn read_object<T: serde::de::DeserializeOwned>(value: &Value, what: &str) -> ApiResult<T> {
    if !value.is_object() {
        let detail = format!("{what} must be a JSON object.");
        return Err(ApiError::bad_request("", detail));
    }
    serde_path_to_error::deserialize(value).map_err(|error| malformed(error, ""))
}

/// Reads the request document: 400 when it is not an Atomic Operations document or has too many
/// operations.
fn operations(bytes: &[u8]) -> ApiResult<Vec<Value>> {
    let request: Request = read_object(&body::parse_json(bytes)?, "The document")?;
    let pointer = "/atomic:operations";
    match request.operations.len() {
        0 => Err(ApiError::bad_request(
            pointer,
            "`atomic:operations` is empty.",
        )),
        count if count > MAX_OPERATIONS => Err(ApiError::bad_request(
            pointer,
            format!("At most {MAX_OPERATIONS} operations per request; nothing was applied."),
        )),
        _ => Ok(request.operations),
    }
}

/// The resource type a resource object names (`data.type`): phone numbers and prospects only.
fn kind_of(data: &Value, pointer: &str) -> ApiResult<ResourceType> {
    let Some(name) = data.get("type").and_then(Value::as_str) else {
        let detail = "The resource object has no `type`.";
        return Err(ApiError::bad_request(pointer, detail));
    };
    match ResourceType::named(name) {
        Some(kind @ (ResourceType::PhoneNumber | ResourceType::Prospect)) => Ok(kind),
        Some(ResourceType::User | ResourceType::Change | ResourceType::Webhook) | None => {
            Err(ApiError::bad_request(
                format!("{pointer}/type"),
                format!("Atomic operations work on phoneNumber and prospect, not `{name}`."),
            ))
        }
    }
}

/// `href` is only an add's, and never beside `ref`.
fn check_href(operation: &Operation) -> ApiResult<()> {
    if operation.href.is_some() {
        if operation.reference.is_some() {
            let detail = "An operation has `ref` or `href`, not both.";
            return Err(ApiError::bad_request("", detail));
        }
        if operation.op != Op::Add {
            let detail = "Only `add` takes `href` (its collection); `update` and `remove` name their target with `ref`.";
            return Err(ApiError::bad_request("/href", detail));
        }
    }
    Ok(())
}

/// An add's checks up to its resource object (the shape of the operation, the scope).
fn add_input(
    principal: &Principal,
    operation: Operation,
) -> ApiResult<(ResourceType, ResourceInput)> {
    let data = (operation.data)
        .ok_or_else(|| ApiError::bad_request("", "An `add` operation needs `data`."))?;
    let kind = kind_of(&data, "/data")?;
    let collection = format!("/{}", kind.collection());
    if let Some(href) = operation.href {
        if !href.trim_end_matches('/').ends_with(&collection) {
            let detail = format!("`href` must be the {} collection.", kind.collection());
            return Err(ApiError::bad_request("/href", detail));
        }
    }
    if let Some(reference) = &operation.reference {
        // An add creates a resource: its `ref` names that type and nothing else (adding to a
        // relationship is done by creating or moving numbers).
        if reference.kind != kind.name() {
            let detail = format!("`ref` must name the type of `data`, `{}`.", kind.name());
            return Err(ApiError::bad_request("/ref/type", detail));
        }
        let extra = [
            ("id", reference.id.is_some()),
            ("lid", reference.lid.is_some()),
            ("relationship", reference.relationship.is_some()),
        ];
        if let Some((name, _)) = extra.into_iter().find(|(_, given)| *given) {
            let detail = format!("The `ref` of an `add` has only `type`, not `{name}`.");
            return Err(ApiError::bad_request(format!("/ref/{name}"), detail));
        }
    }
    permissions::require_scope(principal, kind, Access::Write)?;
    let input = body::resource_object(&data, "/data", kind, Intent::Create)?;
    Ok((kind, input))
}

/// An add of a run, read and checked ahead of the transaction (none of that needs the
/// database): its resource object and, for a number, its attributes. An add that does not pass is
/// read again at its place in the run, for its error.
struct ReadAdd {
    input: ResourceInput,
    checked: Option<phone_number::Checked>,
}

impl ReadAdd {
    fn of(principal: &Principal, region: &str, operation: &Value) -> ApiResult<ReadAdd> {
        let operation: Operation = read_object(operation, "An operation")?;
        check_href(&operation)?;
        let (kind, input) = add_input(principal, operation)?;
        let checked = (kind == ResourceType::PhoneNumber)
            .then(|| phone_number::Checked::ahead(&input, region));
        Ok(ReadAdd { input, checked })
    }
}

/// One operation's work, with the caller and the local ids created so far.
struct Apply<'a> {
    conn: &'a mut DbConnection,
    journal: &'a mut Journal,
    principal: &'a Principal,
    region: &'a str,
    lids: &'a mut LocalIds,
}

impl Apply<'_> {
    fn require(&self, kind: ResourceType, access: Access) -> ApiResult<()> {
        Ok(permissions::require_scope(self.principal, kind, access)?)
    }

    /// Runs one operation (pointers relative to the operation object).
    fn run(&mut self, operation: &Value) -> ApiResult<Outcome> {
        let operation: Operation = read_object(operation, "An operation")?;
        check_href(&operation)?;
        match operation.op {
            Op::Add => self.add(operation),
            Op::Update | Op::Remove => self.change(operation),
        }
    }

    fn add(&mut self, operation: Operation) -> ApiResult<Outcome> {
        let (kind, input) = add_input(self.principal, operation)?;
        let (conn, journal, principal) = (&mut *self.conn, &mut *self.journal, self.principal);
        let (id, lids, outcome): (i64, &mut Lids, fn(i64) -> Outcome) = match kind {
            ResourceType::Prospect => {
                let row = prospect::create(conn, journal, principal, &input)?;
                (row.id, &mut self.lids.prospects, Outcome::Prospect)
            }
            _ => {
                let prospects = &self.lids.prospects;
                let checked = phone_number::Checked::later(self.region);
                let row =
                    phone_number::create(conn, journal, principal, &input, &checked, prospects)?;
                (row.id, &mut self.lids.phone_numbers, Outcome::PhoneNumber)
            }
        };
        if let Some(lid) = input.lid {
            lids.insert(lid, id);
        }
        Ok(outcome(id))
    }

    /// A run of adds of one type `kind` (`operations`, the first at `first`, with what was read of
    /// them ahead), applied as one batched create with the outcome they would have one by one: the
    /// first operation refused is the one running them in order would stop at.
    fn add_run(
        &mut self,
        kind: ResourceType,
        operations: &[Value],
        ahead: &[Option<ReadAdd>],
        first: usize,
    ) -> Result<Vec<Outcome>, (usize, ApiError)> {
        // Those not read ahead are read here, up to the first that is refused.
        let mut read_here = Vec::new();
        let mut refused = None;
        for (index, (operation, ahead)) in operations.iter().zip(ahead).enumerate() {
            if ahead.is_none() {
                match ReadAdd::of(self.principal, self.region, operation) {
                    Ok(read) => read_here.push(read),
                    Err(error) => {
                        refused = Some((first + index, error));
                        break;
                    }
                }
            }
        }
        let count = refused
            .as_ref()
            .map_or(operations.len(), |(at, _)| at - first);
        let mut read_here = read_here.iter();
        let reads: Vec<&ReadAdd> = (ahead[..count].iter())
            .filter_map(|ahead| ahead.as_ref().or_else(|| read_here.next()))
            .collect();
        let (conn, journal, principal) = (&mut *self.conn, &mut *self.journal, self.principal);
        let at = |(index, error): (usize, ApiError)| (first + index, error);
        let (ids, lids, outcome): (Vec<i64>, &mut Lids, fn(i64) -> Outcome) = match kind {
            ResourceType::Prospect => {
                let inputs: Vec<&ResourceInput> = reads.iter().map(|read| &read.input).collect();
                let rows = prospect::create_many(conn, journal, principal, &inputs).map_err(at)?;
                let ids = rows.iter().map(|row| row.id).collect();
                (ids, &mut self.lids.prospects, Outcome::Prospect)
            }
            _ => {
                let later = phone_number::Checked::later(self.region);
                let inputs: Vec<_> = (reads.iter())
                    .map(|read| (&read.input, read.checked.as_ref().unwrap_or(&later)))
                    .collect();
                let prospects = &self.lids.prospects;
                let rows = phone_number::create_many(conn, journal, principal, &inputs, prospects)
                    .map_err(at)?;
                let ids = rows.iter().map(|row| row.id).collect();
                (ids, &mut self.lids.phone_numbers, Outcome::PhoneNumber)
            }
        };
        if let Some(refused) = refused {
            return Err(refused);
        }
        let mut outcomes = Vec::with_capacity(ids.len());
        for (read, id) in reads.into_iter().zip(ids) {
            if let Some(lid) = &read.input.lid {
                lids.insert(lid.clone(), id);
            }
            outcomes.push(outcome(id));
        }
        Ok(outcomes)
    }

    /// An update or remove: the target comes from `ref`, or (update) from the resource object.
    fn change(&mut self, operation: Operation) -> ApiResult<Outcome> {
        let (kind, target, relationship, pointer) = match (&operation.reference, &operation.data) {
            (Some(reference), _) => {
                let identifier = reference.identifier();
                let kind = kind_of(&identifier, "/ref")?;
                let target = body::identifier(&identifier, "/ref", kind)?;
                (kind, target, reference.relationship.clone(), "/ref")
            }
            (None, Some(data)) if operation.op == Op::Update => {
                let kind = kind_of(data, "/data")?;
                (kind, body::identifier(data, "/data", kind)?, None, "/data")
            }
            (None, _) if operation.op == Op::Update => {
                let detail = "An `update` operation needs `data`.";
                return Err(ApiError::bad_request("", detail));
            }
            (None, _) => {
                let detail = "A `remove` operation needs `ref`.";
                return Err(ApiError::bad_request("", detail));
            }
        };
        if operation.op == Op::Remove {
            return self.remove(kind, &target, relationship.is_some(), pointer);
        }
        self.require(kind, Access::Write)?;
        let data = (operation.data)
            .ok_or_else(|| ApiError::bad_request("", "An `update` operation needs `data`."))?;
        let id = self.lids.resolve(kind, &target, pointer)?;
        match relationship {
            Some(name) => self.update_relationship(kind, id, &name, &data),
            None => self.update(kind, id, &target, data),
        }
    }

    fn remove(
        &mut self,
        kind: ResourceType,
        target: &Target,
        relationship: bool,
        pointer: &str,
    ) -> ApiResult<Outcome> {
        if relationship {
            let detail =
                "Relationship members cannot be removed: a number always belongs to a prospect.";
            return Err(ApiError::Forbidden(detail.into()));
        }
        self.require(kind, Access::Delete)?;
        let id = self.lids.resolve(kind, target, pointer)?;
        let (conn, journal, none) = (&mut *self.conn, &mut *self.journal, &Precondition::None);
        match kind {
            ResourceType::Prospect => {
                writes::delete::<Prospect>(conn, journal, self.principal, id, none)?
            }
            _ => writes::delete::<PhoneNumberRow>(conn, journal, self.principal, id, none)?,
        }
        Ok(Outcome::Nothing)
    }

    fn update(
        &mut self,
        kind: ResourceType,
        id: i64,
        target: &Target,
        mut data: Value,
    ) -> ApiResult<Outcome> {
        if let (Some(object), Target::Lid(_)) = (data.as_object_mut(), target) {
            // A resource named by `lid` gets its real id for the shape check.
            object.insert("id".into(), Value::String(id.to_string()));
        }
        let input = body::resource_object(&data, "/data", kind, Intent::Update { id })?;
        let (conn, journal) = (&mut *self.conn, &mut *self.journal);
        let (principal, none) = (self.principal, &Precondition::None);
        if kind == ResourceType::Prospect {
            prospect::update(conn, journal, principal, id, &input, none)?;
            return Ok(Outcome::Prospect(id));
        }
        let prospects = &self.lids.prospects;
        let (target, context) = ((id, &input), (self.region, prospects));
        phone_number::update(conn, journal, principal, target, context, none)?;
        Ok(Outcome::PhoneNumber(id))
    }

    /// Only a number's `prospect` can be replaced by an operation (a move).
    fn update_relationship(
        &mut self,
        kind: ResourceType,
        id: i64,
        name: &str,
        data: &Value,
    ) -> ApiResult<Outcome> {
        use crate::jsonapi::schema::Relationship as _;
        use crate::schema::Relationship;
        if Relationship::named(kind, name) != Some(Relationship::PhoneNumberProspect) {
            return Err(ApiError::Forbidden(format!(
                "The `{name}` relationship of {kind} cannot be updated with an operation."
            )));
        }
        if data.is_null() {
            return Err(ApiError::invalid(
                "/data",
                "A phone number always belongs to a prospect; `data` may not be null.",
            ));
        }
        let target = body::identifier(data, "/data", ResourceType::Prospect)?;
        let prospect_id = self
            .lids
            .resolve(ResourceType::Prospect, &target, "/data")?;
        let linkage = "/data/relationships/prospect";
        let ids = (id, prospect_id);
        let none = &Precondition::None;
        phone_number::move_to(self.conn, self.journal, self.principal, ids, none, linkage)?;
        Ok(Outcome::Nothing)
    }
}

/// The type an `add` operation creates, read without any check (those come when it runs):
/// consecutive adds of one type run as one batched create ([`Apply::add_run`]).
fn added_kind(operation: &Value) -> Option<ResourceType> {
    if operation.get("op").and_then(Value::as_str) != Some("add") {
        return None;
    }
    let name = operation.get("data")?.get("type")?.as_str()?;
    ResourceType::named(name)
        .filter(|kind| matches!(kind, ResourceType::PhoneNumber | ResourceType::Prospect))
}

/// The records the results show, as they stand after the whole request.
type Written = (
    Vec<Outcome>,
    HashMap<i64, PhoneNumberRow>,
    HashMap<i64, Prospect>,
);

/// The operations as runs: a run of consecutive adds of one type (`Some` type, more than one
/// operation) is applied as one batched create; every other operation runs alone (`None`).
fn runs(operations: &[Value]) -> Vec<(Range<usize>, Option<ResourceType>)> {
    let mut runs = Vec::new();
    let mut index = 0;
    while index < operations.len() {
        let kind = added_kind(&operations[index]);
        let length = match kind {
            Some(kind) => (operations[index..].iter())
                .take_while(|operation| added_kind(operation) == Some(kind))
                .count(),
            None => 1,
        };
        runs.push((index..index + length, kind.filter(|_| length > 1)));
        index += length;
    }
    runs
}

/// What can be read of the runs' adds before the transaction, by index of operation: the
/// operations outside runs, and adds that do not pass, are read in it.
fn read_ahead(principal: &Principal, region: &str, operations: &[Value]) -> Vec<Option<ReadAdd>> {
    let mut ahead: Vec<Option<ReadAdd>> = std::iter::repeat_with(|| None)
        .take(operations.len())
        .collect();
    for (range, kind) in runs(operations) {
        if kind.is_some() {
            for index in range {
                ahead[index] = ReadAdd::of(principal, region, &operations[index]).ok();
            }
        }
    }
    ahead
}

/// Runs every operation in one transaction and reads back what the results show.
fn run_all(
    conn: &mut DbConnection,
    journal: &mut Journal,
    principal: &Principal,
    region: &str,
    (operations, ahead): (&[Value], &[Option<ReadAdd>]),
) -> ApiResult<Written> {
    let mut lids = LocalIds::default();
    let mut apply = Apply {
        conn,
        journal,
        principal,
        region,
        lids: &mut lids,
    };
    let in_operation = |(index, error)| ApiError::InOperation {
        index,
        error: Box::new(error),
    };
    let mut outcomes = Vec::with_capacity(operations.len());
    for (range, kind) in runs(operations) {
        match kind {
            Some(kind) => {
                let (run, ahead) = (&operations[range.clone()], &ahead[range.clone()]);
                let applied = apply.add_run(kind, run, ahead, range.start);
                outcomes.extend(applied.map_err(in_operation)?);
            }
            None => {
                let outcome = apply.run(&operations[range.start]);
                outcomes.push(outcome.map_err(|error| in_operation((range.start, error)))?);
            }
        }
    }
    let number_ids: Vec<i64> = outcomes.iter().filter_map(Outcome::phone_number).collect();
    let prospect_ids: Vec<i64> = outcomes.iter().filter_map(Outcome::prospect).collect();
    let numbers = PhoneNumberRow::by_ids(apply.conn, &number_ids)?;
    let prospects = Prospect::by_ids(apply.conn, &prospect_ids)?;
    Ok((
        outcomes,
        numbers.into_iter().map(|row| (row.id, row)).collect(),
        prospects.into_iter().map(|row| (row.id, row)).collect(),
    ))
}

impl Outcome {
    fn phone_number(&self) -> Option<i64> {
        match self {
            Outcome::PhoneNumber(id) => Some(*id),
            _ => None,
        }
    }

    fn prospect(&self) -> Option<i64> {
        match self {
            Outcome::Prospect(id) => Some(*id),
            _ => None,
        }
    }
}

pub async fn post_operations(cx: Context, body: body::Body) -> ApiResult<HttpResponse> {
    cx.no_query_parameters()?;
    let operations = operations(&body.read().await?)?;
    let (principal, region) = (cx.principal().clone(), cx.default_region());
    // Outside the transaction, and so outside SQLite's write lock: reading the adds' resource
    // objects and parsing their numbers is an eighth of a bulk load's work, and needs no database.
    let ahead = read_ahead(&principal, &region, &operations);
    let work = as_actor(&principal.clone(), move |conn, journal| {
        run_all(conn, journal, &principal, &region, (&operations, &ahead))
    });
    let (outcomes, numbers, prospects) = cx.database(work).await?;
    let view = View::plain(&cx.base);
    let results = outcomes
        .iter()
        .map(|outcome| match outcome {
            Outcome::PhoneNumber(id) => numbers
                .get(id)
                .map(|row| view.phone_number(row, None, None)),
            Outcome::Prospect(id) => prospects.get(id).map(|row| view.prospect(row, &row.phones)),
            Outcome::Nothing => None,
        })
        .collect();
    Ok(AtomicResults(results).respond())
}
