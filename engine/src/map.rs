//! Turns a source batch into target rows: applies each column's transforms,
//! checks what the schema model knows (required, NOT NULL, length, allowed
//! values), builds the source key. Rows that fail are rejected here, before
//! anything is staged.

use polars::prelude::*;
use sha2::{Digest, Sha256};

use crate::batch::{Batch, BatchError};
use crate::plan::{ColumnInput, ColumnPlan, EntityPlan, KeySpec, OnInvalid, RAW_COLUMN, TargetType};
use crate::reject::RejectReason;
use crate::transform::convert::convert_column;
use crate::transform::money::split_money;
use crate::transform::{MoneySpec, Transform, TransformFailure, ValueKind};

/// Mapped rows ready to stage: one text column per target column (values in
/// PostgreSQL's text input form), plus each row's source key, sequence number
/// within the run, location and index in the source batch.
#[derive(Debug, Clone)]
pub struct MappedBatch {
    pub frame: DataFrame,
    pub keys: Vec<String>,
    pub seqs: Vec<u64>,
    pub locations: Vec<String>,
    pub source_rows: Vec<usize>,
    /// (sequence number, source key) of the batch's rejected rows whose key
    /// is known: the source still has them, so `on_missing` must not treat
    /// their rows from an earlier run as gone.
    pub rejected_keys: Vec<(u64, String)>,
}

impl MappedBatch {
    pub fn height(&self) -> usize {
        self.keys.len()
    }

    pub fn value(&self, column: &str, row: usize) -> Option<&str> {
        self.frame.column(column).ok()?.str().ok()?.get(row)
    }
}

/// A row the mapping step refused.
#[derive(Debug, Clone, PartialEq)]
pub struct MapRejection {
    pub row: usize,
    pub column: Option<String>,
    pub value: Option<String>,
    pub reason: RejectReason,
    pub message: String,
}

