//! Views: model rows → JSON:API resource objects that borrow those rows (no string is copied),
//! honouring sparse fieldsets and adding authorization meta, plus [`Graph`], which loads
//! everything a response shows besides its primary rows (related rows for authorization meta and
//! `include`) with at most one query per include level, never one per resource. A prospect's
//! `*Phones` arrays and `phoneNumbers` linkage come with its row (`Prospect::phones`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::db::DbConnection;
use crate::domain::PhoneType;
use crate::jsonapi::document::{
    Attr, Identifier, LinkBase, Linkage, Resource, PHONE_NUMBER, PROSPECT, USER,
};
use crate::models::{in_order, unique, PhoneNumberRow, Prospect, ProspectPhone, User};
use crate::permissions::{self, Principal};

/// How resources are shown in one response.
pub struct View<'a> {
    pub base: &'a LinkBase,
    /// `fields[TYPE]`: a type absent from the map shows every field.
    pub fields: &'a BTreeMap<&'static str, BTreeSet<&'static str>>,
    /// Set when the client asked for authorization meta.
    pub meta_for: Option<&'a Principal>,
}

impl<'a> View<'a> {
    fn wants(&self, type_name: &str, field: &str) -> bool {
        self.fields
            .get(type_name)
            .is_none_or(|set| set.contains(field))
    }

    pub fn phone_number<'r>(
        &self,
        row: &'r PhoneNumberRow,
        prospect_owner: Option<i64>,
    ) -> Resource<'r>
    where
        'a: 'r,
    {
        let wants = |name| self.wants("phoneNumber", name);
        let mut attributes = Vec::with_capacity(13);
        let mut add = |name: &'static str, make: &dyn Fn() -> Attr<'r>| {
            if wants(name) {
                attributes.push((name, make()));
            }
        };
        add("number", &|| Attr::Str(&row.number));
        add("rawNumber", &|| Attr::Str(&row.raw_number));
        add("countryCode", &|| Attr::OptStr(row.country_code.as_deref()));
        add("extension", &|| Attr::OptStr(row.extension()));
        add("phoneType", &|| Attr::Str(&row.phone_type));
        add("order", &|| Attr::Int(i64::from(row.position)));
        add("status", &|| Attr::Str(&row.status));
        add("statusChangedAt", &|| Attr::Time(row.status_changed_at));
        add("source", &|| Attr::OptStr(row.source.as_deref()));
        add("formattedNumber", &|| Attr::Str(&row.formatted_number));
        add("lineType", &|| Attr::Str(&row.line_type));
        add("createdAt", &|| Attr::Time(row.created_at));
        add("updatedAt", &|| Attr::Time(row.updated_at));
        let mut relationships = Vec::with_capacity(1);
        if self.wants("phoneNumber", "prospect") {
            relationships.push((
                "prospect",
                Linkage::ToOne(Some(Identifier {
                    kind: "prospect",
                    id: row.prospect_id,
                })),
            ));
        }
        Resource {
            kind: PHONE_NUMBER,
            id: row.id,
            attributes,
            relationships,
            meta: self
                .meta_for
                .zip(prospect_owner)
                .map(|(principal, owner)| permissions::phone_number_meta(principal, owner)),
            base: self.base,
        }
    }

    /// A prospect with its numbers (all of them, in `order`).
    pub fn prospect<'r>(&self, row: &'r Prospect, numbers: &'r [ProspectPhone]) -> Resource<'r>
    where
        'a: 'r,
    {
        let text = |value: &'r Option<String>| Attr::OptStr(value.as_deref());
        let phones = |phone_type: PhoneType| {
            Attr::List(
                numbers
                    .iter()
                    .filter(|number| number.phone_type == phone_type)
                    .map(ProspectPhone::array_entry)
                    .collect(),
            )
        };
        let mut attributes = Vec::with_capacity(11);
        for (name, value) in [
            ("firstName", &row.first_name),
            ("lastName", &row.last_name),
            ("title", &row.title),
            ("company", &row.company),
        ] {
            if self.wants("prospect", name) {
                attributes.push((name, text(value)));
            }
        }
        for (name, phone_type) in [
            ("homePhones", PhoneType::Home),
            ("mobilePhones", PhoneType::Mobile),
            ("workPhones", PhoneType::Work),
            ("voipPhones", PhoneType::Voip),
            ("otherPhones", PhoneType::Other),
        ] {
            if self.wants("prospect", name) {
                attributes.push((name, phones(phone_type)));
            }
        }
        for (name, time) in [("createdAt", row.created_at), ("updatedAt", row.updated_at)] {
            if self.wants("prospect", name) {
                attributes.push((name, Attr::Time(time)));
            }
        }
        let mut relationships = Vec::with_capacity(2);
        if self.wants("prospect", "phoneNumbers") {
            relationships.push((
                "phoneNumbers",
                Linkage::ToMany(
                    numbers
                        .iter()
                        .map(|number| Identifier {
                            kind: "phoneNumber",
                            id: number.id,
                        })
                        .collect(),
                ),
            ));
        }
        if self.wants("prospect", "owner") {
            relationships.push((
                "owner",
                Linkage::ToOne(Some(Identifier {
                    kind: "user",
                    id: row.owner_id,
                })),
            ));
        }
        Resource {
            kind: PROSPECT,
            id: row.id,
            attributes,
            relationships,
            meta: self
                .meta_for
                .map(|principal| permissions::prospect_meta(principal, row.owner_id)),
            base: self.base,
        }
    }

    pub fn user<'r>(&self, row: &'r User) -> Resource<'r>
    where
        'a: 'r,
    {
        let mut attributes = Vec::with_capacity(5);
        for (name, value) in [
            ("name", Attr::Str(&row.name)),
            ("email", Attr::Str(&row.email)),
            ("role", Attr::Str(&row.role)),
            ("createdAt", Attr::Time(row.created_at)),
            ("updatedAt", Attr::Time(row.updated_at)),
        ] {
            if self.wants("user", name) {
                attributes.push((name, value));
            }
        }
        Resource {
            kind: USER,
            id: row.id,
            attributes,
            relationships: Vec::new(),
            meta: self.meta_for.map(permissions::user_meta),
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
    pub fn from_paths(paths: &[Vec<&'static str>]) -> Self {
        let has = |path: &[&str]| paths.iter().any(|candidate| candidate.as_slice() == path);
        Includes {
            prospect: has(&["prospect"]) || has(&["prospect", "owner"]),
            prospect_owner: has(&["prospect", "owner"]),
            phone_numbers: has(&["phoneNumbers"]),
            owner: has(&["owner"]),
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
