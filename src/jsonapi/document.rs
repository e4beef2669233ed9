//! Response documents: resource objects, relationships, links and the top-level document, written
//! straight into the response body (no `serde_json::Value` tree, no serializer between the types
//! and the bytes: this is the hot path of every read). Views in `resources/` fill these types;
//! nothing else writes response documents with primary data.
//!
//! [`Json`] writes the document's structure, its member names and the values the service makes
//! itself (ids, integers, timestamps, links built from the escaped API root) as they are, and every
//! string that holds data (attribute values, the request's query inside top-level links, `meta`)
//! through serde_json's escaping, so only data is scanned for characters to escape.

use std::borrow::Cow;

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, HttpResponseBuilder};
use chrono::NaiveDateTime;
use serde_json::{Map, Value};

use super::media;
pub use crate::domain::ResourceType;

/// The authorization meta of a resource object (`provideAuthorizationMeta=true`): whether the
/// caller may update and delete it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthorizationMeta {
    pub can_write: bool,
    pub can_delete: bool,
}

/// The absolute URL of the API root (`http://host:port/api/v2`), from which every link is built;
/// one per request, borrowed by its resource objects.
#[derive(Debug)]
pub struct LinkBase {
    url: String,
    /// `url` as the inside of a JSON string, so that links are written without escaping each one.
    /// The host comes from the request's `Host` header, so it is data like any other.
    escaped: String,
}

impl LinkBase {
    pub fn new(url: String) -> Self {
        let mut json = Json::with_capacity(url.len() + 2);
        json.string(&url);
        let quoted = json.into_string();
        let escaped = quoted[1..quoted.len() - 1].to_owned();
        Self { url, escaped }
    }

    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// `{root}{path}`, for a path that starts with `/`.
    pub fn url(&self, path: impl std::fmt::Display) -> String {
        format!("{}{path}", self.url)
    }
}

/// JSON text being written. Separators come from what was written last: a member or an element
/// that does not directly follow `{` or `[` is preceded by a comma (no complete value ends in
/// either), so optional members need no bookkeeping.
struct Json(Vec<u8>);

impl Json {
    fn with_capacity(bytes: usize) -> Self {
        Self(Vec::with_capacity(bytes))
    }

    fn into_bytes(self) -> Vec<u8> {
        self.0
    }

    fn into_string(self) -> String {
        // Only `str`s and ASCII were written.
        String::from_utf8(self.0).unwrap_or_default()
    }

    /// Text that is JSON already, or the inside of a string that needs no escaping: punctuation,
    /// the service's own names and paths.
    fn raw(&mut self, text: &str) -> &mut Self {
        self.0.extend_from_slice(text.as_bytes());
        self
    }

    /// A string holding data, escaped by serde_json.
    fn string(&mut self, text: &str) -> &mut Self {
        self.serde(text)
    }

    /// Any serializable value, through serde_json (`meta` maps, the `jsonapi` member).
    fn serde<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> &mut Self {
        // Writing into a `Vec` cannot fail, and these values have string keys only; should one
        // fail all the same, its partial text is taken back so the document stays JSON.
        let start = self.0.len();
        if serde_json::to_writer(&mut self.0, value).is_err() {
            self.0.truncate(start);
            self.raw("null");
        }
        self
    }

    fn int(&mut self, value: i64) -> &mut Self {
        self.raw(itoa::Buffer::new().format(value))
    }

    /// A string of the service's own (a type name) that needs no escaping.
    fn quoted(&mut self, text: &str) -> &mut Self {
        self.raw("\"").raw(text).raw("\"")
    }

    /// An id, which JSON:API writes as a string.
    fn id(&mut self, id: i64) -> &mut Self {
        self.raw("\"").int(id).raw("\"")
    }

    fn null(&mut self) -> &mut Self {
        self.raw("null")
    }

    fn separate(&mut self) {
        if !matches!(self.0.last(), None | Some(b'{' | b'[')) {
            self.0.push(b',');
        }
    }

