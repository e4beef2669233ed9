//! Prospects: the people whose numbers we keep, each owned by a user. Their rows, writes and
//! listing, and the list of numbers each row keeps ([`PhoneList`]) so that showing a prospect reads
//! no number rows.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::error::{ModelError, ModelResult};
use super::listing::{
    as_i64, as_string, as_time, unsortable, wrong_type, Listing, Page, Predicate,
};
use crate::clock::now;
use crate::db::schema::prospects::{self, dsl as col};
use crate::db::{last_insert_id, DbConnection, StoredTime};
use crate::domain::ResourceType;
use crate::jsonapi::cursor::CursorValue;
use crate::jsonapi::query::{CompareOp, FilterOp, FilterTarget, FilterValue};
use crate::jsonapi::schema::{Field as _, Relationship as _};
use crate::models::{PhoneNumberRow, ProspectPhone};
use crate::schema::ProspectField as F;
use crate::{nullable_predicate, order_by, predicate};

diesel::define_sql_function! {
    /// `COALESCE(text, text)`: nullable names sort as `""`, identically on both backends.
    fn coalesce(value: diesel::sql_types::Nullable<diesel::sql_types::Text>, otherwise: diesel::sql_types::Text) -> diesel::sql_types::Text;
}

/// A prospect row. `Phones` is how its list of numbers arrives: parsed ([`PhoneList`], every read
/// but one) or still the column's text ([`RawProspect`]).
#[derive(Clone, Debug, Queryable, Selectable, Identifiable)]
#[diesel(table_name = prospects)]
pub struct Prospect<Phones = PhoneList> {
    pub id: i64,
    pub owner_id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub company: Option<String>,
    /// Its numbers as it shows them, in `order` (the `phones` column).
    pub phones: Phones,
    pub version: i64,
    #[diesel(deserialize_as = StoredTime)]
    pub created_at: NaiveDateTime,
    #[diesel(deserialize_as = StoredTime)]
    pub updated_at: NaiveDateTime,
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
        Ok(Prospect {
            phones: PhoneList::parse(&self.phones)?,
            id: self.id,
            owner_id: self.owner_id,
            first_name: self.first_name,
            last_name: self.last_name,
            title: self.title,
            company: self.company,
            version: self.version,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// A prospect to create (its version and timestamps are the create's).
#[derive(Clone, Debug, Insertable)]
#[diesel(table_name = prospects)]
pub struct NewProspect {
    pub owner_id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub title: Option<String>,
    pub company: Option<String>,
}

/// Changes to a prospect; `None` keeps a value, `Some(None)` clears it.
#[derive(Clone, Debug, Default, AsChangeset)]
#[diesel(table_name = prospects)]
pub struct ProspectChanges {
    pub owner_id: Option<i64>,
    pub first_name: Option<Option<String>>,
    pub last_name: Option<Option<String>>,
    pub title: Option<Option<String>>,
    pub company: Option<Option<String>>,
}

impl Prospect {
    pub fn find(conn: &mut DbConnection, id: i64) -> QueryResult<Option<Self>> {
        crate::on_backend!(conn, |conn| prospects::table
            .find(id)
            .select(Self::as_select())
            .first(conn)
            .optional())
    }

    pub fn by_ids(conn: &mut DbConnection, ids: &[i64]) -> QueryResult<Vec<Self>> {
        // One id (a page of one prospect's numbers) is `=`: diesel caches that statement, and never
        // one with `IN` on SQLite, whose bind count varies.
        crate::on_backend!(conn, |conn| match ids {
            [id] => prospects::table
                .find(*id)
                .select(Self::as_select())
                .load(conn),
            _ => prospects::table
                .filter(col::id.eq_any(ids))
                .select(Self::as_select())
                .load(conn),
        })
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

    /// Stores the prospect's list of numbers on its row (see [`PhoneList`]) as it stands in
    /// this transaction: the last step of every write that changes the list, made under the row
    /// lock that the write's first statement took ([`Prospect::touch`]), so concurrent writers of
    /// one list store their lists in the order they commit.
    pub fn store_phones(conn: &mut DbConnection, id: i64) -> QueryResult<()> {
        let phones = ProspectPhone::of_prospect(conn, id)?;
        diesel::update(prospects::table.find(id))
            .set(col::phones.eq(PhoneList::to_json(&phones)))
            .execute(conn)
            .map(drop)
    }

    /// Marks the prospect changed (new version and `updatedAt`). As the first statement of a
    /// transaction it also serializes writers of the prospect's number list (see
    /// [`crate::models::phone_number`]). A prospect that does not exist is 404.
    pub fn touch(conn: &mut DbConnection, id: i64, at: NaiveDateTime) -> ModelResult<()> {
        let touched = diesel::update(prospects::table.find(id))
            .set((col::version.eq(col::version + 1), col::updated_at.eq(at)))
            .execute(conn)?;
        if touched == 0 {
            return Err(ModelError::not_found(ResourceType::Prospect, id));
        }
        Ok(())
    }

    pub fn create(conn: &mut DbConnection, new: NewProspect) -> ModelResult<Self> {
        crate::db::write_transaction(conn, |conn| {
            let at = now();
            let stamps = (
                col::version.eq(1),
                col::created_at.eq(at),
                col::updated_at.eq(at),
            );
            diesel::insert_into(prospects::table)
                .values((&new, stamps))
                .execute(conn)?;
            let id = last_insert_id(conn)?;
            Self::find(conn, id)?.ok_or(ModelError::Database(diesel::result::Error::NotFound))
        })
    }

    /// How often a write re-reads a prospect that another writer changed between its read and its
    /// conditional write.
    const WRITE_ATTEMPTS: usize = 3;

    /// Applies `changes` if the stored version passes `expected_version` (the `If-Match` check),
    /// else 412. A PATCH that changes nothing keeps the version and ETag.
    pub fn update(
        conn: &mut DbConnection,
        id: i64,
        changes: &ProspectChanges,
        expected_version: &dyn Fn(i64) -> bool,
    ) -> ModelResult<Self> {
        let has_changes = changes.owner_id.is_some()
            || changes.first_name.is_some()
            || changes.last_name.is_some()
            || changes.title.is_some()
            || changes.company.is_some();
        Self::conditionally(conn, id, expected_version, |conn, current| {
            if !has_changes {
                return Ok(Some(current));
            }
            let stamps = (
                col::version.eq(current.version + 1),
                col::updated_at.eq(now()),
            );
            let written = diesel::update(current_version(&current))
                .set((changes, stamps))
                .execute(conn)?;
            if written == 0 {
                return Ok(None);
            }
            Ok(Self::find(conn, id)?)
        })
    }

    /// Deletes the prospect if its version passes `expected_version` (else 412); its numbers go
    /// with it (`ON DELETE CASCADE`).
    pub fn delete(
        conn: &mut DbConnection,
        id: i64,
        expected_version: &dyn Fn(i64) -> bool,
    ) -> ModelResult<()> {
        Self::conditionally(conn, id, expected_version, |conn, current| {
            let deleted = diesel::delete(current_version(&current)).execute(conn)?;
            Ok((deleted == 1).then_some(()))
        })
    }

    /// Runs `write` in a write transaction on the stored prospect, once its version passes
    /// `expected_version` (else 412; 404 if there is none). `write` makes its statement
    /// conditional on that version ([`current_version`]) and answers `None` when another writer
    /// changed the row first; then the row is read again, up to [`Self::WRITE_ATTEMPTS`] times.
    /// So no lock is needed, and a concurrent change is never overwritten unseen: the loser reads
    /// again (and, with `If-Match`, fails the check).
    fn conditionally<T>(
        conn: &mut DbConnection,
        id: i64,
        expected_version: &dyn Fn(i64) -> bool,
        mut write: impl FnMut(&mut DbConnection, Prospect) -> ModelResult<Option<T>>,
    ) -> ModelResult<T> {
        let not_found = || ModelError::not_found(ResourceType::Prospect, id);
        crate::db::write_transaction(conn, |conn| {
            for _ in 0..Self::WRITE_ATTEMPTS {
                let current = Self::find(conn, id)?.ok_or_else(not_found)?;
                if !expected_version(current.version) {
                    return Err(ModelError::VersionMismatch);
                }
                if let Some(done) = write(conn, current)? {
                    return Ok(done);
                }
            }
            let kind = ResourceType::Prospect;
            Err(ModelError::KeptChanging { kind, id })
        })
    }

    /// One page of prospects matching `listing`.
    pub fn list(conn: &mut DbConnection, listing: &Listing<F>) -> ModelResult<Page<Self>> {
        crate::by_backend!(conn, list(listing))
    }
}

/// The prospect's row as long as it still has `current`'s version.
fn current_version(
    current: &Prospect,
) -> diesel::dsl::Filter<diesel::dsl::Find<prospects::table, i64>, diesel::dsl::Eq<col::version, i64>>
{
    prospects::table
        .find(current.id)
        .filter(col::version.eq(current.version))
}

crate::per_backend! {
    /// A filtered listing query, before its selection.
    type Filtered = prospects::BoxedQuery<'static, Db>;

    pub(super) fn list(conn: &mut Conn, listing: &Listing<F>) -> ModelResult<Page<Prospect>> {
        let filtered = || -> ModelResult<Filtered> {
            let mut query = prospects::table.into_boxed();
            for filter in &listing.filters {
                query = query.filter(predicate(filter.target, &filter.op)?);
            }
            Ok(query)
        };
        crate::list_page!(conn, listing, filtered, Prospect, order, sort_predicate)
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
            F::Id | F::Phones(_) | F::CreatedAt | F::UpdatedAt => {
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
            F::Phones(_) => return Err(unsortable(field)),
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
            F::Phones(_) => CursorValue::Null,
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
