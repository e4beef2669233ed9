//! The resource types' HTTP layer: one module per type with thin handlers, the views that render
//! rows, and the pieces every handler shares: strict query parsing with the scope checks that
//! follow it, cursor pagination links, ETags and preconditions.

pub mod entry;
pub mod operations;
pub mod phone_numbers;
pub mod prospects;
pub mod users;
pub mod view;

use std::borrow::Cow;

use actix_web::http::header::{self, EntityTag, HeaderMap};
use actix_web::http::{Method, StatusCode};
use actix_web::HttpResponse;

use crate::auth::Caller;
use crate::errors::{ApiError, ApiResult};
use crate::jsonapi::cursor::Cursor;
use crate::jsonapi::document::{Applied, Data, Document, Resource, ResourceType};
use crate::jsonapi::query::{self, Endpoint, Options, Query, QueryError};
use crate::jsonapi::schema::{Field, Relationship as _};
use crate::models::listing::{Direction, Keyed, Listing, Page};
use crate::permissions::{self, Access};
use view::{Includes, View};

/// What the cursors of one collection response are bound to ([`Query::binding`]), rendered on
/// first use: most responses neither read nor write a cursor.
pub struct CursorBinding<'q, F: Field> {
    query: &'q Query<F>,
    parent: Option<(&'static str, i64)>,
    text: std::cell::OnceCell<String>,
}

impl<'q, F: Field> CursorBinding<'q, F> {
    pub fn new(query: &'q Query<F>, parent: Option<(&'static str, i64)>) -> Self {
        CursorBinding {
            query,
            parent,
            text: std::cell::OnceCell::new(),
        }
    }

    fn text(&self) -> &str {
        self.text
            .get_or_init(|| self.query.binding(F::TYPE.name(), self.parent))
    }
}

impl Caller {
    /// Parses the query string for an endpoint whose primary data are of `F`'s type (400 on
    /// anything the contract does not allow), then checks the scopes: `access` on the primary type
    /// and read on every included type (403).
    pub fn query<F: Field>(&self, endpoint: Endpoint, access: Access) -> ApiResult<Query<F>> {
        let region = self.state.config.default_region.clone();
        let normalize = move |value: &str| {
            crate::domain::phone_number::normalize_filter_value(value, &region)
                .map_err(|error| error.detail)
        };
        let query = query::parse::<F>(
            &self.query,
            &Options {
                endpoint,
                members: &crate::schema::members,
                normalize_phone: &normalize,
            },
        )?;
        query::check_includes(&query)?;
        self.require(F::TYPE, access)?;
        for rel in query.include.iter().flatten().flatten() {
            self.require(rel.spec().target, Access::Read)?;
        }
        Ok(query)
    }

    /// 400 for any query parameter, on endpoints that take none and check their scopes
    /// themselves (the entry point, `/operations`).
    pub fn no_query_parameters(&self) -> ApiResult<()> {
        let reject = |_: &str| Err(String::new());
        let options = Options {
            endpoint: Endpoint::Bare,
            members: &crate::schema::members,
            normalize_phone: &reject,
        };
        query::parse::<crate::schema::UserField>(&self.query, &options)
            .map(drop)
            .map_err(ApiError::from)
    }

    /// 403 `unauthorizedOauthScope` unless the token has the scope.
    pub fn require(&self, kind: ResourceType, access: Access) -> ApiResult<()> {
        Ok(permissions::require_scope(&self.principal, kind, access)?)
    }

    /// The view of resources this query asks for.
    pub fn view<'a, F: Field>(&'a self, query: &'a Query<F>) -> View<'a> {
        View {
            base: &self.base,
            fields: &query.fields,
            meta_for: query.authorization_meta.then_some(&self.principal),
        }
    }

    /// What a response to this query needs loaded besides its primary rows.
    pub fn needs<F: Field<Rel = crate::schema::Relationship>>(
        &self,
        query: &Query<F>,
    ) -> view::Needs {
        self.view(query).needs(includes(query))
    }

