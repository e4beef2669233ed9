//! The write rules of a phone number, shared by `/phoneNumbers`, the prospect's relationship
//! endpoints and `/operations`: reading a resource object into a create or an update, in the order
//! of checks API.md section 9 fixes (existence → record permission → validation → precondition).

use super::{Delete, Lids};
use crate::db::DbConnection;
use crate::domain::phone_number::{ExtensionInput, PhoneError, PhoneField, PhoneNumber};
use crate::domain::{PhoneType, Status};
use crate::errors::{ApiError, ApiResult, FieldError};
use crate::jsonapi::body::{self, Attributes, ResourceInput, Sent};
use crate::jsonapi::document::ResourceType;
use crate::jsonapi::schema::{Field as _, Relationship as _};
use crate::models::phone_number::{NewPhoneNumber, ParsedColumns, PhoneNumberChanges};
use crate::models::Journal;
use crate::models::{PhoneNumberRow, Prospect, Versioned};
use crate::permissions::{authorize, Action, Principal};
use crate::resources::conditional::Precondition;
use crate::resources::served::existing;
use crate::schema::{PhoneNumberField, Relationship};

/// Attribute values read from a write, not yet checked against the record.
struct Draft {
    number: Sent<String>,
    raw_number: Sent<String>,
    country_code: Sent<String>,
    extension: Sent<String>,
    phone_type: Sent<PhoneType>,
    status: Sent<Status>,
    source: Sent<String>,
    sms_opt_out: Sent<bool>,
    notes: Sent<String>,
    order: Sent<i64>,
    errors: Vec<FieldError>,
    /// The `prospect` relationship, when sent.
    prospect: Option<(serde_json::Value, String)>,
    /// Whether `sharedWith` was sent: read-only, so the write is refused (403).
    shared_with: bool,
}

impl Draft {
    /// Reads every attribute, keeping the 422s for after the existence and permission checks.
    fn read(input: &ResourceInput) -> Draft {
        use PhoneNumberField as F;
        let mut attributes = Attributes::<F>::new(input);
        let mut draft = Draft {
            number: attributes.required_string(F::Number, 255),
            raw_number: attributes.required_string(F::RawNumber, 255),
            country_code: attributes.string(F::CountryCode, 8),
            extension: attributes.string(F::Extension, 64),
            phone_type: attributes.enumeration(F::PhoneType, PhoneType::NAMES),
            status: attributes.enumeration(F::Status, Status::NAMES),
            source: attributes.string(F::Source, 255),
            sms_opt_out: attributes.boolean(F::SmsOptOut),
            notes: attributes.string(F::Notes, 2000),
            order: attributes.integer(F::Order),
            errors: Vec::new(),
            prospect: None,
            shared_with: false,
        };
        if matches!(draft.order, Sent::Value(order) if order < 0) {
            attributes.reject(F::Order, "`order` must be 0 or greater.");
        }
        draft.errors = attributes.into_errors();
        for (name, linkage) in &input.relationships {
            let pointer = format!(
                "{}/relationships/{}",
                input.pointer,
                body::pointer_token(name)
            );
            let rel = Relationship::named(ResourceType::PhoneNumber, name);
            if rel == Some(Relationship::PhoneNumberProspect) {
                draft.prospect = Some((linkage.clone(), pointer));
            } else if rel == Some(Relationship::PhoneNumberSharedWith) {
                draft.shared_with = true;
            } else {
                draft.errors.push(FieldError::new(
                    pointer,
                    format!("`{name}` is not a relationship of phoneNumber."),
                ));
            }
        }
        draft
    }

    /// The prospect a create or move names: 404 when it cannot exist; null is kept as a 422 for
    /// after the permission check.
    fn prospect_id(&mut self, lids: &Lids) -> ApiResult<Option<i64>> {
        let Some((linkage, pointer)) = &self.prospect else {
            return Ok(None);
        };
        if linkage.is_null() {
            self.errors.push(FieldError::new(
                pointer.clone(),
                "A phone number always belongs to a prospect; `prospect` may not be null.",
            ));
            return Ok(None);
        }
        let target = body::identifier(linkage, &format!("{pointer}/data"), ResourceType::Prospect)?;
        target
            .resolve(ResourceType::Prospect, &format!("{pointer}/data"), lids)
            .map(Some)
            .map_err(ApiError::from)
    }

