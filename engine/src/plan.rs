//! What a validated mapping becomes: everything the run loop needs, already
//! checked against the target schema.

use uuid::Uuid;

use crate::transform::Transform;

/// A whole run: the tenant, the legacy system's name and one plan per entity,
/// in the order they load.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub name: String,
    pub org_id: Uuid,
    /// Names the legacy system; with the entity and source key it identifies
    /// a row across runs (the key map).
    pub source_system: String,
    pub entities: Vec<EntityPlan>,
    /// Fail the run (exit 3, nothing published) past this many rejected rows.
    pub max_rejected: Option<RejectBudget>,
}

#[derive(Debug, Clone)]
pub struct EntityPlan {
    /// The target table, e.g. `contacts`.
    pub entity: String,
    /// The `[sources.NAME]` it reads.
    pub source: String,
    pub key: KeySpec,
    pub columns: Vec<ColumnPlan>,
    pub on_existing: OnExisting,
    /// Rows of different source keys that are the same record (the same
    /// customer typed twice): kept once.
    pub dedupe: Option<Dedupe>,
    /// Target columns that identify a row the org already has (loaded by
    /// another system, or created in the platform): a new source key whose
    /// values match one is linked to it instead of inserting a copy.
    pub match_existing: Vec<String>,
    /// What happens to rows an earlier run of this source system loaded
    /// whose source keys this run did not see.
    pub on_missing: OnMissing,
    /// With `on_missing = "delete"`: the most rows (or share of the rows
    /// this source system has in the entity) one run may delete; past it
    /// the run fails and nothing is published. A partial export would
    /// otherwise delete everything it lacks.
    pub max_deleted: RejectBudget,
    /// Rows that look alike without being equal (Jaro-Winkler): flagged in
    /// the report, never merged.
    pub similar: Option<Similar>,
    /// `[migration] double_encoded`: repair double-encoded UTF-8 in source
    /// values (the default) or keep it as read.
    pub double_encoded: crate::transform::mojibake::DoubleEncoded,
    /// `filter`: a row loads only when every condition holds; the others
    /// are counted as `filtered`.
    pub filter: Vec<Condition>,
}

/// One condition of an entity's `filter`, on a source column's value,
/// trimmed; an empty or missing field is `""`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub column: String,
    pub test: Test,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Test {
    /// The value is one of these.
    Equals(Vec<String>),
    /// The value is none of these.
    NotEquals(Vec<String>),
    /// The value is empty (`true`) or not (`false`).
    IsEmpty(bool),
}

impl Condition {
    /// Whether a field (as read, `None` when missing) passes.
    pub fn holds(&self, value: Option<&str>) -> bool {
        let v = value.map_or("", str::trim);
        match &self.test {
            Test::Equals(list) => list.iter().any(|e| e.trim() == v),
            Test::NotEquals(list) => !list.iter().any(|e| e.trim() == v),
            Test::IsEmpty(empty) => v.is_empty() == *empty,
        }
    }
}

/// `similar = { on = ["first_name", "last_name", "company"], threshold = 0.92 }`.
#[derive(Debug, Clone, PartialEq)]
pub struct Similar {
    /// Target columns joined (case- and accent-folded) into the compared text.
    pub on: Vec<String>,
    /// Jaro-Winkler similarity from which a pair is flagged (0 < t ≤ 1).
    pub threshold: f64,
}

/// What publishing does with rows of an earlier run that are gone from the
/// source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnMissing {
    /// Leave them, and do not look for them.
    Keep,
    /// Delete them (rows other rows still refer to are kept and listed).
    Delete,
    /// List and count them; change nothing.
    #[default]
    Report,
}

/// `max_deleted` when the mapping does not say.
pub const DEFAULT_MAX_DELETED: RejectBudget = RejectBudget::Percent(50.0);

impl OnMissing {
    pub fn as_str(self) -> &'static str {
        match self {
            OnMissing::Keep => "keep",
            OnMissing::Delete => "delete",
            OnMissing::Report => "report",
        }
    }
}

/// `dedupe = { on = ["email"], keep = "first", order_by = "created_at",
/// merge = "fill_missing" }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dedupe {
    /// Target columns compared, after the mapping's transforms, trimmed,
    /// case-folded and with runs of spaces collapsed. Rows with any of them
    /// empty are never duplicates.
    pub on: Vec<String>,
    pub keep: Keep,
    /// A target column ordering a group's rows (instead of source order).
    pub order_by: Option<String>,
    /// Fill the survivor's empty columns from the dropped rows, in order.
    pub fill_missing: bool,
}

/// Which row of a group of duplicates survives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    First,
    Last,
    /// The one with the most non-empty columns; the first of those.
    MostComplete,
}

/// The legacy primary key of an entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySpec {
    Columns(Vec<String>),
    /// A hash of every source field: a corrected row becomes a new row.
    RowHash,
}

/// What publishing does to a row that a previous run already loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnExisting {
    /// Leave it as it is.
    Skip,
    /// Overwrite the mapped columns when they differ.
    #[default]
    Update,
    /// Only fill the mapped columns that are NULL in the target.
    FillMissing,
}

