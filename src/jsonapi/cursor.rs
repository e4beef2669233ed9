//! Opaque, tamper-evident page cursors for the cursor-pagination profile.
//!
//! A cursor names a position in a keyset ordering: the sort-key values of one row and its id. On
//! the wire it is URL-safe base64 (no padding) of `payload ‖ tag`, where the payload is a small
//! JSON document and the tag is HMAC-SHA256, truncated to 16 bytes, over a domain label, the
//! payload and a *binding*: a canonical string of the resource type, the parent of a related
//! endpoint, the sort and the filters (see `Query::binding` in `query.rs`). A cursor that was
//! altered, truncated, forged with another key or presented with another sort or filter fails the
//! tag check; [`CursorCodec::decode`] never panics on any input.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, NaiveDateTime};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// Bytes of the truncated HMAC tag.
const TAG_LEN: usize = 16;
/// Longest cursor text looked at; anything longer is rejected before decoding.
const MAX_TEXT_LEN: usize = 8 * 1024;
/// Domain separation for the tag.
const DOMAIN: &[u8] = b"phonebook/cursor/v1\0";

/// One sort-key value of the row a cursor points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CursorValue {
    /// The row's value is null.
    Null,
    /// An integer value.
    Int(i64),
    /// A string value.
    Str(String),
    /// A datetime value, in UTC.
    DateTime(NaiveDateTime),
}

/// A position in a keyset ordering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// One value per sort key, in sort order.
    pub values: Vec<CursorValue>,
    /// The row's id, the final tie-breaker.
    pub id: i64,
    /// Whether the position includes the row itself (`page[after]` reads from the row on, not
    /// after it). Only the edge of an empty page needs this: its link back must reach the row its
    /// own cursor named.
    pub inclusive: bool,
}

/// Why a cursor was refused (always a 400 with `source.parameter` = `page[after]`/`page[before]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CursorError {
    /// Not a cursor this server could have written (bad base64, too short, too long, bad payload).
    Malformed,
    /// The tag does not match: tampered, or issued for another sort, filter or endpoint.
    Mismatch,
}

impl fmt::Display for CursorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "the cursor is malformed; use the links the server returned",
            Self::Mismatch => {
                "the cursor does not belong to this request (altered, or issued for another sort or filter)"
            }
        })
    }
}

impl std::error::Error for CursorError {}

/// Encodes and decodes cursors with a secret key.
#[derive(Clone)]
pub struct CursorCodec {
    key: [u8; 32],
}

impl fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CursorCodec")
            .field("key", &"<redacted>")
            .finish()
    }
}

/// The payload's wire form (compact JSON).
#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(rename = "v")]
    values: Vec<WireValue>,
    #[serde(rename = "i")]
    id: i64,
    #[serde(rename = "e", default, skip_serializing_if = "is_false")]
    inclusive: bool,
}

fn is_false(value: &bool) -> bool {
    !*value
}

#[derive(Serialize, Deserialize)]
enum WireValue {
    #[serde(rename = "n")]
    Null,
    #[serde(rename = "i")]
    Int(i64),
    #[serde(rename = "s")]
    Str(String),
    /// Seconds since the Unix epoch and nanoseconds.
    #[serde(rename = "t")]
    DateTime(i64, u32),
}

impl From<&CursorValue> for WireValue {
    fn from(value: &CursorValue) -> Self {
        match value {
            CursorValue::Null => Self::Null,
            CursorValue::Int(n) => Self::Int(*n),
            CursorValue::Str(s) => Self::Str(s.clone()),
            CursorValue::DateTime(t) => {
                let t = t.and_utc();
                Self::DateTime(t.timestamp(), t.timestamp_subsec_nanos())
            }
        }
    }
}

impl TryFrom<WireValue> for CursorValue {
    type Error = CursorError;

