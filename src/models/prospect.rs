//! Prospects: the people whose numbers we keep, each owned by a user. Their rows, writes and
//! listing, and the list of numbers each row keeps ([`PhoneList`]) so that showing a prospect reads
//! no number rows.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::change::Journal;
use super::error::{ModelError, ModelResult};
use super::listing::{
    as_i64, as_string, as_time, unsortable, wrong_type, Listing, Page, Predicate,
};
use super::versioned::Versioned;
use crate::clock::now;
use crate::db::schema::prospects::{self, dsl as col};
use crate::db::{DbConnection, StoredTime};
use crate::domain::ResourceType;
use crate::jsonapi::cursor::CursorValue;
use crate::jsonapi::document::Attr;
use crate::jsonapi::query::{CompareOp, FilterOp, FilterTarget, FilterValue};
use crate::jsonapi::schema::{Field as _, Relationship as _};
use crate::models::{PhoneNumberRow, ProspectPhone};
use crate::schema::ProspectField as F;
use crate::{nullable_predicate, order_by, predicate};

diesel::define_sql_function! {
    /// `COALESCE(text, text)`: nullable names sort as `""`, identically on both backends.
    fn coalesce(value: diesel::sql_types::Nullable<diesel::sql_types::Text>, otherwise: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// The `phones` column: a prospect's list of [`ProspectPhone`]s as a JSON array (of
/// `[id, number, extension, phoneType]` arrays), kept on its row so that showing a prospect (its
/// `*Phones` arrays, its `phoneNumbers` linkage) reads no number rows. Every write of a list stores
/// it again as the last step of its transaction ([`Prospect::store_phones`]); migration
/// `2026-11-23-000002_prospect_phones` built it for rows that existed before, and
/// `2026-12-03-000003_compact_prospect_phones` rebuilt it in today's form.
#[derive(Clone, Debug, Default, PartialEq, Eq, diesel::deserialize::FromSqlRow)]
pub struct PhoneList(pub Vec<ProspectPhone>);

impl PhoneList {
    /// The column's text for a list.
    pub fn to_json(phones: &[ProspectPhone]) -> String {
        serde_json::to_string(phones).expect("a list of strings and integers serializes")
    }

    /// A list from the column's text.
    pub fn parse(text: &str) -> serde_json::Result<Self> {
        serde_json::from_str(text).map(PhoneList)
    }
}

/// `UPDATE prospects SET phones, version, updated_at WHERE id`: storing a prospect's list, which
/// every write of a number does. A query type of its own because diesel prepares each
/// `diesel::update` again on every run (on PostgreSQL a parse and one more round trip), while it
/// keeps the prepared statement of a type with a static query id.
pub struct StoreList<'a> {
    id: i64,
    phones: &'a str,
    version: i64,
    updated_at: NaiveDateTime,
}

impl<'a> StoreList<'a> {
    /// Stores `phones` (a [`PhoneList::to_json`]) as prospect `id`'s list, at `version`.
    pub fn of(id: i64, phones: &'a str, version: i64, updated_at: NaiveDateTime) -> Self {
        StoreList {
            id,
            phones,
            version,
            updated_at,
        }
    }

    /// Runs the statement on either backend.
    pub fn run(self, conn: &mut DbConnection) -> QueryResult<usize> {
        crate::on_backend!(conn, |conn| self.execute(conn))
    }
}

impl<DB> diesel::query_builder::QueryFragment<DB> for StoreList<'_>
where
    DB: diesel::backend::Backend,
    str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
    i64: diesel::serialize::ToSql<diesel::sql_types::BigInt, DB>,
    NaiveDateTime: diesel::serialize::ToSql<diesel::sql_types::Timestamp, DB>,
{
    fn walk_ast<'b>(
        &'b self,
        mut out: diesel::query_builder::AstPass<'_, 'b, DB>,
    ) -> QueryResult<()> {
        use diesel::sql_types::{BigInt, Text, Timestamp};
        out.push_sql("UPDATE prospects SET phones = ");
        out.push_bind_param::<Text, str>(self.phones)?;
        out.push_sql(", version = ");
        out.push_bind_param::<BigInt, i64>(&self.version)?;
        out.push_sql(", updated_at = ");
        out.push_bind_param::<Timestamp, NaiveDateTime>(&self.updated_at)?;
        out.push_sql(" WHERE id = ");
        out.push_bind_param::<BigInt, i64>(&self.id)
    }
}