impl OnExisting {
    pub fn as_str(self) -> &'static str {
        match self {
            OnExisting::Skip => "skip",
            OnExisting::Update => "update",
            OnExisting::FillMissing => "fill_missing",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ColumnPlan {
    /// The target column. For a key inside a JSONB column
    /// (`custom_fields.lifetime_value`) this is the JSONB column.
    pub target: String,
    pub json_key: Option<String>,
    pub input: ColumnInput,
    pub transforms: Vec<Transform>,
    /// The mapping says the value must be present.
    pub required: bool,
    /// From the target schema.
    pub not_null: bool,
    pub max_chars: Option<usize>,
    pub allowed: Option<Vec<String>>,
    /// The target column's default (an empty value is then no error: the
    /// database fills it for a new row, an existing row keeps its value).
    pub default: Option<String>,
    pub target_type: TargetType,
    /// A link to another entity: the value is that entity's legacy key,
    /// resolved through the key map when the run publishes.
    pub link: Option<Link>,
    /// What an invalid value (a transform that fails, a value too long or
    /// not allowed) does to its row.
    pub on_invalid: OnInvalid,
    /// `fill_down = true`: an empty value of the source column this rule
    /// reads takes the last value above it (a parent written once above its
    /// children).
    pub fill_down: bool,
}

/// `on_invalid`: one bad value need not cost the whole row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OnInvalid {
    /// The row is rejected with the value's reason.
    #[default]
    Reject,
    /// The value is left empty and the row loads (`invalid_nulled`).
    Null,
    /// The value is left empty and the original text is kept under
    /// `custom_fields.<column>_raw` (`invalid_kept_raw`).
    KeepRaw,
}

impl OnInvalid {
    pub fn as_str(self) -> &'static str {
        match self {
            OnInvalid::Reject => "reject",
            OnInvalid::Null => "null",
            OnInvalid::KeepRaw => "keep_raw",
        }
    }
}

/// The JSONB column `on_invalid = "keep_raw"` writes to.
pub const RAW_COLUMN: &str = "custom_fields";

/// Where a link column points, and what to do when its key is unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// The referenced entity (`contacts`).
    pub entity: String,
    pub orphans: Orphans,
    /// Also record the link in `entity_links` under this relation
    /// (`attached_to`), for the platform's generic relations view.
    pub relation: Option<String>,
}

/// A row whose link names a key that no run of this source system loaded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Orphans {
    /// Rejected (`orphan_reference`), listed with the rejects.
    #[default]
    Reject,
    /// Loaded without the link, counted as a warning (`orphan_unlinked`).
    Unlinked,
}

impl ColumnPlan {
    /// A text column read as-is from a source column, with no schema
    /// constraints: the starting point tests and benchmarks adjust.
    pub fn from_source(target: &str, source: &str) -> Self {
        Self {
            target: target.to_string(),
            json_key: None,
            input: ColumnInput::Source(source.to_string()),
            transforms: Vec::new(),
            required: false,
            not_null: false,
            max_chars: None,
            allowed: None,
            default: None,
            target_type: TargetType::Text,
            link: None,
            on_invalid: OnInvalid::Reject,
            fill_down: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnInput {
    Source(String),
    Constant(String),
    /// Several source columns joined by `separator` (empty ones skipped);
    /// NULL when all are empty. A date and a time column become one value.
    Concat {
        columns: Vec<String>,
        separator: String,
    },
    /// The first non-empty of several source columns.
    Coalesce(Vec<String>),
    /// `template = "{Qty} {Unit} to {County}"`: literal text with source
    /// columns in braces (trimmed; an empty one gives nothing, and runs of
    /// spaces left by it collapse); NULL when every column is empty.
    Template(Vec<TemplatePart>),
    /// `then` where `column` (trimmed) equals one of `equals`, else
    /// `otherwise` (NULL when none).
    When {
        column: String,
        equals: Vec<String>,
        then: String,
        otherwise: Option<String>,
    },
}

/// A piece of a template: literal text or a source column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    Text(String),
    Column(String),
}

impl TemplatePart {
    /// `"{a} to {b}"` → column a, text " to ", column b; `{{` and `}}` are
    /// literal braces. `Err` says what is wrong.
    pub fn parse(template: &str) -> Result<Vec<TemplatePart>, String> {
        let mut parts = Vec::new();
        let mut text = String::new();
        let mut chars = template.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text.push('}');
                }
                '{' => {
                    let name: String = chars.by_ref().take_while(|&c| c != '}').collect();
                    if name.trim().is_empty() {
                        return Err("an empty `{}`: name a source column inside the braces".to_string());
                    }
                    if !text.is_empty() {
                        parts.push(TemplatePart::Text(std::mem::take(&mut text)));
                    }
                    parts.push(TemplatePart::Column(name));
                }
                '}' => return Err("a `}` without its `{` (write `}}` for a brace)".to_string()),
                c => text.push(c),
            }
        }
        if !text.is_empty() {
            parts.push(TemplatePart::Text(text));
        }
        if !parts.iter().any(|p| matches!(p, TemplatePart::Column(_))) {
            return Err("the template names no source column: write it as `{Column}`".to_string());
        }
        Ok(parts)
    }
}

