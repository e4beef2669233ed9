//! The domain module owns the value types that carry invariants: a value of
//! one of these types has been checked once, at the edge, and is correct by
//! construction afterwards ("parse, don't validate").
//!
//! - [`phone_number`]: [`PhoneNumber`], a parsed, valid, E.164-normalised
//!   phone number with its region, extension, formatted form and line type.
//! - [`resource_type`]: [`ResourceType`], the closed set of resource types.
//! - [`enums`]: the closed vocabularies of the `phoneNumber` resource
//!   ([`PhoneType`], [`Status`], [`LineType`]).
//! - [`webhook_url`]: the URLs a webhook may be delivered to, as a check and
//!   as the pattern the OpenAPI document states.
//!
//! Nothing here depends on the rest of the crate (only `std` and the
//! `phonenumber` crate).

pub mod enums;
pub mod phone_number;
pub mod resource_type;
pub mod webhook_url;

pub use enums::{LineType, PhoneType, Status, UnknownVariant};
pub use phone_number::{
    is_valid_region, normalize_filter_value, ExtensionInput, PhoneError, PhoneField, PhoneNumber,
};
pub use resource_type::ResourceType;