    fn try_from(value: WireValue) -> Result<Self, CursorError> {
        Ok(match value {
            WireValue::Null => Self::Null,
            WireValue::Int(n) => Self::Int(n),
            WireValue::Str(s) => Self::Str(s),
            WireValue::DateTime(secs, nanos) => Self::DateTime(
                DateTime::from_timestamp(secs, nanos)
                    .ok_or(CursorError::Malformed)?
                    .naive_utc(),
            ),
        })
    }
}

impl CursorCodec {
    /// A codec with this secret key (keep it stable across restarts, or outstanding cursors turn
    /// 400).
    pub fn new(key: [u8; 32]) -> Self {
        CursorCodec { key }
    }

    /// The cursor text for `cursor`, bound to `binding`.
    pub fn encode(&self, cursor: &Cursor, binding: &str) -> String {
        let wire = Wire {
            values: cursor.values.iter().map(WireValue::from).collect(),
            id: cursor.id,
            inclusive: cursor.inclusive,
        };
        // Serialising plain enums, strings and integers into a Vec cannot fail.
        let mut bytes = serde_json::to_vec(&wire).unwrap_or_default();
        let tag = self.mac(&bytes, binding).finalize().into_bytes();
        bytes.extend_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The cursor in `text`, if this codec wrote it for `binding`.
    ///
    /// # Errors
    ///
    /// [`CursorError::Malformed`] for text this server cannot have written, and
    /// [`CursorError::Mismatch`] for a cursor altered, signed with another key or written for another
    /// binding. Never panics, whatever the input.
    pub fn decode(&self, text: &str, binding: &str) -> Result<Cursor, CursorError> {
        if text.len() > MAX_TEXT_LEN {
            return Err(CursorError::Malformed);
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| CursorError::Malformed)?;
        if bytes.len() <= TAG_LEN {
            return Err(CursorError::Malformed);
        }
        let (payload, tag) = bytes.split_at(bytes.len() - TAG_LEN);
        self.mac(payload, binding)
            .verify_truncated_left(tag)
            .map_err(|_| CursorError::Mismatch)?;
        let wire: Wire = serde_json::from_slice(payload).map_err(|_| CursorError::Malformed)?;
        let values = wire
            .values
            .into_iter()
            .map(CursorValue::try_from)
            .collect::<Result<_, _>>()?;
        Ok(Cursor {
            values,
            id: wire.id,
            inclusive: wire.inclusive,
        })
    }

    /// The MAC state over the domain label, the length-prefixed payload and the binding.
    fn mac(&self, payload: &[u8], binding: &str) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .expect("HMAC takes keys of any length");
        mac.update(DOMAIN);
        mac.update(&(payload.len() as u64).to_be_bytes());
        mac.update(payload);
        mac.update(binding.as_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    const BINDING: &str = r#"["phonebook/binding/1","phoneNumber",null,["-updatedAt"],[]]"#;

    fn codec() -> CursorCodec {
        CursorCodec::new([7; 32])
    }

    fn sample() -> Cursor {
        let when = NaiveDate::from_ymd_opt(2026, 11, 23)
            .and_then(|d| d.and_hms_nano_opt(10, 15, 30, 123_456_789))
            .unwrap_or_default();
        Cursor {
            values: vec![
                CursorValue::DateTime(when),
                CursorValue::Null,
                CursorValue::Int(i64::MIN),
                CursorValue::Str("Zoë \"quoted\" ,;&=+/ \u{1F4DE}".into()),
                CursorValue::DateTime(
                    NaiveDate::from_ymd_opt(1900, 1, 1)
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .unwrap_or_default(),
                ),
            ],
            id: i64::MAX,
            inclusive: false,
        }
    }

    /// A small deterministic generator (no `rand` dependency).
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
    }

    #[test]
    fn round_trips() {
        let text = codec().encode(&sample(), BINDING);
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{text}"
        );
        assert_eq!(codec().decode(&text, BINDING), Ok(sample()));
        let empty = Cursor {
            values: vec![],
            id: 1,
            inclusive: true,
        };
        assert_eq!(codec().decode(&codec().encode(&empty, ""), ""), Ok(empty));
    }

