//! The HTTP layer of the resource types: one module of thin handlers per type (and `entry`,
//! `operations`), over the pieces they share — the request [`context`] (query parsing with its
//! scope checks, database work), [`pagination`], [`conditional`] requests, the generic responses of [`respond`] and the
//! per-type [`served`] rendering, the [`view`]s, and the [`writes`] rules that single-resource
//! endpoints, relationship endpoints and `/operations` all go through.

pub mod changes;
pub mod conditional;
pub mod context;
pub mod entry;
pub mod operations;
pub mod pagination;
pub mod phone_numbers;
pub mod prospects;
pub mod respond;
pub mod served;
pub mod users;
pub mod view;
pub mod webhooks;
pub mod writes;

pub use context::Context;
