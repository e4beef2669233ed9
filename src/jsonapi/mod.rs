//! Our JSON:API 1.1 toolkit: the media type and content negotiation ([`media`]), response documents
//! ([`document`]), request documents ([`body`]), the strict query-string parser ([`query`]) and the
//! signed page cursors of the cursor-pagination profile ([`cursor`]), links as RFC 3986 URIs
//! ([`uri`]); [`schema`] is what it needs to
//! know of a resource type, [`error`] why it refuses a request. It depends on nothing in the crate
//! but `domain`.

pub mod body;
pub mod cursor;
pub mod document;
pub mod error;
pub mod media;
pub mod query;
pub mod schema;
pub mod uri;