    /// After the existence and permission checks: 403 when the write sends `sharedWith`.
    fn validated(self) -> ApiResult<Self> {
        if self.shared_with {
            let rel = Relationship::PhoneNumberSharedWith;
            return Err(ApiError::Forbidden(
                crate::resources::respond::read_only_detail(rel),
            ));
        }
        if self.errors.is_empty() {
            Ok(self)
        } else {
            Err(ApiError::Validation(self.errors))
        }
    }
}

/// Parses a number for storage; errors point at the attribute they concern.
fn parse(
    pointer: &str,
    input: (&str, PhoneNumberField),
    raw_number: String,
    hint: Option<&str>,
    region: &str,
    extension: ExtensionInput<'_>,
) -> ApiResult<ParsedColumns> {
    let (text, attribute) = input;
    PhoneNumber::parse(text, hint, region, extension)
        .map(|parsed| ParsedColumns {
            number: parsed.e164().to_owned(),
            raw_number,
            country_code: parsed.region().map(str::to_owned),
            extension: parsed.extension().unwrap_or_default().to_owned(),
            formatted_number: parsed.formatted().to_owned(),
            line_type: parsed.line_type().as_str().to_owned(),
        })
        .map_err(|PhoneError { field, detail }| {
            let attribute = match field {
                PhoneField::Input => attribute,
                PhoneField::CountryCode => PhoneNumberField::CountryCode,
                PhoneField::Extension => PhoneNumberField::Extension,
            };
            let name = attribute.name();
            ApiError::invalid(format!("{pointer}/attributes/{name}"), detail)
        })
}

fn extension_input(field: &Sent<String>) -> ExtensionInput<'_> {
    match field {
        Sent::Absent => ExtensionInput::Absent,
        Sent::Null => ExtensionInput::Null,
        Sent::Value(extension) => ExtensionInput::Given(extension),
    }
}

/// The owners of the prospects a run of creates names, each read once (prospect id → owner id).
pub type Owners = std::collections::HashMap<i64, i64>;

/// A create's attributes checked ahead of its transaction: they need nothing from the database,
/// and parsing the number is a good part of a create's work, which this keeps out of the write
/// lock. The outcome counts only where the checks in order reach it, after the prospect's 404 and
/// the record permission's 403; attributes that do not pass are checked again there, for their
/// error.
pub struct Checked {
    region: String,
    passed: Option<NewPhoneNumber>,
}

impl Checked {
    /// `input`'s attributes checked now, numbers without a country read in `region`.
    pub fn ahead(input: &ResourceInput, region: &str) -> Checked {
        let passed = prepare_attributes(input, region).ok();
        Checked {
            region: region.to_owned(),
            passed,
        }
    }

    /// Nothing checked yet: the attributes are checked at their place.
    pub fn later(region: &str) -> Checked {
        Checked {
            region: region.to_owned(),
            passed: None,
        }
    }
}

/// The number a create's resource object asks for: its prospect must exist (404), the caller may
/// add numbers to it (403), its attributes must hold (422), in that order. Writes nothing.
/// `owners` keeps the owners read so far.
pub fn prepare(
    conn: &mut DbConnection,
    principal: &Principal,
    input: &ResourceInput,
    (checked, lids): (&Checked, &Lids),
    owners: &mut Owners,
) -> ApiResult<NewPhoneNumber> {
    let mut draft = Draft::read(input);
    let Some(prospect_id) = draft.prospect_id(lids)? else {
        return Err(ApiError::invalid(
            format!("{}/relationships/prospect", input.pointer),
            "A phone number needs its `prospect` relationship.",
        ));
    };
    let owner_id = match owners.get(&prospect_id) {
        Some(owner_id) => *owner_id,
        None => {
            let owner_id = existing::<Prospect>(conn, prospect_id)?.owner_id;
            owners.insert(prospect_id, owner_id);
            owner_id
        }
    };
    authorize(
        principal,
        &Action::CreatePhoneNumber {
            prospect_owner_id: owner_id,
        },
    )?;
    match &checked.passed {
        Some(passed) => Ok(NewPhoneNumber {
            prospect_id,
            ..passed.clone()
        }),
        None => attributes_checked(draft, input, &checked.region, prospect_id),
    }
}

