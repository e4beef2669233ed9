//! `phonebook import FILE.csv` (API.md section 14): one row per phone number, each row checked and
//! written by the same write rules as `POST /phoneNumbers` and `POST /prospects` (so the same
//! normalisation and the same words), in batches of one transaction each; rejected rows go to
//! `FILE.rejected.csv` with their line and reason, and the import goes on.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use csv::{ByteRecord, Position};
use serde_json::{Map, Value};

use crate::db::{DbConnection, TransactionError};
use crate::domain::ResourceType;
use crate::errors::ApiError;
use crate::jsonapi::body::ResourceInput;
use crate::jsonapi::schema::{Field as _, Relationship as _};
use crate::models::phone_number::NewPhoneNumber;
use crate::models::prospect::NewProspect;
use crate::models::{recorded, Journal, PhoneNumberRow, Prospect};
use crate::permissions::{authorize, Action, Principal, Role, Scopes};
use crate::resources::served::existing;
use crate::resources::writes::{phone_number, prospect, Lids};
use crate::schema::{PhoneNumberField, ProspectField, Relationship};

/// Rows per transaction: large enough that commits are a small part of an import, small enough
/// that Ctrl-C stops soon and a batch's rows are few to hold.
pub const BATCH_ROWS: usize = 1000;

/// The prospect columns an import reads, besides `prospectId`.
const PROSPECT_COLUMNS: [ProspectField; 5] = [
    ProspectField::ExternalId,
    ProspectField::FirstName,
    ProspectField::LastName,
    ProspectField::Title,
    ProspectField::Company,
];

/// The number columns an import reads: the writable attributes of a phone number but `order`
/// (rows are appended in file order).
pub const NUMBER_COLUMNS: [PhoneNumberField; 9] = [
    PhoneNumberField::Number,
    PhoneNumberField::RawNumber,
    PhoneNumberField::CountryCode,
    PhoneNumberField::Extension,
    PhoneNumberField::PhoneType,
    PhoneNumberField::Status,
    PhoneNumberField::Source,
    PhoneNumberField::SmsOptOut,
    PhoneNumberField::Notes,
];

/// The column naming an existing prospect by its id.
pub const PROSPECT_ID: &str = "prospectId";

/// One column of an import file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    Prospect(ProspectField),
    ProspectId,
    Number(PhoneNumberField),
}

impl Column {
    /// Every column, in the order an export writes them.
    pub fn all() -> impl Iterator<Item = Column> {
        let prospect = PROSPECT_COLUMNS.into_iter().map(Column::Prospect);
        let number = NUMBER_COLUMNS.into_iter().map(Column::Number);
        prospect.chain([Column::ProspectId]).chain(number)
    }

    pub fn name(self) -> &'static str {
        match self {
            Column::Prospect(field) => field.name(),
            Column::ProspectId => PROSPECT_ID,
            Column::Number(field) => field.name(),
        }
    }

    fn named(name: &str) -> Option<Column> {
        Column::all().find(|column| column.name() == name)
    }
}

/// What `phonebook import` was asked to do.
#[derive(Clone, Debug)]
pub struct Options {
    pub path: PathBuf,
    pub dry_run: bool,
    /// The region for numbers written without `+` whose row has no `countryCode`.
    pub region: String,
    /// The user imported prospects belong to.
    pub owner_id: i64,
}

/// What an import did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Rows accepted (whether they created something or found their prospect already there).
    pub imported: u64,
    pub rejected: u64,
    pub prospects_created: u64,
    pub numbers_created: u64,
    /// Whether Ctrl-C stopped the import before the end of the file.
    pub interrupted: bool,
}

