//! [`Served`]: each resource type as handlers answer with it — its row, what its responses load
//! besides it, how it renders, and its relationships' linkage — so that showing one resource, a
//! page or a relationship is one generic path (`respond`) for every type.

use actix_web::http::header::EntityTag;
use diesel::QueryResult;

use super::conditional::etag;
use super::view::{phone_number_linkage, prospect_linkage, View};
use crate::db::DbConnection;
use crate::errors::{ApiError, ApiResult};
use crate::jsonapi::cursor::CursorCodec;
use crate::jsonapi::document::{Linkage, Resource};
use crate::jsonapi::schema::Field;
use crate::models::includes::{Graph, Includes, Needs};
use crate::models::listing::Keyed;
use crate::models::{Change, PhoneNumberRow, Prospect, User, Webhook};
use crate::schema::{
    ChangeField, PhoneNumberField, ProspectField, Relationship, UserField, WebhookField,
};

/// Row `id` of `T`'s type: 404 when there is none.
pub fn existing<T: Served>(conn: &mut DbConnection, id: i64) -> ApiResult<T> {
    T::find(conn, id)?.ok_or_else(|| ApiError::not_found(T::Field::TYPE, id))
}

/// A type's rows as responses show them; [`Keyed`] gives their id (and cursor values). The
/// defaults are those of a type without relationships and without versions.
pub trait Served: Keyed<Self::Field> + Send + Sized + 'static {
    type Field: Field<Rel = Relationship>;

    /// The row with this id, if there is one.
    fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<Self>>;

    fn render<'r>(&'r self, view: &View<'r>, graph: &'r Graph) -> Resource<'r>;

    /// The ETag of the version shown.
    fn etag(&self) -> Option<EntityTag> {
        None
    }

    /// Loads what a response showing `rows` needs besides them.
    fn graph(_conn: &mut DbConnection, _rows: &[Self], _needs: Needs) -> QueryResult<Graph> {
        Ok(Graph::default())
    }

    /// The `included` array of a response whose primary data are `rows`.
    fn included<'r>(
        _view: &View<'r>,
        _graph: &'r Graph,
        _includes: Includes,
        _rows: &'r [Self],
    ) -> Vec<Resource<'r>> {
        Vec::new()
    }

    /// The linkage of one of the type's relationships; the relationship routes exist only for the
    /// relationships a type declares.
    fn linkage(&self, rel: Relationship) -> Linkage {
        unreachable!("{} has no relationship {rel:?}", Self::Field::TYPE)
    }
}

impl Served for PhoneNumberRow {
    fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<Self>> {
        PhoneNumberRow::find(conn, id)
    }

    type Field = PhoneNumberField;

    fn etag(&self) -> Option<EntityTag> {
        Some(etag(self.id, self.version))
    }

    fn graph(conn: &mut DbConnection, rows: &[Self], needs: Needs) -> QueryResult<Graph> {
        Graph::for_phone_numbers(conn, rows, needs)
    }

    fn render<'r>(&'r self, view: &View<'r>, graph: &'r Graph) -> Resource<'r> {
        let shared = graph.shared_with(self.id);
        view.phone_number(self, graph.owner_of(self.prospect_id), shared)
    }

    fn included<'r>(
        view: &View<'r>,
        graph: &'r Graph,
        includes: Includes,
        _: &'r [Self],
    ) -> Vec<Resource<'r>> {
        let mut included = Vec::new();
        // A number's sharer may be another number's own prospect: each is included once.
        let mut seen = std::collections::HashSet::new();
        let own = graph.prospects.iter().filter(|_| includes.prospect);
        let sharing = graph.sharing.iter().filter(|_| includes.shared_with);
        for row in own.chain(sharing) {
            if seen.insert(row.id) {
                included.push(row.render(view, graph));
            }
        }
        if includes.prospect_owner || includes.shared_with_owner {
            included.extend(graph.users.iter().map(|user| view.user(user)));
        }
        included
    }

    fn linkage(&self, rel: Relationship) -> Linkage {
        phone_number_linkage(self, None, rel)
    }
}

impl Served for Prospect {
    fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<Self>> {
        Prospect::find(conn, id)
    }

    type Field = ProspectField;

