//! Cursor pagination (the cursor-pagination profile): the page a query asks for, and the
//! collection document with its `self`, `first`, `prev` and `next` links, whose cursors are signed
//! and bound to the query they page through.

use std::borrow::Cow;

use super::context::Context;
use crate::domain::ResourceType;
use crate::errors::ApiResult;
use crate::jsonapi::cursor::{Cursor, CursorCodec, CursorValue};
use crate::jsonapi::document::{Applied, Data, Document, Resource};
use crate::jsonapi::query::{self, Query, QueryError};
use crate::jsonapi::schema::Field;
use crate::jsonapi::uri;
use crate::models::listing::{Direction, Keyed, Listing, Page};

/// What the cursors of one collection response are bound to ([`Query::binding`]), rendered on
/// first use: most responses neither read nor write a cursor.
pub struct CursorBinding<'q, F: Field> {
    query: &'q Query<F>,
    parent: Option<(&'static str, i64)>,
    text: std::cell::OnceCell<String>,
}

/// What change cursors are bound to: the feed alone, whatever the filters, so that a consumer can
/// resume with any filter from any change's cursor. They are signed with the database's own key
/// ([`crate::models::server_key::FEED_KEY`]), so they never expire.
const FEED_BINDING: &str = "change-feed";

/// The cursor of change `id` in the feed (its `meta.page.cursor`, and its position in the links).
pub fn feed_cursor(codec: &CursorCodec, id: i64) -> String {
    let cursor = Cursor {
        values: vec![CursorValue::Int(id)],
        id,
        inclusive: false,
    };
    codec.encode(&cursor, FEED_BINDING)
}

impl<'q, F: Field> CursorBinding<'q, F> {
    /// The binding of a listing of `F`'s type, below `parent` for a related endpoint
    /// (`Some(("prospect", 7))`).
    pub fn new(query: &'q Query<F>, parent: Option<(&'static str, i64)>) -> Self {
        CursorBinding {
            query,
            parent,
            text: std::cell::OnceCell::new(),
        }
    }

    fn text(&self) -> &str {
        if Self::is_feed() {
            return FEED_BINDING;
        }
        self.text
            .get_or_init(|| self.query.binding(F::TYPE.name(), self.parent))
    }

    fn is_feed() -> bool {
        F::TYPE == ResourceType::Change
    }
}

impl Context {
    /// The codec of the cursors of `F`'s listings.
    fn codec<F: Field>(&self) -> &CursorCodec {
        if CursorBinding::<F>::is_feed() {
            &self.state.feed_cursors
        } else {
            &self.state.cursors
        }
    }
}

impl Context {
    /// Reads the page parameters into a [`Listing`] (decoding and checking the cursor).
    pub fn listing<F: Field>(
        &self,
        query: &Query<F>,
        binding: &CursorBinding<F>,
    ) -> ApiResult<Listing<F>> {
        let decode = |text: &str, parameter: &str, direction| -> ApiResult<(Direction, Cursor)> {
            let cursor = self.codec::<F>().decode(text, binding.text()).map_err(|_| {
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

    /// `links.self` of the current request, with repeated parameters sent once and brackets
    /// percent-encoded.
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
        for piece in self.raw_query.split('&').filter(|piece| !piece.is_empty()) {
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

    /// The link to this request's path with `pieces` (raw, as sent) and a cursor as its query,
    /// every piece written as a valid URI query ([`uri::push_query_piece`]).
    fn link_with<'q>(
        &self,
        pieces: impl IntoIterator<Item = &'q str>,
        cursor: Option<(&str, &str)>,
    ) -> String {
        let mut link = self.base.url(&self.path);
        let mut separator = '?';
        for piece in pieces {
            link.push(separator);
            uri::push_query_piece(&mut link, piece);
            separator = '&';
        }
        if let Some((name, value)) = cursor {
            link.push(separator);
            uri::push_query_piece(&mut link, name);
            link.push('=');
            uri::push_query_piece(&mut link, value);
        }
        link
    }

    /// A collection document for one page (its resources, or a relationship's linkage):
    /// `first`/`prev`/`next` links with cursors bound to this query, `meta.count` when asked for,
    /// the cursor-pagination profile applied.
    pub fn collection<'r, F: Field, T: Keyed<F>>(
        &self,
        page: &Page<T>,
        listing: &Listing<F>,
        binding: &CursorBinding<F>,
        data: Data<'r>,
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
            self.codec::<F>().encode(&cursor, binding.text())
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
                    self.codec::<F>().encode(&edge, binding.text())
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
        let prev = more_before.then(|| link("page[before]", page.rows.first()));
        let next = more_after.then(|| link("page[after]", page.rows.last()));
        // Without a cursor in the query (every first page) `first` is the `self` link.
        let first = if pieces.iter().any(|(_, cursor)| *cursor) {
            self.link_with(base_pieces(), None)
        } else {
            self_link.clone()
        };
        let mut document = Document::new(data, self_link);
        document.links.push(("first", Some(first)));
        document.links.push(("prev", prev.flatten()));
        document.links.push(("next", next.flatten()));
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