/// The checks of a create's attributes alone, for a resource object without relationships whose
/// prospect its caller finds, and whose record permission ([`Action::CreatePhoneNumber`]) it
/// checks first, such as the importer's rows. The number's `prospect_id` is 0 until then.
pub fn prepare_attributes(input: &ResourceInput, region: &str) -> ApiResult<NewPhoneNumber> {
    attributes_checked(Draft::read(input), input, region, 0)
}

/// The checks of the attributes (422), giving the number to create on prospect `prospect_id`.
fn attributes_checked(
    draft: Draft,
    input: &ResourceInput,
    region: &str,
    prospect_id: i64,
) -> ApiResult<NewPhoneNumber> {
    let draft = draft.validated()?;
    let (text, attribute) = match (&draft.number, &draft.raw_number) {
        (Sent::Value(number), _) => (number.as_str(), PhoneNumberField::Number),
        (_, Sent::Value(raw)) => (raw.as_str(), PhoneNumberField::RawNumber),
        _ => {
            return Err(ApiError::invalid(
                format!("{}/attributes/number", input.pointer),
                "A phone number needs `number` or `rawNumber`.",
            ))
        }
    };
    let raw_number = draft
        .raw_number
        .clone()
        .value()
        .unwrap_or_else(|| text.to_owned());
    let hint = draft.country_code.clone().value();
    let parsed = parse(
        &input.pointer,
        (text, attribute),
        raw_number,
        hint.as_deref(),
        region,
        extension_input(&draft.extension),
    )?;
    Ok(NewPhoneNumber {
        prospect_id,
        parsed,
        phone_type: draft
            .phone_type
            .value()
            .unwrap_or_default()
            .as_str()
            .to_owned(),
        status: draft.status.value().unwrap_or_default().as_str().to_owned(),
        source: draft.source.value(),
        sms_opt_out: draft.sms_opt_out.value().unwrap_or(false),
        notes: draft.notes.value(),
        order: draft.order.value(),
    })
}

/// Creates a phone number from a checked resource object.
pub fn create(
    conn: &mut DbConnection,
    journal: &mut Journal,
    principal: &Principal,
    input: &ResourceInput,
    checked: &Checked,
    lids: &Lids,
) -> ApiResult<PhoneNumberRow> {
    let new = prepare(conn, principal, input, (checked, lids), &mut Owners::new())?;
    Ok(PhoneNumberRow::create(conn, journal, &new)?)
}

/// Creates the phone numbers of `inputs`, in their order, with the outcome [`create`] one after
/// the other would have, in one batched write ([`PhoneNumberRow::create_many`]). The first input
/// refused, with its index, is the one [`create`] one by one would stop at: the inputs before it
/// are written first, and when the batch is refused (a duplicate) they are written again one by
/// one (the batch ran in a savepoint, rolled back) to find which.
pub fn create_many(
    conn: &mut DbConnection,
    journal: &mut Journal,
    principal: &Principal,
    inputs: &[(&ResourceInput, &Checked)],
    lids: &Lids,
) -> Result<Vec<PhoneNumberRow>, (usize, ApiError)> {
    let mut owners = Owners::new();
    super::create_run(
        conn,
        journal,
        inputs,
        |conn, (input, checked)| prepare(conn, principal, input, (checked, lids), &mut owners),
        PhoneNumberRow::create_many,
        PhoneNumberRow::create,
    )
}

