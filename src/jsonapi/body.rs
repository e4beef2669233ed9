//! Request documents: reading the body (size limit → 413), parsing JSON (→ 400), checking the
//! document's shape (JSON:API 1.1 "Creating/Updating Resources": 400/403/409 with pointers), and
//! [`Attributes`], which reads typed attribute values and collects one 422 error per bad member.

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::StreamExt;
use serde_json::{Map, Value};

pub use super::error::FieldError;
use super::error::RequestError;
use super::schema::Field;
use crate::domain::ResourceType;

/// Stands in for bytes that are not UTF-8, so that the string holding them can be reported as a
/// 422 at its pointer instead of failing the whole document. Only bodies that hold invalid UTF-8
/// get it, and it is a run of noncharacters that no text uses (each of them alone, like U+FFFF,
/// is valid Unicode and round-trips).
const INVALID_UTF8: &str = "\u{FFFF}\u{FDD0}\u{FFFE}\u{FDEF}";

/// The most bytes a request body may have (app data; [`BodyLimit::DEFAULT`] when absent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimit(pub usize);

impl BodyLimit {
    pub const DEFAULT: BodyLimit = BodyLimit(1 << 20);
}

/// The request body, read up to `PHONEBOOK_MAX_BODY_BYTES` (413 beyond) when the handler asks for
/// it with [`Body::read`]. Extracting it reads nothing: actix polls a handler's extractors together,
/// so a body read here could answer 413 before the caller extractor has answered 401, and would
/// read bodies of requests that are refused anyway. Handlers read it after the query and scope
/// checks, in the order of API.md section 9.
pub struct Body {
    payload: Payload,
    limit: usize,
    declared: Option<usize>,
}

/// The body limit in force for `req`, and the length its `Content-Length` declares.
pub fn sizes(req: &HttpRequest) -> (usize, Option<usize>) {
    let limit = req
        .app_data::<BodyLimit>()
        .map_or(BodyLimit::DEFAULT.0, |limit| limit.0);
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    (limit, declared)
}

impl FromRequest for Body {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let (limit, declared) = sizes(req);
        std::future::ready(Ok(Body {
            payload: payload.take(),
            limit,
            declared,
        }))
    }
}

impl Body {
    /// Reads the whole body: 413 `payloadTooLarge` past the limit.
    pub async fn read(mut self) -> Result<web::Bytes, RequestError> {
        let limit = self.limit;
        if self.declared.is_some_and(|length| length > limit) {
            return Err(RequestError::PayloadTooLarge { limit });
        }
        let mut body = web::BytesMut::new();
        while let Some(chunk) = self.payload.next().await {
            let chunk = chunk.map_err(|error| RequestError::BadRequest {
                detail: format!("The request body could not be read: {error}"),
                pointer: None,
            })?;
            if body.len() + chunk.len() > limit {
                return Err(RequestError::PayloadTooLarge { limit });
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    }
}

/// Parses a body as JSON. Invalid UTF-8 inside strings is kept as a marker that
/// [`Attributes::string`] reports as 422.
pub fn parse_json(bytes: &[u8]) -> Result<Value, RequestError> {
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => std::borrow::Cow::Borrowed(text),
        Err(_) => {
            // Each run of invalid bytes becomes the marker; valid text (U+FFFD included) stays.
            let mut text = String::with_capacity(bytes.len() + INVALID_UTF8.len());
            for chunk in bytes.utf8_chunks() {
                text.push_str(chunk.valid());
                if !chunk.invalid().is_empty() {
                    text.push_str(INVALID_UTF8);
                }
            }
            std::borrow::Cow::Owned(text)
        }
    };
    if text.trim().is_empty() {
        return Err(RequestError::bad_request(
            "",
            "The request body is empty; it must be a JSON:API document.",
        ));
    }
    serde_json::from_str(&text).map_err(|error| RequestError::BadRequest {
        detail: format!("The request body is not valid JSON: {error}."),
        pointer: Some(String::new()),
    })
}

/// One member name as a JSON Pointer reference token (RFC 6901: `~` → `~0`, `/` → `~1`), for
/// names that come from the client.
pub fn pointer_token(name: &str) -> std::borrow::Cow<'_, str> {
    if name.contains(['~', '/']) {
        std::borrow::Cow::Owned(name.replace('~', "~0").replace('/', "~1"))
    } else {
        std::borrow::Cow::Borrowed(name)
    }
}