    /// Runs `work` on the database: GETs as reads ([`db::read`]), every other method on the
    /// blocking pool ([`db::run`]), whose write transactions may wait for the write lock.
    ///
    /// A caller authenticated from the credential cache is checked again here, on the same
    /// connection after `work`: if a revocation has arrived, the cache is emptied and the token
    /// looked up, and a revoked token gets 401 instead of what `work` produced.
    pub async fn database<T, F>(&self, work: F) -> ApiResult<T>
    where
        F: FnOnce(&mut crate::db::DbConnection) -> ApiResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let recheck = self
            .cached_token
            .clone()
            .map(|hash| (hash, self.state.clone()));
        let work = move |conn: &mut crate::db::DbConnection| {
            let result = work(conn);
            if let Some((hash, state)) = recheck {
                if crate::auth::credentials::revocations_arrived(conn) {
                    state.credentials.clear();
                    if crate::models::ApiToken::authenticate(conn, &hash)?.is_none() {
                        return Err(ApiError::Unauthorized { token_sent: true });
                    }
                }
            }
            result
        };
        if *self.method() == Method::GET {
            crate::db::read(&self.state.pool, work).await
        } else {
            crate::db::run(&self.state.pool, work).await
        }
    }

    /// Reads the page parameters into a [`Listing`] (decoding and checking the cursor).
    pub fn listing<F: Field>(
        &self,
        query: &Query<F>,
        binding: &CursorBinding<F>,
    ) -> ApiResult<Listing<F>> {
        let decode = |text: &str, parameter: &str, direction| -> ApiResult<(Direction, Cursor)> {
            let cursor = self.state.cursors.decode(text, binding.text()).map_err(|_| {
                QueryError::invalid(
                    parameter,
                    "The cursor is not one this server issued for this query (it was altered, or the sort \
                     or filters changed). Follow the links of a fresh first page.",
                )
            })?;
            Ok((direction, cursor))
        };
        let cursor = match (&query.page.after, &query.page.before) {
            (Some(after), _) => Some(decode(after, "page[after]", Direction::Forward)?),
            (None, Some(before)) => Some(decode(before, "page[before]", Direction::Backward)?),
            (None, None) => None,
        };
        Ok(Listing {
            filters: query.filters.clone(),
            keys: Listing::keys_with_tiebreak(&query.sort),
            size: query.page.size,
            cursor,
            count: query.count,
        })
    }

    /// `links.self` of the current request, with repeated parameters sent once.
    pub fn self_link(&self) -> String {
        self.link_with(
            self.query_pieces().into_iter().map(|(piece, _)| piece),
            None,
        )
    }

    /// The query pieces as sent, exact repeats dropped, each with whether it is a page cursor. A
    /// repeat is the same name and value once decoded (`page%5Bsize%5D=5` repeats `page[size]=5`),
    /// as the parser counts it; the first spelling is kept.
    fn query_pieces(&self) -> Vec<(&str, bool)> {
        let mut pieces = Vec::new();
        let mut seen: Vec<(Cow<str>, Cow<str>)> = Vec::new();
        for piece in self.query.split('&').filter(|piece| !piece.is_empty()) {
            let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
            let decoded = (query::decode_lossy(name), query::decode_lossy(value));
            if !seen.contains(&decoded) {
                let cursor = decoded.0 == "page[after]" || decoded.0 == "page[before]";
                seen.push(decoded);
                pieces.push((piece, cursor));
            }
        }
        pieces
    }

    fn link_with<'q>(
        &self,
        pieces: impl IntoIterator<Item = &'q str>,
        cursor: Option<(&str, &str)>,
    ) -> String {
        let mut query = String::new();
        for piece in pieces {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(piece);
        }
        if let Some((name, value)) = cursor {
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(&format!("{name}={value}"));
        }
        let mut link = self.base.url(&self.path);
        if !query.is_empty() {
            link.push('?');
            link.push_str(&query);
        }
        link
    }

    /// A collection document for one page: `first`/`prev`/`next` links with cursors bound to this
    /// query, `meta.count` when asked for, the cursor-pagination profile applied.
    pub fn collection<'r, F: Field, T: Keyed<F>>(
        &self,
        page: &Page<T>,
        listing: &Listing<F>,
        binding: &CursorBinding<F>,
        data: Vec<Resource<'r>>,
        included: Option<Vec<Resource<'r>>>,
    ) -> Document<'r> {
        let cursor_of = |row: &T| {
            let cursor = Cursor {
                values: listing
                    .keys
                    .iter()
                    .map(|key| row.sort_value(key.field))
                    .collect(),
                id: row.id(),
                inclusive: false,
            };
            self.state.cursors.encode(&cursor, binding.text())
        };
        let pieces = self.query_pieces();
        let self_link = self.link_with(pieces.iter().map(|&(piece, _)| piece), None);
        // The pieces that every link of the collection keeps: all but the page cursors.
        let base_pieces = || {
            pieces
                .iter()
                .filter(|(_, cursor)| !cursor)
                .map(|&(piece, _)| piece)
        };
        // An empty page reached with a cursor still has rows on the side it came from, up to the
        // cursor's own position: its link back reads from that position the other way, taking
        // in the row the cursor named (`page[after]=X` found nothing: `page[before]` X and X).
        let link = |name: &str, row: Option<&T>| {
            let cursor = match (row, &listing.cursor) {
                (Some(row), _) => cursor_of(row),
                (None, Some((_, cursor))) => {
                    let edge = Cursor {
                        inclusive: !cursor.inclusive,
                        ..cursor.clone()
                    };
                    self.state.cursors.encode(&edge, binding.text())
                }
                (None, None) => return None,
            };
            Some(self.link_with(base_pieces(), Some((name, &cursor))))
        };
        // Rows lie beyond the page on the side it was read towards when the look-ahead row came
        // back; on the side it came from, whenever a cursor brought us here.
        let (more_before, more_after) = match page.direction {
            Direction::Forward => (listing.cursor.is_some(), page.more),
            Direction::Backward => (page.more, listing.cursor.is_some()),
        };
        let prev = if more_before {
            link("page[before]", page.rows.first())
        } else {
            None
        };
        let next = if more_after {
            link("page[after]", page.rows.last())
        } else {
            None
        };
        // Without a cursor in the query (every first page) `first` is the `self` link.
        let first = if pieces.iter().any(|(_, cursor)| *cursor) {
            self.link_with(base_pieces(), None)
        } else {
            self_link.clone()
        };
        let mut document = Document::new(Data::Many(data), self_link);
        document.links.push(("first", Some(first)));
        document.links.push(("prev", prev));
        document.links.push(("next", next));
        document.included = included;
        document.applied = Applied::CursorProfile;
        if let Some(total) = page.total {
            let mut meta = serde_json::Map::new();
            meta.insert("count".into(), total.into());
            document.meta = Some(meta);
        }
        document
    }
}

