//! [`ResourceType`]: the closed set of resource types the service serves. Permissions grant scopes
//! per type, documents name the type of every resource object, and `crate::schema` declares each
//! type's fields and relationships.

use std::fmt;

/// A resource type of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ResourceType {
    PhoneNumber,
    Prospect,
    User,
    /// An entry of the change feed (read-only).
    Change,
    /// A subscription to the change feed, delivered over HTTP (admins only).
    Webhook,
}

impl ResourceType {
    /// Every type, in declaration order.
    pub const ALL: [ResourceType; 5] = [
        Self::PhoneNumber,
        Self::Prospect,
        Self::User,
        Self::Change,
        Self::Webhook,
    ];

    /// The types whose changes the feed records.
    pub const RECORDED: [ResourceType; 2] = [Self::PhoneNumber, Self::Prospect];

    /// The JSON:API type name (`phoneNumber`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::PhoneNumber => "phoneNumber",
            Self::Prospect => "prospect",
            Self::User => "user",
            Self::Change => "change",
            Self::Webhook => "webhook",
        }
    }

    /// The collection's path segment, which is also the scope prefix (`phoneNumbers`).
    pub const fn collection(self) -> &'static str {
        match self {
            Self::PhoneNumber => "phoneNumbers",
            Self::Prospect => "prospects",
            Self::User => "users",
            Self::Change => "changes",
            Self::Webhook => "webhooks",
        }
    }

    /// The type called `name` on the wire.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// The type whose collection is `collection` (a scope prefix, a path segment).
    pub fn with_collection(collection: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.collection() == collection)
    }
}

impl fmt::Display for ResourceType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::ResourceType;

    #[test]
    fn names_and_collections_round_trip() {
        for kind in ResourceType::ALL {
            assert_eq!(ResourceType::named(kind.name()), Some(kind));
            assert_eq!(ResourceType::with_collection(kind.collection()), Some(kind));
        }
        assert_eq!(ResourceType::named("phoneNumbers"), None);
    }
}