/// Maps a batch; `first_seq` numbers the rows in run order.
pub fn map_batch(plan: &EntityPlan, batch: &Batch, first_seq: u64) -> Result<MapOutput, BatchError> {
    let height = batch.height();
    // The mapping's `filter` first: a row it leaves out is neither mapped
    // nor rejected, only counted. A malformed row is rejected whatever its
    // fields say: they may not be the columns they claim to be.
    let mut filtered = vec![false; height];
    for condition in &plan.filter {
        let values = batch.text(&condition.column)?;
        for (row, value) in values.iter().enumerate() {
            if !condition.holds(value)
                && let Some(f) = filtered.get_mut(row)
            {
                *f = true;
            }
        }
    }
    for m in &batch.malformed {
        if let Some(f) = filtered.get_mut(m.row) {
            *f = false;
        }
    }
    let mut rejected: Vec<Option<MapRejection>> = vec![None; height];
    let mut reject = |row: usize, r: MapRejection| {
        if filtered.get(row).copied().unwrap_or(false) {
            return;
        }
        if let Some(slot) = rejected.get_mut(row)
            && slot.is_none()
        {
            *slot = Some(r);
        }
    };

    for m in &batch.malformed {
        reject(
            m.row,
            MapRejection { row: m.row, column: None, value: None, reason: m.reason, message: m.message.clone() },
        );
    }
    let keys = source_keys(plan, batch, &mut reject)?;

    // Each column plan: transformed values, then checked.
    let mut values: Vec<Vec<Option<String>>> = Vec::with_capacity(plan.columns.len());
    let mut notes: Vec<(usize, MapNote)> = Vec::new();
    // Per row, (key, original text) for `on_invalid = "keep_raw"`.
    let mut kept_raw: std::collections::BTreeMap<usize, Vec<(String, String)>> = Default::default();
    for column in &plan.columns {
        let input = input_values(&column.input, batch, &column.target)?;
        let from_source = !matches!(column.input, ColumnInput::Constant(_));
        let shown = column.input.describe().unwrap_or_else(|| column.target.clone());
        let input = if from_source {
            let (repaired, found) = repair_double_encoded(&input, plan.double_encoded);
            notes.extend(
                found.into_iter().map(|(row, code, example)| (row, MapNote { column: shown.clone(), code, example })),
            );
            repaired.unwrap_or(input)
        } else {
            input
        };
        let raw_value = |row: usize| input.get(row).map(str::to_string);
        // A bad value rejects its row, or, by `on_invalid`, is set aside
        // here (its first failure) and the row loads without it.
        let mut invalid: std::collections::BTreeMap<usize, (RejectReason, String)> = Default::default();
        let mut current = input.clone();
        for transform in &column.transforms {
            let out = match transform {
                Transform::Date(spec) if spec.timezone_column.is_some() => {
                    let zones = batch.text(spec.timezone_column.as_deref().unwrap_or_default())?;
                    crate::transform::date::parse_with_zones(&current, zones, spec)
                }
                Transform::Phone(spec) if spec.region_column.is_some() => {
                    let regions = batch.text(spec.region_column.as_deref().unwrap_or_default())?;
                    crate::transform::parse_with_regions(&current, regions, spec)
                }
                _ => transform.apply(&current),
            };
            for note in out.notes {
                // NULL is not what a column with a default gets: the
                // platform fills in its default (created_at: the load time).
                let code = match note.code {
                    "sentinel_date_nulled" if column.default.is_some() && column.json_key.is_none() => {
                        "sentinel_date_defaulted"
                    }
                    code => code,
                };
                notes.push((note.row, MapNote { column: shown.clone(), code, example: note.example }));
            }
            let mut failures: Vec<(TransformFailure, &str)> =
                out.failures.into_iter().map(|f| (f, transform.name())).collect();
            current = out.values;
            if let Transform::Money(MoneySpec { convert: Some(conversion), .. }) = transform {
                let dates = batch.text(&conversion.date_column)?;
                let (converted, convert_failures) = convert_column(&current, dates, conversion);
                failures.extend(convert_failures.into_iter().map(|f| (f, "convert")));
                current = converted;
            }
            for (failure, step) in failures {
                let message = format!("{step}: {}", failure.message);
                if column.on_invalid != OnInvalid::Reject {
                    invalid.entry(failure.row).or_insert((failure.reason, message));
                    continue;
                }
                let rejection = MapRejection {
                    row: failure.row,
                    column: Some(shown.clone()),
                    value: raw_value(failure.row),
                    reason: failure.reason,
                    message,
                };
                reject(failure.row, rejection);
            }
        }
        let kind = column.transforms.last().map_or(ValueKind::Text, |t| t.output());
        let mut out = Vec::with_capacity(height);
        for (row, value) in current.iter().enumerate() {
            // Legacy exports write NULL as an empty field. An empty value in a
            // column with a default is left NULL: publishing fills it with the
            // default for a new row and keeps the existing value otherwise.
            let mut value = value.filter(|v| !v.is_empty()).map(str::to_string);
            // PostgreSQL text cannot hold NUL: drop them, and say so.
            if let Some(v) = value.as_mut().filter(|v| v.contains('\0')) {
                notes.push((
                    row,
                    MapNote { column: shown.clone(), code: "nul_removed", example: v.replace('\0', "\\0") },
                ));
                v.retain(|c| c != '\0');
            }
            let mut value = value.map(|v| target_form(column, kind, v));
            let mut problem = if invalid.contains_key(&row) { None } else { check_value(column, value.as_deref()) };
            if let Some((reason, message)) =
                problem.take_if(|p| column.on_invalid != OnInvalid::Reject && p.0.is_invalid_value())
            {
                invalid.insert(row, (reason, message));
            }
            if let Some((reason, message)) = invalid.get(&row) {
                value = None;
                // Left empty, the column may not be allowed to be: the row
                // then goes with the value's own reason.
                match check_value(column, None) {
                    Some(_) => {
                        problem =
                            Some((*reason, format!("{message} (on_invalid cannot leave {} empty)", column.target)))
                    }
                    None => {
                        let raw = raw_value(row).unwrap_or_default();
                        let code = match column.on_invalid {
                            OnInvalid::KeepRaw => {
                                kept_raw.entry(row).or_default().push((raw_key(column), raw.clone()));
                                "invalid_kept_raw"
                            }
                            _ => "invalid_nulled",
                        };
                        notes.push((
                            row,
                            MapNote { column: shown.clone(), code, example: format!("{raw} ({message})") },
                        ));
                    }
                }
            }
            if let Some(problem) = problem {
                reject(
                    row,
                    MapRejection {
                        row,
                        column: Some(shown.clone()),
                        value: if from_source { raw_value(row) } else { value.clone() },
                        reason: problem.0,
                        message: problem.1,
                    },
                );
            }
            out.push(value);
        }
        values.push(out);
    }

    // Assemble target columns; JSONB keys fold into one object per row.
    let mut columns: Vec<Column> = Vec::new();
    for target in plan.target_columns() {
        let parts: Vec<(&ColumnPlan, &Vec<Option<String>>)> =
            plan.columns.iter().zip(&values).filter(|(c, _)| c.target == target).collect();
        let column_values: Vec<Option<String>> = match parts.as_slice() {
            [(plan_col, vals)] if plan_col.json_key.is_none() && target != RAW_COLUMN => (*vals).clone(),
            _ => (0..height)
                .map(|row| {
                    let mut object = serde_json::Map::new();
                    for (plan_col, vals) in &parts {
                        if let (Some(key), Some(Some(v))) = (&plan_col.json_key, vals.get(row)) {
                            object.insert(key.clone(), json_value(plan_col, v));
                        }
                    }
                    if target == RAW_COLUMN {
                        for (key, raw) in kept_raw.get(&row).into_iter().flatten() {
                            object.insert(key.clone(), serde_json::Value::String(raw.clone()));
                        }
                    }
                    Some(serde_json::Value::Object(object).to_string())
                })
                .collect(),
        };
        columns.push(Column::new(target.into(), column_values));
    }
    let full = DataFrame::new(height, columns)?;

    let keep: Vec<usize> = (0..height)
        .filter(|r| rejected.get(*r).is_some_and(Option::is_none) && !filtered.get(*r).copied().unwrap_or(false))
        .collect();
    let idx = IdxCa::from_vec("idx".into(), keep.iter().map(|&r| r as IdxSize).collect());
    let frame = full.take(&idx)?;
    let notes = notes.into_iter().filter(|(row, _)| keep.binary_search(row).is_ok()).map(|(_, n)| n).collect();
    let mapped = MappedBatch {
        frame,
        keys: keep.iter().map(|&r| keys.get(r).cloned().unwrap_or_default()).collect(),
        seqs: keep.iter().map(|&r| first_seq + r as u64).collect(),
        locations: keep.iter().map(|&r| batch.locations.get(r).map(|l| l.to_string()).unwrap_or_default()).collect(),
        source_rows: keep,
        rejected_keys: rejected
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_some())
            .filter_map(|(row, _)| keys.get(row).filter(|k| !k.is_empty()).map(|k| (first_seq + row as u64, k.clone())))
            .collect(),
    };
    let filtered = filtered.iter().filter(|f| **f).count() as u64;
    Ok(MapOutput { mapped, rejects: rejected.into_iter().flatten().collect(), notes, filtered })
}

