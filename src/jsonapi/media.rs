//! The JSON:API media type, its `ext`/`profile` parameters, and content negotiation (JSON:API 1.1
//! "Content Negotiation"): which request `Content-Type` is accepted (else 415) and whether the
//! `Accept` header leaves us something to answer with (else 406).
//!
//! Each media type is parsed by `mime`; the quote-aware split of `Accept` into ranges and the
//! JSON:API rules over the parsed parameters (`ext` as a space-separated list, `q` as a weight) are
//! ours, and so is dropping the whitespace HTTP allows around `;` and `=`, which `mime` does not
//! read. An `Accept` range `mime` still cannot read counts, if it names the JSON:API media type, as
//! one we cannot honour.

use actix_web::http::header::{HeaderMap, ACCEPT, CONTENT_TYPE};
use actix_web::http::Method;
use mime::Mime;

use super::error::RequestError;

/// The bare media type.
pub const JSONAPI: &str = "application/vnd.api+json";
/// The cursor-pagination profile every paginated response applies.
pub const CURSOR_PROFILE: &str = "https://jsonapi.org/profiles/ethanresnick/cursor-pagination";
/// The Atomic Operations extension `/operations` speaks.
pub const ATOMIC_EXT: &str = "https://jsonapi.org/ext/atomic";
/// Content type of paginated responses and of the profile's own errors.
pub const PAGINATED: &str =
    "application/vnd.api+json; profile=\"https://jsonapi.org/profiles/ethanresnick/cursor-pagination\"";
/// Content type of Atomic Operations responses.
pub const ATOMIC: &str = "application/vnd.api+json; ext=\"https://jsonapi.org/ext/atomic\"";

/// The top-level `jsonapi` member: the version, and the extension or profile a response applies.
/// A typed value rather than a `serde_json::Value`: every response writes one.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct JsonApiObject {
    version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ext: Option<[&'static str; 1]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<[&'static str; 1]>,
}

/// The top-level `jsonapi` member.
pub fn jsonapi_object(atomic: bool, paginated: bool) -> JsonApiObject {
    JsonApiObject {
        version: "1.1",
        ext: atomic.then_some([ATOMIC_EXT]),
        profile: (paginated && !atomic).then_some([CURSOR_PROFILE]),
    }
}

/// Splits an `Accept` value into its media ranges, on commas outside double quotes. Hand-written:
/// `mime` parses one media type, not a list, and its `MimeIter` drops the parameters after a space
/// before `;`, which would turn an unsupported JSON:API range into a plain one.
fn split_unquoted(value: &str) -> impl Iterator<Item = &str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in value.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                parts.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&value[start..]);
    parts.into_iter()
}

/// One media range, parsed by `mime` (type, subtype and parameter names lower-cased, quoted values
/// unquoted); `None` when `mime` cannot read it. HTTP allows whitespace around `;` and `=`
/// (RFC 9110 `OWS`), `mime` does not: it is dropped first, outside quotes.
fn parse_range(text: &str) -> Option<Mime> {
    let text = text.trim();
    if !text.contains([' ', '\t']) {
        return text.parse().ok();
    }
    let mut compact = String::with_capacity(text.len());
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' | '\t' if !quoted => continue,
            _ => {}
        }
        compact.push(c);
    }
    compact.parse().ok()
}

fn is_jsonapi(range: &Mime) -> bool {
    range.essence_str() == JSONAPI
}

/// Whether text `mime` could not read still names the JSON:API media type, e.g. with a space before
/// `;` (HTTP allows one, `mime` does not). Such a range is one we cannot honour, so it must not
/// count as absent, or an `Accept` of only that range would be answered instead of refused.
fn names_jsonapi(text: &str) -> bool {
    text.split(';')
        .next()
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(JSONAPI))
}

/// Whether every parameter is one JSON:API allows and every extension it names is one we support
/// here. `q` is a weight, not a media type parameter (for `Accept`).
fn is_supported(range: &Mime, supported_ext: &[&str], allow_weight: bool) -> bool {
    range.params().all(|(name, value)| match name.as_str() {
        "profile" => true,
        "ext" => value
            .as_str()
            .split_ascii_whitespace()
            .all(|uri| supported_ext.contains(&uri)),
        "q" => allow_weight,
        _ => false,
    })
}