/// Whether a write creates a resource or updates the one at the URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Intent {
    Create,
    Update { id: i64 },
}

/// The resource object of a write request, with its shape checked.
#[derive(Debug)]
pub struct ResourceInput {
    /// Where this object stands in the request (`/data`), for error pointers.
    pub pointer: String,
    pub lid: Option<String>,
    pub attributes: Map<String, Value>,
    /// Relationship name → its `data` (linkage), already checked to be present.
    pub relationships: Map<String, Value>,
}

fn object<'a>(
    value: &'a Value,
    pointer: &str,
    what: &str,
) -> Result<&'a Map<String, Value>, RequestError> {
    value
        .as_object()
        .ok_or_else(|| RequestError::bad_request(pointer, format!("{what} must be a JSON object.")))
}

/// Reads an id (a string of digits; a JSON integer is accepted as its decimal string, since clients
/// written for seed 001 send numbers). `None`: an id that cannot name any record of ours.
pub fn read_id(value: &Value) -> Option<i64> {
    match value {
        Value::String(text) => text
            .parse::<i64>()
            .ok()
            .filter(|id| *id > 0 && !text.starts_with('+')),
        Value::Number(number) => number.as_i64().filter(|id| *id > 0),
        _ => None,
    }
}

fn check_id_type(value: &Value, pointer: &str) -> Result<(), RequestError> {
    match value {
        Value::String(_) | Value::Number(_) => Ok(()),
        _ => Err(RequestError::bad_request(pointer, "`id` must be a string.")),
    }
}

/// Checks the shape of `value` (a resource object at `pointer`) for a write to `kind`.
pub fn resource_object(
    value: &Value,
    pointer: &str,
    kind: ResourceType,
    intent: Intent,
) -> Result<ResourceInput, RequestError> {
    let data = object(value, pointer, "`data`")?;
    check_type(data, pointer, kind)?;
    check_id(data, pointer, kind, intent)?;
    let lid = match data.get("lid") {
        None | Some(Value::Null) => None,
        Some(Value::String(lid)) if !lid.is_empty() => Some(lid.clone()),
        Some(_) => {
            let detail = "`lid` must be a non-empty string.";
            return Err(RequestError::bad_request(format!("{pointer}/lid"), detail));
        }
    };
    let attributes = match data.get("attributes") {
        None | Some(Value::Null) => Map::new(),
        Some(value) => object(value, &format!("{pointer}/attributes"), "`attributes`")?.clone(),
    };
    Ok(ResourceInput {
        pointer: pointer.to_owned(),
        lid,
        attributes,
        relationships: relationships(data, pointer)?,
    })
}

/// 400 without a string `type`, 409 for another type than the endpoint's.
fn check_type(
    data: &Map<String, Value>,
    pointer: &str,
    kind: ResourceType,
) -> Result<(), RequestError> {
    match data.get("type") {
        Some(Value::String(name)) if name == kind.name() => Ok(()),
        Some(Value::String(name)) => Err(RequestError::conflict(
            format!("{pointer}/type"),
            format!("This endpoint takes `{kind}` resources, not `{name}`."),
        )),
        Some(_) => Err(RequestError::bad_request(
            format!("{pointer}/type"),
            "`type` must be a string.",
        )),
        None => Err(RequestError::bad_request(
            pointer,
            "The resource object has no `type`.",
        )),
    }
}