/// Updates phone number `id` from a checked resource object (partial: absent members keep their
/// values; a `prospect` relationship moves the number). `region` reads numbers without a country
/// code, `lids` resolves local ids of `/operations`.
pub fn update(
    conn: &mut DbConnection,
    journal: &mut Journal,
    principal: &Principal,
    (id, input): (i64, &ResourceInput),
    (region, lids): (&str, &Lids),
    precondition: &Precondition,
) -> ApiResult<PhoneNumberRow> {
    let mut draft = Draft::read(input);
    let current = existing::<PhoneNumberRow>(conn, id)?;
    let target = draft.prospect_id(lids)?;
    authorize_change(conn, principal, &current, target)?;
    let draft = draft.validated()?;
    let reparse = [
        &draft.number,
        &draft.raw_number,
        &draft.country_code,
        &draft.extension,
    ]
    .iter()
    .any(|field| field.is_present());
    let parsed = if reparse {
        let new_input = match (&draft.number, &draft.raw_number) {
            (Sent::Value(number), _) => Some((number.as_str(), PhoneNumberField::Number)),
            (_, Sent::Value(raw)) => Some((raw.as_str(), PhoneNumberField::RawNumber)),
            _ => None,
        };
        let (text, attribute) =
            new_input.unwrap_or((current.raw_number.as_str(), PhoneNumberField::RawNumber));
        let raw_number = draft
            .raw_number
            .clone()
            .value()
            .unwrap_or_else(|| text.to_owned());
        let hint = match &draft.country_code {
            Sent::Absent => current.country_code.clone(),
            other => other.clone().value(),
        };
        // API.md section 9: the PATCH's `extension` when present (null removes it), else the one
        // in the *new* input, else the stored one. The stored rawNumber is not new input: an
        // extension it carries was applied (or replaced) when it was stored.
        let extension = match (&draft.extension, current.extension(), new_input) {
            (Sent::Absent, stored, None) => ExtensionInput::Exactly(stored),
            (Sent::Null, _, None) => ExtensionInput::Exactly(None),
            (Sent::Value(given), _, None) => ExtensionInput::Exactly(Some(given)),
            (Sent::Absent, Some(stored), Some(_)) => ExtensionInput::Fallback(stored),
            (field, _, _) => extension_input(field),
        };
        Some(parse(
            &input.pointer,
            (text, attribute),
            raw_number,
            hint.as_deref(),
            region,
            extension,
        )?)
    } else {
        None
    };
    let changes = PhoneNumberChanges {
        parsed,
        phone_type: draft
            .phone_type
            .value()
            .map(|value| value.as_str().to_owned()),
        status: draft.status.value().map(|value| value.as_str().to_owned()),
        source: draft.source.into_change(),
        sms_opt_out: draft.sms_opt_out.value(),
        notes: draft.notes.into_change(),
        order: draft.order.value(),
        prospect_id: target,
    };
    super::update(conn, journal, current, &changes, precondition)
}

/// The owner of the number's prospect, whose record permission a write of the number needs.
fn owner_of(conn: &mut DbConnection, number: &PhoneNumberRow) -> ApiResult<i64> {
    let prospect = Prospect::find(conn, number.prospect_id)?;
    Ok(prospect.map_or(0, |prospect| prospect.owner_id))
}

/// Record permission for changing `current`, and moving it when `target` names another prospect.
fn authorize_change(
    conn: &mut DbConnection,
    principal: &Principal,
    current: &PhoneNumberRow,
    target: Option<i64>,
) -> ApiResult<()> {
    let owner = owner_of(conn, current)?;
    match target.filter(|target| *target != current.prospect_id) {
        Some(target) => {
            let to = existing::<Prospect>(conn, target)?;
            authorize(
                principal,
                &Action::MovePhoneNumber {
                    from_owner_id: owner,
                    to_owner_id: to.owner_id,
                },
            )?;
        }
        None => authorize(
            principal,
            &Action::UpdatePhoneNumber {
                prospect_owner_id: owner,
            },
        )?,
    }
    Ok(())
}