fn names_ext(range: &Mime, ext: &str) -> bool {
    range.params().any(|(name, value)| {
        name == "ext"
            && value
                .as_str()
                .split_ascii_whitespace()
                .any(|uri| uri == ext)
    })
}

/// What a route speaks: `/operations` requires the atomic extension, every other route none.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Plain,
    Atomic,
}

impl Dialect {
    fn extensions(self) -> &'static [&'static str] {
        match self {
            Dialect::Plain => &[],
            Dialect::Atomic => &[ATOMIC_EXT],
        }
    }
}

/// Content negotiation for one request: 415 for a body in anything but the JSON:API media type
/// (with only `ext`/`profile`, and only extensions this route supports), 406 when `Accept` names
/// the JSON:API media type only with parameters we cannot honour.
pub fn negotiate(
    method: &Method,
    headers: &HeaderMap,
    dialect: Dialect,
) -> Result<(), RequestError> {
    // Only writes carry a document; some client libraries send their Content-Type on every
    // request, which must not turn a GET or DELETE into a 415.
    let carries_body = matches!(*method, Method::POST | Method::PATCH);
    let content_type = headers.get(CONTENT_TYPE).filter(|_| carries_body);
    match content_type.map(|value| value.to_str()) {
        Some(Ok(value)) => {
            let Some(range) = parse_range(value) else {
                return Err(RequestError::UnsupportedMediaType(format!(
                    "The Content-Type header is not a media type; request bodies must be sent as \
                     {JSONAPI}."
                )));
            };
            if !is_jsonapi(&range) {
                return Err(RequestError::UnsupportedMediaType(format!(
                    "Request bodies must be sent as {JSONAPI}."
                )));
            }
            if !is_supported(&range, dialect.extensions(), false) {
                return Err(RequestError::UnsupportedMediaType(format!(
                    "{JSONAPI} may only carry the `ext` and `profile` parameters, and `ext` only \
                     extensions this endpoint supports ({}).",
                    if dialect == Dialect::Atomic {
                        ATOMIC_EXT
                    } else {
                        "none"
                    }
                )));
            }
            if dialect == Dialect::Atomic && carries_body && !names_ext(&range, ATOMIC_EXT) {
                return Err(RequestError::UnsupportedMediaType(format!(
                    "Atomic Operations requests must be sent as {JSONAPI}; ext=\"{ATOMIC_EXT}\"."
                )));
            }
        }
        Some(Err(_)) => {
            return Err(RequestError::UnsupportedMediaType(
                "The Content-Type header is not readable.".into(),
            ))
        }
        None if carries_body => {
            return Err(RequestError::UnsupportedMediaType(format!(
                "This request needs `Content-Type: {JSONAPI}`."
            )))
        }
        None => {}
    }
    // For each JSON:API range of `Accept`, whether we can honour it; other ranges are left out.
    let mut jsonapi_ranges = headers
        .get_all(ACCEPT)
        .filter_map(|value| value.to_str().ok())
        .flat_map(split_unquoted)
        .filter_map(|text| match parse_range(text) {
            Some(range) => {
                is_jsonapi(&range).then(|| is_supported(&range, dialect.extensions(), true))
            }
            None => names_jsonapi(text).then_some(false),
        })
        .peekable();
    if jsonapi_ranges.peek().is_some() && !jsonapi_ranges.any(|honoured| honoured) {
        return Err(RequestError::NotAcceptable(format!(
            "Every {JSONAPI} in Accept carries parameters this server does not support."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};
    use serde_json::json;

    #[test]
    fn the_jsonapi_member_names_what_the_response_applies() {
        let member =
            |atomic, paginated| serde_json::to_value(jsonapi_object(atomic, paginated)).unwrap();
        assert_eq!(member(false, false), json!({ "version": "1.1" }));
        assert_eq!(
            member(false, true),
            json!({ "version": "1.1", "profile": [CURSOR_PROFILE] })
        );
        assert_eq!(
            member(true, false),
            json!({ "version": "1.1", "ext": [ATOMIC_EXT] })
        );
        assert_eq!(
            member(true, true),
            json!({ "version": "1.1", "ext": [ATOMIC_EXT] })
        );
    }

    fn headers(pairs: &[(HeaderName, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(name.clone(), HeaderValue::from_str(value).unwrap());
        }
        map
    }

    fn status(method: Method, pairs: &[(HeaderName, &str)], dialect: Dialect) -> u16 {
        match negotiate(&method, &headers(pairs), dialect) {
            Ok(()) => 200,
            Err(RequestError::UnsupportedMediaType(_)) => 415,
            Err(RequestError::NotAcceptable(_)) => 406,
            Err(other) => panic!("negotiation answered {other:?}"),
        }
    }

    #[test]
    fn content_type_rules() {
        let post = |ct: &str| status(Method::POST, &[(CONTENT_TYPE, ct)], Dialect::Plain);
        assert_eq!(post(JSONAPI), 200);
        assert_eq!(
            post("application/vnd.api+json; profile=\"https://example.com/p\""),
            200
        );
        assert_eq!(post("application/vnd.api+json; charset=utf-8"), 415);
        assert_eq!(post("application/json"), 415);
        assert_eq!(post(ATOMIC), 415, "atomic is only spoken at /operations");
        assert_eq!(status(Method::POST, &[], Dialect::Plain), 415);
        assert_eq!(status(Method::GET, &[], Dialect::Plain), 200);
        assert_eq!(
            status(Method::POST, &[(CONTENT_TYPE, ATOMIC)], Dialect::Atomic),
            200
        );
        assert_eq!(
            status(Method::POST, &[(CONTENT_TYPE, JSONAPI)], Dialect::Atomic),
            415
        );
    }

    #[test]
    fn accept_rules() {
        let get = |accept: &str| status(Method::GET, &[(ACCEPT, accept)], Dialect::Plain);
        assert_eq!(get(JSONAPI), 200);
        assert_eq!(get("*/*"), 200);
        assert_eq!(get("application/vnd.api+json; charset=utf-8"), 406);
        assert_eq!(
            get("application/vnd.api+json; charset=utf-8, application/vnd.api+json"),
            200
        );
        assert_eq!(
            get("application/vnd.api+json; q=0.8"),
            200,
            "weights are not parameters"
        );
        assert_eq!(
            get("application/vnd.api+json; ext=\"https://example.com/nope\""),
            406
        );
        assert_eq!(get("text/html"), 200);
    }

    #[test]
    fn parsing_edges() {
        let post = |ct: &str, dialect| status(Method::POST, &[(CONTENT_TYPE, ct)], dialect);
        let get = |accept: &str| status(Method::GET, &[(ACCEPT, accept)], Dialect::Plain);
        // Type, subtype and parameter names in any case; `ext` and `profile` values as written.
        assert_eq!(post("Application/Vnd.Api+JSON", Dialect::Plain), 200);
        const JSONAPI: &str = "application/vnd.api+json";
        let ext = |uri: &str| format!("{JSONAPI}; ext=\"{uri}\"");
        let atomic = ext("https://jsonapi.org/ext/atomic");
        assert_eq!(post(&atomic.replace("ext=", "EXT="), Dialect::Atomic), 200);
        assert_eq!(
            post(&ext("https://JSONAPI.org/ext/atomic"), Dialect::Atomic),
            415
        );
        // `ext` is a space-separated list inside quotes; every extension must be supported.
        let both = ext("https://jsonapi.org/ext/atomic https://example.com/x");
        assert_eq!(post(&both, Dialect::Atomic), 415);
        let profiles =
            format!("{JSONAPI}; profile=\"https://example.com/a https://example.com/b\"");
        assert_eq!(post(&profiles, Dialect::Plain), 200);
        // Whitespace around `;` and `=` is allowed (RFC 9110 OWS).
        let spaced = "application/vnd.api+json ; profile = \"https://example.com/p\"";
        assert_eq!(post(spaced, Dialect::Plain), 200);
        // Not readable as a media type.
        for unreadable in [
            "application/vnd.api+json; profile",
            "application/vnd.api+json; ext=\"https://jsonapi.org/ext/atomic",
            "vnd.api+json",
        ] {
            assert_eq!(post(unreadable, Dialect::Plain), 415, "{unreadable}");
        }
        // A comma inside quotes does not end an `Accept` range.
        assert_eq!(
            get("application/vnd.api+json; profile=\"https://example.com/a,b\""),
            200
        );
        // A JSON:API range `mime` cannot read is not one we can honour.
        assert_eq!(
            get("application/vnd.api+json ; ext=\"https://example.com/x\""),
            406
        );
        assert_eq!(
            get("application/vnd.api+json ;q=0.5, application/vnd.api+json"),
            200
        );
        assert_eq!(get("nonsense, application/vnd.api+json"), 200);
    }
}