/// A create has no `id` (403: client-generated ids are not supported); an update has the URL's.
fn check_id(
    data: &Map<String, Value>,
    pointer: &str,
    kind: ResourceType,
    intent: Intent,
) -> Result<(), RequestError> {
    match (intent, data.get("id")) {
        (Intent::Create, Some(Value::Null) | None) => Ok(()),
        (Intent::Create, Some(_)) => Err(RequestError::Forbidden(format!(
            "Client-generated ids are not supported; send the {kind} without `id` (or with `lid`)."
        ))),
        (Intent::Update { .. }, None | Some(Value::Null)) => Err(RequestError::bad_request(
            pointer,
            "An update needs `id` in its resource object.",
        )),
        (Intent::Update { id }, Some(given)) => {
            check_id_type(given, &format!("{pointer}/id"))?;
            if read_id(given) == Some(id) {
                return Ok(());
            }
            Err(RequestError::conflict(
                format!("{pointer}/id"),
                format!("The id in the document does not match the URL ({id})."),
            ))
        }
    }
}

/// Relationship name → its `data`, each checked to be present.
fn relationships(
    data: &Map<String, Value>,
    pointer: &str,
) -> Result<Map<String, Value>, RequestError> {
    let mut relationships = Map::new();
    let Some(value) = data.get("relationships").filter(|value| !value.is_null()) else {
        return Ok(relationships);
    };
    let members = object(
        value,
        &format!("{pointer}/relationships"),
        "`relationships`",
    )?;
    for (name, relationship) in members {
        let at = format!("{pointer}/relationships/{}", pointer_token(name));
        let relationship = object(relationship, &at, "A relationship")?;
        let linkage = relationship.get("data").ok_or_else(|| {
            RequestError::bad_request(&at, "A relationship in a request needs `data`.")
        })?;
        relationships.insert(name.clone(), linkage.clone());
    }
    Ok(relationships)
}

/// Reads the whole document of a create or update request.
pub fn resource_document(
    bytes: &[u8],
    kind: ResourceType,
    intent: Intent,
) -> Result<ResourceInput, RequestError> {
    let document = parse_json(bytes)?;
    let top = object(&document, "", "The document")?;
    let data = top
        .get("data")
        .ok_or_else(|| RequestError::bad_request("", "The document has no `data`."))?;
    resource_object(data, "/data", kind, intent)
}

/// A resource identifier from relationship linkage. `lid` is kept for Atomic Operations, which
/// resolve it; elsewhere it is an unknown local id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    Id(i64),
    /// An id that cannot exist (not a positive integer): the record is not found.
    Missing(String),
    Lid(String),
}

impl Target {
    /// The id of the `kind` record this target names. A `lid` is looked up among the resources
    /// created earlier in the same Atomic Operations request (`lids`; 400 at `pointer` when it is
    /// unknown); an id that cannot exist is 404.
    pub fn resolve(
        &self,
        kind: ResourceType,
        pointer: &str,
        lids: &std::collections::HashMap<String, i64>,
    ) -> Result<i64, RequestError> {
        match self {
            Target::Id(id) => Ok(*id),
            Target::Missing(raw) => Err(RequestError::NotFound {
                kind,
                id: raw.trim_matches('"').to_owned(),
            }),
            Target::Lid(lid) => lids.get(lid).copied().ok_or_else(|| {
                RequestError::bad_request(
                    pointer,
                    format!("No resource with lid `{lid}` was created earlier in this request."),
                )
            }),
        }
    }
}

