//! The integration suite: one binary, an isolated app and database per test, every test on
//! SQLite and on PostgreSQL (see `helpers`).

mod helpers;

mod foundation;
mod permissions;
mod phone_numbers;
mod query;