impl<Conn> RunQueryDsl<Conn> for StoreList<'_> {}

/// One statement whatever the binds: the cache keys it by this type.
impl diesel::query_builder::QueryId for StoreList<'_> {
    type QueryId = StoreList<'static>;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl std::ops::Deref for PhoneList {
    type Target = [ProspectPhone];

    fn deref(&self) -> &[ProspectPhone] {
        &self.0
    }
}

impl<B: diesel::backend::Backend> diesel::deserialize::FromSql<diesel::sql_types::Text, B>
    for PhoneList
where
    String: diesel::deserialize::FromSql<diesel::sql_types::Text, B>,
{
    fn from_sql(value: B::RawValue<'_>) -> diesel::deserialize::Result<Self> {
        Ok(PhoneList::parse(&String::from_sql(value)?)?)
    }
}

/// A prospect whose list is still the column's text: what the number listing that joins its
/// prospects (PostgreSQL's `PhoneNumberRow::list_with_prospects`) reads with every number, so that
/// a prospect shown with five of its numbers has its list parsed once ([`RawProspect::parse`]), not
/// five times.
pub type RawProspect = Prospect<String>;

impl RawProspect {
    pub fn parse(self) -> serde_json::Result<Prospect> {
        let phones = PhoneList::parse(&self.phones)?;
        Ok(self.with_phones(phones))
    }
}

/// Declares the columns a prospect's writes set once, for the places that must name each of them:
/// the row ([`Prospect`], between its id and its list), what a create writes ([`NewProspect`]),
/// what an update may change ([`ProspectChanges`]), and the row's copies and comparisons of them.
macro_rules! written_columns {
    ($($column:ident: $type:ty,)*) => {
        /// A prospect row. `Phones` is how its list of numbers arrives: parsed ([`PhoneList`], every
        /// read but one) or still the column's text ([`RawProspect`]).
        #[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
        #[diesel(table_name = prospects)]
        pub struct Prospect<Phones = PhoneList> {
            pub id: i64,
            $(pub $column: $type,)*
            /// Its numbers as it shows them, in `order` (the `phones` column).
            pub phones: Phones,
            pub version: i64,
            #[diesel(deserialize_as = StoredTime)]
            pub created_at: NaiveDateTime,
            #[diesel(deserialize_as = StoredTime)]
            pub updated_at: NaiveDateTime,
        }

        /// A prospect to create (its version and timestamps are the create's).
        #[derive(Clone, Debug, PartialEq, Eq, Hash, Insertable)]
        #[diesel(table_name = prospects, treat_none_as_default_value = false)]
        pub struct NewProspect {
            $(pub $column: $type,)*
        }

        /// Changes to a prospect; `None` keeps a value (`Some(None)` clears a nullable one).
        #[derive(Clone, Debug, Default, AsChangeset)]
        #[diesel(table_name = prospects)]
        pub struct ProspectChanges {
            $(pub $column: Option<$type>,)*
        }

        impl<Phones> Prospect<Phones> {
            /// The row with `phones` as its list.
            fn with_phones<List>(self, phones: List) -> Prospect<List> {
                Prospect {
                    id: self.id,
                    $($column: self.$column,)*
                    phones,
                    version: self.version,
                    created_at: self.created_at,
                    updated_at: self.updated_at,
                }
            }

            /// The values a create wrote.
            fn values(&self) -> NewProspect {
                NewProspect {
                    $($column: self.$column.clone(),)*
                }
            }

            /// Whether `changes` would leave every column as it is.
            fn kept_by(&self, changes: &ProspectChanges) -> bool {
                true $(&& changes.$column.as_ref().is_none_or(|change| *change == self.$column))*
            }
        }
    };
}