/// A source column with its double-encoded values repaired (`None` when
/// none was), and each value found: (row, code, example).
fn repair_double_encoded(
    input: &StringChunked,
    mode: crate::transform::mojibake::DoubleEncoded,
) -> (Option<StringChunked>, Vec<(usize, &'static str, String)>) {
    use crate::transform::mojibake;
    let mut found = Vec::new();
    let mut fixed: Vec<(usize, String)> = Vec::new();
    for (row, value) in input.iter().enumerate() {
        let Some(v) = value else { continue };
        if let Some((code, repaired)) = mojibake::check(v, mode) {
            match repaired {
                Some(new) => {
                    found.push((row, code, format!("{v} → {new}")));
                    fixed.push((row, new));
                }
                None => found.push((row, code, v.to_string())),
            }
        }
    }
    if fixed.is_empty() {
        return (None, found);
    }
    let mut next = fixed.into_iter().peekable();
    let values: Vec<Option<String>> = input
        .iter()
        .enumerate()
        .map(|(row, v)| match next.peek() {
            Some((r, _)) if *r == row => next.next().map(|(_, new)| new),
            _ => v.map(str::to_string),
        })
        .collect();
    (Some(StringChunked::from_iter_options(input.name().clone(), values.into_iter())), found)
}

/// Where `keep_raw` keeps a column's original text: `custom_fields.phone_raw`
/// (`custom_fields.region_raw` for `custom_fields.region`).
fn raw_key(column: &ColumnPlan) -> String {
    format!("{}_raw", column.json_key.as_deref().unwrap_or(&column.target))
}

fn present(v: Option<&str>) -> Option<&str> {
    v.filter(|s| !s.trim().is_empty())
}

/// The values a column's input gives, before its transforms.
pub(crate) fn input_values(input: &ColumnInput, batch: &Batch, name: &str) -> Result<StringChunked, BatchError> {
    let height = batch.height();
    let columns = |names: &[String]| names.iter().map(|n| batch.text(n)).collect::<Result<Vec<_>, _>>();
    let out: StringChunked = match input {
        ColumnInput::Source(s) => return Ok(batch.text(s)?.clone()),
        ColumnInput::Constant(v) => return Ok(StringChunked::full(name.into(), v, height)),
        ColumnInput::Concat { columns: names, separator } => {
            let cols = columns(names)?;
            (0..height)
                .map(|row| {
                    let parts: Vec<&str> = cols.iter().filter_map(|c| present(c.get(row))).collect();
                    (!parts.is_empty()).then(|| parts.join(separator))
                })
                .collect()
        }
        ColumnInput::Template(parts) => {
            let cols: Vec<(usize, &StringChunked)> = parts
                .iter()
                .enumerate()
                .filter_map(|(i, p)| match p {
                    crate::plan::TemplatePart::Column(c) => Some(batch.text(c).map(|col| (i, col))),
                    crate::plan::TemplatePart::Text(_) => None,
                })
                .collect::<Result<_, _>>()?;
            (0..height)
                .map(|row| {
                    let mut any = false;
                    let mut out = String::new();
                    for (i, part) in parts.iter().enumerate() {
                        match part {
                            crate::plan::TemplatePart::Text(t) => out.push_str(t),
                            crate::plan::TemplatePart::Column(_) => {
                                let value = cols.iter().find(|(at, _)| *at == i).and_then(|(_, c)| present(c.get(row)));
                                if let Some(v) = value {
                                    any = true;
                                    out.push_str(v.trim());
                                }
                            }
                        }
                    }
                    any.then(|| out.split(' ').filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" "))
                })
                .collect()
        }
        ColumnInput::Coalesce(names) => {
            let cols = columns(names)?;
            (0..height).map(|row| cols.iter().find_map(|c| present(c.get(row)))).collect()
        }
        ColumnInput::When { column, equals, then, otherwise } => {
            let col = batch.text(column)?;
            col.iter().map(|v| if when_holds(equals, v) { Some(then.as_str()) } else { otherwise.as_deref() }).collect()
        }
    };
    Ok(out.with_name(name.into()))
}

