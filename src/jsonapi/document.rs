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

impl Timestamp {
    /// `2026-11-23T10:15:30.123Z`, written digit by digit into a fixed buffer: every resource
    /// shows two or three of these, and both `chrono`'s `format` (which parses its pattern on
    /// every call) and `write!` with padded fields showed in profiles of every read.
    fn to_bytes(&self) -> [u8; 24] {
        use chrono::{Datelike, Timelike};
        let (date, time) = (self.0.date(), self.0.time());
        let mut out = *b"0000-00-00T00:00:00.000Z";
        let mut put = |at: usize, width: usize, mut value: u32| {
            for slot in out[at..at + width].iter_mut().rev() {
                *slot = b'0' + (value % 10) as u8;
                value /= 10;
            }
        };
        // Years outside 0..=9999 cannot be stored through the API (timestamps are the server's).
        put(0, 4, date.year().clamp(0, 9999) as u32);
        put(5, 2, date.month());
        put(8, 2, date.day());
        put(11, 2, time.hour());
        put(14, 2, time.minute());
        put(17, 2, time.second());
        put(20, 3, time.nanosecond() / 1_000_000 % 1000);
        out
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let bytes = self.to_bytes();
        // Only ASCII digits and separators were written.
        f.write_str(std::str::from_utf8(&bytes).map_err(|_| std::fmt::Error)?)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = self.to_bytes();
        let text = std::str::from_utf8(&bytes).map_err(serde::ser::Error::custom)?;
        serializer.serialize_str(text)
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

/// A links object; top-level links hold `Option<String>` (`null` for `prev`/`next` at the ends of
/// a collection).
struct Links<'a, T>(&'a [(&'static str, T)]);

impl<T: Serialize> Serialize for Links<'_, T> {
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
                    links: RelationshipLinks { own, name },
                    data: linkage,
                },
            )?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct RelationshipObject<'a> {
    links: RelationshipLinks<'a>,
    data: &'a Linkage,
}

/// `self` and `related` of a relationship, written straight into the output (no `String` per
/// link: a page of phone numbers has two links per resource).
struct RelationshipLinks<'a> {
    own: &'a str,
    name: &'a str,
}

impl Serialize for RelationshipLinks<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let RelationshipLinks { own, name } = self;
        let mut map = serializer.serialize_map(Some(2))?;
        map.serialize_entry("self", &Href(format_args!("{own}/relationships/{name}")))?;
        map.serialize_entry("related", &Href(format_args!("{own}/{name}")))?;
        map.end()
    }
}

/// A link serialized from its parts as it is written out.
struct Href<'a>(std::fmt::Arguments<'a>);

impl Serialize for Href<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
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
        // Sized for the usual resource object (~900 bytes), so the body is not grown step by step.
        let resources = match &self.data {
            Data::Many(many) => many.len(),
            _ => 1,
        } + self.included.as_ref().map_or(0, Vec::len);
        let mut body = Vec::with_capacity(512 + 1024 * resources);
        match serde_json::to_writer(&mut body, self) {
            Ok(()) => builder.content_type(self.applied.content_type()).body(body),
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
        map.serialize_entry("links", &Links(&self.links))?;
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

    #[test]
    fn timestamps_read_as_chrono_writes_them_in_text_and_in_json() {
        let start = NaiveDate::from_ymd_opt(1970, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        // A walk over ~190 years in uneven steps, so every field takes many values.
        for step in 0..5_000i64 {
            let at = start
                + chrono::Duration::milliseconds(step * 1_197_234_567_891 % 6_000_000_000_000);
            let expected = at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
            assert_eq!(Timestamp(at).to_string(), expected);
            assert_eq!(
                serde_json::to_string(&Timestamp(at)).unwrap(),
                format!("\"{expected}\"")
            );
        }
    }
}
