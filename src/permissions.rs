//! Authorization: roles, OAuth-style scopes and the per-record permission rules of API.md
//! sections 5 and 9.
//!
//! Everything here is pure (no I/O, no database): the request handlers load whatever records
//! an action touches, describe the action as an [`Action`] and ask [`authorize`], which is the
//! single source of truth. The authorization meta of `provideAuthorizationMeta=true`
//! ([`phone_number_meta`], [`prospect_meta`], [`user_meta`]) is computed by asking
//! [`authorize`] about a PATCH and a DELETE of the record, so the two can never disagree.
//!
//! Rules, in the order they are applied:
//!
//! 1. **Scope** (403 `unauthorizedOauthScope`): GET needs `<kind>.read`, POST/PATCH
//!    `<kind>.write`, DELETE `<kind>.delete`, where `<kind>` is the type of the resource being
//!    read or written. Scopes are not additive (`write` does not grant `read`); `all` grants
//!    read, write and delete. Creating or moving a phone number needs `phoneNumbers.write`
//!    only, never a `prospects` scope. Every resource in a response (included ones too) needs
//!    the read scope of its own type.
//! 2. **Role** (403 `unauthorizedRequest`): `admin` may write and delete everything; `member`
//!    may write and delete the prospects it owns and their phone numbers (a move needs both
//!    prospects to be its own); `viewer` writes nothing. Only an admin may set or change a
//!    prospect's owner (a member creating a prospect with itself as the owner is not "setting"
//!    it). Everyone holding the read scope reads everything.
//!
//! Handlers that must answer scope errors before loading the record (API.md order of checks:
//! scope 403, then 404, then role 403) call [`require_scope`] early and [`authorize`] once the
//! record is loaded; [`authorize`] checks the scope again, which is harmless.

use std::fmt;
use std::str::FromStr;

// ---------------------------------------------------------------------------------------------
// Roles
// ---------------------------------------------------------------------------------------------

/// A user's role, stored as its lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// May write and delete everything, and is the only role that may set or change an owner.
    Admin,
    /// May write and delete the prospects it owns and their phone numbers.
    Member,
    /// Reads only.
    Viewer,
}

impl Role {
    /// Every role's wire/database name, in declaration order.
    pub const NAMES: [&'static str; 3] = ["admin", "member", "viewer"];

    /// Every role, in the order of [`Role::NAMES`].
    pub const ALL: [Role; 3] = [Role::Admin, Role::Member, Role::Viewer];

    /// The wire/database name: `"admin"`, `"member"` or `"viewer"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error of [`Role::from_str`]: the string is not one of [`Role::NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}` (expected one of: {names})", names = Role::NAMES.join(", "))]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    /// Parses an exact, case-sensitive role name.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

// ---------------------------------------------------------------------------------------------
// Scopes
// ---------------------------------------------------------------------------------------------

pub use crate::domain::ResourceType;

/// Whether a scope on `kind` may grant `access` (`users` has only `read`; changes have no scopes
/// of their own: each is read with the read scope of the type it changed).
const fn supports(kind: ResourceType, access: Access) -> bool {
    !matches!(
        (kind, access),
        (ResourceType::User, Access::Write | Access::Delete) | (ResourceType::Change, _)
    )
}

/// The type's bit group in a [`Scopes`] set.
const fn kind_index(kind: ResourceType) -> u32 {
    match kind {
        ResourceType::PhoneNumber => 0,
        ResourceType::Prospect => 1,
        ResourceType::User => 2,
        ResourceType::Webhook => 3,
        // No scope names it (`supports`); its bits are never set.
        ResourceType::Change => 4,
    }
}

/// The kind of access a scope grants: GET needs `Read`, POST/PATCH `Write`, DELETE `Delete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Access {
    /// `.read`: GET.
    Read,
    /// `.write`: POST and PATCH.
    Write,
    /// `.delete`: DELETE.
    Delete,
}

impl Access {
    /// Every access, in declaration order.
    pub const ALL: [Access; 3] = [Access::Read, Access::Write, Access::Delete];

