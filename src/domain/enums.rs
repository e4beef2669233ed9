//! The closed vocabularies of the `phoneNumber` resource (API.md section 2):
//! `phoneType`, `status` and `lineType`.
//!
//! Each enum is `Copy`, knows its wire name (`as_str`, `Display`), lists all
//! of its values (`ALL`, and `NAMES` with the wire names in the same order)
//! and parses its wire name exactly (`FromStr`, case-sensitive: `MOBILE` is
//! not `mobile`, as the filter rules in API.md section 9 require).

use std::fmt;
use std::str::FromStr;

/// The error of a `FromStr` on one of the enums of this module: the text is
/// not one of the enum's wire names (see the enum's `NAMES` for the list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct UnknownVariant;

impl fmt::Display for UnknownVariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not one of the allowed values")
    }
}

impl std::error::Error for UnknownVariant {}

/// Generates a wire-named enum with `as_str`, `ALL`, `NAMES`, `FromStr`,
/// `Display` and (optionally) `Default`.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident $(default $default:ident)? {
            $( $(#[$vmeta:meta])* $variant:ident => $wire:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &[Self] = &[$(Self::$variant),+];
            /// The wire names of [`Self::ALL`], in the same order.
            pub const NAMES: &[&str] = &[$($wire),+];

            /// The wire name of this value (e.g. for JSON and the database).
            pub const fn as_str(&self) -> &'static str {
                match self {
                    $(Self::$variant => $wire,)+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownVariant;

            /// Parses a wire name exactly (case-sensitive, no trimming).
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($wire => Ok(Self::$variant),)+
                    _ => Err(UnknownVariant),
                }
            }
        }

        /// What a text column holds; anything but a wire name is an error.
        impl TryFrom<String> for $name {
            type Error = UnknownVariant;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        $(
            impl Default for $name {
                fn default() -> Self {
                    Self::$default
                }
            }
        )?
    };
}

wire_enum! {
    /// `phoneType`: what the number is used for, as the client says; default `other`.
    PhoneType default Other {
        /// `mobile`
        Mobile => "mobile",
        /// `work`
        Work => "work",
        /// `home`
        Home => "home",
        /// `voip`
        Voip => "voip",
        /// `other` (the default)
        Other => "other",
    }
}

wire_enum! {
    /// `status`: what is known about the number's reachability; default `unverified`.
    Status default Unverified {
        /// `unverified` (the default)
        Unverified => "unverified",
        /// `valid`
        Valid => "valid",
        /// `invalid`
        Invalid => "invalid",
        /// `do_not_call`
        DoNotCall => "do_not_call",
        /// `historic`
        Historic => "historic",
    }
}

wire_enum! {
    /// `lineType`: what the numbering plan (libphonenumber metadata) says the
    /// number is. Computed by the server, never written by clients.
    LineType {
        /// `mobile`
        Mobile => "mobile",
        /// `fixed_line`
        FixedLine => "fixed_line",
        /// `fixed_line_or_mobile`: the plan cannot tell the two apart (e.g. US).
        FixedLineOrMobile => "fixed_line_or_mobile",
        /// `toll_free`
        TollFree => "toll_free",
        /// `premium_rate`
        PremiumRate => "premium_rate",
        /// `shared_cost`
        SharedCost => "shared_cost",
        /// `voip`
        Voip => "voip",
        /// `personal_number`
        PersonalNumber => "personal_number",
        /// `pager`
        Pager => "pager",
        /// `uan` (universal access number)
        Uan => "uan",
        /// `voicemail`
        Voicemail => "voicemail",
        /// `unknown`: anything else.
        Unknown => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T>(all: &[T], names: &[&str])
    where
        T: Copy + PartialEq + fmt::Debug + fmt::Display + FromStr<Err = UnknownVariant>,
    {
        assert_eq!(all.len(), names.len());
        for (value, name) in all.iter().zip(names) {
            assert_eq!(value.to_string(), *name);
            assert_eq!(name.parse::<T>(), Ok(*value));
            assert_eq!(name.to_uppercase().parse::<T>(), Err(UnknownVariant));
            assert_eq!(format!(" {name}").parse::<T>(), Err(UnknownVariant));
        }
        assert_eq!("".parse::<T>(), Err(UnknownVariant));
    }

    #[test]
    fn round_trips() {
        round_trip(PhoneType::ALL, PhoneType::NAMES);
        round_trip(Status::ALL, Status::NAMES);
        round_trip(LineType::ALL, LineType::NAMES);
        for (v, n) in LineType::ALL.iter().zip(LineType::NAMES) {
            assert_eq!(v.as_str(), *n);
        }
    }

    #[test]
    fn contract_values() {
        assert_eq!(
            PhoneType::NAMES,
            ["mobile", "work", "home", "voip", "other"]
        );
        assert_eq!(
            Status::NAMES,
            ["unverified", "valid", "invalid", "do_not_call", "historic"]
        );
        assert_eq!(LineType::NAMES.len(), 12);
        assert_eq!(PhoneType::default(), PhoneType::Other);
        assert_eq!(Status::default(), Status::Unverified);
        assert_eq!("do_not_call".parse(), Ok(Status::DoNotCall));
        assert_eq!("MOBILE".parse::<PhoneType>(), Err(UnknownVariant));
    }
}
