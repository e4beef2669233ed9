//! [`Served`]: each resource type as handlers answer with it — its row, what its responses load
//! besides it, how it renders, and its relationships' linkage — so that showing one resource, a
//! page or a relationship is one generic path (`respond`) for every type.

use actix_web::http::header::EntityTag;
use diesel::QueryResult;

use super::conditional::etag;
use super::view::{phone_number_linkage, prospect_linkage, View};
use crate::db::DbConnection;
use crate::errors::{ApiError, ApiResult};
use crate::jsonapi::document::{Linkage, Resource};
use crate::jsonapi::schema::Field;
use crate::models::includes::{Graph, Includes, Needs};
use crate::models::listing::Keyed;
use crate::models::{PhoneNumberRow, Prospect, User};
use crate::schema::{PhoneNumberField, ProspectField, Relationship, UserField};

/// Row `id` of `T`'s type: 404 when there is none.
pub fn existing<T: Served>(conn: &mut DbConnection, id: i64) -> ApiResult<T> {
    T::find(conn, id)?.ok_or_else(|| ApiError::not_found(T::Field::TYPE, id))
}

/// A type's rows as responses show them; [`Keyed`] gives their id (and cursor values).
pub trait Served: Keyed<Self::Field> + Send + Sized + 'static {
    type Field: Field<Rel = Relationship>;

    /// The row with this id, if there is one.
    fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<Self>>;

    /// The ETag of the version shown (users, read-only over the API, have none).
    fn etag(&self) -> Option<EntityTag>;

    /// Loads what a response showing `rows` needs besides them.
    fn graph(conn: &mut DbConnection, rows: &[Self], needs: Needs) -> QueryResult<Graph>;

    fn render<'r>(&'r self, view: &View<'r>, graph: &'r Graph) -> Resource<'r>;

    /// The `included` array of a response whose primary data are `rows`.
    fn included<'r>(
        view: &View<'r>,
        graph: &'r Graph,
        includes: Includes,
        rows: &'r [Self],
    ) -> Vec<Resource<'r>>;

    /// The linkage of one of the type's relationships.
    fn linkage(&self, rel: Relationship) -> Linkage;
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
        view.phone_number(self, graph.owner_of(self.prospect_id))
    }

    fn included<'r>(
        view: &View<'r>,
        graph: &'r Graph,
        includes: Includes,
        _: &'r [Self],
    ) -> Vec<Resource<'r>> {
        let mut included = Vec::new();
        if includes.prospect {
            let prospects = graph.prospects.iter();
            included.extend(prospects.map(|row| row.render(view, graph)));
        }
        if includes.prospect_owner {
            included.extend(graph.users.iter().map(|user| view.user(user)));
        }
        included
    }

    fn linkage(&self, rel: Relationship) -> Linkage {
        phone_number_linkage(self, rel)
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
                included
                    .extend(numbers.map(|number| view.phone_number(number, Some(row.owner_id))));
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

    fn etag(&self) -> Option<EntityTag> {
        None
    }

    fn graph(_: &mut DbConnection, _: &[Self], _: Needs) -> QueryResult<Graph> {
        Ok(Graph::default())
    }

    fn render<'r>(&'r self, view: &View<'r>, _: &'r Graph) -> Resource<'r> {
        view.user(self)
    }

    fn included<'r>(_: &View<'r>, _: &'r Graph, _: Includes, _: &'r [Self]) -> Vec<Resource<'r>> {
        Vec::new()
    }

    fn linkage(&self, rel: Relationship) -> Linkage {
        unreachable!("a user has no relationship {rel:?}")
    }
}