written_columns! {
    owner_id: i64,
    first_name: Option<String>,
    last_name: Option<String>,
    title: Option<String>,
    company: Option<String>,
    external_id: Option<String>,
}

/// A write refused by the one unique index of prospects: `external_id` is another prospect's.
fn taken(error: diesel::result::Error, external_id: Option<&str>) -> ModelError {
    use diesel::result::{DatabaseErrorKind, Error};
    match (error, external_id) {
        (Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _), Some(external_id)) => {
            ModelError::ExternalIdTaken(external_id.to_owned())
        }
        (error, _) => error.into(),
    }
}

crate::lookups_by_id!(Prospect, prospects);

impl Prospect {
    /// The row's value of an attribute as resource objects show it, with `numbers` as its numbers
    /// (all of them, in `order`); `None` for the id.
    #[inline]
    pub fn attr<'r>(&'r self, numbers: &'r [ProspectPhone], field: F) -> Option<Attr<'r>> {
        Some(match field {
            F::Id => return None,
            F::FirstName => Attr::OptStr(self.first_name.as_deref()),
            F::LastName => Attr::OptStr(self.last_name.as_deref()),
            F::Title => Attr::OptStr(self.title.as_deref()),
            F::Company => Attr::OptStr(self.company.as_deref()),
            F::ExternalId => Attr::OptStr(self.external_id.as_deref()),
            F::Phones(phone_type) => Attr::List(
                numbers
                    .iter()
                    .filter(|number| number.phone_type == phone_type)
                    .map(ProspectPhone::array_entry)
                    .collect(),
            ),
            F::CreatedAt => Attr::Time(self.created_at),
            F::UpdatedAt => Attr::Time(self.updated_at),
        })
    }

    /// The prospect with this `externalId`, if there is one (the unique index finds it).
    pub fn find_by_external_id(
        conn: &mut DbConnection,
        external_id: &str,
    ) -> QueryResult<Option<Self>> {
        prospects::table
            .filter(col::external_id.eq(external_id))
            .select(Self::as_select())
            .first(conn)
            .optional()
    }

    /// The prospects with these `externalId`s that exist: (`externalId`, id, owner id) each, in
    /// one query.
    pub fn by_external_ids(
        conn: &mut DbConnection,
        external_ids: &[&str],
    ) -> QueryResult<Vec<(String, i64, i64)>> {
        let found: Vec<(Option<String>, i64, i64)> = crate::on_backend!(conn, |conn| {
            prospects::table
                .filter(col::external_id.eq_any(external_ids))
                .select((col::external_id, col::id, col::owner_id))
                .load(conn)
        })?;
        Ok((found.into_iter())
            .filter_map(|(external_id, id, owner)| Some((external_id?, id, owner)))
            .collect())
    }

    /// Prospects in id order from just after `after`, at most `limit` of them: the export's pages.
    pub fn page_after(conn: &mut DbConnection, after: i64, limit: i64) -> QueryResult<Vec<Self>> {
        prospects::table
            .filter(col::id.gt(after))
            .order(col::id)
            .limit(limit)
            .select(Self::as_select())
            .load(conn)
    }

    /// The prospects of `numbers`, once each, in the order the numbers first name them: one query.
    pub fn of_numbers(
        conn: &mut DbConnection,
        numbers: &[PhoneNumberRow],
    ) -> QueryResult<Vec<Self>> {
        let ids = super::unique(numbers.iter().map(|row| row.prospect_id));
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(super::in_order(&ids, Self::by_ids(conn, &ids)?, |row| {
            row.id
        }))
    }