    /// The scope suffix: `"read"`, `"write"`, `"delete"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Access::Read => "read",
            Access::Write => "write",
            Access::Delete => "delete",
        }
    }

    const fn index(self) -> u32 {
        match self {
            Access::Read => 0,
            Access::Write => 1,
            Access::Delete => 2,
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One single permission, e.g. `phoneNumbers.read`. Displays in the scope grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scope {
    /// The resource type.
    pub resource: ResourceType,
    /// The access granted on it.
    pub access: Access,
}

impl Scope {
    /// A scope from its parts.
    pub const fn new(resource: ResourceType, access: Access) -> Self {
        Scope { resource, access }
    }

    const fn bit(self) -> u16 {
        1 << (kind_index(self.resource) * 3 + self.access.index())
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.resource.collection(), self.access.as_str())
    }
}

/// Error of [`Scopes::parse`]: a token that is not a known scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope `{0}` (known scopes: {known})", known = Scopes::KNOWN.join(", "))]
pub struct UnknownScope(pub String);

/// The set of scopes a token carries: a small bitset plus the scope names as stored.
///
/// Parsed from the space-separated string stored with the token (for example
/// `"prospects.all phoneNumbers.read users.read"`). The names are kept so that the entry
/// point's `meta.scopes` can list them as stored ([`Scopes::names`]); exact duplicate tokens
/// are kept once and runs of whitespace collapse, so [`Scopes::as_str`] is the string to
/// store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes {
    bits: u16,
    names: String,
}

impl Scopes {
    /// Every scope name the grammar accepts.
    pub const KNOWN: [&'static str; 14] = [
        "prospects.read",
        "prospects.write",
        "prospects.delete",
        "prospects.all",
        "phoneNumbers.read",
        "phoneNumbers.write",
        "phoneNumbers.delete",
        "phoneNumbers.all",
        "users.read",
        "users.all",
        "webhooks.read",
        "webhooks.write",
        "webhooks.delete",
        "webhooks.all",
    ];

    /// What a token created without `--scopes` carries: every permission on phone numbers,
    /// prospects and users (`users.read` is all there is on users), none on webhooks (the
    /// bootstrap token has those too).
    pub const DEFAULT_FOR_NEW_TOKEN: &'static str = "prospects.all phoneNumbers.all users.read";

    /// No scope at all.
    pub fn empty() -> Self {
        Scopes {
            bits: 0,
            names: String::new(),
        }
    }

    /// Every scope on every type: the bootstrap admin's token, and the command line's writes.
    pub const EVERY: &'static str = "prospects.all phoneNumbers.all users.all webhooks.all";

    /// See [`Scopes::EVERY`].
    pub fn every() -> Self {
        Self::parse(Self::EVERY).expect("every scope parses")
    }

    /// `prospects.all phoneNumbers.all users.read`: see [`Scopes::DEFAULT_FOR_NEW_TOKEN`].
    pub fn default_for_new_token() -> Self {
        Self::parse(Self::DEFAULT_FOR_NEW_TOKEN).expect("the default scopes parse")
    }

    /// Parses a space-separated (any ASCII whitespace) list of scope names. Tokens are
    /// case-sensitive. `kind.all` grants read, write and delete on `kind`; `users` has only
    /// `read` and `all` (`users.write` and `users.delete` are unknown scopes). Duplicates are
    /// accepted. An empty string parses to the empty set (callers creating tokens may want to
    /// reject that with [`Scopes::is_empty`]).
    ///
    /// # Errors
    /// [`UnknownScope`] naming the first token that is not in [`Scopes::KNOWN`].
    pub fn parse(s: &str) -> Result<Self, UnknownScope> {
        let mut bits = 0u16;
        let mut kept: Vec<&str> = Vec::new();
        for token in s.split_ascii_whitespace() {
            bits |= Self::token_bits(token).ok_or_else(|| UnknownScope(token.to_owned()))?;
            if !kept.contains(&token) {
                kept.push(token);
            }
        }
        Ok(Scopes {
            bits,
            names: kept.join(" "),
        })
    }

    fn token_bits(token: &str) -> Option<u16> {
        let (prefix, suffix) = token.split_once('.')?;
        let kind = ResourceType::with_collection(prefix)?;
        if suffix == "all" {
            let bits = Access::ALL
                .into_iter()
                .filter(|a| supports(kind, *a))
                .fold(0, |acc, a| acc | Scope::new(kind, a).bit());
            return (bits != 0).then_some(bits);
        }
        let access = Access::ALL.into_iter().find(|a| a.as_str() == suffix)?;
        supports(kind, access).then_some(Scope::new(kind, access).bit())
    }

    /// Whether the set grants `scope`.
    pub const fn contains(&self, scope: Scope) -> bool {
        self.bits & scope.bit() != 0
    }

    /// Whether the set grants `access` on `kind`.
    pub const fn allows(&self, kind: ResourceType, access: Access) -> bool {
        self.contains(Scope::new(kind, access))
    }

    /// Whether the set grants nothing.
    pub const fn is_empty(&self) -> bool {
        self.bits == 0
    }