/// What mapping a batch gives: the rows to stage, the rows refused, and what
/// transforms did that the report counts (on rows that were kept).
#[derive(Debug, Clone)]
pub struct MapOutput {
    pub mapped: MappedBatch,
    pub rejects: Vec<MapRejection>,
    pub notes: Vec<MapNote>,
    /// Rows the entity's `filter` left out.
    pub filtered: u64,
}

/// One counted event: a sentinel date nulled, a value truncated.
#[derive(Debug, Clone, PartialEq)]
pub struct MapNote {
    /// The source column (or the target column for a constant).
    pub column: String,
    pub code: &'static str,
    pub example: String,
}

/// A transformed value in the form its target takes. An amount with its
/// currency fills a numeric column with the amount alone.
fn target_form(column: &ColumnPlan, kind: ValueKind, value: String) -> String {
    match (kind, column.target_type, &column.json_key) {
        (ValueKind::Money, TargetType::Numeric, None) => match split_money(&value) {
            Some((amount, _)) => amount.to_string(),
            None => value,
        },
        _ => value,
    }
}

/// A value inside a JSONB column: amounts become `{amount, currency}` (the
/// amount as a string, so no reader turns it into a float).
fn json_value(column: &ColumnPlan, value: &str) -> serde_json::Value {
    let kind = column.transforms.last().map_or(ValueKind::Text, |t| t.output());
    let parts: Vec<&str> = value.split(' ').collect();
    match (kind, parts.as_slice()) {
        (ValueKind::Money, [amount, currency, original, original_currency, rate, rate_date]) => serde_json::json!({
            "amount": amount,
            "currency": currency,
            "original_amount": original,
            "original_currency": original_currency,
            "rate": rate,
            "rate_date": rate_date,
        }),
        (ValueKind::Money, [amount, currency]) => serde_json::json!({ "amount": amount, "currency": currency }),
        (ValueKind::Boolean, _) => serde_json::Value::Bool(value == "true"),
        (ValueKind::Timestamp, _) => serde_json::Value::String(rfc3339(value)),
        (ValueKind::Number, _) => json_number(value),
        (ValueKind::Json, _) => {
            serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.to_string()))
        }
        _ => serde_json::Value::String(value.to_string()),
    }
}

