//! The integration suite: one binary, an isolated app and database per test, every test on
//! SQLite and on PostgreSQL (see `helpers`).

mod helpers;

mod batched;
mod bodies;
mod changes;
mod check_order;
mod cli;
mod deliveries;
mod entry_point;
mod etags;
mod http;
mod idempotency;
mod import;
mod instances;
mod lookup;
mod negotiation;
mod openapi;
mod operations;
mod permissions;
mod phone_numbers;
mod query;
mod relationships;
mod resources;
mod servers;
mod shared_limit;
mod shared_with;
mod unreachable;
mod webhooks;