    /// Locks prospect `id` for the rest of the write transaction and reads it (404 when there is
    /// none). On PostgreSQL this is `SELECT … FOR NO KEY UPDATE`, the lock an `UPDATE` takes:
    /// writers of one prospect and of its list of numbers queue here (prospects are locked in id
    /// order, so moves do not deadlock), writers of other prospects run in parallel. On SQLite
    /// the transaction's `BEGIN IMMEDIATE` already holds the database's write lock.
    pub fn lock(conn: &mut DbConnection, id: i64) -> ModelResult<Self> {
        let row = match conn {
            DbConnection::Sqlite(conn) => prospects::table
                .find(id)
                .select(Self::as_select())
                .first(conn)
                .optional()?,
            DbConnection::Pg(conn) => prospects::table
                .find(id)
                .select(Self::as_select())
                .for_no_key_update()
                .first(conn)
                .optional()?,
        };
        row.ok_or_else(|| ModelError::not_found(ResourceType::Prospect, id))
    }

    /// Locks the prospects `ids` (ascending, no repeats) in one statement, in id order, and reads
    /// them: what [`Prospect::lock`] does for each, in one round trip (404 for the first one that
    /// does not exist).
    pub fn lock_all(conn: &mut DbConnection, ids: &[i64]) -> ModelResult<Vec<Self>> {
        // One prospect (every single write) is `=`, a statement each backend caches.
        if let [id] = ids {
            return Ok(vec![Self::lock(conn, *id)?]);
        }
        let ordered = prospects::table.filter(col::id.eq_any(ids)).order(col::id);
        let rows = match conn {
            DbConnection::Sqlite(conn) => ordered.select(Self::as_select()).load(conn)?,
            // The rows are sorted before they are locked: in id order, like every other writer.
            DbConnection::Pg(conn) => (ordered.select(Self::as_select()))
                .for_no_key_update()
                .load(conn)?,
        };
        match ids.iter().zip(&rows).find(|(id, row)| **id != row.id) {
            Some((&id, _)) => Err(ModelError::not_found(ResourceType::Prospect, id)),
            None if rows.len() < ids.len() => Err(ModelError::not_found(
                ResourceType::Prospect,
                ids[rows.len()],
            )),
            None => Ok(rows),
        }
    }

    /// `self` after one more write of its list at `at`: the version and `updatedAt` that
    /// [`Prospect::store_phones`] gives it (its list is left as it is).
    pub fn next_version(&self, at: NaiveDateTime) -> Prospect {
        Prospect {
            version: self.version + 1,
            updated_at: self.next_time(at),
            ..self.clone()
        }
    }

    /// A time for a new version of `self` at `at`, later than its current `updatedAt` even when
    /// two writes fall into one millisecond, so that `updatedAt` moves with every change.
    fn next_time(&self, at: NaiveDateTime) -> NaiveDateTime {
        at.max(self.updated_at + chrono::Duration::milliseconds(1))
    }

    /// Stores `phones` as the list of the locked prospect `before` (see [`PhoneList`]) and marks
    /// it changed (new version and `updatedAt`): the last step of every write of its numbers,
    /// under the lock [`Prospect::lock`] took, so concurrent writers of one list store their lists
    /// in the order they commit. Returns the prospect as it now stands.
    pub fn store_phones(
        conn: &mut DbConnection,
        before: &Prospect,
        phones: Vec<ProspectPhone>,
        at: NaiveDateTime,
    ) -> QueryResult<Prospect> {
        let updated_at = before.next_time(at);
        let phones_json = PhoneList::to_json(&phones);
        StoreList::of(before.id, &phones_json, before.version + 1, updated_at).run(conn)?;
        Ok(Prospect {
            phones: PhoneList(phones),
            version: before.version + 1,
            updated_at,
            ..before.clone()
        })
    }

    /// Stores the prospect's list as its number rows make it, changing nothing else: for rows
    /// written outside the API (a bulk load, a test's fixtures).
    pub fn rebuild_phones(conn: &mut DbConnection, id: i64) -> QueryResult<()> {
        let phones = ProspectPhone::of_prospect(conn, id)?;
        diesel::update(prospects::table.find(id))
            .set(col::phones.eq(PhoneList::to_json(&phones)))
            .execute(conn)
            .map(drop)
    }