impl ColumnInput {
    /// The source columns it reads, in order.
    pub fn source_columns(&self) -> Vec<&str> {
        match self {
            ColumnInput::Template(parts) => parts
                .iter()
                .filter_map(|p| match p {
                    TemplatePart::Column(c) => Some(c.as_str()),
                    TemplatePart::Text(_) => None,
                })
                .collect(),
            ColumnInput::Source(s) => vec![s],
            ColumnInput::Constant(_) => vec![],
            ColumnInput::Concat { columns, .. } | ColumnInput::Coalesce(columns) => {
                columns.iter().map(String::as_str).collect()
            }
            ColumnInput::When { column, .. } => vec![column],
        }
    }

    /// How rejects name it: the source column, or the columns joined by `+`.
    pub fn describe(&self) -> Option<String> {
        let cols = self.source_columns();
        (!cols.is_empty()).then(|| cols.join("+"))
    }
}

/// The PostgreSQL type of a target column, as the schema model knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetType {
    Text,
    Uuid,
    Integer,
    BigInt,
    Numeric,
    Boolean,
    Date,
    Timestamp,
    Json,
}

impl TargetType {
    pub fn sql_name(self) -> &'static str {
        match self {
            TargetType::Text => "text",
            TargetType::Uuid => "uuid",
            TargetType::Integer => "integer",
            TargetType::BigInt => "bigint",
            TargetType::Numeric => "numeric",
            TargetType::Boolean => "boolean",
            TargetType::Date => "date",
            TargetType::Timestamp => "timestamptz",
            TargetType::Json => "jsonb",
        }
    }
}

impl EntityPlan {
    /// The distinct target columns the entity writes, in mapping order
    /// (keys of a JSONB column collapse into that column), and
    /// `custom_fields` last when a column keeps its invalid values raw.
    pub fn target_columns(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for c in &self.columns {
            if !out.contains(&c.target.as_str()) {
                out.push(&c.target);
            }
        }
        if self.columns.iter().any(|c| c.on_invalid == OnInvalid::KeepRaw) && !out.contains(&RAW_COLUMN) {
            out.push(RAW_COLUMN);
        }
        out
    }

    /// Source columns the mapping reads (key and values), each once.
    pub fn source_columns(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        if let KeySpec::Columns(cols) = &self.key {
            out.extend(cols.iter().map(String::as_str));
        }
        for c in &self.columns {
            for s in c.input.source_columns() {
                if !out.contains(&s) {
                    out.push(s);
                }
            }
        }
        for c in &self.filter {
            if !out.contains(&c.column.as_str()) {
                out.push(&c.column);
            }
        }
        out
    }
}

/// How many rejected rows a run may have and still publish.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RejectBudget {
    /// At most this many rows: checked after every batch, so a run that
    /// cannot publish stops reading early.
    Rows(u64),
    /// At most this share of the rows read, in percent: checked once every
    /// row is read.
    Percent(f64),
}

impl RejectBudget {
    /// `100` or `2.5%`.
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        match t.strip_suffix('%') {
            Some(p) => p.trim().parse::<f64>().ok().filter(|p| (0.0..=100.0).contains(p)).map(Self::Percent),
            None => t.parse::<u64>().ok().map(Self::Rows),
        }
    }

    /// Whether `rejected` of `read` rows goes over the budget; `all_read`
    /// once the sources are exhausted.
    pub fn exceeded(self, rejected: u64, read: u64, all_read: bool) -> bool {
        match self {
            Self::Rows(n) => rejected > n,
            Self::Percent(p) => all_read && read > 0 && rejected as f64 * 100.0 > p * read as f64,
        }
    }
}

impl std::fmt::Display for RejectBudget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rows(n) => write!(f, "{n}"),
            Self::Percent(p) => write!(f, "{p}%"),
        }
    }
}

#[cfg(test)]
mod budget_tests {
    use super::RejectBudget;

    #[test]
    fn budgets_parse_and_apply() {
        assert_eq!(RejectBudget::parse("100"), Some(RejectBudget::Rows(100)));
        assert_eq!(RejectBudget::parse(" 2.5% "), Some(RejectBudget::Percent(2.5)));
        for bad in ["", "-1", "101%", "x%", "1.5"] {
            assert_eq!(RejectBudget::parse(bad), None, "{bad}");
        }
        assert!(RejectBudget::Rows(2).exceeded(3, 10, false));
        assert!(!RejectBudget::Rows(3).exceeded(3, 10, false));
        assert!(!RejectBudget::Percent(10.0).exceeded(5, 10, false), "only once everything is read");
        assert!(RejectBudget::Percent(10.0).exceeded(2, 10, true));
        assert!(!RejectBudget::Percent(10.0).exceeded(1, 10, true));
    }
}