/// Why an import could not run at all; nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {detail}; nothing was imported")]
    NotAnImportFile { path: String, detail: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Csv(#[from] csv::Error),
    #[error("{0}")]
    Database(#[from] ApiError),
}

/// Where a rejected row's report goes: `x.rejected.csv` beside `x.csv`.
pub fn report_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .map_or_else(Default::default, |stem| stem.to_os_string());
    let mut name = stem;
    name.push(".rejected.csv");
    path.with_file_name(name)
}

/// A file's header: which column each field of a row is.
struct Header {
    columns: Vec<Column>,
    names: ByteRecord,
}

impl Header {
    /// The first record as a header row: known column names only, each once, and a prospect
    /// column among them.
    fn read(record: Option<ByteRecord>) -> Result<Header, String> {
        let Some(names) = record else {
            return Err("the file is empty: it needs a header row naming its columns".into());
        };
        let mut columns = Vec::new();
        for raw in names.iter() {
            let name = std::str::from_utf8(raw)
                .map_err(|_| "the first line is not text: this is not a CSV file".to_owned())?;
            let name = name.trim().trim_start_matches('\u{feff}');
            let column = Column::named(name).ok_or_else(|| {
                let known: Vec<_> = Column::all().map(Column::name).collect();
                format!(
                    "the first line is not a header row: `{name}` is not a column (columns: {})",
                    known.join(", ")
                )
            })?;
            if columns.contains(&column) {
                return Err(format!("the header names `{name}` twice"));
            }
            columns.push(column);
        }
        let prospect_column = |column: &Column| {
            matches!(
                column,
                Column::ProspectId | Column::Prospect(ProspectField::ExternalId)
            )
        };
        if !columns.iter().any(prospect_column) {
            let external_id = ProspectField::ExternalId.name();
            return Err(format!(
                "the header names neither `{external_id}` nor `{PROSPECT_ID}`: a row needs one"
            ));
        }
        Ok(Header { columns, names })
    }
}

/// One data row, read as text, or why it cannot be read.
struct Row {
    line: u64,
    raw: ByteRecord,
    values: Vec<(Column, String)>,
    unreadable: Option<String>,
    /// The row's number with its attributes checked and parsed as its create would check them
    /// (the reader's work, done while the previous batch is written), or why they fail; `None`
    /// for a row without one.
    number: Option<Result<NewPhoneNumber, String>>,
}

impl Row {
    fn value(&self, wanted: Column) -> Option<&str> {
        let found = self.values.iter().find(|(column, _)| *column == wanted);
        found
            .map(|(_, value)| value.as_str())
            .filter(|value| !value.is_empty())
    }

    fn external_id(&self) -> Option<&str> {
        self.value(Column::Prospect(ProspectField::ExternalId))
    }

    fn has_number(&self) -> bool {
        let number = |column: &(Column, String)| matches!(column.0, Column::Number(_));
        self.values
            .iter()
            .any(|value| number(value) && !value.1.is_empty())
    }
}

/// A row that cannot be read as a row of the header's columns.
fn unreadable(record: &ByteRecord, header: &Header) -> Option<String> {
    if record.len() != header.columns.len() {
        return Some(format!(
            "the line has {} fields where the header has {}",
            record.len(),
            header.columns.len()
        ));
    }
    record
        .iter()
        .any(|field| std::str::from_utf8(field).is_err())
        .then(|| "the line is not valid UTF-8".to_owned())
}

/// Runs the import; `stop` (set by Ctrl-C) ends it after the batch being written.
pub fn run(
    conn: &mut DbConnection,
    options: &Options,
    stop: &AtomicBool,
    progress: &dyn Fn(&Summary, u64),
) -> Result<Summary, ImportError> {
    let not_import = |detail: String| ImportError::NotAnImportFile {
        path: options.path.display().to_string(),
        detail,
    };
    let file = File::open(&options.path)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(BufReader::new(file));
    let mut first = ByteRecord::new();
    let header =
        Header::read(reader.read_byte_record(&mut first)?.then_some(first)).map_err(not_import)?;
    // Flexible: a rejected line keeps its own fields, however many it has.
    let report_file = File::create(report_path(&options.path))?;
    let mut report = csv::WriterBuilder::new()
        .flexible(true)
        .from_writer(report_file);
    let mut report_header = ByteRecord::from(vec!["line", "reason"]);
    report_header.extend(header.names.iter());
    report.write_byte_record(&report_header)?;
    let mut importer = Importer::new(options);
    // The file is read, and its numbers parsed, on a thread of its own while the batch before is
    // written: parsing is a good part of a row's cost.
    let (batches, written) = std::sync::mpsc::sync_channel(1);
    std::thread::scope(|scope| {
        let reading = RowReader {
            header: &header,
            region: &options.region,
        };
        scope.spawn(move || reading.read_batches(reader, &batches));
        for batch in written {
            let batch: ReadBatch = batch?;
            let last = batch.last;
            if !batch.rows.is_empty() {
                importer.write_batch(conn, &mut report, batch.rows)?;
                progress(&importer.summary, batch.end);
            }
            if last {
                break;
            }
            if stop.load(Ordering::SeqCst) {
                importer.summary.interrupted = true;
                break;
            }
        }
        // Leaving the loop drops the receiver: the reading thread stops at its next batch.
        Ok::<_, ImportError>(())
    })?;
    report.flush()?;
    Ok(importer.summary)
}

/// Rows read from the file, and the byte offset they end at.
struct ReadBatch {
    rows: Vec<Row>,
    end: u64,
    /// Whether the file ends with this batch.
    last: bool,
}

/// The reading side of an import: records into rows, a batch at a time.
struct RowReader<'a> {
    header: &'a Header,
    region: &'a str,
}