    /// Every single scope the set grants (`all` expanded), in a fixed order.
    pub fn granted(&self) -> impl Iterator<Item = Scope> + '_ {
        ResourceType::ALL
            .into_iter()
            .flat_map(|k| Access::ALL.into_iter().map(move |a| Scope::new(k, a)))
            .filter(|s| self.contains(*s))
    }

    /// The scope names as stored (for `meta.scopes`), in their original order, each once.
    pub fn names(&self) -> impl Iterator<Item = &str> + '_ {
        self.names.split(' ').filter(|n| !n.is_empty())
    }

    /// The names joined by single spaces: the string to store with a token.
    pub fn as_str(&self) -> &str {
        &self.names
    }
}

impl FromStr for Scopes {
    type Err = UnknownScope;

    /// Same as [`Scopes::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scopes::parse(s)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.names)
    }
}

// ---------------------------------------------------------------------------------------------
// Authorization
// ---------------------------------------------------------------------------------------------

/// The authenticated caller: the token's user and the token's scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The user's id.
    pub user_id: i64,
    /// The user's role.
    pub role: Role,
    /// The token's scopes.
    pub scopes: Scopes,
}

/// What a request does, with the owner of each prospect it touches (loaded by the caller).
///
/// Reads of any kind are [`Action::Read`]; every resource in a response needs one (an
/// `include=prospect` on phone numbers also needs `Read(Prospects)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// GET of any resource of this kind (primary, related or included).
    Read(ResourceType),
    /// POST /prospects. `owner_id` is the owner named in the body, or the caller when the body
    /// names none. Needs `prospects.write`; a member only with itself as the owner.
    CreateProspect {
        /// The owner the new prospect will have.
        owner_id: i64,
    },
    /// PATCH /prospects/{id}. Needs `prospects.write`.
    UpdateProspect {
        /// The prospect's current owner.
        owner_id: i64,
        /// The body names an owner *different from the current one* (admins only). Re-sending
        /// the current owner, as clients that send the whole record back do, is not a change.
        changes_owner: bool,
    },
    /// DELETE /prospects/{id}. Needs `prospects.delete`.
    DeleteProspect {
        /// The prospect's owner.
        owner_id: i64,
    },
    /// POST /phoneNumbers. Needs `phoneNumbers.write` (no prospects scope).
    CreatePhoneNumber {
        /// The owner of the prospect the number is created on.
        prospect_owner_id: i64,
    },
    /// PATCH /phoneNumbers/{id} without a change of prospect. Needs `phoneNumbers.write`.
    UpdatePhoneNumber {
        /// The owner of the number's prospect.
        prospect_owner_id: i64,
    },
    /// A number moved to another prospect (PATCH /phoneNumbers/{id} with a new `prospect`,
    /// PATCH /phoneNumbers/{id}/relationships/prospect, POST
    /// /prospects/{id}/relationships/phoneNumbers: one action per number). Needs
    /// `phoneNumbers.write` (no prospects scope); a member must own both prospects.
    MovePhoneNumber {
        /// The owner of the prospect the number leaves.
        from_owner_id: i64,
        /// The owner of the prospect the number joins.
        to_owner_id: i64,
    },
    /// DELETE /phoneNumbers/{id}. Needs `phoneNumbers.delete`.
    DeletePhoneNumber {
        /// The owner of the number's prospect.
        prospect_owner_id: i64,
    },
    /// PATCH /prospects/{id}/relationships/owner: admins only, whatever the new owner.
    /// Needs `prospects.write`.
    ChangeOwner {
        /// The prospect's current owner.
        owner_id: i64,
    },
    /// Any request to `/webhooks`: admins only. Needs `webhooks.read` (GET), `webhooks.write`
    /// (POST, PATCH) or `webhooks.delete` (DELETE).
    ManageWebhooks(Access),
}

impl Action {
    /// The scope the action needs.
    pub const fn required_scope(&self) -> Scope {
        use Access::{Delete, Read, Write};
        use ResourceType::{PhoneNumber as PhoneNumbers, Prospect as Prospects};
        match *self {
            Action::Read(kind) => Scope::new(kind, Read),
            Action::CreateProspect { .. }
            | Action::UpdateProspect { .. }
            | Action::ChangeOwner { .. } => Scope::new(Prospects, Write),
            Action::DeleteProspect { .. } => Scope::new(Prospects, Delete),
            Action::CreatePhoneNumber { .. }
            | Action::UpdatePhoneNumber { .. }
            | Action::MovePhoneNumber { .. } => Scope::new(PhoneNumbers, Write),
            Action::DeletePhoneNumber { .. } => Scope::new(PhoneNumbers, Delete),
            Action::ManageWebhooks(access) => Scope::new(ResourceType::Webhook, access),
        }
    }

