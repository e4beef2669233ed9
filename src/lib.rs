//! `phonebook`: prospects and their phone numbers, served as JSON:API 1.1.
//!
//! A map of the crate:
//! - [`app`] holds the one route table and [`app::build`]; [`cli`] the command line; [`config`] every
//!   environment variable.
//! - [`errors::ApiError`] is the one error type; it becomes a JSON:API error document in one place
//!   (its `ResponseError` impl).
//! - [`auth::Caller`] authenticates requests; [`permissions`] decides who may do what (pure
//!   functions); [`rate_limit`] counts requests per user.
//! - [`jsonapi`] is our JSON:API 1.1 toolkit: media types and negotiation, response documents,
//!   request bodies, the strict query parser and page cursors.
//! - [`resources`] has one module per resource type (thin handlers) and the views; [`models`] the
//!   rows and their queries; [`domain`] value types such as the parsed phone number; [`db`] the
//!   two-backend connection, pool and migrations.

pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod domain;
pub mod errors;
pub mod jsonapi;
pub mod middleware;
pub mod models;
pub mod permissions;
pub mod rate_limit;
pub mod resources;
pub mod router;
pub mod schema;
pub mod state;