impl RowReader<'_> {
    /// Sends the file's rows in batches of [`BATCH_ROWS`] until the file ends, a record cannot be
    /// read, or the receiving side is gone.
    fn read_batches(
        &self,
        mut reader: csv::Reader<BufReader<File>>,
        batches: &std::sync::mpsc::SyncSender<Result<ReadBatch, csv::Error>>,
    ) {
        let mut record = ByteRecord::new();
        loop {
            let mut rows = Vec::with_capacity(BATCH_ROWS);
            let mut more = true;
            while more && rows.len() < BATCH_ROWS {
                match reader.read_byte_record(&mut record) {
                    Ok(true) => {
                        let line = record.position().map_or(0, Position::line);
                        rows.push(self.row(line, &record));
                    }
                    Ok(false) => more = false,
                    Err(error) => {
                        let _ = batches.send(Err(error));
                        return;
                    }
                }
            }
            let end = reader.position().byte();
            let batch = ReadBatch {
                rows,
                end,
                last: !more,
            };
            if batches.send(Ok(batch)).is_err() || !more {
                return;
            }
        }
    }

    fn row(&self, line: u64, record: &ByteRecord) -> Row {
        let unreadable = unreadable(record, self.header);
        let text = |field: &[u8]| String::from_utf8_lossy(field).trim().to_owned();
        let values = match unreadable {
            Some(_) => Vec::new(),
            None => (self.header.columns.iter().copied())
                .zip(record.iter().map(text))
                .collect(),
        };
        let mut row = Row {
            line,
            raw: record.clone(),
            values,
            unreadable,
            number: None,
        };
        if row.unreadable.is_none() && row.has_number() {
            // Its prospect, and so the record permission, are the batch's to know.
            let input = number_input(&row, None);
            let prepared = phone_number::prepare_attributes(&input, self.region);
            row.number = Some(prepared.map_err(|error| error.reason()));
        }
        row
    }
}

/// What carries over from row to row.
struct Importer<'a> {
    options: &'a Options,
    principal: Principal,
    summary: Summary,
}

/// A batch that must not be kept: a dry run's, or a batched write the database refused (written
/// again row by row).
#[derive(Debug)]
enum Batch {
    Failed(ApiError),
    DryRun,
    Refused,
}

impl From<ApiError> for Batch {
    fn from(error: ApiError) -> Self {
        Batch::Failed(error)
    }
}

impl From<diesel::result::Error> for Batch {
    fn from(error: diesel::result::Error) -> Self {
        Batch::Failed(error.into())
    }
}

impl TransactionError for Batch {
    fn is_contention(&self) -> bool {
        matches!(self, Batch::Failed(error) if error.is_contention())
    }
}

impl<'a> Importer<'a> {
    fn new(options: &'a Options) -> Self {
        // The operator runs the command line: every scope, and the admin's rules.
        let principal = Principal {
            user_id: options.owner_id,
            role: Role::Admin,
            scopes: Scopes::every(),
        };
        Importer {
            options,
            principal,
            summary: Summary::default(),
        }
    }

