//! The three resource types as the query language sees them (API.md section 2): which attributes
//! exist, which filter and sort, and the relationships. The query parser checks every parameter
//! against these tables.

use crate::domain::{LineType, PhoneType, Status};
use crate::jsonapi::query::{FieldKind, FieldSpec, RelSpec, ResourceSpec};
use crate::permissions::Role;

const fn field(
    name: &'static str,
    kind: FieldKind,
    filterable: bool,
    sortable: bool,
    nullable: bool,
) -> FieldSpec {
    FieldSpec {
        name,
        kind,
        filterable,
        sortable,
        nullable,
    }
}

use FieldKind::{DateTime, Int, PhoneNumber, Str};

pub static PHONE_NUMBER: ResourceSpec = ResourceSpec {
    type_name: "phoneNumber",
    attributes: &[
        field("number", PhoneNumber, true, true, false),
        field("rawNumber", Str, false, false, false),
        field("countryCode", Str, true, false, true),
        field("extension", Str, false, false, true),
        field(
            "phoneType",
            FieldKind::Enum(PhoneType::NAMES),
            true,
            true,
            false,
        ),
        field("order", Int, true, true, false),
        field("status", FieldKind::Enum(Status::NAMES), true, true, false),
        field("statusChangedAt", DateTime, true, true, false),
        field("source", Str, true, false, true),
        field("formattedNumber", Str, false, false, false),
        field(
            "lineType",
            FieldKind::Enum(LineType::NAMES),
            true,
            false,
            false,
        ),
        field("createdAt", DateTime, true, true, false),
        field("updatedAt", DateTime, true, true, false),
    ],
    relationships: &[RelSpec {
        name: "prospect",
        target: "prospect",
        to_many: false,
        filterable_by_id: true,
    }],
};

pub static PROSPECT: ResourceSpec = ResourceSpec {
    type_name: "prospect",
    attributes: &[
        field("firstName", Str, true, true, true),
        field("lastName", Str, true, true, true),
        field("title", Str, true, true, true),
        field("company", Str, true, true, true),
        field("homePhones", Str, false, false, false),
        field("mobilePhones", Str, false, false, false),
        field("workPhones", Str, false, false, false),
        field("voipPhones", Str, false, false, false),
        field("otherPhones", Str, false, false, false),
        field("createdAt", DateTime, true, true, false),
        field("updatedAt", DateTime, true, true, false),
    ],
    relationships: &[
        RelSpec {
            name: "phoneNumbers",
            target: "phoneNumber",
            to_many: true,
            filterable_by_id: false,
        },
        RelSpec {
            name: "owner",
            target: "user",
            to_many: false,
            filterable_by_id: true,
        },
    ],
};

pub static USER: ResourceSpec = ResourceSpec {
    type_name: "user",
    attributes: &[
        field("name", Str, false, true, false),
        field("email", Str, true, true, false),
        field("role", FieldKind::Enum(&Role::NAMES), true, false, false),
        field("createdAt", DateTime, false, true, false),
        field("updatedAt", DateTime, true, true, false),
    ],
    relationships: &[],
};

/// Every type, for `fields[TYPE]` and include paths.
pub static ALL: [&ResourceSpec; 3] = [&PHONE_NUMBER, &PROSPECT, &USER];

/// The include paths each type supports (API.md section 4); others are 400.
pub fn supported_includes(type_name: &str) -> &'static [&'static [&'static str]] {
    match type_name {
        "phoneNumber" => &[&["prospect"], &["prospect", "owner"]],
        "prospect" => &[&["phoneNumbers"], &["owner"]],
        _ => &[],
    }
}