/// Reads one resource identifier object at `pointer`, which must name `kind`.
pub fn identifier(
    value: &Value,
    pointer: &str,
    kind: ResourceType,
) -> Result<Target, RequestError> {
    let object = object(value, pointer, "A resource identifier")?;
    match object.get("type") {
        Some(Value::String(name)) if name == kind.name() => {}
        Some(Value::String(name)) => {
            return Err(RequestError::conflict(
                format!("{pointer}/type"),
                format!(
                    "This relationship takes `{}` resources, not `{name}`.",
                    kind.name()
                ),
            ))
        }
        _ => {
            return Err(RequestError::bad_request(
                pointer,
                "A resource identifier needs a string `type`.",
            ))
        }
    }
    match (object.get("id"), object.get("lid")) {
        (Some(id), _) if !id.is_null() => {
            check_id_type(id, &format!("{pointer}/id"))?;
            Ok(read_id(id).map_or_else(|| Target::Missing(id.to_string()), Target::Id))
        }
        (_, Some(Value::String(lid))) => Ok(Target::Lid(lid.clone())),
        _ => Err(RequestError::bad_request(
            pointer,
            "A resource identifier needs `id`.",
        )),
    }
}

/// Reads the `data` of a relationship request document (`/relationships/...` endpoints).
pub fn linkage_document(bytes: &[u8]) -> Result<Value, RequestError> {
    let document = parse_json(bytes)?;
    let top = object(&document, "", "The document")?;
    top.get("data")
        .cloned()
        .ok_or_else(|| RequestError::bad_request("", "The document has no `data`."))
}

/// Reads the `data` of a to-one relationship request document: `None` for `null`; 400 for an
/// array; a resource identifier of `kind` otherwise.
pub fn to_one_linkage(
    bytes: &[u8],
    name: &str,
    kind: ResourceType,
) -> Result<Option<Target>, RequestError> {
    let linkage = linkage_document(bytes)?;
    if linkage.is_array() {
        return Err(RequestError::bad_request(
            "/data",
            format!("`{name}` is to-one: `data` must be one resource identifier or null."),
        ));
    }
    if linkage.is_null() {
        return Ok(None);
    }
    identifier(&linkage, "/data", kind).map(Some)
}

/// What a write said about one attribute.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sent<T> {
    Absent,
    Null,
    Value(T),
}

impl<T> Sent<T> {
    pub fn is_present(&self) -> bool {
        !matches!(self, Sent::Absent)
    }

    /// The new value of a nullable column: `None` = keep, `Some(None)` = set NULL.
    pub fn into_change(self) -> Option<Option<T>> {
        match self {
            Sent::Absent => None,
            Sent::Null => Some(None),
            Sent::Value(value) => Some(Some(value)),
        }
    }

    pub fn value(self) -> Option<T> {
        match self {
            Sent::Value(value) => Some(value),
            _ => None,
        }
    }
}

/// Reads typed attributes of `F`'s type from a resource object and collects every problem as one
/// 422 error object with its pointer. Read-only attributes are ignored (clients send whole records
/// back); names that are not attributes of the type are errors.
pub struct Attributes<'a, F> {
    map: &'a Map<String, Value>,
    pointer: String,
    errors: Vec<FieldError>,
    fields: std::marker::PhantomData<F>,
}

impl<'a, F: Field> Attributes<'a, F> {
    pub fn new(input: &'a ResourceInput) -> Self {
        let pointer = format!("{}/attributes", input.pointer);
        let errors = input
            .attributes
            .keys()
            .filter(|name| F::attributes().all(|field| field.name() != name.as_str()))
            .map(|name| {
                FieldError::new(
                    format!("{pointer}/{}", pointer_token(name)),
                    format!("`{name}` is not an attribute of this resource."),
                )
            })
            .collect();
        Self {
            map: &input.attributes,
            pointer,
            errors,
            fields: std::marker::PhantomData,
        }
    }

    /// Records a problem with `field` found by the caller.
    pub fn reject(&mut self, field: F, detail: impl Into<String>) {
        self.errors.push(FieldError::new(
            format!("{}/{}", self.pointer, field.name()),
            detail,
        ));
    }