    /// The role rule alone (scopes aside).
    fn role_allows(&self, user_id: i64, role: Role) -> bool {
        let own = |owner: i64| owner == user_id;
        match (role, *self) {
            (_, Action::Read(_)) => true,
            (Role::Admin, _) => true,
            (_, Action::ManageWebhooks(_)) => false,
            (Role::Viewer, _) => false,
            (Role::Member, action) => match action {
                Action::Read(_) => true,
                Action::CreateProspect { owner_id } | Action::DeleteProspect { owner_id } => {
                    own(owner_id)
                }
                Action::UpdateProspect {
                    owner_id,
                    changes_owner,
                } => own(owner_id) && !changes_owner,
                Action::CreatePhoneNumber { prospect_owner_id }
                | Action::UpdatePhoneNumber { prospect_owner_id }
                | Action::DeletePhoneNumber { prospect_owner_id } => own(prospect_owner_id),
                Action::MovePhoneNumber {
                    from_owner_id,
                    to_owner_id,
                } => own(from_owner_id) && own(to_owner_id),
                Action::ChangeOwner { .. } | Action::ManageWebhooks(_) => false,
            },
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The token lacks this scope.
    MissingScope(Scope),
    /// The caller's role does not allow this on this record.
    Role,
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::MissingScope(scope) => {
                write!(f, "this token lacks the `{scope}` scope")
            }
            Denial::Role => f.write_str("your role does not allow this on this resource"),
        }
    }
}

impl std::error::Error for Denial {}

/// The scope check alone: done early, before the record is loaded (scope 403 comes before 404
/// and before the role 403).
///
/// # Errors
/// [`Denial::MissingScope`] when the token lacks `kind.access`.
pub fn require_scope(
    principal: &Principal,
    kind: ResourceType,
    access: Access,
) -> Result<(), Denial> {
    if kind == ResourceType::Change {
        // The feed is open to a token that may read any type it records; each change in it then
        // needs the read scope of its own type (`readable_changes`).
        return match readable_changes(principal).first() {
            Some(_) if access == Access::Read => Ok(()),
            _ => Err(Denial::MissingScope(Scope::new(
                ResourceType::RECORDED[0],
                Access::Read,
            ))),
        };
    }
    let scope = Scope::new(kind, access);
    if principal.scopes.contains(scope) {
        Ok(())
    } else {
        Err(Denial::MissingScope(scope))
    }
}

/// The single source of truth: may `principal` do `action`? Scope first, then role.
///
/// # Errors
/// [`Denial::MissingScope`] for a missing scope, else [`Denial::Role`] when the role forbids it.
pub fn authorize(principal: &Principal, action: &Action) -> Result<(), Denial> {
    let scope = action.required_scope();
    require_scope(principal, scope.resource, scope.access)?;
    if action.role_allows(principal.user_id, principal.role) {
        Ok(())
    } else {
        Err(Denial::Role)
    }
}

/// `meta: {canWrite, canDelete}` of one resource object for the caller
/// (`provideAuthorizationMeta=true`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthorizationMeta {
    /// What [`authorize`] answers for a PATCH of the record.
    pub can_write: bool,
    /// What [`authorize`] answers for a DELETE of the record.
    pub can_delete: bool,
}

/// Authorization meta of a phone number whose prospect is owned by `prospect_owner_id`.
pub fn phone_number_meta(p: &Principal, prospect_owner_id: i64) -> AuthorizationMeta {
    AuthorizationMeta {
        can_write: authorize(p, &Action::UpdatePhoneNumber { prospect_owner_id }).is_ok(),
        can_delete: authorize(p, &Action::DeletePhoneNumber { prospect_owner_id }).is_ok(),
    }
}

/// Authorization meta of a prospect owned by `owner_id` (a PATCH that keeps the owner).
pub fn prospect_meta(p: &Principal, owner_id: i64) -> AuthorizationMeta {
    AuthorizationMeta {
        can_write: authorize(
            p,
            &Action::UpdateProspect {
                owner_id,
                changes_owner: false,
            },
        )
        .is_ok(),
        can_delete: authorize(p, &Action::DeleteProspect { owner_id }).is_ok(),
    }
}

/// Authorization meta of a webhook.
pub fn webhook_meta(p: &Principal) -> AuthorizationMeta {
    AuthorizationMeta {
        can_write: authorize(p, &Action::ManageWebhooks(Access::Write)).is_ok(),
        can_delete: authorize(p, &Action::ManageWebhooks(Access::Delete)).is_ok(),
    }
}

/// The types whose changes `principal` may read: those it has the read scope of.
pub fn readable_changes(principal: &Principal) -> Vec<ResourceType> {
    (ResourceType::RECORDED.into_iter())
        .filter(|kind| principal.scopes.allows(*kind, Access::Read))
        .collect()
}

