//! Our JSON:API 1.1 toolkit: the media type and content negotiation ([`media`]), response documents
//! ([`document`]), request documents ([`body`]), the strict query-string parser ([`query`]) and the
//! signed page cursors of the cursor-pagination profile ([`cursor`]).

pub mod body;
pub mod cursor;
pub mod document;
pub mod media;
pub mod query;
pub mod schema;
