//! Views: model rows → JSON:API resource objects that borrow those rows (no string is copied),
//! honouring sparse fieldsets and adding authorization meta, plus [`Graph`], which loads
//! everything a response shows besides its primary rows (related rows for authorization meta and
//! `include`) with at most one query per include level, never one per resource. A prospect's
//! `*Phones` arrays and `phoneNumbers` linkage come with its row (`Prospect::phones`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::db::DbConnection;
use crate::jsonapi::document::{
    Attr, AuthorizationMeta, Identifier, LinkBase, Linkage, Resource, ResourceType,
};
use crate::jsonapi::schema::{Field, Relationship as _};
use crate::models::{in_order, unique, PhoneNumberRow, Prospect, ProspectPhone, User};
use crate::permissions::{self, Principal};
use crate::schema::{PhoneNumberField, ProspectField, Relationship, UserField};

/// How resources are shown in one response.
pub struct View<'a> {
    pub base: &'a LinkBase,
    /// `fields[TYPE]`: a type absent from the map shows every field.
    pub fields: &'a BTreeMap<ResourceType, BTreeSet<&'static str>>,
    /// Set when the client asked for authorization meta.
    pub meta_for: Option<&'a Principal>,
}

/// A row's value of each of its attributes (`None` for the id): one exhaustive match per type.
trait Attributes<'r, F: Field>: Copy {
    fn attr(self, field: F) -> Option<Attr<'r>>;
}

impl<'r> Attributes<'r, PhoneNumberField> for &'r PhoneNumberRow {
    fn attr(self, field: PhoneNumberField) -> Option<Attr<'r>> {
        use PhoneNumberField as F;
        Some(match field {
            F::Id => return None,
            F::Number => Attr::Str(&self.number),
            F::RawNumber => Attr::Str(&self.raw_number),
            F::CountryCode => Attr::OptStr(self.country_code.as_deref()),
            F::Extension => Attr::OptStr(self.extension()),
            F::PhoneType => Attr::Str(&self.phone_type),
            F::Order => Attr::Int(i64::from(self.position)),
            F::Status => Attr::Str(&self.status),
            F::StatusChangedAt => Attr::Time(self.status_changed_at),
            F::Source => Attr::OptStr(self.source.as_deref()),
            F::FormattedNumber => Attr::Str(&self.formatted_number),
            F::LineType => Attr::Str(&self.line_type),
            F::CreatedAt => Attr::Time(self.created_at),
            F::UpdatedAt => Attr::Time(self.updated_at),
        })
    }
}

/// A prospect with the numbers it shows (all of them, in `order`).
impl<'r> Attributes<'r, ProspectField> for (&'r Prospect, &'r [ProspectPhone]) {
    fn attr(self, field: ProspectField) -> Option<Attr<'r>> {
        use ProspectField as F;
        let (row, numbers) = self;
        Some(match field {
            F::Id => return None,
            F::FirstName => Attr::OptStr(row.first_name.as_deref()),
            F::LastName => Attr::OptStr(row.last_name.as_deref()),
            F::Title => Attr::OptStr(row.title.as_deref()),
            F::Company => Attr::OptStr(row.company.as_deref()),
            F::Phones(phone_type) => Attr::List(
                numbers
                    .iter()
                    .filter(|number| number.phone_type == phone_type)
                    .map(ProspectPhone::array_entry)
                    .collect(),
            ),
            F::CreatedAt => Attr::Time(row.created_at),
            F::UpdatedAt => Attr::Time(row.updated_at),
        })
    }
}

impl<'r> Attributes<'r, UserField> for &'r User {
    fn attr(self, field: UserField) -> Option<Attr<'r>> {
        use UserField as F;
        Some(match field {
            F::Id => return None,
            F::Name => Attr::Str(&self.name),
            F::Email => Attr::Str(&self.email),
            F::Role => Attr::Str(&self.role),
            F::CreatedAt => Attr::Time(self.created_at),
            F::UpdatedAt => Attr::Time(self.updated_at),
        })
    }
}

fn authorization(meta: permissions::AuthorizationMeta) -> AuthorizationMeta {
    AuthorizationMeta {
        can_write: meta.can_write,
        can_delete: meta.can_delete,
    }
}

impl<'a> View<'a> {
    fn wants(&self, kind: ResourceType, member: &str) -> bool {
        self.fields
            .get(&kind)
            .is_none_or(|set| set.contains(member))
    }

