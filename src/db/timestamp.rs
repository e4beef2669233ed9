//! [`StoredTime`]: how model rows read `TIMESTAMP NOT NULL` columns
//! (`#[diesel(deserialize_as = StoredTime)]` on a `NaiveDateTime` field).
//!
//! On SQLite a timestamp is text, and diesel's chrono conversion tries up to 18 `strftime`
//! patterns, interpreting each pattern anew for every value, and a phone-number row has three
//! (docs/performance.md, "SQLite timestamps read directly"). The one layout this service writes
//! (`YYYY-MM-DD HH:MM:SS[.fff]`, what diesel binds) is read directly here; anything else (a row
//! written by hand, a Julian day number) still goes through diesel's own conversion.
//! PostgreSQL's binary timestamps go straight to diesel.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql};
use diesel::pg::Pg;
use diesel::sql_types::Timestamp;
use diesel::sqlite::Sqlite;

use super::Db;

/// A `TIMESTAMP` column read into a [`NaiveDateTime`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, diesel::deserialize::FromSqlRow)]
pub struct StoredTime(pub NaiveDateTime);

impl From<StoredTime> for NaiveDateTime {
    fn from(time: StoredTime) -> Self {
        time.0
    }
}

impl FromSql<Timestamp, Db> for StoredTime {
    fn from_sql(value: <Db as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        value.from_sql::<Self, Timestamp>()
    }
}

impl FromSql<Timestamp, Pg> for StoredTime {
    fn from_sql(value: <Pg as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(StoredTime)
    }
}

impl FromSql<Timestamp, Sqlite> for StoredTime {
    fn from_sql(mut value: <Sqlite as Backend>::RawValue<'_>) -> deserialize::Result<Self> {
        if value.value_type() == Some(diesel::sqlite::SqliteType::Text) {
            if let Some(time) = parse_stored(value.read_text()) {
                return Ok(StoredTime(time));
            }
        }
        <NaiveDateTime as FromSql<Timestamp, Sqlite>>::from_sql(value).map(StoredTime)
    }
}

/// `YYYY-MM-DD HH:MM:SS` with an optional fraction of 1 to 9 digits; `None` for anything else.
fn parse_stored(text: &str) -> Option<NaiveDateTime> {
    let bytes = text.as_bytes();
    if bytes.len() < 19 || bytes[4] != b'-' || bytes[7] != b'-' || bytes[10] != b' ' {
        return None;
    }
    if bytes[13] != b':' || bytes[16] != b':' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        bytes[range].iter().try_fold(0u32, |total, byte| {
            byte.is_ascii_digit()
                .then(|| total * 10 + u32::from(byte - b'0'))
        })
    };
    let date = NaiveDate::from_ymd_opt(
        i32::try_from(digits(0..4)?).ok()?,
        digits(5..7)?,
        digits(8..10)?,
    )?;
    let nanos = match &bytes[19..] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => {
            let value = digits(20..bytes.len())?;
            value * 10u32.pow(9 - fraction.len() as u32)
        }
        _ => return None,
    };
    let time =
        NaiveTime::from_hms_nano_opt(digits(11..13)?, digits(14..16)?, digits(17..19)?, nanos)?;
    Some(date.and_time(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chrono_reads(text: &str) -> Option<NaiveDateTime> {
        NaiveDateTime::parse_from_str(text, "%F %T%.f").ok()
    }

    #[test]
    fn reads_what_the_service_writes_exactly_as_chrono_does() {
        for text in [
            "2026-01-01 00:00:00",
            "2026-11-23 08:47:49.1",
            "2026-11-23 08:47:49.120",
            "2026-11-23 08:47:49.123",
            "1999-12-31 23:59:59.999999",
            "2024-02-29 12:00:00.000000001",
            "0001-01-01 00:00:00",
        ] {
            assert_eq!(parse_stored(text), chrono_reads(text), "{text}");
            assert!(parse_stored(text).is_some(), "{text}");
        }
    }

    #[test]
    fn leaves_every_other_layout_to_diesel() {
        for text in [
            "",
            "2026-01-01",
            "2026-01-01T00:00:00",
            "2026-01-01 00:00:00Z",
            "2026-01-01 00:00:00+01:00",
            "2026-01-01 00:00:00.",
            "2026-01-01 00:00:00.1234567890",
            "2026-13-01 00:00:00",
            "2026-02-30 00:00:00",
            "2026-01-01 24:00:00",
            "2026-01-01 00:60:00",
            "2026-0a-01 00:00:00",
            "2460000.5",
            "２026-01-01 00:00:00",
        ] {
            assert_eq!(parse_stored(text), None, "{text}");
        }
    }
}
