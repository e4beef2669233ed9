//! [`Graph`]: the rows a response shows besides its primary rows — the prospects of numbers (for
//! `include=prospect` or authorization meta), the numbers of prospects (`include=phoneNumbers`),
//! owners, whom numbers are shared with (`sharedWith`) — loaded with at most one query per include
//! level, never one per resource.

use std::collections::HashMap;

use diesel::QueryResult;

use super::shared::{Shared, Sharers, PER_STATEMENT};
use super::{in_order, unique, PhoneNumberRow, Prospect, ProspectPhone, User};
use crate::db::DbConnection;

/// What a response includes, from the parsed `include` paths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Includes {
    /// A number's prospect (`prospect`, and `prospect.owner`).
    pub prospect: bool,
    /// The owner of a number's prospect (`prospect.owner`).
    pub prospect_owner: bool,
    /// A prospect's numbers (`phoneNumbers`).
    pub phone_numbers: bool,
    /// A prospect's owner (`owner`).
    pub owner: bool,
    /// The prospects a number is shared with (`sharedWith`, and `sharedWith.owner`).
    pub shared_with: bool,
    /// Their owners (`sharedWith.owner`).
    pub shared_with_owner: bool,
}

/// What a response needs loaded besides its primary rows; `Copy`, so it can go into a database
/// closure on its own.
#[derive(Clone, Copy, Debug, Default)]
pub struct Needs {
    pub includes: Includes,
    /// Authorization meta, which needs each number's prospect owner.
    pub meta: bool,
    /// Numbers show `sharedWith` (`fields[phoneNumber]` or `include` names it).
    pub shared_with: bool,
}

impl Needs {
    /// Whether phone-number resources need their prospects: to include them, or for the owner
    /// that authorization meta is about.
    pub fn prospects_of_numbers(&self) -> bool {
        self.includes.prospect || self.meta
    }
}

/// Rows loaded for one response, in first-seen order for `included`.
#[derive(Default)]
pub struct Graph {
    pub prospects: Vec<Prospect>,
    /// Whole number rows per prospect id, in `order`: loaded only for `include=phoneNumbers`.
    numbers: HashMap<i64, Vec<PhoneNumberRow>>,
    /// What the prospects show of their numbers when `numbers` was loaded: taken from those rows
    /// rather than the prospect rows, which an earlier statement read, so that the linkage names
    /// exactly the numbers included.
    phones: HashMap<i64, Vec<ProspectPhone>>,
    pub users: Vec<User>,
    /// Whom the numbers shown are shared with, when they show `sharedWith`.
    sharers: Sharers,
    /// Those prospects' rows, once each in first-seen order, for `include=sharedWith`.
    pub sharing: Vec<Prospect>,
}

impl Graph {
    /// Loads what phone-number resources `rows` need: their prospects (for authorization meta or
    /// `include=prospect`) and, for `include=prospect.owner`, the prospects' owners. A listing
    /// reads the prospects with its page instead ([`Graph::with_prospects`]).
    pub fn for_phone_numbers(
        conn: &mut DbConnection,
        rows: &[PhoneNumberRow],
        needs: Needs,
    ) -> QueryResult<Self> {
        let prospects = if needs.prospects_of_numbers() {
            Prospect::of_numbers(conn, rows)?
        } else {
            Vec::new()
        };
        Self::with_prospects(conn, rows, prospects, needs)
    }

    /// What phone-number resources `rows` need, given their prospects (read with the numbers, or
    /// none when nothing needs them).
    pub fn with_prospects(
        conn: &mut DbConnection,
        rows: &[PhoneNumberRow],
        prospects: Vec<Prospect>,
        needs: Needs,
    ) -> QueryResult<Self> {
        let mut graph = Graph {
            prospects,
            ..Graph::default()
        };
        let includes = needs.includes;
        graph.load_sharers(conn, rows.iter().map(|row| row.id), needs)?;
        let own = graph.prospects.iter().filter(|_| includes.prospect_owner);
        let sharing = graph.sharing.iter().filter(|_| includes.shared_with_owner);
        let owners = unique(own.chain(sharing).map(|row| row.owner_id));
        if !owners.is_empty() {
            graph.users = in_order(&owners, User::by_ids(conn, &owners)?, |row| row.id);
        }
        Ok(graph)
    }

