//! Views: model rows → JSON:API resource objects that borrow those rows (no string is copied),
//! honouring sparse fieldsets and adding authorization meta. Each type's attributes are one
//! exhaustive match over its field enum, its relationships one over the relationship enum. A
//! prospect's `*Phones` arrays and `phoneNumbers` linkage come with its row (`Prospect::phones`).

use std::collections::{BTreeMap, BTreeSet};

use super::served::WebhookState;
use crate::jsonapi::document::{
    Attr, AuthorizationMeta, Identifier, LinkBase, Linkage, Resource, ResourceType,
};
use crate::jsonapi::schema::{Field, Relationship as _};
use crate::models::shared::Shared;
use crate::models::{Change, PhoneNumberRow, Prospect, ProspectPhone, User};
use crate::permissions::{self, Principal};
use crate::schema::{
    ChangeField, PhoneNumberField, ProspectField, Relationship, UserField, WebhookField,
};

/// How resources are shown in one response.
pub struct View<'a> {
    pub base: &'a LinkBase,
    /// `fields[TYPE]`: a type absent from the map shows every field.
    pub fields: &'a BTreeMap<ResourceType, BTreeSet<&'static str>>,
    /// Set when the client asked for authorization meta.
    pub meta_for: Option<&'a Principal>,
    /// The relationships shown only on request that this response asks for (their linkage
    /// comes from the response's graph).
    pub on_request: Vec<Relationship>,
}

impl<'a> View<'a> {
    /// The view of a response that asks for nothing: every field of every type, no authorization
    /// meta, no relationship shown only on request (a webhook delivery, `/operations` results).
    pub fn plain(base: &'a LinkBase) -> Self {
        static EVERY_FIELD: BTreeMap<ResourceType, BTreeSet<&'static str>> = BTreeMap::new();
        View {
            base,
            fields: &EVERY_FIELD,
            meta_for: None,
            on_request: Vec::new(),
        }
    }
}

/// A row's value of each of its attributes (`None` for the id): one exhaustive match per type.
trait Attributes<'r, F: Field>: Copy {
    fn attr(self, field: F) -> Option<Attr<'r>>;
}

impl<'r> Attributes<'r, PhoneNumberField> for &'r PhoneNumberRow {
    #[inline]
    fn attr(self, field: PhoneNumberField) -> Option<Attr<'r>> {
        PhoneNumberRow::attr(self, field)
    }
}

/// A prospect with the numbers it shows (all of them, in `order`).
impl<'r> Attributes<'r, ProspectField> for (&'r Prospect, &'r [ProspectPhone]) {
    #[inline]
    fn attr(self, field: ProspectField) -> Option<Attr<'r>> {
        self.0.attr(self.1, field)
    }
}

impl<'r> Attributes<'r, UserField> for &'r User {
    #[inline]
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

impl<'r> Attributes<'r, ChangeField> for &'r Change {
    #[inline]
    fn attr(self, field: ChangeField) -> Option<Attr<'r>> {
        use ChangeField as F;
        Some(match field {
            F::Id => return None,
            F::Action => Attr::Str(&self.action),
            F::ResourceKind => Attr::Str(&self.resource_type),
            F::ResourceId => Attr::IdText(self.resource_id),
            F::ChangedFields => Attr::Json(Some(&self.changed_fields)),
            F::Before => Attr::Json(self.before_state.as_deref()),
            F::After => Attr::Json(self.after_state.as_deref()),
            F::OccurredAt => Attr::Time(self.occurred_at),
        })
    }
}

