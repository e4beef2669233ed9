//! Conditional requests: the strong ETag of a record's version, `If-Match` preconditions on writes
//! (412 when they fail, strong comparison) and `If-None-Match` on reads (304, weak comparison),
//! read with actix-web's typed headers.

use actix_web::http::header::{self, EntityTag, Header, IfMatch, IfNoneMatch};
use actix_web::HttpRequest;

/// The strong ETag of one version of a record: the same for every representation of that version.
pub fn etag(id: i64, version: i64) -> EntityTag {
    EntityTag::new_strong(format!("{id}-{version}"))
}

/// `If-Match`, read once: whether a stored version may be written (412 otherwise).
#[derive(Clone, Debug)]
pub enum Precondition {
    None,
    Any,
    /// Strong comparison: weak tags never match.
    Tags(Vec<EntityTag>),
}

impl Precondition {
    /// The request's `If-Match`; one that cannot be read as text is no precondition.
    pub fn of(request: &HttpRequest) -> Self {
        if !request.headers().contains_key(header::IF_MATCH) {
            return Precondition::None;
        }
        match IfMatch::parse(request) {
            Ok(IfMatch::Any) => Precondition::Any,
            Ok(IfMatch::Items(tags)) => Precondition::Tags(tags),
            Err(_) => Precondition::None,
        }
    }

    /// The check a model makes of a stored version of record `id`, inside its write transaction.
    pub fn of_record(&self, id: i64) -> impl Fn(i64) -> bool + '_ {
        move |version| self.allows(id, version)
    }

    pub fn allows(&self, id: i64, version: i64) -> bool {
        match self {
            Precondition::None | Precondition::Any => true,
            Precondition::Tags(tags) => tags.iter().any(|tag| tag.strong_eq(&etag(id, version))),
        }
    }
}

/// Whether `If-None-Match` names the current version (weak comparison; a read answers 304).
pub fn not_modified(request: &HttpRequest, tag: &EntityTag) -> bool {
    if !request.headers().contains_key(header::IF_NONE_MATCH) {
        return false;
    }
    match IfNoneMatch::parse(request) {
        Ok(IfNoneMatch::Any) => true,
        Ok(IfNoneMatch::Items(tags)) => tags.iter().any(|candidate| candidate.weak_eq(tag)),
        Err(_) => false,
    }
}