    /// Whom `numbers` are shared with, when they show `sharedWith` (one statement for a page of
    /// them), and those prospects' rows for `include=sharedWith` (one more per thousand).
    fn load_sharers(
        &mut self,
        conn: &mut DbConnection,
        numbers: impl Iterator<Item = i64>,
        needs: Needs,
    ) -> QueryResult<()> {
        if !(needs.shared_with || needs.includes.shared_with) {
            return Ok(());
        }
        // Collected only here: responses that do not show `sharedWith` allocate nothing for it.
        let numbers: Vec<i64> = numbers.collect();
        self.sharers = Sharers::of_numbers(conn, &numbers)?;
        if needs.includes.shared_with {
            let ids = self.sharers.prospect_ids(&numbers);
            let mut rows = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(PER_STATEMENT) {
                rows.extend(Prospect::by_ids(conn, chunk)?);
            }
            self.sharing = in_order(&ids, rows, |row| row.id);
        }
        Ok(())
    }

    /// Loads what prospect resources `rows` need: for `include=phoneNumbers` their numbers, and
    /// for `include=owner` their owners.
    pub fn for_prospects(
        conn: &mut DbConnection,
        rows: &[Prospect],
        needs: Needs,
    ) -> QueryResult<Self> {
        let includes = needs.includes;
        let mut graph = Graph {
            prospects: rows.to_vec(),
            ..Graph::default()
        };
        if includes.phone_numbers && !rows.is_empty() {
            let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
            graph.load_numbers(conn, &ids)?;
            // The included numbers show `sharedWith` when `fields[phoneNumber]` names it.
            let numbers: Vec<i64> = (rows.iter())
                .flat_map(|row| graph.numbers_of(row.id).iter().map(|number| number.id))
                .collect();
            graph.load_sharers(conn, numbers.into_iter(), needs)?;
        }
        if includes.owner {
            graph.load_owners(conn)?;
        }
        Ok(graph)
    }

    /// Whole rows of the prospects' numbers, for `include=phoneNumbers`, and what the prospects
    /// show of them.
    fn load_numbers(&mut self, conn: &mut DbConnection, prospect_ids: &[i64]) -> QueryResult<()> {
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

    fn load_owners(&mut self, conn: &mut DbConnection) -> QueryResult<()> {
        let ids = unique(self.prospects.iter().map(|row| row.owner_id));
        self.users = in_order(&ids, User::by_ids(conn, &ids)?, |row| row.id);
        Ok(())
    }

    /// The owner of a loaded prospect.
    pub fn owner_of(&self, prospect_id: i64) -> Option<i64> {
        self.prospects
            .iter()
            .find(|row| row.id == prospect_id)
            .map(|row| row.owner_id)
    }

    /// Whom number `id` is shared with, when that was loaded.
    pub fn shared_with(&self, id: i64) -> Option<&Shared> {
        self.sharers.of(id)
    }

    /// What a prospect shows of its numbers.
    pub fn phones_of<'a>(&'a self, prospect: &'a Prospect) -> &'a [ProspectPhone] {
        self.phones
            .get(&prospect.id)
            .map_or(&prospect.phones, Vec::as_slice)
    }

    /// The whole rows of a prospect's numbers, when `include=phoneNumbers` loaded them.
    pub fn numbers_of(&self, prospect_id: i64) -> &[PhoneNumberRow] {
        self.numbers.get(&prospect_id).map_or(&[], Vec::as_slice)
    }
}
