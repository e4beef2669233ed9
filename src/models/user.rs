//! Users: who a token belongs to, with a role. Created by the command line, read over the API.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::now;
use crate::db::{DbConnection, StoredTime};
use crate::permissions::Role;
use crate::schema::users;

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

    pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<User>> {
        crate::on_backend!(conn, |conn| users::table
            .find(id)
            .select(User::as_select())
            .first(conn)
            .optional())
    }

    pub fn find_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<User>> {
        users::table
            .filter(users::email.eq(email))
            .select(User::as_select())
            .first(conn)
            .optional()
    }

    pub fn by_ids(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<User>> {
        // One id is `=` (cached prepared statement; see `Prospect::by_ids`).
        crate::on_backend!(conn, |conn| match ids {
            [id] => users::table.find(*id).select(User::as_select()).load(conn),
            _ => users::table
                .filter(users::id.eq_any(ids))
                .select(User::as_select())
                .load(conn),
        })
    }

    pub fn any_exist(conn: &mut DbConnection) -> QueryResult<bool> {
        diesel::select(diesel::dsl::exists(users::table.select(users::id))).get_result(conn)
    }
}

use super::listing::{
    as_i64, as_string, as_time, unsortable, wrong_type, Listing, Page, Predicate,
};
use crate::errors::ApiResult;
use crate::jsonapi::cursor::CursorValue;
use crate::jsonapi::query::{CompareOp, FilterOp, FilterValue};
use crate::schema::users::dsl as col;
use crate::{order_by, predicate};

impl User {
    /// One page of users matching `listing`.
    pub fn list(conn: &mut DbConnection, listing: &Listing) -> ApiResult<Page<Self>> {
        crate::by_backend!(conn, list(listing))
    }
}

crate::per_backend! {
    /// A filtered listing query, before its selection.
    type Filtered = users::BoxedQuery<'static, Db>;

    pub(super) fn list(conn: &mut Conn, listing: &Listing) -> ApiResult<Page<User>> {
        let filtered = || -> ApiResult<Filtered> {
            let mut query = users::table.into_boxed();
            for filter in &listing.filters {
                query = query.filter(predicate(filter.field, &filter.op)?);
            }
            Ok(query)
        };
        crate::list_page!(conn, listing, filtered, User, order, sort_predicate)
    }

    /// A keyset comparison on a sort key (every sortable column here is NOT NULL).
    fn sort_predicate(
        field: &str,
        op: CompareOp,
        value: &FilterValue,
    ) -> ApiResult<Predicate<users::table, Db>> {
        predicate(field, &FilterOp::Compare(op, value.clone()))
    }

    fn predicate(field: &str, op: &FilterOp) -> ApiResult<Predicate<users::table, Db>> {
        Ok(match field {
            "id" => predicate!(col::id, op, field, as_i64),
            "name" => predicate!(col::name, op, field, as_string),
            "email" => predicate!(col::email, op, field, as_string),
            "role" => predicate!(col::role, op, field, as_string),
            "createdAt" => predicate!(col::created_at, op, field, as_time),
            "updatedAt" => predicate!(col::updated_at, op, field, as_time),
            other => return Err(wrong_type(other)),
        })
    }

    fn order(query: Filtered, field: &str, descending: bool) -> ApiResult<Filtered> {
        Ok(match field {
            "id" => order_by!(query, col::id, descending),
            "name" => order_by!(query, col::name, descending),
            "email" => order_by!(query, col::email, descending),
            "createdAt" => order_by!(query, col::created_at, descending),
            "updatedAt" => order_by!(query, col::updated_at, descending),
            other => return Err(unsortable(other)),
        })
    }
}

impl super::listing::Keyed for User {
    /// The value of a sort key of this row, for its cursor.
    fn sort_value(&self, field: &str) -> CursorValue {
        match field {
            "name" => CursorValue::Str(self.name.clone()),
            "email" => CursorValue::Str(self.email.clone()),
            "createdAt" => CursorValue::DateTime(self.created_at),
            "updatedAt" => CursorValue::DateTime(self.updated_at),
            _ => CursorValue::Int(self.id),
        }
    }
    fn id(&self) -> i64 {
        self.id
    }
}