    pub fn create(
        conn: &mut DbConnection,
        journal: &mut Journal,
        new: NewProspect,
    ) -> ModelResult<Self> {
        let at = now();
        let stamps = (
            col::version.eq(1),
            col::created_at.eq(at),
            col::updated_at.eq(at),
        );
        // One statement diesel keeps prepared, not an insert, `last_insert_id` and a read.
        let insert = diesel::insert_into(prospects::table).values((&new, stamps));
        let row: Self = crate::on_backend!(conn, |conn| insert
            .returning(Self::as_returning())
            .get_result(conn))
        .map_err(|error| taken(error, new.external_id.as_deref()))?;
        journal.prospect(None, Some(&row));
        Ok(row)
    }

    /// Creates the prospects `news`, in their order, with what [`Prospect::create`] writes and
    /// records for each, in one multi-row `INSERT … RETURNING` per chunk. Returns them in the
    /// order of `news`. A unique violation (an `externalId` taken, or given twice) fails the whole
    /// batch with [`ModelError::RefusedInBatch`]: the caller writes the rows one by one to find
    /// which (inside a savepoint, so that PostgreSQL's transaction survives the failed statement).
    pub fn create_many(
        conn: &mut DbConnection,
        journal: &mut Journal,
        news: &[NewProspect],
    ) -> ModelResult<Vec<Self>> {
        use std::collections::{HashMap, VecDeque};
        let at = now();
        let mut created = Vec::with_capacity(news.len());
        // 9 binds a row: far under SQLite's 32,766 and PostgreSQL's 65,535 per statement.
        for chunk in news.chunks(super::BATCH_ROWS) {
            let rows: Vec<_> = (chunk.iter())
                .map(|new| {
                    (
                        new,
                        col::version.eq(1),
                        col::created_at.eq(at),
                        col::updated_at.eq(at),
                    )
                })
                .collect();
            let insert = diesel::insert_into(prospects::table).values(rows);
            let returned: Vec<Self> = crate::on_backend!(&mut *conn, |conn| insert
                .returning(Self::as_returning())
                .get_results(conn))
            .map_err(|error| match taken(error, Some("")) {
                ModelError::ExternalIdTaken(_) => ModelError::RefusedInBatch,
                other => other,
            })?;
            created.extend(returned);
        }
        // `RETURNING` promises no order: each row goes back to the new prospect it was made from.
        // Rows made from equal values are interchangeable; they take their ids in `news` order.
        created.sort_unstable_by_key(|row| row.id);
        let mut by_values: HashMap<NewProspect, VecDeque<Self>> = HashMap::new();
        for row in created {
            by_values.entry(row.values()).or_default().push_back(row);
        }
        let mut rows = Vec::with_capacity(news.len());
        for new in news {
            let row = (by_values.get_mut(new).and_then(VecDeque::pop_front))
                .ok_or(ModelError::Database(diesel::result::Error::NotFound))?;
            journal.prospect(None, Some(&row));
            rows.push(row);
        }
        Ok(rows)
    }

    /// One page of prospects matching `listing`.
    pub fn list(conn: &mut DbConnection, listing: &Listing<F>) -> ModelResult<Page<Self>> {
        crate::by_backend!(conn, list(listing, None))
    }

    /// One page of the prospects `number` is shared with (its `sharedWith`) matching `listing`:
    /// those with a number of the same `number`, but not the number's own prospect.
    pub fn list_sharing(
        conn: &mut DbConnection,
        listing: &Listing<F>,
        number: &PhoneNumberRow,
    ) -> ModelResult<Page<Self>> {
        let sharing = Sharing {
            number: number.number.clone(),
            own: number.prospect_id,
        };
        crate::by_backend!(conn, list(listing, Some(sharing)))
    }
}

impl Versioned for Prospect {
    type Changes = ProspectChanges;
    /// Nothing more: the prospect's own lock ([`Prospect::lock`]) is all its writes need.
    type Locked = ();

    fn id(&self) -> i64 {
        self.id
    }