    /// The attributes of `row` that the fieldset of `F`'s type asks for, in declaration order.
    fn attributes<'r, F: Field>(
        &self,
        row: impl Attributes<'r, F>,
    ) -> Vec<(&'static str, Attr<'r>)> {
        F::attributes()
            .filter(|field| self.wants(F::TYPE, field.name()))
            .filter_map(|field| Some((field.name(), row.attr(field)?)))
            .collect()
    }

    /// The relationships of `F`'s type that the fieldset asks for, with their linkage.
    fn relationships(
        &self,
        kind: ResourceType,
        linkage: impl Fn(Relationship) -> Linkage,
    ) -> Vec<(&'static str, Linkage)> {
        Relationship::of(kind)
            .filter(|rel| self.wants(kind, rel.name()))
            .map(|rel| (rel.name(), linkage(rel)))
            .collect()
    }

    pub fn phone_number<'r>(
        &self,
        row: &'r PhoneNumberRow,
        prospect_owner: Option<i64>,
    ) -> Resource<'r>
    where
        'a: 'r,
    {
        let kind = ResourceType::PhoneNumber;
        Resource {
            kind,
            id: row.id,
            attributes: self.attributes::<PhoneNumberField>(row),
            relationships: self.relationships(kind, |rel| match rel {
                Relationship::PhoneNumberProspect => Linkage::ToOne(Some(Identifier {
                    kind: ResourceType::Prospect,
                    id: row.prospect_id,
                })),
                Relationship::ProspectPhoneNumbers | Relationship::ProspectOwner => {
                    unreachable!("not a relationship of phoneNumber")
                }
            }),
            meta: self.meta_for.zip(prospect_owner).map(|(principal, owner)| {
                authorization(permissions::phone_number_meta(principal, owner))
            }),
            base: self.base,
        }
    }

    /// A prospect with its numbers (all of them, in `order`).
    pub fn prospect<'r>(&self, row: &'r Prospect, numbers: &'r [ProspectPhone]) -> Resource<'r>
    where
        'a: 'r,
    {
        let kind = ResourceType::Prospect;
        Resource {
            kind,
            id: row.id,
            attributes: self.attributes::<ProspectField>((row, numbers)),
            relationships: self.relationships(kind, |rel| match rel {
                Relationship::ProspectPhoneNumbers => Linkage::ToMany(
                    numbers
                        .iter()
                        .map(|number| Identifier {
                            kind: ResourceType::PhoneNumber,
                            id: number.id,
                        })
                        .collect(),
                ),
                Relationship::ProspectOwner => Linkage::ToOne(Some(Identifier {
                    kind: ResourceType::User,
                    id: row.owner_id,
                })),
                Relationship::PhoneNumberProspect => unreachable!("not a relationship of prospect"),
            }),
            meta: self.meta_for.map(|principal| {
                authorization(permissions::prospect_meta(principal, row.owner_id))
            }),
            base: self.base,
        }
    }

    pub fn user<'r>(&self, row: &'r User) -> Resource<'r>
    where
        'a: 'r,
    {
        Resource {
            kind: ResourceType::User,
            id: row.id,
            attributes: self.attributes::<UserField>(row),
            relationships: Vec::new(),
            meta: self
                .meta_for
                .map(|principal| authorization(permissions::user_meta(principal))),
            base: self.base,
        }
    }
}

/// What a response needs loaded besides its primary rows: derived from the query's view and
/// includes, and `Copy`, so it can go into a database closure on its own.
#[derive(Clone, Copy, Debug, Default)]
pub struct Needs {
    pub includes: Includes,
    /// Authorization meta, which needs each number's prospect owner.
    pub meta: bool,
}

impl Needs {
    /// Whether phone-number resources need their prospects: to include them, or for the owner
    /// that authorization meta is about.
    pub fn prospects_of_numbers(&self) -> bool {
        self.includes.prospect || self.meta
    }
}

impl View<'_> {
    pub fn needs(&self, includes: Includes) -> Needs {
        Needs {
            includes,
            meta: self.meta_for.is_some(),
        }
    }
}

/// Rows loaded for one response, keyed by id, in first-seen order for `included`.
#[derive(Default)]
pub struct Graph {
    pub prospects: Vec<Prospect>,
    /// Whole number rows per prospect id, in `order`: loaded only for `include=phoneNumbers`.
    pub numbers: HashMap<i64, Vec<PhoneNumberRow>>,
    /// What the prospects show of their numbers when `numbers` was loaded: taken from those rows
    /// rather than the prospect rows, which an earlier statement read, so that the linkage names
    /// exactly the numbers included.
    phones: HashMap<i64, Vec<ProspectPhone>>,
    pub users: Vec<User>,
}

/// What a response includes, from the parsed `include` paths.
#[derive(Clone, Copy, Debug, Default)]
pub struct Includes {
    pub prospect: bool,
    pub prospect_owner: bool,
    pub phone_numbers: bool,
    pub owner: bool,
}

impl Includes {
    pub fn from_paths(paths: &[Vec<Relationship>]) -> Self {
        use Relationship::{PhoneNumberProspect, ProspectOwner, ProspectPhoneNumbers};
        let has =
            |path: &[Relationship]| paths.iter().any(|candidate| candidate.as_slice() == path);
        Includes {
            prospect: has(&[PhoneNumberProspect]) || has(&[PhoneNumberProspect, ProspectOwner]),
            prospect_owner: has(&[PhoneNumberProspect, ProspectOwner]),
            phone_numbers: has(&[ProspectPhoneNumbers]),
            owner: has(&[ProspectOwner]),
        }
    }
}

