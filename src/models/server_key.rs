//! Secrets the service makes once and stores, so that every instance and every restart uses the
//! same one: the page-cursor key when `PHONEBOOK_CURSOR_SECRET` is not set.
//!
//! Made under a race-safe insert: every instance inserts a random key with `ON CONFLICT DO
//! NOTHING` and then reads the stored one back, so whichever insert lands first is the key of all.

use diesel::prelude::*;

use crate::clock::now;
use crate::db::schema::server_keys;
use crate::db::DbConnection;

/// The name of the page-cursor key.
pub const CURSOR_KEY: &str = "cursor";

/// The stored key `name`, made (32 random bytes) if there is none yet.
pub fn get_or_create(conn: &mut DbConnection, name: &str) -> QueryResult<[u8; 32]> {
    let candidate = hex::encode(rand::random::<[u8; 32]>());
    let row = (
        server_keys::name.eq(name),
        server_keys::value.eq(&candidate),
        server_keys::created_at.eq(now()),
    );
    crate::on_backend!(conn, |c| diesel::insert_into(server_keys::table)
        .values(row)
        .on_conflict_do_nothing()
        .execute(c))?;
    let stored: String = crate::on_backend!(conn, |c| server_keys::table
        .find(name)
        .select(server_keys::value)
        .first(c))?;
    let mut key = [0u8; 32];
    hex::decode_to_slice(&stored, &mut key).map_err(|error| {
        diesel::result::Error::DeserializationError(
            format!("server key {name} is not 32 bytes of hex: {error}").into(),
        )
    })?;
    Ok(key)
}