    fn reject(
        &mut self,
        report: &mut csv::Writer<File>,
        line: u64,
        record: &ByteRecord,
        reason: &str,
    ) -> Result<(), ImportError> {
        self.summary.rejected += 1;
        let line = line.to_string();
        let mut out = ByteRecord::from(vec![line.as_bytes(), reason.as_bytes()]);
        out.extend(record.iter());
        Ok(report.write_byte_record(&out)?)
    }

    /// Writes a batch in one transaction that records its changes (actor null: the command
    /// line), each row in a savepoint of its own; a dry run rolls the whole batch back.
    fn write_batch(
        &mut self,
        conn: &mut DbConnection,
        report: &mut csv::Writer<File>,
        rows: Vec<Row>,
    ) -> Result<(), ImportError> {
        let mut outcomes = Vec::with_capacity(rows.len());
        let written = recorded(conn, None, |conn, journal| {
            let batched = journal.savepoint(conn, |conn, journal| {
                self.write_batched(conn, journal, &rows)
            });
            match batched {
                Ok(batched) => outcomes = batched,
                Err(Batch::Refused) => self.write_one_by_one(conn, journal, &rows, &mut outcomes),
                Err(error) => return Err(error),
            }
            if self.options.dry_run {
                Err(Batch::DryRun)
            } else {
                Ok(())
            }
        });
        match written {
            Ok(()) | Err(Batch::DryRun) => {}
            Err(Batch::Failed(error)) => return Err(error.into()),
            Err(Batch::Refused) => unreachable!("a refused batch is written again row by row"),
        }
        for (row, outcome) in rows.iter().zip(outcomes) {
            match outcome {
                Ok(created) => {
                    self.summary.imported += 1;
                    self.summary.prospects_created += u64::from(created.prospect);
                    self.summary.numbers_created += u64::from(created.number);
                }
                Err(reason) => self.reject(report, row.line, &row.raw, &reason)?,
            }
        }
        Ok(())
    }

    /// The batch in a few statements: every row checked first (a row refused by a check is
    /// rejected and writes nothing, as one by one), then one batched create of the new prospects
    /// and one of the numbers ([`Prospect::create_many`], [`PhoneNumberRow::create_many`]), which
    /// write and record what the rows one by one would. [`Batch::Refused`] when the database
    /// refuses the batch (a duplicate): only writing the rows one by one tells which.
    fn write_batched(
        &self,
        conn: &mut DbConnection,
        journal: &mut Journal,
        rows: &[Row],
    ) -> Result<Vec<Outcome>, Batch> {
        let readable = rows.iter().filter(|row| row.unreadable.is_none());
        let mut seen = std::collections::HashSet::new();
        let wanted: Vec<&str> = (readable.filter_map(Row::external_id))
            .filter(|external_id| seen.insert(*external_id))
            .collect();
        let known: HashMap<String, (i64, i64)> = Prospect::by_external_ids(conn, &wanted)?
            .into_iter()
            .map(|(external_id, id, owner)| (external_id, (id, owner)))
            .collect();
        // Prospects by id (`prospectId` rows), with their owners, read once each.
        let mut owners = HashMap::new();
        let mut new_prospects: Vec<NewProspect> = Vec::new();
        let mut pending: HashMap<&str, usize> = HashMap::new();
        let mut numbers: Vec<(NewPhoneNumber, Target)> = Vec::new();
        let mut plans = Vec::with_capacity(rows.len());
        for row in rows {
            if let Some(reason) = &row.unreadable {
                plans.push(Err(reason.clone()));
                continue;
            }
            let plan = (|| {
                let (target, owner, creates) = match row.external_id() {
                    Some(external_id) => match (known.get(external_id), pending.get(external_id)) {
                        (Some(&(id, owner)), _) => (Target::Stored(id), owner, None),
                        (None, Some(&index)) => {
                            (Target::New(index), new_prospects[index].owner_id, None)
                        }
                        (None, None) => {
                            let input = self.prospect_input(row);
                            let new = prospect::prepare(conn, &self.principal, &input)?;
                            let index = new_prospects.len();
                            (Target::New(index), new.owner_id, Some((external_id, new)))
                        }
                    },
                    None => {
                        let id = Self::prospect_id(row)?;
                        let owner = match owners.get(&id) {
                            Some(owner) => *owner,
                            None => {
                                let owner = existing::<Prospect>(conn, id)?.owner_id;
                                *owners.entry(id).or_insert(owner)
                            }
                        };
                        (Target::Stored(id), owner, None)
                    }
                };
                let number = match &row.number {
                    Some(prepared) => {
                        let action = Action::CreatePhoneNumber {
                            prospect_owner_id: owner,
                        };
                        authorize(&self.principal, &action)?;
                        Some(prepared.clone().map_err(Rejection::Reason)?)
                    }
                    None => None,
                };
                let (prospect, has_number) = (creates.is_some(), number.is_some());
                if let Some((external_id, new)) = creates {
                    pending.insert(external_id, new_prospects.len());
                    new_prospects.push(new);
                }
                if let Some(number) = number {
                    numbers.push((number, target));
                }
                Ok::<_, Rejection>((target, prospect, has_number))
            })();
            plans.push(plan.map_err(Rejection::reason));
        }
        let refused = |_| Batch::Refused;
        let created = Prospect::create_many(conn, journal, &new_prospects).map_err(refused)?;
        let id_of = |target: Target| match target {
            Target::Stored(id) => id,
            Target::New(index) => created[index].id,
        };
        let numbers: Vec<NewPhoneNumber> = (numbers.into_iter())
            .map(|(number, target)| NewPhoneNumber {
                prospect_id: id_of(target),
                ..number
            })
            .collect();
        PhoneNumberRow::create_many(conn, journal, &numbers).map_err(refused)?;
        Ok((plans.into_iter())
            .map(|plan| {
                plan.map(|(target, prospect, number)| Created {
                    prospect_id: id_of(target),
                    prospect,
                    number,
                })
            })
            .collect())
    }

