//! CSV out and in: a coupon's codes and the redemptions of a coupon or campaign are
//! exported as CSV, streamed a page at a time, so an export of millions of rows holds
//! one page in memory; codes are imported from CSV all or nothing, with every bad row
//! reported by its line number.

use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use coupons_domain::{CouponCode, CouponId, Currency, Money};
use futures_util::Stream;

use crate::storage::{
    Actor, Db, ExportedRedemption, ImportRow, RedemptionFilter, StorageError, StoredCode, coupons,
    redemptions,
};

/// Rows read per page of an export.
pub const EXPORT_PAGE: i64 = 5_000;

/// Most rows one import may hold.
pub const IMPORT_MAX_ROWS: usize = 1_000_000;

/// The columns of a codes export.
pub const CODE_COLUMNS: &[&str] = &[
    "code",
    "usage_limit",
    "redemption_count",
    "reserved_count",
    "active",
    "batch_id",
    "created_at",
];

/// The columns of a redemptions export.
pub const REDEMPTION_COLUMNS: &[&str] = &[
    "id",
    "coupon_id",
    "campaign_id",
    "code",
    "status",
    "order_id",
    "customer_key",
    "email_domain",
    "channel",
    "currency",
    "subtotal",
    "discount",
    "refunded",
    "created_at",
    "reserved_at",
    "redeemed_at",
    "closed_at",
];

fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn amount(minor: i64, currency: &str) -> String {
    match Currency::parse(currency) {
        Ok(currency) => Money { minor, currency }.to_decimal().to_string(),
        Err(_) => minor.to_string(),
    }
}

fn opt<T: ToString>(value: Option<T>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

/// One CSV record (with its line end) from `fields`.
fn record(fields: &[String]) -> Result<Vec<u8>, StorageError> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(fields).map_err(csv_fault)?;
    writer.into_inner().map_err(|e| csv_fault(e.into_error()))
}

fn csv_fault(e: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt {
        table: "csv",
        id: 0,
        reason: e.to_string(),
    }
}

fn header(columns: &[&str]) -> Result<Vec<u8>, StorageError> {
    record(&columns.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>())
}

fn code_record(code: &StoredCode) -> Result<Vec<u8>, StorageError> {
    record(&[
        code.code.clone(),
        opt(code.usage_limit),
        code.redemption_count.to_string(),
        code.reserved_count.to_string(),
        code.active.to_string(),
        opt(code.batch_id),
        instant(code.created_at),
    ])
}

fn redemption_record(row: &ExportedRedemption) -> Result<Vec<u8>, StorageError> {
    let r = &row.redemption;
    record(&[
        r.id.to_string(),
        r.coupon_id.to_string(),
        opt(row.campaign_id),
        r.code.clone(),
        r.status.as_str().to_owned(),
        r.order_id.clone(),
        row.customer_key.clone().unwrap_or_default(),
        r.email_domain.clone().unwrap_or_default(),
        r.channel.clone().unwrap_or_default(),
        r.currency.clone(),
        amount(r.subtotal_minor, &r.currency),
        amount(r.discount_minor, &r.currency),
        amount(r.refunded_minor, &r.currency),
        instant(r.created_at),
        opt(row.reserved_at.map(instant)),
        opt(r.redeemed_at.map(instant)),
        opt(r.closed_at.map(instant)),
    ])
}

/// Pages of an export: the header, then the rows of each page, until a short page.
fn pages<T, F, Fut>(
    columns: &'static [&'static str],
    fetch: F,
    id_of: fn(&T) -> i64,
    line: fn(&T) -> Result<Vec<u8>, StorageError>,
) -> impl Stream<Item = Result<Vec<u8>, StorageError>>
where
    F: Fn(Option<i64>) -> Fut,
    Fut: Future<Output = Result<Vec<T>, StorageError>>,
{
    // State: None before the header; Some(cursor) after; the flag ends the stream.
    futures_util::stream::unfold(
        (None::<Option<i64>>, false, fetch),
        move |(cursor, ended, fetch)| async move {
            if ended {
                return None;
            }
            let Some(after) = cursor else {
                return Some((header(columns), (Some(None), false, fetch)));
            };
            let rows = match fetch(after).await {
                Ok(rows) => rows,
                Err(e) => return Some((Err(e), (cursor, true, fetch))),
            };
            if rows.is_empty() {
                return None;
            }
            let short = (rows.len() as i64) < EXPORT_PAGE;
            let next = rows.last().map(id_of);
            let mut chunk = Vec::with_capacity(rows.len() * 64);
            for row in &rows {
                match line(row) {
                    Ok(bytes) => chunk.extend_from_slice(&bytes),
                    Err(e) => return Some((Err(e), (cursor, true, fetch))),
                }
            }
            Some((Ok(chunk), (Some(next), short, fetch)))
        },
    )
}