    /// `"name":`, with its comma; member names are the service's own ASCII identifiers.
    fn member(&mut self, name: &str) -> &mut Self {
        debug_assert!(name
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || byte == b':'));
        self.separate();
        // One reservation for the three pieces: a document has dozens of members.
        self.0.reserve(name.len() + 3);
        self.0.push(b'"');
        self.0.extend_from_slice(name.as_bytes());
        self.0.extend_from_slice(b"\":");
        self
    }

    /// The comma before an array's element.
    fn element(&mut self) -> &mut Self {
        self.separate();
        self
    }

    /// `"{root}/{path}/{id}{suffix…}"`: a resource's link, from the escaped API root and the
    /// service's own paths and names.
    fn link(&mut self, base: &LinkBase, path: &str, id: i64, suffix: &[&str]) -> &mut Self {
        self.raw("\"")
            .raw(&base.escaped)
            .raw("/")
            .raw(path)
            .raw("/")
            .int(id);
        for piece in suffix {
            self.raw(piece);
        }
        self.raw("\"")
    }
}

/// What writes itself as one JSON value.
trait WriteJson {
    fn write_json(&self, json: &mut Json);
}

impl<T: WriteJson> WriteJson for Option<T> {
    fn write_json(&self, json: &mut Json) {
        match self {
            Some(value) => value.write_json(json),
            None => {
                json.null();
            }
        }
    }
}

impl<T: WriteJson> WriteJson for [T] {
    fn write_json(&self, json: &mut Json) {
        json.raw("[");
        for item in self {
            json.element();
            item.write_json(json);
        }
        json.raw("]");
    }
}

/// Formats a timestamp the one way the contract allows: RFC 3339, UTC, milliseconds, `Z`.
pub struct Timestamp(pub NaiveDateTime);

impl Timestamp {
    /// `2026-11-23T10:15:30.123Z`, written digit by digit into a fixed buffer: every resource
    /// shows two or three of these, and `chrono`'s `format` parses its pattern on every call.
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

impl WriteJson for Timestamp {
    fn write_json(&self, json: &mut Json) {
        json.0.push(b'"');
        json.0.extend_from_slice(&self.to_bytes());
        json.0.push(b'"');
    }
}

/// An attribute value, borrowed from the row it shows (a page of resources copies no strings).
pub enum Attr<'a> {
    Str(&'a str),
    OptStr(Option<&'a str>),
    Int(i64),
    Time(NaiveDateTime),
    List(Vec<Cow<'a, str>>),
    OptInt(Option<i64>),
    OptTime(Option<NaiveDateTime>),
    Bool(bool),
    /// An id shown as a string (`"42"`).
    IdText(i64),
    /// JSON text written as it is (`null` for `None`): a value the server stored as JSON itself.
    Json(Option<&'a str>),
}

impl WriteJson for Attr<'_> {
    fn write_json(&self, json: &mut Json) {
        match self {
            Attr::Str(text) | Attr::OptStr(Some(text)) => {
                json.string(text);
            }
            Attr::OptStr(None) => {
                json.null();
            }
            Attr::Int(number) => {
                json.int(*number);
            }
            Attr::Time(time) => Timestamp(*time).write_json(json),
            Attr::List(items) => {
                json.raw("[");
                for item in items {
                    json.element().string(item);
                }
                json.raw("]");
            }
            Attr::OptInt(Some(number)) => {
                json.int(*number);
            }
            Attr::OptTime(Some(time)) => Timestamp(*time).write_json(json),
            Attr::OptInt(None) | Attr::OptTime(None) | Attr::Json(None) => {
                json.null();
            }
            Attr::Bool(value) => {
                json.raw(bool_text(*value));
            }
            Attr::IdText(id) => {
                json.id(*id);
            }
            Attr::Json(Some(text)) => {
                json.raw(text);
            }
        }
    }
}

/// A resource identifier object (`{"type": "prospect", "id": "7"}`); ids are strings on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identifier {
    pub kind: ResourceType,
    pub id: i64,
}

impl WriteJson for Identifier {
    fn write_json(&self, json: &mut Json) {
        json.raw("{").member("type").quoted(self.kind.name());
        json.member("id").id(self.id).raw("}");
    }
}

/// Resource linkage of a relationship.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Linkage {
    ToOne(Option<Identifier>),
    ToMany(Vec<Identifier>),
    /// The first members of a to-many relationship and how many it has in all, which a
    /// relationship object shows as its `meta.count`.
    Sample {
        first: Vec<Identifier>,
        count: i64,
    },
}

impl WriteJson for Linkage {
    fn write_json(&self, json: &mut Json) {
        match self {
            Linkage::ToOne(one) => one.write_json(json),
            Linkage::ToMany(many) | Linkage::Sample { first: many, .. } => many.write_json(json),
        }
    }
}

/// A resource object, ready to write; it borrows the row it shows and the request's API root.
pub struct Resource<'a> {
    pub kind: ResourceType,
    pub id: i64,
    pub attributes: Vec<(&'static str, Attr<'a>)>,
    pub relationships: Vec<(&'static str, Linkage)>,
    pub meta: Option<AuthorizationMeta>,
    /// `meta.page.cursor`: the cursor of this resource's position in its collection (the change
    /// feed gives every change one, so consumers can resume after it).
    pub cursor: Option<String>,
    pub base: &'a LinkBase,
}

impl Resource<'_> {
    /// `{"jsonapi":{"version":"1.1"},"data":<this resource>}`: a document without links, as a
    /// webhook delivery carries one resource.
    pub fn delivery_document(&self) -> String {
        let mut json = Json::with_capacity(1024);
        json.raw("{").member("jsonapi").raw("{");
        json.member("version").quoted("1.1").raw("}");
        json.member("data");
        self.write_json(&mut json);
        json.raw("}");
        json.into_string()
    }