    /// Today's path, for a batch the database refused: each row in a savepoint of its own, so
    /// that a refused row (a duplicate) rolls back alone with its reason.
    fn write_one_by_one(
        &self,
        conn: &mut DbConnection,
        journal: &mut Journal,
        rows: &[Row],
        outcomes: &mut Vec<Outcome>,
    ) {
        outcomes.clear();
        let mut prospects = HashMap::new();
        for row in rows {
            let outcome = match &row.unreadable {
                Some(reason) => Err(reason.clone()),
                None => journal
                    .savepoint(conn, |conn, journal| {
                        self.write_row(conn, journal, row, &prospects)
                    })
                    .map_err(|error| error.reason()),
            };
            // Known only once the row's savepoint stands: a rolled-back row made nothing.
            if let (Ok(created), Some(external_id)) = (&outcome, row.external_id()) {
                prospects.insert(external_id.to_owned(), created.prospect_id);
            }
            outcomes.push(outcome);
        }
    }

    /// One row: its prospect found or created, then its number created.
    fn write_row(
        &self,
        conn: &mut DbConnection,
        journal: &mut Journal,
        row: &Row,
        prospects: &HashMap<String, i64>,
    ) -> Result<Created, ApiError> {
        let (prospect_id, prospect) = self.prospect_of(conn, journal, row, prospects)?;
        let mut created = Created {
            prospect_id,
            prospect,
            number: false,
        };
        if !row.has_number() {
            return Ok(created);
        }
        let input = number_input(row, Some(prospect_id));
        let checked = phone_number::Checked::later(&self.options.region);
        phone_number::create(
            conn,
            journal,
            &self.principal,
            &input,
            &checked,
            &Lids::new(),
        )?;
        created.number = true;
        Ok(created)
    }

    /// The row's prospect columns as a resource object.
    fn prospect_input(&self, row: &Row) -> ResourceInput {
        let mut attributes = Map::new();
        for field in PROSPECT_COLUMNS {
            if let Some(value) = row.value(Column::Prospect(field)) {
                attributes.insert(field.name().to_owned(), Value::String(value.to_owned()));
            }
        }
        resource_input(attributes, Map::new())
    }