impl Graph {
    /// Loads what phone-number resources `rows` need: their prospects (for authorization meta or
    /// `include=prospect`) and, for `include=prospect.owner`, the prospects' owners. A listing
    /// reads the prospects with its page instead ([`Graph::with_prospects`]).
    pub fn for_phone_numbers(
        conn: &mut DbConnection,
        rows: &[PhoneNumberRow],
        needs: Needs,
    ) -> diesel::QueryResult<Self> {
        if !needs.prospects_of_numbers() {
            return Ok(Graph::default());
        }
        let prospects = Prospect::of_numbers(conn, rows)?;
        Self::with_prospects(conn, prospects, needs)
    }

    /// What phone-number resources need, given their prospects (read with the numbers).
    pub fn with_prospects(
        conn: &mut DbConnection,
        prospects: Vec<Prospect>,
        needs: Needs,
    ) -> diesel::QueryResult<Self> {
        let mut graph = Graph {
            prospects,
            ..Graph::default()
        };
        if needs.includes.prospect_owner {
            graph.load_owners(conn)?;
        }
        Ok(graph)
    }

    /// Loads what prospect resources `rows` need: for `include=phoneNumbers` their numbers, and
    /// for `include=owner` their owners.
    pub fn for_prospects(
        conn: &mut DbConnection,
        rows: &[Prospect],
        needs: Needs,
    ) -> diesel::QueryResult<Self> {
        let includes = needs.includes;
        let mut graph = Graph {
            prospects: rows.to_vec(),
            ..Graph::default()
        };
        if includes.phone_numbers && !rows.is_empty() {
            let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
            graph.load_numbers(conn, &ids)?;
        }
        if includes.owner {
            graph.load_owners(conn)?;
        }
        Ok(graph)
    }

    /// Whole rows of the prospects' numbers, for `include=phoneNumbers`, and what the prospects
    /// show of them.
    fn load_numbers(
        &mut self,
        conn: &mut DbConnection,
        prospect_ids: &[i64],
    ) -> diesel::QueryResult<()> {
        for &id in prospect_ids {
            self.phones.entry(id).or_default();
        }
        for row in PhoneNumberRow::of_prospects(conn, prospect_ids)? {
            let phones = self.phones.entry(row.prospect_id).or_default();
            let phone = ProspectPhone::try_from(&row)
                .map_err(|error| diesel::result::Error::DeserializationError(Box::new(error)))?;
            phones.push(phone);
            self.numbers.entry(row.prospect_id).or_default().push(row);
        }
        Ok(())
    }

    fn load_owners(&mut self, conn: &mut DbConnection) -> diesel::QueryResult<()> {
        let ids = unique(self.prospects.iter().map(|row| row.owner_id));
        self.users = in_order(&ids, User::by_ids(conn, &ids)?, |row| row.id);
        Ok(())
    }

    pub fn owner_of(&self, prospect_id: i64) -> Option<i64> {
        self.prospects
            .iter()
            .find(|row| row.id == prospect_id)
            .map(|row| row.owner_id)
    }

    /// What a prospect shows of its numbers.
    pub fn phones_of<'a>(&'a self, prospect: &'a Prospect) -> &'a [ProspectPhone] {
        self.phones
            .get(&prospect.id)
            .map_or(&prospect.phones, Vec::as_slice)
    }

    fn numbers_of(&self, prospect_id: i64) -> &[PhoneNumberRow] {
        self.numbers.get(&prospect_id).map_or(&[], Vec::as_slice)
    }

    /// Resource objects for phone-number rows.
    pub fn phone_number_resources<'r>(
        &self,
        view: &View<'r>,
        rows: &'r [PhoneNumberRow],
    ) -> Vec<Resource<'r>> {
        let owners: HashMap<i64, i64> = self
            .prospects
            .iter()
            .map(|row| (row.id, row.owner_id))
            .collect();
        rows.iter()
            .map(|row| view.phone_number(row, owners.get(&row.prospect_id).copied()))
            .collect()
    }

    /// Resource objects for prospect rows.
    pub fn prospect_resources<'r>(
        &'r self,
        view: &View<'r>,
        rows: &'r [Prospect],
    ) -> Vec<Resource<'r>> {
        rows.iter()
            .map(|row| view.prospect(row, self.phones_of(row)))
            .collect()
    }

    /// The `included` array for phone-number primary data.
    pub fn included_for_phone_numbers<'r>(
        &'r self,
        view: &View<'r>,
        includes: Includes,
    ) -> Vec<Resource<'r>> {
        let mut included = Vec::new();
        if includes.prospect {
            included.extend(self.prospect_resources(view, &self.prospects));
        }
        if includes.prospect_owner {
            included.extend(self.users.iter().map(|user| view.user(user)));
        }
        included
    }

    /// The `included` array for prospect primary data.
    pub fn included_for_prospects<'r>(
        &'r self,
        view: &View<'r>,
        includes: Includes,
        rows: &'r [Prospect],
    ) -> Vec<Resource<'r>> {
        let mut included = Vec::new();
        if includes.phone_numbers {
            for row in rows {
                included.extend(
                    self.numbers_of(row.id)
                        .iter()
                        .map(|number| view.phone_number(number, Some(row.owner_id))),
                );
            }
        }
        if includes.owner {
            included.extend(self.users.iter().map(|user| view.user(user)));
        }
        included
    }
}
