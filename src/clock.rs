//! The service's clock.

use chrono::{NaiveDateTime, SubsecRound, Utc};

/// The current time in UTC, truncated to the millisecond the wire format shows, so that what a
/// client reads back (and filters or pages by) is exactly what is stored.
pub fn now() -> NaiveDateTime {
    Utc::now().naive_utc().trunc_subsecs(3)
}