    pub fn identifier(&self) -> Identifier {
        Identifier {
            kind: self.kind,
            id: self.id,
        }
    }
}

impl WriteJson for Resource<'_> {
    fn write_json(&self, json: &mut Json) {
        let (base, path, id) = (self.base, self.kind.collection(), self.id);
        json.raw("{").member("type").quoted(self.kind.name());
        json.member("id").id(self.id);
        if !self.attributes.is_empty() {
            json.member("attributes").raw("{");
            for (name, value) in &self.attributes {
                json.member(name);
                value.write_json(json);
            }
            json.raw("}");
        }
        if !self.relationships.is_empty() {
            json.member("relationships").raw("{");
            for (name, linkage) in &self.relationships {
                json.member(name).raw("{").member("links").raw("{");
                json.member("self")
                    .link(base, path, id, &["/relationships/", name]);
                json.member("related").link(base, path, id, &["/", name]);
                json.raw("}").member("data");
                linkage.write_json(json);
                if let Linkage::Sample { count, .. } = linkage {
                    json.member("meta").raw("{").member("count");
                    json.raw(&count.to_string()).raw("}");
                }
                json.raw("}");
            }
            json.raw("}");
        }
        json.member("links")
            .raw("{")
            .member("self")
            .link(base, path, id, &[])
            .raw("}");
        if self.meta.is_some() || self.cursor.is_some() {
            json.member("meta").raw("{");
            if let Some(meta) = &self.meta {
                json.member("canWrite").raw(bool_text(meta.can_write));
                json.member("canDelete").raw(bool_text(meta.can_delete));
            }
            if let Some(cursor) = &self.cursor {
                json.member("page").raw("{").member("cursor").string(cursor);
                json.raw("}");
            }
            json.raw("}");
        }
        json.raw("}");
    }
}

fn bool_text(value: bool) -> &'static str {
    if value {
        "true"
    } else {
        "false"
    }
}