/// A timestamp inside JSONB, in RFC 3339 and UTC: the date transform's
/// `2016-12-18 15:08:16.000000+00` (the form a timestamptz column reads)
/// becomes `2016-12-18T15:08:16.000000Z`, the form MongoDB dates already
/// arrive in (`2012-10-02T07:00:00.000Z`) and JSON readers expect.
fn rfc3339(value: &str) -> String {
    let body = value.strip_suffix("+00").filter(|_| value.as_bytes().get(10) == Some(&b' '));
    match body.and_then(|b| Some((b.get(..10)?, b.get(11..)?))) {
        Some((date, time)) => format!("{date}T{time}Z"),
        None => value.to_string(),
    }
}

/// An exact decimal as a JSON number when one holds it exactly (an integer,
/// or a decimal whose shortest float form is the same digits), else as a
/// string: exactness over type.
fn json_number(value: &str) -> serde_json::Value {
    if let Ok(i) = value.parse::<i64>() {
        return serde_json::Value::from(i);
    }
    let trimmed = if value.contains('.') { value.trim_end_matches('0').trim_end_matches('.') } else { value };
    match value.parse::<f64>().ok().filter(|f| f.is_finite() && f.to_string() == trimmed) {
        Some(f) => serde_json::Value::from(f),
        None => serde_json::Value::String(value.to_string()),
    }
}

fn check_value(column: &ColumnPlan, value: Option<&str>) -> Option<(RejectReason, String)> {
    let Some(value) = value else {
        if column.required {
            return Some((RejectReason::RequiredMissing, format!("{} is required but empty", column.target)));
        }
        if column.not_null && column.default.is_none() && column.json_key.is_none() {
            return Some((RejectReason::NotNull, format!("{} cannot be empty", column.target)));
        }
        return None;
    };
    if let Some(max) = column.max_chars {
        let len = value.chars().count();
        if len > max {
            return Some((RejectReason::TooLong, format!("{len} characters; {} holds at most {max}", column.target)));
        }
    }
    if let Some(allowed) = &column.allowed
        && !allowed.iter().any(|a| a == value)
    {
        return Some((
            RejectReason::InvalidValue,
            format!("{value:?} is not one of {} for {}", allowed.join(", "), column.target),
        ));
    }
    None
}

/// The source keys of a batch's rows whose `flag` column says deleted
/// (`flag = None`: of every row), rows without a key left out: for a key
/// scan and a soft-delete column.
pub(crate) fn keys_of(plan: &EntityPlan, batch: &Batch, flag: Option<&str>) -> Result<Vec<String>, BatchError> {
    let keys = source_keys(plan, batch, &mut |_, _| {})?;
    let deleted: Option<Vec<bool>> = match flag {
        Some(column) => Some(
            batch
                .text(column)?
                .iter()
                .map(|v| !crate::incremental::NOT_DELETED.contains(&v.map_or("", str::trim)))
                .collect(),
        ),
        None => None,
    };
    Ok(keys
        .into_iter()
        .enumerate()
        .filter(|(row, key)| !key.is_empty() && deleted.as_ref().is_none_or(|d| d.get(*row).copied().unwrap_or(false)))
        .map(|(_, key)| key)
        .collect())
}

/// The unit separator joins the parts of a composite key: it does not occur
/// in legacy text, so ("a,b", "c") and ("a", "b,c") stay distinct.
const KEY_SEPARATOR: char = '\u{1f}';

fn source_keys(
    plan: &EntityPlan,
    batch: &Batch,
    reject: &mut impl FnMut(usize, MapRejection),
) -> Result<Vec<String>, BatchError> {
    let height = batch.height();
    let mut keys = vec![String::new(); height];
    match &plan.key {
        KeySpec::Columns(cols) => {
            for col in cols {
                let values = batch.text(col)?;
                for (row, value) in values.iter().enumerate() {
                    let value = value.map(str::trim).filter(|v| !v.is_empty());
                    match (value, keys.get_mut(row)) {
                        (Some(v), Some(key)) => {
                            if !key.is_empty() {
                                key.push(KEY_SEPARATOR);
                            }
                            key.push_str(v);
                        }
                        _ => reject(
                            row,
                            MapRejection {
                                row,
                                column: Some(col.clone()),
                                value: None,
                                reason: RejectReason::MissingKey,
                                message: format!("source key column {col} is empty"),
                            },
                        ),
                    }
                }
            }
        }
        KeySpec::RowHash => {
            // What the source record held: a cell the source read as empty
            // because it held an error (`#NAME?`) is hashed as that error's
            // text, so that records differing only there stay apart.
            let names = batch.column_names();
            let mut held: std::collections::HashMap<(usize, usize), &str> = std::collections::HashMap::new();
            for note in batch.notes.iter().filter(|n| n.code == NULLED_ERROR_CELL) {
                if let Some(c) = names.iter().position(|n| *n == note.column) {
                    held.insert((note.row, c), note.example.as_str());
                }
            }
            for (row, key) in keys.iter_mut().enumerate() {
                let mut hasher = Sha256::new();
                for (c, value) in batch.row_values(row).into_iter().enumerate() {
                    match (value, held.get(&(row, c))) {
                        (Some(v), _) => {
                            hasher.update([1u8]);
                            hasher.update(v.as_bytes());
                        }
                        (None, Some(error)) => {
                            hasher.update([2u8]);
                            hasher.update(error.as_bytes());
                        }
                        (None, None) => hasher.update([0u8]),
                    }
                    hasher.update([KEY_SEPARATOR as u8]);
                }
                *key = hex::encode(hasher.finalize());
            }
        }
    }
    Ok(keys)
}

