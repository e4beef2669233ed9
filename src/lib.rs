//! `phonebook`: prospects and their phone numbers, served as JSON:API 1.1.
//!
//! A map of the crate (CONTRIBUTING.md has the layering and how to extend it):
//! - [`router`] holds the one route table and [`router::build`], with [`state::AppState`] what
//!   every handler shares and [`middleware`] what every response passes; [`cli`] is the command
//!   line and [`config`] every environment variable; [`idempotency`] makes POSTs with an
//!   `Idempotency-Key` safe to retry.
//! - [`schema`] declares each resource type once: a field enum and the relationship enum, which
//!   the query parser, views, models and permissions match exhaustively.
//! - [`resources`] has the thin handlers per type over the request context, the generic
//!   responses, the views and the write rules; [`errors::ApiError`] is the HTTP error, made from
//!   every lower error in one place.
//! - [`auth`] authenticates requests (tokens, the caller, the credential cache); [`permissions`]
//!   decides who may do what (pure functions); [`rate_limit`] counts requests per user.
//! - [`jsonapi`] is our JSON:API 1.1 toolkit, a leaf: media types and negotiation, response
//!   documents, request bodies, the strict query parser and page cursors.
//! - [`models`] the rows and their queries; [`db`] the two-backend connection, pool, migrations
//!   and transactions; [`domain`] value types such as the parsed phone number; [`clock`] the time.

pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod delivery;
pub mod domain;
pub mod errors;
pub mod export;
pub mod idempotency;
pub mod import;
pub mod jsonapi;
pub mod middleware;
pub mod models;
pub mod permissions;
pub mod rate_limit;
pub mod resources;
pub mod router;
pub mod schema;
pub mod state;
