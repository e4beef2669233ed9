//! Response documents: resource objects, relationships, links and the top-level document, serialized
//! straight to JSON without an intermediate `serde_json::Value` tree (this is the hot path of every
//! read). Views in `resources/` fill these types; nothing else writes response JSON.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, HttpResponseBuilder};
use chrono::NaiveDateTime;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;
use serde_json::{Map, Value};

use super::media;
use crate::permissions::AuthorizationMeta;

/// The absolute URL of the API root (`http://host:port/api/v2`), from which every link is built.
#[derive(Clone, Debug)]
pub struct LinkBase(Arc<str>);

impl LinkBase {
    pub fn new(api_root: impl Into<Arc<str>>) -> Self {
        Self(api_root.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `{root}{path}`, for a path that starts with `/`.
    pub fn url(&self, path: impl std::fmt::Display) -> String {
        format!("{}{path}", self.0)
    }
}

/// Formats a timestamp the one way the contract allows: RFC 3339, UTC, milliseconds, `Z`.
pub struct Timestamp(pub NaiveDateTime);

impl std::fmt::Display for Timestamp {
    /// `2026-11-23T10:15:30.123Z`, written field by field: `chrono`'s `format` parses its pattern
    /// on every call, which showed in profiles of every read.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use chrono::{Datelike, Timelike};
        let (date, time) = (self.0.date(), self.0.time());
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            date.year(),
            date.month(),
            date.day(),
            time.hour(),
            time.minute(),
            time.second(),
            time.nanosecond() / 1_000_000 % 1000
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// An attribute value.
pub enum Attr {
    Str(String),
    OptStr(Option<String>),
    Int(i64),
    Time(NaiveDateTime),
    List(Vec<String>),
}

impl Serialize for Attr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Attr::Str(text) => serializer.serialize_str(text),
            Attr::OptStr(text) => text.serialize(serializer),
            Attr::Int(number) => serializer.serialize_i64(*number),
            Attr::Time(time) => Timestamp(*time).serialize(serializer),
            Attr::List(items) => items.serialize(serializer),
        }
    }
}

/// A resource type: its wire name and the path of its collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceType {
    pub name: &'static str,
    pub path: &'static str,
}

pub const PHONE_NUMBER: ResourceType = ResourceType {
    name: "phoneNumber",
    path: "phoneNumbers",
};
pub const PROSPECT: ResourceType = ResourceType {
    name: "prospect",
    path: "prospects",
};
pub const USER: ResourceType = ResourceType {
    name: "user",
    path: "users",
};

/// A resource identifier object (`{"type": "prospect", "id": "7"}`); ids are strings on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identifier {
    pub kind: &'static str,
    pub id: i64,
}

impl Serialize for Identifier {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("type", self.kind)?;
        map.serialize_entry("id", &IdString(self.id))?;
        map.end()
    }
}

/// An id written as a JSON string without allocating.
struct IdString(i64);

impl Serialize for IdString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// Resource linkage of a relationship.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Linkage {
    ToOne(Option<Identifier>),
    ToMany(Vec<Identifier>),
}

impl Serialize for Linkage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Linkage::ToOne(one) => one.serialize(serializer),
            Linkage::ToMany(many) => many.serialize(serializer),
        }
    }
}

/// A resource object, ready to serialize.
pub struct Resource {
    pub kind: ResourceType,
    pub id: i64,
    pub attributes: Vec<(&'static str, Attr)>,
    pub relationships: Vec<(&'static str, Linkage)>,
    pub meta: Option<AuthorizationMeta>,
    pub base: LinkBase,
}

impl Resource {
    pub fn identifier(&self) -> Identifier {
        Identifier {
            kind: self.kind.name,
            id: self.id,
        }
    }
}

struct Links<'a>(&'a [(&'static str, String)]);

impl Serialize for Links<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, href) in self.0 {
            map.serialize_entry(name, href)?;
        }
        map.end()
    }
}

struct Attributes<'a>(&'a [(&'static str, Attr)]);

impl Serialize for Attributes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// A resource's relationships, with the resource's own URL (built once per resource).
struct Relationships<'a>(&'a Resource, &'a str);

impl Serialize for Relationships<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let Relationships(resource, own) = self;
        let mut map = serializer.serialize_map(Some(resource.relationships.len()))?;
        for (name, linkage) in &resource.relationships {
            map.serialize_entry(
                name,
                &RelationshipObject {
                    links: Links(&[
                        ("self", format!("{own}/relationships/{name}")),
                        ("related", format!("{own}/{name}")),
                    ]),
                    data: linkage,
                },
            )?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct RelationshipObject<'a> {
    links: Links<'a>,
    data: &'a Linkage,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceMeta {
    can_write: bool,
    can_delete: bool,
}

impl Serialize for Resource {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("type", self.kind.name)?;
        map.serialize_entry("id", &IdString(self.id))?;
        if !self.attributes.is_empty() {
            map.serialize_entry("attributes", &Attributes(&self.attributes))?;
        }
        let own = format!("{}/{}/{}", self.base.as_str(), self.kind.path, self.id);
        if !self.relationships.is_empty() {
            map.serialize_entry("relationships", &Relationships(self, &own))?;
        }
        map.serialize_entry("links", &Links(&[("self", own)]))?;
        if let Some(meta) = &self.meta {
            map.serialize_entry(
                "meta",
                &ResourceMeta {
                    can_write: meta.can_write,
                    can_delete: meta.can_delete,
                },
            )?;
        }
        map.end()
    }
}

/// The primary data of a document.
pub enum Data {
    One(Option<Resource>),
    Many(Vec<Resource>),
    Linkage(Linkage),
}

impl Serialize for Data {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Data::One(one) => one.serialize(serializer),
            Data::Many(many) => ResourceSlice(many).serialize(serializer),
            Data::Linkage(linkage) => linkage.serialize(serializer),
        }
    }
}