    fn lock_record(
        conn: &mut DbConnection,
        id: i64,
        _: Option<Self>,
        _: Option<&ProspectChanges>,
    ) -> ModelResult<(Self, ())> {
        Ok((Self::lock(conn, id)?, ()))
    }

    fn version(&self) -> i64 {
        self.version
    }

    fn unchanged_by(&self, changes: &ProspectChanges, _: &()) -> bool {
        self.kept_by(changes)
    }

    fn apply(
        &self,
        conn: &mut DbConnection,
        journal: &mut Journal,
        changes: &ProspectChanges,
        _: (),
        at: NaiveDateTime,
    ) -> ModelResult<Self> {
        diesel::update(prospects::table.find(self.id))
            .set((
                changes,
                col::version.eq(self.version + 1),
                col::updated_at.eq(self.next_time(at)),
            ))
            .execute(conn)
            .map_err(|error| {
                let external_id = changes.external_id.as_ref().and_then(Option::as_deref);
                taken(error, external_id)
            })?;
        let row = Self::find(conn, self.id)?
            .ok_or_else(|| ModelError::not_found(ResourceType::Prospect, self.id))?;
        journal.prospect(Some(self), Some(&row));
        Ok(row)
    }

    /// Its numbers go with it (`ON DELETE CASCADE`), and each of their deletes is noted.
    fn remove(
        &self,
        conn: &mut DbConnection,
        journal: &mut Journal,
        _: (),
        _: NaiveDateTime,
    ) -> ModelResult<()> {
        let numbers = PhoneNumberRow::of_prospects(conn, &[self.id])?;
        diesel::delete(prospects::table.find(self.id)).execute(conn)?;
        for number in &numbers {
            journal.number(Some(number), None);
        }
        journal.prospect(Some(self), None);
        Ok(())
    }
}

/// What restricts a listing to the prospects a number is shared with.
struct Sharing {
    number: String,
    /// The number's own prospect, never among them.
    own: i64,
}

crate::per_backend! {
    /// A filtered listing query, before its selection.
    type Filtered = prospects::BoxedQuery<'static, Db>;

    pub(super) fn list(
        conn: &mut Conn,
        listing: &Listing<F>,
        sharing: Option<Sharing>,
    ) -> ModelResult<Page<Prospect>> {
        crate::list_page!(conn, listing, base(sharing.as_ref()), Prospect, order, predicate, sort_predicate)
    }

    /// The listing's query before the client's filters: every prospect, or those a number is
    /// shared with (a semi-join on the `phone_numbers_number` index, so each comes once).
    fn base(sharing: Option<&Sharing>) -> Filtered {
        use crate::db::schema::phone_numbers;
        let query = prospects::table.into_boxed();
        match sharing {
            Some(sharing) => query.filter(col::id.ne(sharing.own)).filter(
                col::id.eq_any(
                    phone_numbers::table
                        .filter(phone_numbers::number.eq(sharing.number.clone()))
                        .select(phone_numbers::prospect_id),
                ),
            ),
            None => query,
        }
    }

    fn predicate(
        target: FilterTarget<F>,
        op: &FilterOp,
    ) -> ModelResult<Predicate<prospects::table, Db>> {
        use crate::schema::Relationship;
        let field = match target {
            FilterTarget::Field(field) => field,
            FilterTarget::RelationshipId(Relationship::ProspectOwner) => {
                return Ok(predicate!(col::owner_id, op, Relationship::ProspectOwner.name(), as_i64))
            }
            FilterTarget::RelationshipId(other) => return Err(wrong_type(other.name())),
        };
        let name = field.name();
        Ok(match field {
            F::Id => predicate!(col::id, op, name, as_i64),
            F::FirstName => nullable_predicate!(col::first_name, op, name, as_string),
            F::LastName => nullable_predicate!(col::last_name, op, name, as_string),
            F::Title => nullable_predicate!(col::title, op, name, as_string),
            F::Company => nullable_predicate!(col::company, op, name, as_string),
            F::ExternalId => nullable_predicate!(col::external_id, op, name, as_string),
            F::CreatedAt => predicate!(col::created_at, op, name, as_time),
            F::UpdatedAt => predicate!(col::updated_at, op, name, as_time),
            F::Phones(_) => return Err(wrong_type(name)),
        })
    }

    /// Comparisons on sort keys: nullable names compare as `COALESCE(name, '')`, like they sort.
    fn sort_predicate(
        field: F,
        op: CompareOp,
        value: &FilterValue,
    ) -> ModelResult<Predicate<prospects::table, Db>> {
        let op = FilterOp::Compare(op, value.clone());
        let name = field.name();
        Ok(match field {
            F::FirstName => predicate!(coalesce(col::first_name, ""), &op, name, as_string),
            F::LastName => predicate!(coalesce(col::last_name, ""), &op, name, as_string),
            F::Title => predicate!(coalesce(col::title, ""), &op, name, as_string),
            F::Company => predicate!(coalesce(col::company, ""), &op, name, as_string),
            F::Id | F::ExternalId | F::Phones(_) | F::CreatedAt | F::UpdatedAt => {
                return predicate(FilterTarget::Field(field), &op)
            }
        })
    }

    fn order(query: Filtered, field: F, descending: bool) -> ModelResult<Filtered> {
        Ok(match field {
            F::Id => order_by!(query, col::id, descending),
            F::FirstName => order_by!(query, coalesce(col::first_name, ""), descending),
            F::LastName => order_by!(query, coalesce(col::last_name, ""), descending),
            F::Title => order_by!(query, coalesce(col::title, ""), descending),
            F::Company => order_by!(query, coalesce(col::company, ""), descending),
            F::CreatedAt => order_by!(query, col::created_at, descending),
            F::UpdatedAt => order_by!(query, col::updated_at, descending),
            F::ExternalId | F::Phones(_) => return Err(unsortable(field)),
        })
    }
}