/// A relationship document (`/{type}/{id}/relationships/{name}`): the linkage with its `self` and
/// `related` links.
pub fn relationship_document(
    caller: &Caller,
    relationship: crate::schema::Relationship,
    id: i64,
    linkage: crate::jsonapi::document::Linkage,
) -> Document<'static> {
    let spec = relationship.spec();
    let (owner, name) = (spec.owner.collection(), spec.name);
    let own = caller.base.url(format_args!("/{owner}/{id}"));
    let mut document = Document::new(
        Data::Linkage(linkage),
        format!("{own}/relationships/{name}"),
    );
    document
        .links
        .push(("related", Some(format!("{own}/{name}"))));
    document
}

/// A path id: anything but a positive integer names no record (404).
pub fn path_id(raw: &str, kind: ResourceType) -> ApiResult<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0 && !raw.starts_with('+'))
        .ok_or_else(|| ApiError::not_found(kind.name(), raw))
}

/// Which related rows a query includes.
pub fn includes<F: Field<Rel = crate::schema::Relationship>>(query: &Query<F>) -> Includes {
    Includes::from_paths(query.include.as_deref().unwrap_or_default())
}

/// `included` is present whenever `include` was given, even when empty.
pub fn included_if_asked<'r, F: Field>(
    query: &Query<F>,
    included: Vec<Resource<'r>>,
) -> Option<Vec<Resource<'r>>> {
    query.include.as_ref().map(|_| included)
}

/// The strong ETag of one version of a record: the same for every representation of that version.
pub fn etag(id: i64, version: i64) -> EntityTag {
    EntityTag::new_strong(format!("{id}-{version}"))
}

/// `If-Match`, read once: whether a stored version may be written (412 otherwise).
#[derive(Clone, Debug)]
pub enum Precondition {
    None,
    Any,
    /// Strong tags only: weak tags never match.
    Tags(Vec<EntityTag>),
}

impl Precondition {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let values: Vec<&str> = headers
            .get_all(header::IF_MATCH)
            .filter_map(|value| value.to_str().ok())
            .collect();
        if values.is_empty() {
            return Precondition::None;
        }
        if values.iter().any(|value| value.trim() == "*") {
            return Precondition::Any;
        }
        Precondition::Tags(
            values
                .iter()
                .flat_map(|value| value.split(','))
                .filter_map(|tag| tag.trim().parse::<EntityTag>().ok())
                .filter(|tag| !tag.weak)
                .collect(),
        )
    }

    pub fn allows(&self, id: i64, version: i64) -> bool {
        match self {
            Precondition::None | Precondition::Any => true,
            Precondition::Tags(tags) => tags.iter().any(|tag| tag.strong_eq(&etag(id, version))),
        }
    }
}

/// Whether `If-None-Match` names the current version (GET → 304).
pub fn not_modified(headers: &HeaderMap, tag: &EntityTag) -> bool {
    headers
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|value| value.to_str().ok())
        .any(|value| {
            value.trim() == "*"
                || value
                    .split(',')
                    .filter_map(|candidate| candidate.trim().parse::<EntityTag>().ok())
                    .any(|candidate| candidate.weak_eq(tag))
        })
}

/// A single-resource response with its ETag (304 when a read's `If-None-Match` already has it;
/// writes are answered in full).
pub fn single(
    caller: &Caller,
    status: StatusCode,
    document: Document,
    tag: Option<EntityTag>,
) -> HttpResponse {
    let mut builder = HttpResponse::build(status);
    if let Some(tag) = tag {
        let read = matches!(*caller.method(), Method::GET | Method::HEAD);
        if read && status == StatusCode::OK && not_modified(caller.headers(), &tag) {
            return HttpResponse::NotModified()
                .insert_header(header::ETag(tag))
                .finish();
        }
        builder.insert_header(header::ETag(tag));
    }
    document.respond_with(builder)
}

/// 403 for the detach routes: a number always belongs to a prospect.
pub async fn cannot_detach(caller: Caller) -> ApiResult<HttpResponse> {
    caller.require(ResourceType::Prospect, Access::Write)?;
    Err(ApiError::Forbidden(
        "Phone numbers cannot be detached from their prospect: delete them, move them with \
         POST /prospects/{id}/relationships/phoneNumbers, or replace a list with /operations."
            .into(),
    ))
}