/// A coupon's codes as CSV (columns [`CODE_COLUMNS`]), in the order they were added.
pub fn export_codes(db: Db, coupon: CouponId) -> impl Stream<Item = Result<Vec<u8>, StorageError>> {
    pages(
        CODE_COLUMNS,
        move |after| {
            let db = db.clone();
            async move {
                db.read_long(async move |mut c| {
                    coupons::codes(&mut c, coupon, after, EXPORT_PAGE).await
                })
                .await
            }
        },
        |c: &StoredCode| c.id,
        code_record,
    )
}

/// Redemptions matching `filter` as CSV (columns [`REDEMPTION_COLUMNS`]), oldest first.
/// Amounts are decimals in their currency; customers appear as keyed hashes.
pub fn export_redemptions(
    db: Db,
    filter: RedemptionFilter,
) -> impl Stream<Item = Result<Vec<u8>, StorageError>> {
    pages(
        REDEMPTION_COLUMNS,
        move |after| {
            let (db, filter) = (db.clone(), filter.clone());
            async move {
                let filter = &filter;
                db.read_long(async move |mut c| {
                    redemptions::export_redemptions(&mut c, filter, after, EXPORT_PAGE).await
                })
                .await
            }
        },
        |r: &ExportedRedemption| r.redemption.id,
        redemption_record,
    )
}

/// What is wrong with one row of an import.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    /// The line in the file (the header is line 1).
    pub line: u64,
    /// The column, when the problem is in one.
    pub column: Option<String>,
    /// Stable code: `INVALID_CSV`, `MISSING_COLUMN`, `UNKNOWN_COLUMN`, `INVALID_CODE`,
    /// `DUPLICATE_CODE`, `CODE_TAKEN`, `INVALID_LIMIT`, `INVALID_BOOLEAN`, `TOO_MANY_ROWS`.
    pub code: &'static str,
    /// Explanation for a person.
    pub message: String,
}

/// Why an import wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Rows that cannot be imported, every one of them, in line order.
    #[error("{} row(s) cannot be imported", .0.len())]
    Rows(Vec<RowError>),
    /// The coupon does not exist.
    #[error("coupon not found")]
    CouponNotFound,
    /// A storage fault.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Rows reported at most; a file with more bad rows is cut off there.
const MAX_REPORTED: usize = 1_000;