/// Which JSON:API extension or profile a response applies; decides its `Content-Type` and its
/// `jsonapi` member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Nothing,
    CursorProfile,
    AtomicExt,
}

impl Applied {
    pub fn content_type(self) -> &'static str {
        match self {
            Applied::Nothing => media::JSONAPI,
            Applied::CursorProfile => media::PAGINATED,
            Applied::AtomicExt => media::ATOMIC,
        }
    }
}

/// A top-level document with primary data.
pub struct Document {
    pub data: Data,
    pub included: Option<Vec<Resource>>,
    /// Top-level links; `None` values serialize as `null` (`prev`/`next` at the ends).
    pub links: Vec<(&'static str, Option<String>)>,
    pub meta: Option<Map<String, Value>>,
    pub applied: Applied,
}

impl Document {
    pub fn new(data: Data, self_link: String) -> Self {
        Self {
            data,
            included: None,
            links: vec![("self", Some(self_link))],
            meta: None,
            applied: Applied::Nothing,
        }
    }

    /// The HTTP response carrying this document.
    pub fn respond(&self, status: StatusCode) -> HttpResponse {
        self.respond_with(HttpResponse::build(status))
    }

    /// The HTTP response carrying this document, on a builder that already has its own headers.
    pub fn respond_with(&self, mut builder: HttpResponseBuilder) -> HttpResponse {
        match serde_json::to_vec(self) {
            Ok(body) => builder.content_type(self.applied.content_type()).body(body),
            Err(error) => actix_web::ResponseError::error_response(
                &crate::errors::ApiError::Internal(error.to_string()),
            ),
        }
    }
}

impl Serialize for Document {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry(
            "jsonapi",
            &media::jsonapi_object(
                self.applied == Applied::AtomicExt,
                self.applied == Applied::CursorProfile,
            ),
        )?;
        map.serialize_entry("data", &self.data)?;
        if let Some(included) = &self.included {
            map.serialize_entry("included", &ResourceSlice(included))?;
        }
        let links: Map<String, Value> = self
            .links
            .iter()
            .map(|(name, href)| {
                (
                    (*name).to_owned(),
                    href.clone().map_or(Value::Null, Value::String),
                )
            })
            .collect();
        map.serialize_entry("links", &links)?;
        if let Some(meta) = &self.meta {
            map.serialize_entry("meta", meta)?;
        }
        map.end()
    }
}

/// Serializes a borrowed slice of resources (for `included`).
struct ResourceSlice<'a>(&'a [Resource]);

impl Serialize for ResourceSlice<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for resource in self.0 {
            seq.serialize_element(resource)?;
        }
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::Timestamp;
    use chrono::NaiveDate;

    #[test]
    fn timestamps_have_exactly_three_fractional_digits_and_z() {
        let at = |h, ms| {
            NaiveDate::from_ymd_opt(2026, 1, 2)
                .unwrap()
                .and_hms_milli_opt(h, 4, 5, ms)
                .unwrap()
        };
        assert_eq!(Timestamp(at(3, 0)).to_string(), "2026-01-02T03:04:05.000Z");
        assert_eq!(Timestamp(at(23, 7)).to_string(), "2026-01-02T23:04:05.007Z");
        assert_eq!(
            Timestamp(at(13, 999)).to_string(),
            "2026-01-02T13:04:05.999Z"
        );
    }
}