    fn etag(&self) -> Option<EntityTag> {
        Some(etag(self.id, self.version))
    }

    fn graph(conn: &mut DbConnection, rows: &[Self], needs: Needs) -> QueryResult<Graph> {
        Graph::for_prospects(conn, rows, needs)
    }

    fn render<'r>(&'r self, view: &View<'r>, graph: &'r Graph) -> Resource<'r> {
        view.prospect(self, graph.phones_of(self))
    }

    fn included<'r>(
        view: &View<'r>,
        graph: &'r Graph,
        includes: Includes,
        rows: &'r [Self],
    ) -> Vec<Resource<'r>> {
        let mut included = Vec::new();
        if includes.phone_numbers {
            for row in rows {
                let numbers = graph.numbers_of(row.id).iter();
                included.extend(numbers.map(|number| {
                    let shared = graph.shared_with(number.id);
                    view.phone_number(number, Some(row.owner_id), shared)
                }));
            }
        }
        if includes.owner {
            included.extend(graph.users.iter().map(|user| view.user(user)));
        }
        included
    }

    fn linkage(&self, rel: Relationship) -> Linkage {
        prospect_linkage(self, &self.phones, rel)
    }
}

impl Served for User {
    fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<Self>> {
        User::find(conn, id)
    }

    type Field = UserField;

    fn render<'r>(&'r self, view: &View<'r>, _: &'r Graph) -> Resource<'r> {
        view.user(self)
    }
}

/// A change as the feed shows it: with its own cursor (`meta.page.cursor`) when it is shown as a
/// resource; without one where only its linkage is (`existing` finds it so). No ETag: changes never
/// change.
pub struct FeedEntry {
    pub change: Change,
    pub cursor: Option<String>,
}

impl FeedEntry {
    pub fn new(change: Change, codec: &CursorCodec) -> Self {
        let cursor = Some(super::pagination::feed_cursor(codec, change.id));
        FeedEntry { change, cursor }
    }
}

impl Keyed<ChangeField> for FeedEntry {
    fn sort_value(&self, field: ChangeField) -> crate::jsonapi::cursor::CursorValue {
        self.change.sort_value(field)
    }

    fn id(&self) -> i64 {
        self.change.id
    }
}

impl Served for FeedEntry {
    type Field = ChangeField;

    fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<Self>> {
        let change = Change::settled(conn, |conn| Change::find(conn, id))?;
        Ok(change.map(|change| FeedEntry {
            change,
            cursor: None,
        }))
    }

    fn render<'r>(&'r self, view: &View<'r>, _: &'r Graph) -> Resource<'r> {
        view.change(&self.change, self.cursor.clone())
    }

    fn linkage(&self, rel: Relationship) -> Linkage {
        super::view::change_linkage(&self.change, rel)
    }
}

/// A webhook as responses show it: with its count of queued deliveries, and its secret only in the
/// response to its create.
pub struct WebhookState {
    pub webhook: Webhook,
    pub pending: i64,
    pub shows_secret: bool,
}

impl WebhookState {
    /// Each of `webhooks` with its count of queued deliveries: one query for all of them.
    pub fn load(conn: &mut DbConnection, webhooks: Vec<Webhook>) -> QueryResult<Vec<Self>> {
        let ids: Vec<i64> = webhooks.iter().map(|webhook| webhook.id).collect();
        let pending = Webhook::pending(conn, &ids)?;
        Ok(webhooks
            .into_iter()
            .map(|webhook| WebhookState {
                pending: pending.get(&webhook.id).copied().unwrap_or(0),
                webhook,
                shows_secret: false,
            })
            .collect())
    }
}

impl Keyed<WebhookField> for WebhookState {
    fn sort_value(&self, field: WebhookField) -> crate::jsonapi::cursor::CursorValue {
        self.webhook.sort_value(field)
    }

    fn id(&self) -> i64 {
        self.webhook.id
    }
}

impl Served for WebhookState {
    type Field = WebhookField;

    fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<Self>> {
        let found = Webhook::find(conn, id)?.into_iter().collect();
        Ok(WebhookState::load(conn, found)?.pop())
    }

    fn render<'r>(&'r self, view: &View<'r>, _: &'r Graph) -> Resource<'r> {
        view.webhook(self)
    }
}