/// The primary data of a document.
pub enum Data<'a> {
    One(Option<Resource<'a>>),
    Many(Vec<Resource<'a>>),
    Linkage(Linkage),
}

impl WriteJson for Data<'_> {
    fn write_json(&self, json: &mut Json) {
        match self {
            Data::One(one) => one.write_json(json),
            Data::Many(many) => many.write_json(json),
            Data::Linkage(linkage) => linkage.write_json(json),
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

    fn jsonapi_object(self) -> media::JsonApiObject {
        media::jsonapi_object(self == Applied::AtomicExt, self == Applied::CursorProfile)
    }
}

/// A top-level document with primary data.
pub struct Document<'a> {
    pub data: Data<'a>,
    pub included: Option<Vec<Resource<'a>>>,
    /// Top-level links; `None` values are written as `null` (`prev`/`next` at the ends).
    pub links: Vec<(&'static str, Option<String>)>,
    pub meta: Option<Map<String, Value>>,
    pub applied: Applied,
}

impl<'a> Document<'a> {
    pub fn new(data: Data<'a>, self_link: String) -> Self {
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
        let resources = match &self.data {
            Data::Many(many) => many.len(),
            _ => 1,
        } + self.included.as_ref().map_or(0, Vec::len);
        builder
            .content_type(self.applied.content_type())
            .body(body(self, resources))
    }
}

/// The bytes of `document`, in a buffer sized for `resources` resource objects of the usual
/// ~900 bytes, so that it is not grown step by step.
fn body(document: &impl WriteJson, resources: usize) -> Vec<u8> {
    let mut json = Json::with_capacity(512 + 1024 * resources);
    document.write_json(&mut json);
    json.into_bytes()
}

impl WriteJson for Document<'_> {
    fn write_json(&self, json: &mut Json) {
        json.raw("{")
            .member("jsonapi")
            .serde(&self.applied.jsonapi_object());
        json.member("data");
        self.data.write_json(json);
        if let Some(included) = &self.included {
            json.member("included");
            included.write_json(json);
        }
        json.member("links").raw("{");
        for (name, href) in &self.links {
            json.member(name);
            match href {
                Some(href) => json.string(href),
                None => json.null(),
            };
        }
        json.raw("}");
        if let Some(meta) = &self.meta {
            json.member("meta").serde(meta);
        }
        json.raw("}");
    }
}

/// The response document of an Atomic Operations request: one result per operation, `{"data":
/// resource}` for one that shows a resource and `{}` for one that does not (a removal).
pub struct AtomicResults<'a>(pub Vec<Option<Resource<'a>>>);

impl AtomicResults<'_> {
    pub fn respond(&self) -> HttpResponse {
        HttpResponse::build(StatusCode::OK)
            .content_type(Applied::AtomicExt.content_type())
            .body(body(self, self.0.len()))
    }
}