/// Authorization meta of a user: users are read-only over the API, so both are false.
pub fn user_meta(_p: &Principal) -> AuthorizationMeta {
    AuthorizationMeta {
        can_write: false,
        can_delete: false,
    }
}

// ---------------------------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------------------------

#[cfg(test)]
mod tests {
    use super::*;
    use Access::{Delete, Read, Write};
    use ResourceType::{PhoneNumber as PhoneNumbers, Prospect as Prospects, User as Users};

    const ME: i64 = 1;
    const OTHER: i64 = 2;
    const THIRD: i64 = 3;

    fn principal(role: Role, scopes: &str) -> Principal {
        Principal {
            user_id: ME,
            role,
            scopes: Scopes::parse(scopes).unwrap(),
        }
    }

    fn every_single_scope() -> Vec<Scope> {
        ResourceType::ALL
            .into_iter()
            .flat_map(|k| Access::ALL.into_iter().map(move |a| Scope::new(k, a)))
            .filter(|s| supports(s.resource, s.access))
            .collect()
    }

    fn scopes_string(scopes: &[Scope]) -> String {
        scopes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// One row: an action and whether admin / member / viewer may do it (role rule only).
    struct Row {
        action: Action,
        admin: bool,
        member: bool,
        viewer: bool,
    }

    fn row(action: Action, admin: bool, member: bool, viewer: bool) -> Row {
        Row {
            action,
            admin,
            member,
            viewer,
        }
    }

    /// The whole role × action × ownership table, written out by hand from API.md.
    fn table() -> Vec<Row> {
        let mut rows = Vec::new();
        // Reading changes has a rule of its own (`changes_are_read_with_the_scope_of_their_type`).
        for kind in ResourceType::ALL
            .into_iter()
            .filter(|k| *k != ResourceType::Change)
        {
            rows.push(row(Action::Read(kind), true, true, true));
        }
        // Each row: the action, then whether an admin, a member and a viewer may do it.
        for (owner, member) in [(ME, true), (OTHER, false)] {
            let (owner_id, prospect_owner_id) = (owner, owner);
            #[rustfmt::skip]
            rows.extend([
                row(Action::CreateProspect { owner_id }, true, member, false),
                row(Action::UpdateProspect { owner_id, changes_owner: false }, true, member, false),
                row(Action::UpdateProspect { owner_id, changes_owner: true }, true, false, false),
                row(Action::DeleteProspect { owner_id }, true, member, false),
                row(Action::ChangeOwner { owner_id }, true, false, false),
                row(Action::CreatePhoneNumber { prospect_owner_id }, true, member, false),
                row(Action::UpdatePhoneNumber { prospect_owner_id }, true, member, false),
                row(Action::DeletePhoneNumber { prospect_owner_id }, true, member, false),
            ]);
        }
        for (from, to, member) in [
            (ME, ME, true),
            (ME, OTHER, false),
            (OTHER, ME, false),
            (OTHER, OTHER, false),
            (OTHER, THIRD, false),
        ] {
            let (from_owner_id, to_owner_id) = (from, to);
            let action = Action::MovePhoneNumber {
                from_owner_id,
                to_owner_id,
            };
            rows.push(row(action, true, member, false));
        }
        rows
    }

    /// Scope sets to try for an action needing `required`: none, exactly it, everything but
    /// it, everything, and each other single scope alone.
    fn scope_sets(required: Scope) -> Vec<Vec<Scope>> {
        let all = every_single_scope();
        let mut sets = vec![
            vec![],
            vec![required],
            all.iter().copied().filter(|s| *s != required).collect(),
            all.clone(),
        ];
        sets.extend(all.iter().filter(|s| **s != required).map(|s| vec![*s]));
        sets
    }

    #[test]
    fn required_scopes() {
        let cases = [
            (Action::Read(PhoneNumbers), Scope::new(PhoneNumbers, Read)),
            (Action::Read(Prospects), Scope::new(Prospects, Read)),
            (Action::Read(Users), Scope::new(Users, Read)),
            (
                Action::CreateProspect { owner_id: ME },
                Scope::new(Prospects, Write),
            ),
            (
                Action::UpdateProspect {
                    owner_id: ME,
                    changes_owner: true,
                },
                Scope::new(Prospects, Write),
            ),
            (
                Action::ChangeOwner { owner_id: ME },
                Scope::new(Prospects, Write),
            ),
            (
                Action::DeleteProspect { owner_id: ME },
                Scope::new(Prospects, Delete),
            ),
            (
                Action::CreatePhoneNumber {
                    prospect_owner_id: ME,
                },
                Scope::new(PhoneNumbers, Write),
            ),
            (
                Action::UpdatePhoneNumber {
                    prospect_owner_id: ME,
                },
                Scope::new(PhoneNumbers, Write),
            ),
            (
                Action::MovePhoneNumber {
                    from_owner_id: ME,
                    to_owner_id: OTHER,
                },
                Scope::new(PhoneNumbers, Write),
            ),
            (
                Action::DeletePhoneNumber {
                    prospect_owner_id: ME,
                },
                Scope::new(PhoneNumbers, Delete),
            ),
        ];
        for (action, scope) in cases {
            assert_eq!(action.required_scope(), scope, "{action:?}");
        }
    }

    #[test]
    fn full_matrix() {
        let mut checked = 0;
        for r in table() {
            let required = r.action.required_scope();
            for set in scope_sets(required) {
                for (role, role_ok) in [
                    (Role::Admin, r.admin),
                    (Role::Member, r.member),
                    (Role::Viewer, r.viewer),
                ] {
                    let p = principal(role, &scopes_string(&set));
                    let expected = if !set.contains(&required) {
                        Err(Denial::MissingScope(required))
                    } else if !role_ok {
                        Err(Denial::Role)
                    } else {
                        Ok(())
                    };
                    assert_eq!(
                        authorize(&p, &r.action),
                        expected,
                        "{role:?} with [{}] doing {:?}",
                        p.scopes,
                        r.action
                    );
                    // require_scope agrees with the scope half of authorize.
                    assert_eq!(
                        require_scope(&p, required.resource, required.access).is_ok(),
                        set.contains(&required)
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 500, "{checked}");
    }

    #[test]
    fn scope_is_checked_before_role() {
        let viewer = principal(Role::Viewer, "prospects.read");
        assert_eq!(
            authorize(&viewer, &Action::DeleteProspect { owner_id: OTHER }),
            Err(Denial::MissingScope(Scope::new(Prospects, Delete)))
        );
        let member = principal(Role::Member, "phoneNumbers.read");
        assert_eq!(
            authorize(
                &member,
                &Action::MovePhoneNumber {
                    from_owner_id: OTHER,
                    to_owner_id: OTHER
                }
            ),
            Err(Denial::MissingScope(Scope::new(PhoneNumbers, Write)))
        );
    }

    #[test]
    fn creating_or_moving_a_number_needs_no_prospects_scope() {
        let member = principal(Role::Member, "phoneNumbers.write");
        assert_eq!(
            authorize(
                &member,
                &Action::CreatePhoneNumber {
                    prospect_owner_id: ME
                }
            ),
            Ok(())
        );
        assert_eq!(
            authorize(
                &member,
                &Action::MovePhoneNumber {
                    from_owner_id: ME,
                    to_owner_id: ME
                }
            ),
            Ok(())
        );
        let admin = principal(Role::Admin, "phoneNumbers.write");
        assert_eq!(
            authorize(
                &admin,
                &Action::MovePhoneNumber {
                    from_owner_id: OTHER,
                    to_owner_id: THIRD
                }
            ),
            Ok(())
        );
    }

    #[test]
    fn changes_are_read_with_the_scope_of_their_type() {
        for role in Role::ALL {
            for (scopes, readable) in [
                ("phoneNumbers.read", vec![PhoneNumbers]),
                ("prospects.all users.read", vec![Prospects]),
                (
                    "prospects.read phoneNumbers.all",
                    vec![PhoneNumbers, Prospects],
                ),
                ("users.read webhooks.all prospects.write", vec![]),
            ] {
                let p = principal(role, scopes);
                assert_eq!(readable_changes(&p), readable, "{scopes}");
                let feed = authorize(&p, &Action::Read(ResourceType::Change));
                assert_eq!(feed.is_ok(), !readable.is_empty(), "{scopes}");
            }
        }
        assert!(Scopes::parse("changes.read").is_err());
        assert!(Scopes::parse("changes.all").is_err());
    }

    #[test]
    fn webhooks_are_for_admins_with_the_scope() {
        for access in Access::ALL {
            let action = Action::ManageWebhooks(access);
            let scope = format!("webhooks.{access}");
            assert_eq!(authorize(&principal(Role::Admin, &scope), &action), Ok(()));
            assert_eq!(
                authorize(&principal(Role::Admin, "webhooks.all"), &action),
                Ok(())
            );
            for role in [Role::Member, Role::Viewer] {
                let denied = authorize(&principal(role, "webhooks.all"), &action);
                assert_eq!(denied, Err(Denial::Role));
            }
            let missing = authorize(&principal(Role::Admin, "prospects.all"), &action);
            assert_eq!(
                missing,
                Err(Denial::MissingScope(Scope::new(
                    ResourceType::Webhook,
                    access
                )))
            );
        }
    }

    #[test]
    fn reads_need_only_the_read_scope_for_every_role() {
        let scoped = || {
            ResourceType::ALL
                .into_iter()
                .filter(|k| *k != ResourceType::Change)
        };
        for role in Role::ALL {
            for kind in scoped() {
                let p = principal(role, &format!("{}.read", kind.collection()));
                assert_eq!(authorize(&p, &Action::Read(kind)), Ok(()));
                for other in scoped().filter(|k| *k != kind) {
                    assert_eq!(
                        authorize(&p, &Action::Read(other)),
                        Err(Denial::MissingScope(Scope::new(other, Read)))
                    );
                }
            }
        }
    }

    #[test]
    fn non_additive_write_does_not_grant_read() {
        let p = principal(Role::Admin, "prospects.write prospects.delete");
        assert_eq!(
            authorize(&p, &Action::Read(Prospects)),
            Err(Denial::MissingScope(Scope::new(Prospects, Read)))
        );
        assert_eq!(
            require_scope(&p, Prospects, Read),
            Err(Denial::MissingScope(Scope::new(Prospects, Read)))
        );
        assert_eq!(require_scope(&p, Prospects, Write), Ok(()));
        let p = principal(Role::Admin, "prospects.read");
        assert!(require_scope(&p, Prospects, Write).is_err());
        assert!(require_scope(&p, Prospects, Delete).is_err());
    }

    #[test]
    fn meta_is_exactly_what_authorize_answers() {
        let mut sets: Vec<Vec<Scope>> = vec![vec![], every_single_scope()];
        sets.extend(every_single_scope().into_iter().map(|s| vec![s]));
        sets.push(vec![Scope::new(PhoneNumbers, Write)]);
        sets.push(vec![
            Scope::new(PhoneNumbers, Read),
            Scope::new(PhoneNumbers, Delete),
        ]);
        for set in sets {
            for role in Role::ALL {
                let p = principal(role, &scopes_string(&set));
                for owner in [ME, OTHER] {
                    let pm = phone_number_meta(&p, owner);
                    assert_eq!(
                        pm.can_write,
                        authorize(
                            &p,
                            &Action::UpdatePhoneNumber {
                                prospect_owner_id: owner
                            }
                        )
                        .is_ok()
                    );
                    assert_eq!(
                        pm.can_delete,
                        authorize(
                            &p,
                            &Action::DeletePhoneNumber {
                                prospect_owner_id: owner
                            }
                        )
                        .is_ok()
                    );
                    let m = prospect_meta(&p, owner);
                    assert_eq!(
                        m.can_write,
                        authorize(
                            &p,
                            &Action::UpdateProspect {
                                owner_id: owner,
                                changes_owner: false
                            }
                        )
                        .is_ok()
                    );
                    assert_eq!(
                        m.can_delete,
                        authorize(&p, &Action::DeleteProspect { owner_id: owner }).is_ok()
                    );
                }
                assert_eq!(
                    user_meta(&p),
                    AuthorizationMeta {
                        can_write: false,
                        can_delete: false
                    }
                );
            }
        }
    }

    #[test]
    fn meta_spot_checks() {
        let yes = AuthorizationMeta {
            can_write: true,
            can_delete: true,
        };
        let no = AuthorizationMeta {
            can_write: false,
            can_delete: false,
        };
        let full = Scopes::DEFAULT_FOR_NEW_TOKEN;
        let admin = principal(Role::Admin, full);
        let member = principal(Role::Member, full);
        let viewer = principal(Role::Viewer, full);
        assert_eq!(prospect_meta(&admin, OTHER), yes);
        assert_eq!(phone_number_meta(&admin, OTHER), yes);
        assert_eq!(prospect_meta(&member, ME), yes);
        assert_eq!(phone_number_meta(&member, ME), yes);
        assert_eq!(prospect_meta(&member, OTHER), no);
        assert_eq!(phone_number_meta(&member, OTHER), no);
        assert_eq!(prospect_meta(&viewer, ME), no);
        assert_eq!(phone_number_meta(&viewer, ME), no);
        assert_eq!(user_meta(&admin), no);
        let partial = principal(Role::Admin, "phoneNumbers.read phoneNumbers.write");
        assert_eq!(
            phone_number_meta(&partial, ME),
            AuthorizationMeta {
                can_write: true,
                can_delete: false
            }
        );
        assert_eq!(prospect_meta(&partial, ME), no);
    }

    #[test]
    fn denials_say_what_is_missing() {
        let d = Denial::MissingScope(Scope::new(PhoneNumbers, Read));
        assert!(d.to_string().contains("phoneNumbers.read"), "{d}");
        assert!(!Denial::Role.to_string().is_empty());
    }

    // ---- scope parsing -------------------------------------------------------------------

    fn granted(s: &str) -> Vec<String> {
        Scopes::parse(s)
            .unwrap()
            .granted()
            .map(|s| s.to_string())
            .collect()
    }

    #[test]
    fn parse_single_and_all() {
        assert_eq!(granted("phoneNumbers.read"), ["phoneNumbers.read"]);
        assert_eq!(
            granted("prospects.all"),
            ["prospects.read", "prospects.write", "prospects.delete"]
        );
        assert_eq!(granted("users.all"), ["users.read"]);
        assert_eq!(granted("users.read"), ["users.read"]);
        assert_eq!(
            granted("phoneNumbers.all prospects.write users.read"),
            [
                "phoneNumbers.read",
                "phoneNumbers.write",
                "phoneNumbers.delete",
                "prospects.write",
                "users.read"
            ]
        );
    }

    #[test]
    fn parse_every_known_name() {
        for name in Scopes::KNOWN {
            let s = Scopes::parse(name).unwrap();
            assert!(!s.is_empty(), "{name}");
            assert_eq!(s.as_str(), name);
        }
    }

    #[test]
    fn parse_is_not_additive() {
        let s = Scopes::parse("prospects.write").unwrap();
        assert!(s.allows(Prospects, Write));
        assert!(!s.allows(Prospects, Read));
        assert!(!s.allows(Prospects, Delete));
        let s = Scopes::parse("prospects.delete").unwrap();
        assert!(!s.allows(Prospects, Read));
        assert!(!s.allows(Prospects, Write));
    }

    #[test]
    fn parse_rejects_unknown_scopes_naming_them() {
        for bad in [
            "users.write",
            "users.delete",
            "prospects",
            "prospects.",
            ".read",
            "prospects.READ",
            "Prospects.read",
            "phonenumbers.read",
            "phoneNumbers.read.extra",
            "prospects,read",
            "*",
            "phoneNumbers.read,prospects.read",
        ] {
            let err = Scopes::parse(&format!("prospects.read {bad}")).unwrap_err();
            assert_eq!(err, UnknownScope(bad.to_owned()));
            assert!(err.to_string().contains(bad), "{err}");
            assert!(bad.parse::<Scopes>().is_err());
        }
    }

    #[test]
    fn parse_duplicates_and_whitespace() {
        let s = Scopes::parse("  prospects.read\tprospects.read   users.read \n").unwrap();
        assert_eq!(s.as_str(), "prospects.read users.read");
        assert_eq!(
            s.names().collect::<Vec<_>>(),
            ["prospects.read", "users.read"]
        );
        assert_eq!(s.to_string(), "prospects.read users.read");
        // Overlapping but different names are both kept as stored.
        let s = Scopes::parse("prospects.all prospects.read").unwrap();
        assert_eq!(
            s.names().collect::<Vec<_>>(),
            ["prospects.all", "prospects.read"]
        );
        assert_eq!(s, Scopes::parse("prospects.all  prospects.read").unwrap());
    }

    #[test]
    fn parse_empty() {
        for empty in ["", "   ", "\t\n"] {
            let s = Scopes::parse(empty).unwrap();
            assert!(s.is_empty());
            assert_eq!(s.names().count(), 0);
            assert_eq!(s, Scopes::empty());
        }
    }

    #[test]
    fn default_for_new_token() {
        let s = Scopes::default_for_new_token();
        assert_eq!(s.as_str(), "prospects.all phoneNumbers.all users.read");
        assert_eq!(
            s.names().collect::<Vec<_>>(),
            ["prospects.all", "phoneNumbers.all", "users.read"]
        );
        for scope in every_single_scope() {
            let webhooks = scope.resource == ResourceType::Webhook;
            assert_eq!(s.contains(scope), !webhooks, "{scope}");
        }
        assert_eq!(s.granted().count(), 7);
    }

    #[test]
    fn roles_round_trip() {
        for (role, name) in Role::ALL.into_iter().zip(Role::NAMES) {
            assert_eq!(role.as_str(), name);
            assert_eq!(role.to_string(), name);
            assert_eq!(name.parse::<Role>(), Ok(role));
        }
        for bad in ["", "Admin", "ADMIN", "owner", " admin"] {
            let err = bad.parse::<Role>().unwrap_err();
            assert_eq!(err, UnknownRole(bad.to_owned()));
            assert!(err.to_string().contains("admin, member, viewer"));
        }
    }

    #[test]
    fn scope_display() {
        assert_eq!(
            Scope::new(PhoneNumbers, Read).to_string(),
            "phoneNumbers.read"
        );
        assert_eq!(
            Scope::new(Prospects, Delete).to_string(),
            "prospects.delete"
        );
        assert_eq!(Scope::new(Users, Read).to_string(), "users.read");
    }
}