    /// The id in a row's `prospectId` (a row without `externalId` needs one).
    fn prospect_id(row: &Row) -> Result<i64, ApiError> {
        let Some(raw) = row.value(Column::ProspectId) else {
            let external_id = ProspectField::ExternalId.name();
            let detail = format!("A row needs `{external_id}` or `{PROSPECT_ID}`.");
            return Err(ApiError::invalid(format!("/{PROSPECT_ID}"), detail));
        };
        raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
            let detail = format!("`{raw}` is not a prospect id.");
            ApiError::invalid(format!("/{PROSPECT_ID}"), detail)
        })
    }

    /// The row's prospect, and whether this row created it: by `externalId` (found, or created
    /// with the row's prospect columns) or by `prospectId` (an existing one).
    fn prospect_of(
        &self,
        conn: &mut DbConnection,
        journal: &mut Journal,
        row: &Row,
        prospects: &HashMap<String, i64>,
    ) -> Result<(i64, bool), ApiError> {
        if let Some(external_id) = row.external_id() {
            if let Some(id) = prospects.get(external_id) {
                return Ok((*id, false));
            }
            if let Some(found) = Prospect::find_by_external_id(conn, external_id)? {
                return Ok((found.id, false));
            }
            let input = self.prospect_input(row);
            let created = prospect::create(conn, journal, &self.principal, &input)?;
            return Ok((created.id, true));
        }
        let id = Self::prospect_id(row)?;
        existing::<Prospect>(conn, id)?;
        Ok((id, false))
    }
}

/// The row's number as a resource object, linked to its prospect when `prospect_id` is given.
fn number_input(row: &Row, prospect_id: Option<i64>) -> ResourceInput {
    let mut attributes = Map::new();
    for field in NUMBER_COLUMNS {
        if let Some(value) = row.value(Column::Number(field)) {
            attributes.insert(field.name().to_owned(), cell_value(field, value));
        }
    }
    let mut relationships = Map::new();
    if let Some(prospect_id) = prospect_id {
        let linkage = serde_json::json!({
            "type": ResourceType::Prospect.name(),
            "id": prospect_id.to_string(),
        });
        relationships.insert(Relationship::PhoneNumberProspect.name().to_owned(), linkage);
    }
    resource_input(attributes, relationships)
}

/// Why a row of a batched write is rejected: a check's error, or the reason the reading side
/// gave for its number.
enum Rejection {
    Error(ApiError),
    Reason(String),
}

impl Rejection {
    fn reason(self) -> String {
        match self {
            Rejection::Error(error) => error.reason(),
            Rejection::Reason(reason) => reason,
        }
    }
}

impl<E: Into<ApiError>> From<E> for Rejection {
    fn from(error: E) -> Self {
        Rejection::Error(error.into())
    }
}

/// A row's outcome: what it wrote, or why it was rejected.
type Outcome = Result<Created, String>;

/// The prospect of a row of a batched write: stored already, or the batch's new prospect at an
/// index.
#[derive(Clone, Copy, Debug)]
enum Target {
    Stored(i64),
    New(usize),
}

/// What a row wrote: its prospect, and whether it created that prospect and a number.
#[derive(Clone, Copy, Debug)]
struct Created {
    prospect_id: i64,
    prospect: bool,
    number: bool,
}

/// A cell as the attribute's JSON value: `smsOptOut` is a boolean when it reads as one (else the
/// text goes on, for the write rules to refuse in their words); everything else is text.
fn cell_value(field: PhoneNumberField, value: &str) -> Value {
    match (field, value.to_ascii_lowercase().as_str()) {
        (PhoneNumberField::SmsOptOut, "true") => Value::Bool(true),
        (PhoneNumberField::SmsOptOut, "false") => Value::Bool(false),
        _ => Value::String(value.to_owned()),
    }
}

/// A resource object as the write rules read it, its pointers at the row's columns.
fn resource_input(
    attributes: Map<String, Value>,
    relationships: Map<String, Value>,
) -> ResourceInput {
    ResourceInput {
        pointer: String::new(),
        lid: None,
        attributes,
        relationships,
    }
}

/// Progress on stderr: a bar over the file's bytes, with rows done, rows per second and the time
/// left; hidden when stderr is not a terminal.
pub fn progress_bar(path: &Path) -> std::io::Result<(indicatif::ProgressBar, Instant)> {
    let length = std::fs::metadata(path)?.len();
    let bar = indicatif::ProgressBar::new(length);
    let style = indicatif::ProgressStyle::with_template("{bar:30} {msg} eta {eta}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    Ok((bar, Instant::now()))
}