/// Moves number `id` to `prospect_id` (appended to its list). A duplicate the move makes is a 422
/// at `linkage`, the pointer of the linkage that asked for it (`/data`, `/data/3`).
pub fn move_to(
    conn: &mut DbConnection,
    journal: &mut Journal,
    principal: &Principal,
    (id, prospect_id): (i64, i64),
    precondition: &Precondition,
    linkage: &str,
) -> ApiResult<PhoneNumberRow> {
    let current = existing::<PhoneNumberRow>(conn, id)?;
    authorize_change(conn, principal, &current, Some(prospect_id))?;
    let changes = PhoneNumberChanges {
        prospect_id: Some(prospect_id),
        ..PhoneNumberChanges::default()
    };
    // The model's refusal, not `super::update`'s answer: a duplicate the move makes points at the
    // linkage that asked for it.
    let expected = precondition.of_record(id);
    PhoneNumberRow::update(conn, journal, current, &changes, &expected)
        .map_err(ApiError::duplicate_at(linkage))
}

impl super::Deletable for PhoneNumberRow {
    const DELETE: Delete = <PhoneNumberRow as Versioned>::delete;

    fn authorize_delete(
        conn: &mut DbConnection,
        principal: &Principal,
        number: &PhoneNumberRow,
    ) -> ApiResult<()> {
        let prospect_owner_id = owner_of(conn, number)?;
        Ok(authorize(
            principal,
            &Action::DeletePhoneNumber { prospect_owner_id },
        )?)
    }
}

/// The move a to-one `prospect` linkage asks for (`PATCH /phoneNumbers/{id}/relationships/prospect`):
/// 404 for a number that does not exist, 422 for `null` (a number always has a prospect).
pub fn move_by_linkage(
    conn: &mut DbConnection,
    journal: &mut Journal,
    principal: &Principal,
    id: i64,
    target: Option<body::Target>,
    precondition: &Precondition,
) -> ApiResult<PhoneNumberRow> {
    existing::<PhoneNumberRow>(conn, id)?;
    let Some(target) = target else {
        return Err(ApiError::invalid(
            "/data",
            "A phone number always belongs to a prospect; `data` may not be null.",
        ));
    };
    let prospect_id = target.resolve(ResourceType::Prospect, "/data", &Lids::new())?;
    move_to(
        conn,
        journal,
        principal,
        (id, prospect_id),
        precondition,
        "/data",
    )
}

/// Moves the numbers `targets` names to prospect `prospect_id`, all or nothing (`POST
/// /prospects/{id}/relationships/phoneNumbers`) in the journal's transaction; those already on it
/// stay where they are.
pub fn move_all_to(
    conn: &mut DbConnection,
    journal: &mut Journal,
    principal: &Principal,
    prospect_id: i64,
    targets: &[body::Target],
) -> ApiResult<()> {
    use body::Target;
    existing::<Prospect>(conn, prospect_id)?;
    let known: Vec<i64> = targets
        .iter()
        .filter_map(|target| match target {
            Target::Id(number_id) => Some(*number_id),
            _ => None,
        })
        .collect();
    PhoneNumberRow::lock_lists_for_move(conn, journal, &known, prospect_id)?;
    for (index, target) in targets.iter().enumerate() {
        let number_id = match target {
            Target::Id(number_id) => *number_id,
            Target::Missing(raw) => {
                return Err(ApiError::not_found(
                    ResourceType::PhoneNumber,
                    raw.trim_matches('"'),
                ))
            }
            Target::Lid(lid) => return Err(ApiError::not_found(ResourceType::PhoneNumber, lid)),
        };
        let number = existing::<PhoneNumberRow>(conn, number_id)?;
        if number.prospect_id != prospect_id {
            let linkage = format!("/data/{index}");
            let ids = (number_id, prospect_id);
            move_to(conn, journal, principal, ids, &Precondition::None, &linkage)?;
        }
    }
    Ok(())
}