impl<'r> Attributes<'r, WebhookField> for &'r WebhookState {
    #[inline]
    fn attr(self, field: WebhookField) -> Option<Attr<'r>> {
        use WebhookField as F;
        let row = &self.webhook;
        Some(match field {
            F::Id => return None,
            F::Url => Attr::Str(&row.url),
            F::ResourceTypes => Attr::List(row.types().map(std::borrow::Cow::Borrowed).collect()),
            F::Active => Attr::Bool(row.active),
            F::Secret if self.shows_secret => Attr::Str(&row.secret),
            F::Secret => return None,
            F::LastDeliveryAt => Attr::OptTime(row.last_delivery_at),
            F::LastDeliveryStatus => Attr::OptInt(row.last_delivery_status.map(i64::from)),
            F::PendingDeliveries => Attr::Int(self.pending),
            F::FailedDeliveries => Attr::Int(row.failed_deliveries),
            F::CreatedAt => Attr::Time(row.created_at),
            F::UpdatedAt => Attr::Time(row.updated_at),
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
    /// Which members of `kind` the response shows (`fields[TYPE]`; all without one), with the
    /// fieldset looked up once for all of them.
    fn shows(&self, kind: ResourceType) -> impl Fn(&str) -> bool + '_ {
        let fieldset = self.fields.get(&kind);
        move |member| fieldset.is_none_or(|members| members.contains(member))
    }

    /// The attributes of `row` that the fieldset of `F`'s type asks for, in declaration order.
    fn attributes<'r, F: Field>(
        &self,
        row: impl Attributes<'r, F>,
    ) -> Vec<(&'static str, Attr<'r>)> {
        // Sized once: a page renders a few hundred of these, and growing each by doubling
        // costs more allocations than the attributes themselves.
        let mut attributes = Vec::with_capacity(F::ALL.len());
        let shows = self.shows(F::TYPE);
        for (&field, spec) in F::ALL.iter().zip(F::SPECS) {
            if !shows(spec.name) {
                continue;
            }
            if let Some(value) = row.attr(field) {
                attributes.push((spec.name, value));
            }
        }
        attributes
    }

    /// The relationships of `F`'s type that the fieldset asks for, with their linkage.
    fn relationships(
        &self,
        kind: ResourceType,
        linkage: impl Fn(Relationship) -> Linkage,
    ) -> Vec<(&'static str, Linkage)> {
        let (shows, mut relationships) = (self.shows(kind), Vec::new());
        for &rel in Relationship::ALL {
            let spec = rel.spec();
            let asked = !spec.on_request || self.on_request.contains(&rel);
            if spec.owner == kind && asked && shows(spec.name) {
                relationships.push((spec.name, linkage(rel)));
            }
        }
        relationships
    }

    /// A number, with the prospects it is shared with when its `sharedWith` is asked for.
    pub fn phone_number<'r>(
        &self,
        row: &'r PhoneNumberRow,
        prospect_owner: Option<i64>,
        shared: Option<&Shared>,
    ) -> Resource<'r>
    where
        'a: 'r,
    {
        let kind = ResourceType::PhoneNumber;
        let linkage = |rel| phone_number_linkage(row, shared, rel);
        Resource {
            kind,
            id: row.id,
            attributes: self.attributes::<PhoneNumberField>(row),
            relationships: self.relationships(kind, linkage),
            meta: self.meta_for.zip(prospect_owner).map(|(principal, owner)| {
                authorization(permissions::phone_number_meta(principal, owner))
            }),
            cursor: None,
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
            relationships: self.relationships(kind, |rel| prospect_linkage(row, numbers, rel)),
            meta: self.meta_for.map(|principal| {
                authorization(permissions::prospect_meta(principal, row.owner_id))
            }),
            cursor: None,
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
            cursor: None,
            base: self.base,
        }
    }
}

impl View<'_> {
    /// A change of the feed, with its cursor (`meta.page.cursor`) when given.
    pub fn change<'r>(&self, row: &'r Change, cursor: Option<String>) -> Resource<'r>
    where
        Self: 'r,
    {
        let kind = ResourceType::Change;
        Resource {
            kind,
            id: row.id,
            attributes: self.attributes::<ChangeField>(row),
            relationships: self.relationships(kind, |rel| change_linkage(row, rel)),
            meta: self
                .meta_for
                .map(|principal| authorization(permissions::user_meta(principal))),
            cursor,
            base: self.base,
        }
    }
}

impl View<'_> {
    /// A webhook (no relationships).
    pub fn webhook<'r>(&self, row: &'r WebhookState) -> Resource<'r>
    where
        Self: 'r,
    {
        Resource {
            kind: ResourceType::Webhook,
            id: row.webhook.id,
            attributes: self.attributes::<WebhookField>(row),
            relationships: Vec::new(),
            meta: (self.meta_for)
                .map(|principal| authorization(permissions::webhook_meta(principal))),
            cursor: None,
            base: self.base,
        }
    }
}

/// The linkage of a change's relationship (`actor`: null for the command line).
pub fn change_linkage(row: &Change, rel: Relationship) -> Linkage {
    match rel {
        Relationship::ChangeActor => Linkage::ToOne(row.actor_id.map(|id| Identifier {
            kind: ResourceType::User,
            id,
        })),
        other => unreachable!("{other:?} is not a relationship of change"),
    }
}

/// The linkage of a phone number's relationship, `shared` being whom it is shared with (nobody
/// when that was not loaded).
pub fn phone_number_linkage(
    row: &PhoneNumberRow,
    shared: Option<&Shared>,
    rel: Relationship,
) -> Linkage {
    match rel {
        Relationship::PhoneNumberProspect => Linkage::ToOne(Some(Identifier {
            kind: ResourceType::Prospect,
            id: row.prospect_id,
        })),
        Relationship::PhoneNumberSharedWith => {
            let shared = shared.cloned().unwrap_or_default();
            let first = (shared.first.iter())
                .map(|&id| Identifier {
                    kind: ResourceType::Prospect,
                    id,
                })
                .collect();
            Linkage::Sample {
                first,
                count: shared.count,
            }
        }
        Relationship::ProspectPhoneNumbers
        | Relationship::ProspectOwner
        | Relationship::ChangeActor => {
            unreachable!("{rel:?} is not a relationship of phoneNumber")
        }
    }
}

/// The linkage of a prospect's relationship, showing `numbers` as its numbers.
pub fn prospect_linkage(row: &Prospect, numbers: &[ProspectPhone], rel: Relationship) -> Linkage {
    match rel {
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
        Relationship::PhoneNumberProspect
        | Relationship::PhoneNumberSharedWith
        | Relationship::ChangeActor => {
            unreachable!("{rel:?} is not a relationship of prospect")
        }
    }
}