impl WriteJson for AtomicResults<'_> {
    fn write_json(&self, json: &mut Json) {
        json.raw("{")
            .member("jsonapi")
            .serde(&Applied::AtomicExt.jsonapi_object());
        json.member("atomic:results").raw("[");
        for result in &self.0 {
            json.element().raw("{");
            if let Some(resource) = result {
                json.member("data");
                resource.write_json(json);
            }
            json.raw("}");
        }
        json.raw("]}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use serde_json::json;

    fn json_of(value: &impl WriteJson) -> String {
        let mut json = Json::with_capacity(0);
        value.write_json(&mut json);
        json.into_string()
    }

    fn parsed(value: &impl WriteJson) -> Value {
        serde_json::from_str(&json_of(value)).expect("the writer writes JSON")
    }

    fn resource<'a>(base: &'a LinkBase, attributes: Vec<(&'static str, Attr<'a>)>) -> Resource<'a> {
        Resource {
            kind: ResourceType::Prospect,
            id: 7,
            attributes,
            relationships: vec![
                (
                    "phoneNumbers",
                    Linkage::ToMany(vec![
                        Identifier {
                            kind: ResourceType::PhoneNumber,
                            id: 1,
                        },
                        Identifier {
                            kind: ResourceType::PhoneNumber,
                            id: -2,
                        },
                    ]),
                ),
                ("owner", Linkage::ToOne(None)),
            ],
            cursor: None,
            meta: Some(AuthorizationMeta {
                can_write: true,
                can_delete: false,
            }),
            base,
        }
    }

    #[test]
    fn data_strings_are_escaped_and_everything_else_is_written_as_it_is() {
        let base = LinkBase::new("http://h\"o\\st:1/api/v2".into());
        let at = NaiveDate::from_ymd_opt(2026, 1, 2)
            .unwrap()
            .and_hms_milli_opt(3, 4, 5, 6)
            .unwrap();
        let tricky = "quote \" backslash \\ newline \n tab \t bell \u{7} é 📞 \u{2028}";
        let document = Document {
            data: Data::One(Some(resource(
                &base,
                vec![
                    ("firstName", Attr::Str(tricky)),
                    ("lastName", Attr::OptStr(None)),
                    ("title", Attr::OptStr(Some(""))),
                    ("order", Attr::Int(-42)),
                    ("createdAt", Attr::Time(at)),
                    (
                        "homePhones",
                        Attr::List(vec!["+1\"".into(), "x".to_owned().into()]),
                    ),
                    ("workPhones", Attr::List(Vec::new())),
                ],
            ))),
            included: Some(Vec::new()),
            links: vec![
                ("self", Some("http://h/x?a=\"&b=\\".into())),
                ("next", None),
            ],
            meta: Some(Map::from_iter([(
                "page".to_owned(),
                json!({"total": 3, "a\"b": [null]}),
            )])),
            applied: Applied::CursorProfile,
        };
        let root = "http://h\"o\\st:1/api/v2/prospects/7";
        assert_eq!(
            parsed(&document),
            json!({
                "jsonapi": {"version": "1.1", "profile": [media::CURSOR_PROFILE]},
                "data": {
                    "type": "prospect",
                    "id": "7",
                    "attributes": {
                        "firstName": tricky,
                        "lastName": null,
                        "title": "",
                        "order": -42,
                        "createdAt": "2026-01-02T03:04:05.006Z",
                        "homePhones": ["+1\"", "x"],
                        "workPhones": [],
                    },
                    "relationships": {
                        "phoneNumbers": {
                            "links": {
                                "self": format!("{root}/relationships/phoneNumbers"),
                                "related": format!("{root}/phoneNumbers"),
                            },
                            "data": [
                                {"type": "phoneNumber", "id": "1"},
                                {"type": "phoneNumber", "id": "-2"},
                            ],
                        },
                        "owner": {
                            "links": {
                                "self": format!("{root}/relationships/owner"),
                                "related": format!("{root}/owner"),
                            },
                            "data": null,
                        },
                    },
                    "links": {"self": root},
                    "meta": {"canWrite": true, "canDelete": false},
                },
                "included": [],
                "links": {"self": "http://h/x?a=\"&b=\\", "next": null},
                "meta": {"page": {"total": 3, "a\"b": [null]}},
            })
        );
    }

    #[test]
    fn optional_members_and_empty_collections_leave_no_stray_commas() {
        let base = LinkBase::new("http://h/api/v2".into());
        let mut bare = resource(&base, Vec::new());
        bare.relationships.clear();
        bare.meta = None;
        assert_eq!(
            json_of(&bare),
            r#"{"type":"prospect","id":"7","links":{"self":"http://h/api/v2/prospects/7"}}"#
        );
        let linkage = Document::new(Data::Linkage(Linkage::ToMany(Vec::new())), "s".into());
        assert_eq!(
            json_of(&linkage),
            r#"{"jsonapi":{"version":"1.1"},"data":[],"links":{"self":"s"}}"#
        );
        let many = Document::new(
            Data::Many(vec![bare, resource(&base, Vec::new())]),
            "s".into(),
        );
        let value = parsed(&many);
        assert_eq!(value["data"].as_array().map(Vec::len), Some(2));
        assert_eq!(
            parsed(&Document::new(Data::One(None), "s".into()))["data"],
            Value::Null
        );
    }

    #[test]
    fn atomic_results_show_a_resource_or_an_empty_object_per_operation() {
        let base = LinkBase::new("http://h/api/v2".into());
        let results = AtomicResults(vec![None, Some(resource(&base, Vec::new())), None]);
        let value = parsed(&results);
        assert_eq!(value["jsonapi"]["ext"], json!([media::ATOMIC_EXT]));
        let results = value["atomic:results"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        assert_eq!((&results[0], &results[2]), (&json!({}), &json!({})));
        assert_eq!(results[1]["data"]["id"], "7");
    }

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
            assert_eq!(json_of(&Timestamp(at)), format!("\"{expected}\""));
        }
    }
}