/// Parses an import file: a header with `code` and optionally `usage_limit` and
/// `active`, then one code per row. Returns the good rows and every problem found, each
/// with its line.
pub fn parse_codes(csv_text: &[u8]) -> (Vec<ImportRow>, Vec<RowError>) {
    let mut errors = Vec::new();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .trim(csv::Trim::All)
        .from_reader(csv_text);
    let header_error = |code, column: Option<&str>, message: String| RowError {
        line: 1,
        column: column.map(str::to_owned),
        code,
        message,
    };
    let headers = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            return (
                Vec::new(),
                vec![header_error("INVALID_CSV", None, e.to_string())],
            );
        }
    };
    let mut columns: HashMap<String, usize> = HashMap::new();
    for (i, name) in headers.iter().enumerate() {
        let name = name.trim_start_matches('\u{feff}').to_ascii_lowercase();
        match name.as_str() {
            "code" | "usage_limit" | "active" => {
                columns.insert(name, i);
            }
            other => errors.push(header_error(
                "UNKNOWN_COLUMN",
                Some(other),
                format!("unknown column {other:?}: the columns are code, usage_limit, active"),
            )),
        }
    }
    let Some(&code_at) = columns.get("code") else {
        errors.push(header_error(
            "MISSING_COLUMN",
            Some("code"),
            "the header has no code column".into(),
        ));
        return (Vec::new(), errors);
    };
    let (limit_at, active_at) = (columns.get("usage_limit"), columns.get("active"));
    let mut rows = Vec::new();
    let mut first_line: HashMap<CouponCode, u64> = HashMap::new();
    for record in reader.records() {
        if errors.len() >= MAX_REPORTED {
            break;
        }
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                errors.push(RowError {
                    line,
                    column: None,
                    code: "INVALID_CSV",
                    message: e.to_string(),
                });
                continue;
            }
        };
        let line = record.position().map_or(0, csv::Position::line);
        if rows.len() >= IMPORT_MAX_ROWS {
            errors.push(RowError {
                line,
                column: None,
                code: "TOO_MANY_ROWS",
                message: format!("an import holds at most {IMPORT_MAX_ROWS} rows"),
            });
            break;
        }
        let cell = |at: Option<&usize>| at.and_then(|i| record.get(*i)).unwrap_or("");
        let mut bad = |column: &str, code, message: String| {
            errors.push(RowError {
                line,
                column: Some(column.to_owned()),
                code,
                message,
            });
        };
        let code = match CouponCode::parse(cell(Some(&code_at))) {
            Ok(code) => match first_line.get(&code) {
                Some(first) => {
                    bad(
                        "code",
                        "DUPLICATE_CODE",
                        format!("{code} is also on line {first}"),
                    );
                    None
                }
                None => {
                    first_line.insert(code.clone(), line);
                    Some(code)
                }
            },
            Err(e) => {
                bad("code", "INVALID_CODE", e.to_string());
                None
            }
        };
        let usage_limit = match cell(limit_at) {
            "" => Some(None),
            text => match text.parse::<i64>() {
                Ok(n) if n >= 1 => Some(Some(n)),
                _ => {
                    bad(
                        "usage_limit",
                        "INVALID_LIMIT",
                        format!("{text:?} is not a whole number of at least 1"),
                    );
                    None
                }
            },
        };
        let active = match cell(active_at).to_ascii_lowercase().as_str() {
            "" | "true" | "1" | "yes" => Some(true),
            "false" | "0" | "no" => Some(false),
            other => {
                bad(
                    "active",
                    "INVALID_BOOLEAN",
                    format!("{other:?} is not true or false"),
                );
                None
            }
        };
        if let (Some(code), Some(usage_limit), Some(active)) = (code, usage_limit, active) {
            rows.push(ImportRow {
                code,
                usage_limit,
                active,
                line,
            });
        }
    }
    (rows, errors)
}

/// Imports codes from CSV into a coupon in ONE transaction. Every row is checked first
/// (format, duplicates in the file, codes already taken by any coupon); if any row is
/// bad, nothing is written and every bad row is reported, in line order.
pub async fn import_codes(
    db: &Db,
    coupon: CouponId,
    csv_text: &[u8],
    actor: &Actor,
) -> Result<usize, ImportError> {
    let (rows, mut errors) = parse_codes(csv_text);
    if rows.is_empty() && errors.is_empty() {
        errors.push(RowError {
            line: 1,
            column: None,
            code: "INVALID_CSV",
            message: "the file has no rows".into(),
        });
    }
    if errors.len() < MAX_REPORTED {
        let codes: Vec<CouponCode> = rows.iter().map(|r| r.code.clone()).collect();
        let codes = codes.as_slice();
        let already = db
            .read(async move |mut c| coupons::taken_codes(&mut c, codes).await)
            .await?;
        errors.extend(taken(&rows, &already));
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        errors.truncate(MAX_REPORTED);
        return Err(ImportError::Rows(errors));
    }
    // The transaction checks again: a code taken since is reported the same way.
    let (now, new_rows) = (Utc::now(), rows.as_slice());
    let imported = db
        .write(async move |mut c| {
            coupons::import_codes(&mut c, coupon.0, new_rows, actor, now).await
        })
        .await?;
    match imported {
        None => Err(ImportError::CouponNotFound),
        Some(now_taken) if !now_taken.is_empty() => {
            let mut errors = taken(&rows, &now_taken);
            errors.sort_by_key(|e| e.line);
            Err(ImportError::Rows(errors))
        }
        Some(_) => Ok(rows.len()),
    }
}

/// A `CODE_TAKEN` error for each row whose code is in `codes`.
fn taken(rows: &[ImportRow], codes: &[String]) -> Vec<RowError> {
    let line_of: HashMap<&str, u64> = rows.iter().map(|r| (r.code.as_str(), r.line)).collect();
    codes
        .iter()
        .map(|code| RowError {
            line: line_of.get(code.as_str()).copied().unwrap_or(0),
            column: Some("code".into()),
            code: "CODE_TAKEN",
            message: format!("{code} is already in use"),
        })
        .collect()
}