    /// What the document sent for `field`: only writable fields are read.
    fn sent(&self, field: F) -> Option<&'a Value> {
        debug_assert!(field.spec().writable, "{field:?} is read-only");
        self.map.get(field.name())
    }

    /// A string of at most `max_chars` characters, without U+0000 or invalid UTF-8.
    pub fn string(&mut self, field: F, max_chars: usize) -> Sent<String> {
        let name = field.name();
        match self.sent(field) {
            None => Sent::Absent,
            Some(Value::Null) => Sent::Null,
            Some(Value::String(text)) => {
                if text.contains('\0') {
                    self.reject(field, "Text may not contain the NUL character (U+0000).");
                } else if text.contains(INVALID_UTF8) {
                    self.reject(field, "Text must be valid UTF-8.");
                } else if text.chars().count() > max_chars {
                    self.reject(
                        field,
                        format!("`{name}` may be at most {max_chars} characters long."),
                    );
                } else {
                    return Sent::Value(text.clone());
                }
                Sent::Absent
            }
            Some(_) => {
                self.reject(field, format!("`{name}` must be a string."));
                Sent::Absent
            }
        }
    }

    /// A string that must not be null.
    pub fn required_string(&mut self, field: F, max_chars: usize) -> Sent<String> {
        let value = self.string(field, max_chars);
        if value == Sent::Null {
            self.reject(field, format!("`{}` may not be null.", field.name()));
            return Sent::Absent;
        }
        value
    }

    /// One of a fixed set of names, parsed into `T`.
    pub fn enumeration<T: std::str::FromStr>(&mut self, field: F, allowed: &[&str]) -> Sent<T> {
        match self.required_string(field, 64) {
            Sent::Value(text) => match text.parse() {
                Ok(value) => Sent::Value(value),
                Err(_) => {
                    self.reject(
                        field,
                        format!("`{}` must be one of: {}.", field.name(), allowed.join(", ")),
                    );
                    Sent::Absent
                }
            },
            _ => Sent::Absent,
        }
    }

    /// A JSON integer (not a string of digits, not a float).
    pub fn integer(&mut self, field: F) -> Sent<i64> {
        let name = field.name();
        match self.sent(field) {
            None => Sent::Absent,
            Some(Value::Null) => {
                self.reject(field, format!("`{name}` may not be null."));
                Sent::Absent
            }
            Some(Value::Number(number)) if number.as_i64().is_some() => {
                Sent::Value(number.as_i64().unwrap_or_default())
            }
            Some(_) => {
                self.reject(field, format!("`{name}` must be an integer."));
                Sent::Absent
            }
        }
    }

    /// A JSON boolean.
    pub fn boolean(&mut self, field: F) -> Sent<bool> {
        let name = field.name();
        match self.sent(field) {
            None => Sent::Absent,
            Some(Value::Bool(value)) => Sent::Value(*value),
            Some(_) => {
                self.reject(field, format!("`{name}` must be true or false."));
                Sent::Absent
            }
        }
    }

    /// A non-empty array of names out of `allowed`, each once, in the order of `allowed`.
    pub fn names(&mut self, field: F, allowed: &[&'static str]) -> Sent<Vec<&'static str>> {
        let name = field.name();
        let Some(sent) = self.sent(field) else {
            return Sent::Absent;
        };
        let items = sent.as_array().map(|items| {
            (items.iter())
                .map(|item| allowed.iter().find(|known| item.as_str() == Some(**known)))
                .collect::<Option<Vec<_>>>()
        });
        match items {
            Some(Some(items)) if !items.is_empty() => Sent::Value(
                (allowed.iter().copied())
                    .filter(|known| items.contains(&known))
                    .collect(),
            ),
            _ => {
                let detail = format!(
                    "`{name}` must be a non-empty array of: {}.",
                    allowed.join(", ")
                );
                self.reject(field, detail);
                Sent::Absent
            }
        }
    }

    /// Ends reading: every collected error.
    pub fn into_errors(self) -> Vec<FieldError> {
        self.errors
    }
}
