//! Users: who a token belongs to, with a role. Created by the command line, read over the API.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::error::ModelResult;
use super::listing::{
    as_i64, as_string, as_time, unsortable, wrong_type, Listing, Page, Predicate,
};
use crate::clock::now;
use crate::db::schema::users::{self, dsl as col};
use crate::db::{DbConnection, StoredTime};
use crate::jsonapi::cursor::CursorValue;
use crate::jsonapi::query::{FilterOp, FilterTarget};
use crate::jsonapi::schema::{Field as _, Relationship as _};
use crate::permissions::Role;
use crate::schema::UserField as F;
use crate::{order_by, predicate};

#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub role: String,
    #[diesel(deserialize_as = StoredTime)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = StoredTime)]
    pub updated_at: NaiveDateTime,
}

#[derive(Insertable)]
#[diesel(table_name = users)]
struct NewUser<'a> {
    name: &'a str,
    email: &'a str,
    role: &'a str,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
}

crate::lookups_by_id!(User, users);

impl User {
    /// The stored role; the CHECK constraint keeps it one of the three.
    pub fn role(&self) -> Role {
        self.role.parse().unwrap_or(Role::Viewer)
    }

    pub fn create(
        conn: &mut DbConnection,
        name: &str,
        email: &str,
        role: Role,
    ) -> QueryResult<User> {
        let at = now();
        diesel::insert_into(users::table)
            .values(NewUser {
                name,
                email,
                role: role.as_str(),
                created_at: at,
                updated_at: at,
            })
            .execute(conn)?;
        Self::find_by_email(conn, email)?.ok_or(diesel::result::Error::NotFound)
    }

    pub fn find_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<User>> {
        users::table
            .filter(users::email.eq(email))
            .select(User::as_select())
            .first(conn)
            .optional()
    }

    /// The admin created first, if there is one.
    pub fn oldest_admin(conn: &mut DbConnection) -> QueryResult<Option<User>> {
        users::table
            .filter(users::role.eq(Role::Admin.as_str()))
            .order(users::id)
            .select(User::as_select())
            .first(conn)
            .optional()
    }

    pub fn any_exist(conn: &mut DbConnection) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(users::table.select(users::id))).get_result(conn)
    }

    /// One page of users matching `listing`.
    pub fn list(conn: &mut DbConnection, listing: &Listing<F>) -> ModelResult<Page<Self>> {
        crate::by_backend!(conn, list(listing))
    }
}

crate::per_backend! {
    /// A filtered listing query, before its selection.
    type Filtered = users::BoxedQuery<'static, Db>;

    pub(super) fn list(conn: &mut Conn, listing: &Listing<F>) -> ModelResult<Page<User>> {
        crate::list_page!(conn, listing, users::table.into_boxed(), User, order, predicate)
    }


    fn predicate(target: FilterTarget<F>, op: &FilterOp) -> ModelResult<Predicate<users::table, Db>> {
        let field = match target {
            FilterTarget::Field(field) => field,
            FilterTarget::RelationshipId(other) => return Err(wrong_type(other.name())),
        };
        let name = field.name();
        Ok(match field {
            F::Id => predicate!(col::id, op, name, as_i64),
            F::Name => predicate!(col::name, op, name, as_string),
            F::Email => predicate!(col::email, op, name, as_string),
            F::Role => predicate!(col::role, op, name, as_string),
            F::CreatedAt => predicate!(col::created_at, op, name, as_time),
            F::UpdatedAt => predicate!(col::updated_at, op, name, as_time),
        })
    }

    fn order(query: Filtered, field: F, descending: bool) -> ModelResult<Filtered> {
        Ok(match field {
            F::Id => order_by!(query, col::id, descending),
            F::Name => order_by!(query, col::name, descending),
            F::Email => order_by!(query, col::email, descending),
            F::CreatedAt => order_by!(query, col::created_at, descending),
            F::UpdatedAt => order_by!(query, col::updated_at, descending),
            F::Role => return Err(unsortable(field)),
        })
    }
}

impl super::listing::Keyed<F> for User {
    /// The value of a sort key of this row, for its cursor (`Null` for fields that do not sort).
    fn sort_value(&self, field: F) -> CursorValue {
        match field {
            F::Id => CursorValue::Int(self.id),
            F::Name => CursorValue::Str(self.name.clone()),
            F::Email => CursorValue::Str(self.email.clone()),
            F::CreatedAt => CursorValue::DateTime(self.created_at),
            F::UpdatedAt => CursorValue::DateTime(self.updated_at),
            F::Role => CursorValue::Null,
        }
    }
    fn id(&self) -> i64 {
        self.id
    }
}