/// Whether a `when` takes `then` for `value`: trimmed, it equals one of
/// `equals`; an empty or missing field is "", so `equals = ""` matches it.
fn when_holds(equals: &[String], value: Option<&str>) -> bool {
    let value = value.map_or("", str::trim);
    equals.iter().any(|e| e.trim() == value)
}

/// For each `when` rule of `plan`: its column's name as the mapping writes
/// it, and how many of the batch's rows take `then` and how many the other
/// branch, judged as a run does (`validate` warns of a branch no sampled
/// row takes).
pub fn when_branches(plan: &EntityPlan, batch: &Batch) -> Result<Vec<(String, usize, usize)>, BatchError> {
    let mut out = Vec::new();
    for column in &plan.columns {
        let ColumnInput::When { column: source, equals, .. } = &column.input else { continue };
        let then = batch.text(source)?.iter().filter(|v| when_holds(equals, *v)).count();
        let name = match &column.json_key {
            Some(key) => format!("{}.{key}", column.target),
            None => column.target.clone(),
        };
        out.push((name, then, batch.height() - then));
    }
    Ok(out)
}

/// Counted for each empty value `fill_down` filled from the row above.
pub const NOTE_FILLED_DOWN: &str = "filled_down";

/// What `fill_down` carries from one batch to the next: each filled source
/// column's last value. One per entity and run, fed the batches in order.
#[derive(Debug, Default, Clone)]
pub struct FillDown {
    last: std::collections::HashMap<String, String>,
}

impl FillDown {
    /// Fills the empty values (after trimming) of each source column a
    /// `fill_down` rule reads with the last value above them, from earlier
    /// batches too, and notes each (`filled_down`). Rows the source could
    /// not read are left as they are and carry nothing down.
    pub fn apply(&mut self, plan: &EntityPlan, batch: &mut Batch) -> Result<(), BatchError> {
        let mut filled_columns: Vec<&str> = Vec::new();
        let unreadable: std::collections::HashSet<usize> = batch.malformed.iter().map(|m| m.row).collect();
        for column in plan.columns.iter().filter(|c| c.fill_down) {
            let ColumnInput::Source(name) = &column.input else { continue };
            if filled_columns.contains(&name.as_str()) {
                continue;
            }
            filled_columns.push(name);
            let values: Vec<Option<String>> = batch.text(name)?.iter().map(|v| v.map(str::to_string)).collect();
            let mut out = Vec::with_capacity(values.len());
            for (row, value) in values.into_iter().enumerate() {
                let empty = value.as_deref().is_none_or(|v| v.trim().is_empty());
                match (empty, self.last.get(name.as_str())) {
                    _ if unreadable.contains(&row) => out.push(value),
                    (true, Some(above)) => {
                        batch.notes.push(crate::batch::SourceNote {
                            row,
                            column: name.clone(),
                            code: NOTE_FILLED_DOWN,
                            example: above.clone(),
                        });
                        out.push(Some(above.clone()));
                    }
                    (true, None) => out.push(value),
                    (false, _) => {
                        if let Some(v) = &value {
                            self.last.insert(name.clone(), v.clone());
                        }
                        out.push(value);
                    }
                }
            }
            batch.frame.replace(name, Column::new(name.as_str().into(), out))?;
        }
        Ok(())
    }
}

/// The note a source leaves for a cell it read as empty because the cell
/// held an error; its example is the error's text.
pub const NULLED_ERROR_CELL: &str = "excel_error_nulled";

#[cfg(test)]
mod tests;
