//! `phonebook export` (API.md section 14): every prospect and number, streamed to a writer as CSV
//! or JSON lines with the import's columns: one row per number, in each prospect's `order`, and
//! one row with empty number columns for a prospect without numbers.

use std::io::Write;

use serde_json::Value;

use crate::db::DbConnection;
use crate::import::Column;
use crate::models::{PhoneNumberRow, Prospect};
use crate::schema::{PhoneNumberField, ProspectField};

/// Prospects read per query: memory stays flat whatever the database holds.
const PAGE: i64 = 500;

/// The formats `--format` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
}

/// A cell of an exported row: text, a flag, or nothing.
enum Cell {
    Text(String),
    Flag(bool),
    Empty,
}

impl Cell {
    fn text(value: Option<&str>) -> Cell {
        value.map_or(Cell::Empty, |value| Cell::Text(value.to_owned()))
    }

    fn csv(&self) -> String {
        match self {
            Cell::Text(text) => text.clone(),
            Cell::Flag(flag) => flag.to_string(),
            Cell::Empty => String::new(),
        }
    }

    fn json(self) -> Value {
        match self {
            Cell::Text(text) => Value::String(text),
            Cell::Flag(flag) => Value::Bool(flag),
            Cell::Empty => Value::Null,
        }
    }
}

/// A column's cell for `prospect` and, on a number's row, `number`.
fn cell(column: Column, prospect: &Prospect, number: Option<&PhoneNumberRow>) -> Cell {
    match (column, number) {
        (Column::Number(field), Some(number)) => cell_of_number(field, number),
        (Column::Number(_), None) => Cell::Empty,
        (other, _) => cell_of_prospect(other, prospect),
    }
}

fn cell_of_number(field: PhoneNumberField, number: &PhoneNumberRow) -> Cell {
    use PhoneNumberField as N;
    match field {
        N::Number => Cell::Text(number.number.clone()),
        N::RawNumber => Cell::Text(number.raw_number.clone()),
        N::CountryCode => Cell::text(number.country_code.as_deref()),
        N::Extension => Cell::text(Some(number.extension.as_str()).filter(|e| !e.is_empty())),
        N::PhoneType => Cell::Text(number.phone_type.clone()),
        N::Status => Cell::Text(number.status.clone()),
        N::Source => Cell::text(number.source.as_deref()),
        N::SmsOptOut => Cell::Flag(number.sms_opt_out),
        N::Notes => Cell::text(number.notes.as_deref()),
        // Read-only, positional or a filter only: not import columns (a row is appended in file
        // order), and listed so that a new field must be placed here.
        N::Id
        | N::Order
        | N::StatusChangedAt
        | N::FormattedNumber
        | N::LineType
        | N::SmsOptOutChangedAt
        | N::Digits
        | N::CreatedAt
        | N::UpdatedAt => Cell::Empty,
    }
}

fn cell_of_prospect(column: Column, prospect: &Prospect) -> Cell {
    use ProspectField as P;
    match column {
        Column::ProspectId => Cell::Text(prospect.id.to_string()),
        Column::Prospect(P::ExternalId) => Cell::text(prospect.external_id.as_deref()),
        Column::Prospect(P::FirstName) => Cell::text(prospect.first_name.as_deref()),
        Column::Prospect(P::LastName) => Cell::text(prospect.last_name.as_deref()),
        Column::Prospect(P::Title) => Cell::text(prospect.title.as_deref()),
        Column::Prospect(P::Company) => Cell::text(prospect.company.as_deref()),
        Column::Prospect(_) | Column::Number(_) => Cell::Empty,
    }
}

/// Writes every prospect and number to `out`; returns how many rows it wrote.
pub fn run(conn: &mut DbConnection, format: Format, out: impl Write) -> Result<u64, ExportError> {
    let columns: Vec<Column> = Column::all().collect();
    let mut sink = Sink::new(format, out, &columns)?;
    let mut after = 0;
    let mut rows = 0;
    loop {
        let prospects = Prospect::page_after(conn, after, PAGE)?;
        let Some(last) = prospects.last() else { break };
        after = last.id;
        let ids: Vec<i64> = prospects.iter().map(|prospect| prospect.id).collect();
        let numbers = PhoneNumberRow::of_prospects(conn, &ids)?;
        let mut numbers = numbers.iter().peekable();
        for prospect in &prospects {
            let mut any = false;
            while let Some(number) = numbers.next_if(|number| number.prospect_id == prospect.id) {
                sink.row(&columns, prospect, Some(number))?;
                (any, rows) = (true, rows + 1);
            }
            if !any {
                sink.row(&columns, prospect, None)?;
                rows += 1;
            }
        }
    }
    sink.finish()?;
    Ok(rows)
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("{0}")]
    Database(#[from] diesel::result::Error),
    #[error("{0}")]
    Csv(#[from] csv::Error),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Where rows go, in their format.
enum Sink<W: Write> {
    Csv(Box<csv::Writer<W>>),
    Jsonl(W),
}

impl<W: Write> Sink<W> {
    fn new(format: Format, out: W, columns: &[Column]) -> Result<Self, ExportError> {
        Ok(match format {
            Format::Csv => {
                let mut writer = csv::Writer::from_writer(out);
                writer.write_record(columns.iter().map(|column| column.name()))?;
                Sink::Csv(Box::new(writer))
            }
            Format::Jsonl => Sink::Jsonl(out),
        })
    }

    fn row(
        &mut self,
        columns: &[Column],
        prospect: &Prospect,
        number: Option<&PhoneNumberRow>,
    ) -> Result<(), ExportError> {
        let cells = columns
            .iter()
            .map(|column| (column, cell(*column, prospect, number)));
        match self {
            Sink::Csv(writer) => writer.write_record(cells.map(|(_, cell)| cell.csv()))?,
            Sink::Jsonl(out) => {
                // Written member by member, to keep the columns' order.
                let mut separator = b"{";
                for (column, cell) in cells {
                    out.write_all(separator)?;
                    serde_json::to_writer(&mut *out, column.name())
                        .map_err(std::io::Error::from)?;
                    out.write_all(b":")?;
                    serde_json::to_writer(&mut *out, &cell.json()).map_err(std::io::Error::from)?;
                    separator = b",";
                }
                out.write_all(b"}\n")?;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<(), ExportError> {
        match self {
            Sink::Csv(mut writer) => writer.flush()?,
            Sink::Jsonl(mut out) => out.flush()?,
        }
        Ok(())
    }
}