impl super::listing::Keyed<F> for Prospect {
    /// The value of a sort key of this row, for its cursor (`Null` for fields that do not sort).
    fn sort_value(&self, field: F) -> CursorValue {
        let text = |value: &Option<String>| CursorValue::Str(value.clone().unwrap_or_default());
        match field {
            F::Id => CursorValue::Int(self.id),
            F::FirstName => text(&self.first_name),
            F::LastName => text(&self.last_name),
            F::Title => text(&self.title),
            F::Company => text(&self.company),
            F::CreatedAt => CursorValue::DateTime(self.created_at),
            F::UpdatedAt => CursorValue::DateTime(self.updated_at),
            F::ExternalId | F::Phones(_) => CursorValue::Null,
        }
    }
    fn id(&self) -> i64 {
        self.id
    }
}

#[cfg(test)]
mod tests {
    use super::PhoneList;
    use crate::models::ProspectPhone;

    fn phone(id: i64, number: &str, extension: &str, phone_type: &str) -> ProspectPhone {
        ProspectPhone {
            id,
            number: number.into(),
            extension: extension.into(),
            phone_type: phone_type.parse().unwrap(),
        }
    }

    #[test]
    fn a_stored_list_reads_back_as_it_was_written() {
        let lists = [
            vec![],
            vec![phone(1, "+14155550100", "", "work")],
            vec![
                phone(7, "+14155550100", "12", "home"),
                phone(1_000_000_000_123, "+442071838750", "", "mobile"),
                phone(0, "+33 1 42 68 53 00 \u{fc}\"", "9", "other"),
            ],
        ];
        for list in lists {
            let text = PhoneList::to_json(&list);
            assert_eq!(PhoneList::parse(&text).unwrap(), PhoneList(list), "{text}");
        }
        // The migrations' SQL writes the list with whitespace.
        let spaced = PhoneList::parse(r#"[[1, "+14155550100", "", "work"]]"#).unwrap();
        assert_eq!(spaced.0, vec![phone(1, "+14155550100", "", "work")]);
        for malformed in ["", "[", "[[]]", r#"[[1,"+14155550100","","fax"]]"#] {
            assert!(PhoneList::parse(malformed).is_err(), "{malformed}");
        }
    }
}