    #[test]
    fn wrong_binding_or_key_is_a_mismatch() {
        let text = codec().encode(&sample(), BINDING);
        assert_eq!(
            codec().decode(&text, &BINDING.replace("-updatedAt", "updatedAt")),
            Err(CursorError::Mismatch)
        );
        assert_eq!(codec().decode(&text, ""), Err(CursorError::Mismatch));
        assert_eq!(
            CursorCodec::new([8; 32]).decode(&text, BINDING),
            Err(CursorError::Mismatch)
        );
    }

    #[test]
    fn every_altered_character_is_rejected() {
        let text = codec().encode(&sample(), BINDING);
        for at in 0..text.len() {
            for replacement in ['A', 'z', '0', '-', '_', '=', '%', ' '] {
                let mut altered = text.clone().into_bytes();
                if altered[at] == replacement as u8 {
                    continue;
                }
                altered[at] = replacement as u8;
                let altered = String::from_utf8(altered).unwrap_or_default();
                assert!(codec().decode(&altered, BINDING).is_err(), "{altered}");
            }
        }
    }

    #[test]
    fn truncations_and_extensions_are_rejected() {
        let text = codec().encode(&sample(), BINDING);
        for len in 0..text.len() {
            assert!(codec().decode(&text[..len], BINDING).is_err(), "{len}");
            assert!(codec().decode(&text[len + 1..], BINDING).is_err(), "{len}");
        }
        assert!(codec().decode(&format!("{text}A"), BINDING).is_err());
        assert!(codec().decode(&format!("{text}="), BINDING).is_err());
        assert!(codec().decode(&text.repeat(1000), BINDING).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        let alphabet: Vec<char> =
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=%é\u{0}📞"
                .chars()
                .collect();
        let mut rng = Lcg(42);
        for _ in 0..20_000 {
            let len = (rng.next() % 120) as usize;
            let text: String = (0..len)
                .map(|_| alphabet[(rng.next() as usize) % alphabet.len()])
                .collect();
            assert!(codec().decode(&text, BINDING).is_err(), "{text}");
        }
        for bytes in 0..64usize {
            let raw: Vec<u8> = (0..bytes).map(|_| rng.next() as u8).collect();
            assert!(codec()
                .decode(&URL_SAFE_NO_PAD.encode(raw), BINDING)
                .is_err());
        }
    }

    #[test]
    fn correctly_signed_but_bad_payloads_are_malformed() {
        let sign = |payload: &[u8]| {
            let tag = codec().mac(payload, BINDING).finalize().into_bytes();
            URL_SAFE_NO_PAD.encode([payload, &tag[..TAG_LEN]].concat())
        };
        for payload in [
            &br#"{"v":[{"t":[9223372036854775807,0]}],"i":1}"#[..],
            br#"{"v":[{"t":[0,4000000000]}],"i":1}"#,
            br#"{"v":[{"x":1}],"i":1}"#,
            br#"{"v":[],"i":"1"}"#,
            br#"not json"#,
            b"\xff\xfe",
        ] {
            assert_eq!(
                codec().decode(&sign(payload), BINDING),
                Err(CursorError::Malformed)
            );
        }
        assert_eq!(
            codec().decode(&sign(br#"{"v":["n",{"i":3}],"i":9}"#), BINDING),
            Ok(Cursor {
                values: vec![CursorValue::Null, CursorValue::Int(3)],
                id: 9,
                inclusive: false
            })
        );
    }

    #[test]
    fn debug_hides_the_key_and_errors_display() {
        assert!(!format!("{:?}", codec()).contains('7'));
        assert!(CursorError::Mismatch.to_string().contains("sort"));
    }
}
