//! Mapping text → [`Mapping`], collecting every error with its span.

mod columns;
mod document;
mod transforms;

use std::collections::BTreeMap;
use std::ops::Range;

use migrate_engine::transform::mojibake::DoubleEncoded;
use migrate_engine::{
    ColumnPlan, Condition, DEFAULT_MAX_DELETED, Dedupe, EntityPlan, Keep, KeySpec, OnExisting, OnMissing, RejectBudget,
    RunPlan, Similar, Test,
};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::schema;
use crate::suggest::did_you_mean;
use document::{Checker, interpolate_tree};

/// Source kinds a mapping may name. A closed list: one connector crate each.
pub const SOURCE_KINDS: &[&str] = &["csv", "excel", "xml", "sql_dump", "mysql", "mssql", "mongodb"];

const MIGRATION_KEYS: &[&str] = &["name", "org_id", "source_system", "max_rejected", "double_encoded"];
const ENTITY_KEYS: &[&str] = &[
    "from",
    "key",
    "filter",
    "on_existing",
    "on_missing",
    "max_deleted",
    "dedupe",
    "similar",
    "match_existing",
    "columns",
];
const ON_EXISTING: &[&str] = &["skip", "update", "fill_missing"];
pub(crate) const ROW_HASH: &str = "$row_hash";
const FILTER_KEYS: &[&str] = &["column", "equals", "not_equals", "is_empty"];

/// A checked mapping: the engine plan plus what later checks and the
/// connectors need (source blocks, where each source column is named).
#[derive(Debug, Clone)]
pub struct Mapping {
    pub path: String,
    pub text: String,
    pub sha256: String,
    pub plan: RunPlan,
    pub sources: Vec<SourceBlock>,
    pub source_refs: Vec<SourceColumnRef>,
    pub warnings: Vec<Diagnostic>,
    /// What is wrong with it. A mapping with errors is never run; it is
    /// kept so that every other check (source options, source columns) can
    /// still report in the same pass.
    pub errors: Vec<Diagnostic>,
    /// The environment variables the mapping used, captured at parse time so
    /// that building a source later sees the same values.
    env: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct SourceBlock {
    pub name: String,
    pub kind: String,
    pub span: Range<usize>,
}

/// A place where the mapping names a source column; checked once the
/// source's header is known.
#[derive(Debug, Clone)]
pub struct SourceColumnRef {
    pub entity: String,
    pub source: String,
    pub column: String,
    pub span: Range<usize>,
}

/// Parses and checks a mapping. `env` looks up `${VAR}`s.
pub fn parse(path: &str, text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Mapping, Diagnostics> {
    let mapping = parse_lenient(path, text, env)?;
    if mapping.errors.is_empty() {
        Ok(mapping)
    } else {
        let mut items = mapping.errors.clone();
        items.extend(mapping.warnings.iter().cloned());
        Err(mapping.diagnostics(items))
    }
}

/// Parses as far as the text allows: `Err` only for invalid TOML; any other
/// error is in `Mapping::errors`, with the plan holding what could be read.
pub fn parse_lenient(path: &str, text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Mapping, Diagnostics> {
    let diagnostics = |items| Diagnostics { path: path.to_string(), text: text.to_string(), items };
    let (root, errors) = DeTable::parse_recoverable(text);
    if !errors.is_empty() {
        let items = errors
            .iter()
            .map(|e| Diagnostic::error(e.span().unwrap_or(0..0), e.message().to_string()).label("invalid TOML"))
            .collect();
        return Err(diagnostics(items));
    }
    let mut root = root.into_inner();
    let mut checker = Checker { text, diags: Vec::new(), env: BTreeMap::new(), failed: Vec::new() };
    interpolate_tree(&mut root, &mut checker, env);

    let mut migration = None;
    let mut sources = Vec::new();
    let mut entity_blocks = Vec::new();
    for (key, value) in &root {
        match key.get_ref().as_ref() {
            "migration" => migration = checker.table(value, "[migration]"),
            "sources" => {
                if let Some(table) = checker.table(value, "[sources]") {
                    sources = source_blocks(&mut checker, table);
                }
            }
            name if schema::table(name).is_some_and(|t| t.mappable) => entity_blocks.push((key, value)),
            other => {
                let mut candidates: Vec<&str> = vec!["migration", "sources"];
                candidates.extend(schema::PLATFORM.iter().filter(|t| t.mappable).map(|t| t.name));
                checker.unknown_key(key.span(), other, "top-level table", &candidates);
            }
        }
    }
    let whole = 0..text.len().min(1);
    let header = match migration {
        Some(migration) => migration_header(&mut checker, migration),
        None => {
            checker.diags.push(
                Diagnostic::error(whole.clone(), "missing [migration] table")
                    .help("add [migration] with name, org_id and source_system"),
            );
            None
        }
    };
    if entity_blocks.is_empty() {
        checker.diags.push(
            Diagnostic::error(whole, "the mapping loads no entity")
                .help("add a table named after a target entity, e.g. [contacts]"),
        );
    }
    let mut entities = Vec::new();
    let mut source_refs = Vec::new();
    for (key, value) in entity_blocks {
        if let Some(plan) = entity(&mut checker, key, value, &sources, &mut source_refs) {
            entities.push(plan);
        }
    }
    let (errors, warnings): (Vec<_>, Vec<_>) =
        checker.diags.into_iter().partition(|d| d.severity == crate::diagnostic::Severity::Error);
    let (name, org_id, source_system, max_rejected, double_encoded) =
        header.unwrap_or_else(|| (String::new(), uuid::Uuid::nil(), String::new(), None, Default::default()));
    for e in &mut entities {
        e.double_encoded = double_encoded;
    }
    Ok(Mapping {
        path: path.to_string(),
        text: text.to_string(),
        sha256: hex::encode(Sha256::digest(text.as_bytes())),
        plan: RunPlan { name, org_id, source_system, entities: dependency_order(entities), max_rejected },
        sources,
        source_refs,
        warnings,
        errors,
        env: checker.env,
    })
}

type Header = (String, uuid::Uuid, String, Option<RejectBudget>, DoubleEncoded);

fn migration_header(checker: &mut Checker, table: &DeTable) -> Option<Header> {
    for (key, _) in table {
        if !MIGRATION_KEYS.contains(&key.get_ref().as_ref()) {
            checker.unknown_key(key.span(), key.get_ref(), "key of [migration]", MIGRATION_KEYS);
        }
    }
    let span = table.iter().next().map_or(0..0, |(k, _)| k.span());
    let name = checker.required_str(table, "name", "[migration]", span.clone());
    let source_system = checker.required_str(table, "source_system", "[migration]", span.clone());
    let org = checker.required_str(table, "org_id", "[migration]", span);
    let org_id = org.and_then(|(org, span)| match uuid::Uuid::parse_str(&org) {
        Ok(id) => Some(id),
        Err(_) => {
            checker.diags.push(
                Diagnostic::error(span, format!("org_id `{org}` is not a UUID"))
                    .label("expected a UUID")
                    .help("org_id = \"${ORG_ID}\" with ORG_ID set to the tenant's UUID"),
            );
            None
        }
    });
    let max_rejected = match table.get("max_rejected") {
        None => Some(None),
        Some(v) => limit(checker, v, "max_rejected", "max_rejected = 100, or max_rejected = \"2.5%\"").map(Some),
    };
    let double_encoded = match table.get("double_encoded").map(|v| (v.get_ref().as_str(), v.span())) {
        None => Some(DoubleEncoded::Repair),
        Some((Some("repair"), _)) => Some(DoubleEncoded::Repair),
        Some((Some("keep"), _)) => Some(DoubleEncoded::Keep),
        Some((_, span)) => {
            checker.diags.push(
                Diagnostic::error(span, "double_encoded is \"repair\" or \"keep\"")
                    .label("expected \"repair\" or \"keep\"")
                    .help("double_encoded = \"keep\" loads values such as `CafÃ©` as the source has them"),
            );
            None
        }
    };
    Some((name?.0, org_id?, source_system?.0, max_rejected?, double_encoded?))
}

fn source_blocks(checker: &mut Checker, table: &DeTable) -> Vec<SourceBlock> {
    let mut out = Vec::new();
    for (key, value) in table {
        let name = key.get_ref().to_string();
        let Some(block) = checker.table(value, &format!("[sources.{name}]")) else { continue };
        let Some((kind, kind_span)) = checker.required_str(block, "kind", &format!("[sources.{name}]"), key.span())
        else {
            continue;
        };
        if !SOURCE_KINDS.contains(&kind.as_str()) {
            checker.unknown_key(kind_span, &kind, "source kind", SOURCE_KINDS);
            continue;
        }
        out.push(SourceBlock { name, kind, span: key.span() });
    }
    out
}

fn entity(
    checker: &mut Checker,
    key: &Spanned<std::borrow::Cow<'_, str>>,
    value: &Spanned<DeValue<'_>>,
    sources: &[SourceBlock],
    source_refs: &mut Vec<SourceColumnRef>,
) -> Option<EntityPlan> {
    let entity = key.get_ref().to_string();
    let where_ = format!("[{entity}]");
    let table = checker.table(value, &where_)?;
    let target = schema::table(&entity)?;
    for (k, _) in table {
        if !ENTITY_KEYS.contains(&k.get_ref().as_ref()) {
            checker.unknown_key(k.span(), k.get_ref(), &format!("key of {where_}"), ENTITY_KEYS);
        }
    }
    let from = checker.required_str(table, "from", &where_, key.span());
    let source = from.and_then(|(from, span)| {
        if sources.iter().any(|s| s.name == from) {
            Some(from)
        } else {
            checker.unknown_key(span, &from, "source", &sources.iter().map(|s| s.name.as_str()).collect::<Vec<_>>());
            None
        }
    });
    let key_spec = entity_key(checker, table, &entity, key.span());
    let on_existing = match table.get("on_existing") {
        None => Some(OnExisting::default()),
        Some(v) => match v.get_ref().as_str() {
            Some("skip") => Some(OnExisting::Skip),
            Some("update") => Some(OnExisting::Update),
            Some("fill_missing") => Some(OnExisting::FillMissing),
            other => {
                checker.unknown_key(v.span(), other.unwrap_or("(not a string)"), "on_existing", ON_EXISTING);
                None
            }
        },
    };
    let on_missing = match table.get("on_missing") {
        None => Some(OnMissing::default()),
        Some(v) => match v.get_ref().as_str() {
            Some("keep") => Some(OnMissing::Keep),
            Some("delete") => Some(OnMissing::Delete),
            Some("report") => Some(OnMissing::Report),
            other => {
                checker.unknown_key(v.span(), other.unwrap_or("(not a string)"), "on_missing", ON_MISSING);
                None
            }
        },
    };
    let max_deleted = match table.get("max_deleted") {
        None => Some(DEFAULT_MAX_DELETED),
        Some(v) => limit(checker, v, "max_deleted", "max_deleted = 100, or max_deleted = \"10%\" (default \"50%\")"),
    };
    let columns = match table.get("columns") {
        Some(v) => checker.table(v, &format!("[{entity}.columns]")),
        None => {
            checker.diags.push(
                Diagnostic::error(key.span(), format!("{where_} maps no column"))
                    .label("no [columns]")
                    .help(format!("add [{entity}.columns] with target_column = \"SourceColumn\" lines")),
            );
            None
        }
    };
    let columns = columns.map(|c| columns::column_plans(checker, target, c)).unwrap_or_default();
    let source = source?;
    if let Some(KeySpec::Columns(cols)) = &key_spec
        && let Some(v) = table.get("key")
    {
        source_refs.extend(cols.iter().map(|c| SourceColumnRef {
            entity: entity.clone(),
            source: source.clone(),
            column: c.clone(),
            span: v.span(),
        }));
    }
    let mut plans = Vec::new();
    for (plan, span) in &columns {
        for t in &plan.transforms {
            if let migrate_engine::Transform::Date(spec) = t
                && let Some(zone_column) = &spec.timezone_column
            {
                source_refs.push(SourceColumnRef {
                    entity: entity.clone(),
                    source: source.clone(),
                    column: zone_column.clone(),
                    span: span.clone(),
                });
            }
            if let migrate_engine::Transform::Phone(spec) = t
                && let Some(region_column) = &spec.region_column
            {
                source_refs.push(SourceColumnRef {
                    entity: entity.clone(),
                    source: source.clone(),
                    column: region_column.clone(),
                    span: span.clone(),
                });
            }
            let migrate_engine::Transform::Money(migrate_engine::transform::MoneySpec { convert: Some(c), .. }) = t
            else {
                continue;
            };
            if !sources.iter().any(|s| s.name == c.rates_source) {
                let names: Vec<&str> = sources.iter().map(|s| s.name.as_str()).collect();
                checker.unknown_key(span.clone(), &c.rates_source, "rates source", &names);
                continue;
            }
            source_refs.push(SourceColumnRef {
                entity: entity.clone(),
                source: source.clone(),
                column: c.date_column.clone(),
                span: span.clone(),
            });
            for column in ["date", "currency", "rate"] {
                source_refs.push(SourceColumnRef {
                    entity: entity.clone(),
                    source: c.rates_source.clone(),
                    column: column.to_string(),
                    span: span.clone(),
                });
            }
        }
    }
    for (plan, span) in columns {
        for column in plan.input.source_columns() {
            source_refs.push(SourceColumnRef {
                entity: entity.clone(),
                source: source.clone(),
                column: column.to_string(),
                span: span.clone(),
            });
        }
        plans.push(plan);
    }
    let filter = match table.get("filter") {
        None => Some(Vec::new()),
        Some(v) => filter_rule(checker, v),
    };
    if let (Some(conditions), Some(v)) = (&filter, table.get("filter")) {
        source_refs.extend(conditions.iter().map(|c| SourceColumnRef {
            entity: entity.clone(),
            source: source.clone(),
            column: c.column.clone(),
            span: v.span(),
        }));
    }
    let dedupe = match table.get("dedupe") {
        None => Some(None),
        Some(v) => dedupe_rule(checker, &plans, v).map(Some),
    };
    let match_existing = match table.get("match_existing") {
        None => Some(Vec::new()),
        Some(v) => match_rule(checker, &plans, v),
    };
    let similar = match table.get("similar") {
        None => Some(None),
        Some(v) => similar_rule(checker, &plans, v).map(Some),
    };
    Some(EntityPlan {
        entity,
        source,
        key: key_spec?,
        columns: plans,
        on_existing: on_existing?,
        dedupe: dedupe?,
        match_existing: match_existing?,
        on_missing: on_missing?,
        max_deleted: max_deleted?,
        similar: similar?,
        double_encoded: Default::default(),
        filter: filter?,
    })
}

/// `filter = { column = "Status", not_equals = ["deleted"] }`, or a list of
/// such conditions, all of which must hold: `equals`, `not_equals` (a
/// string or a list) or `is_empty` (a boolean).
fn filter_rule(checker: &mut Checker, value: &Spanned<DeValue<'_>>) -> Option<Vec<Condition>> {
    let example = "filter = { column = \"Status\", not_equals = [\"deleted\", \"test\"] }";
    let items: Vec<&Spanned<DeValue<'_>>> = match value.get_ref() {
        DeValue::Table(_) => vec![value],
        DeValue::Array(list) if !list.is_empty() => list.iter().collect(),
        _ => {
            checker.diags.push(
                Diagnostic::error(value.span(), "filter is a condition or a list of conditions")
                    .label("expected { column = …, equals = … }")
                    .help(example),
            );
            return None;
        }
    };
    let mut out = Vec::new();
    let mut ok = true;
    for item in items {
        let Some(t) = item.get_ref().as_table() else {
            checker.diags.push(
                Diagnostic::error(item.span(), "a filter condition is a table").label("not a table").help(example),
            );
            ok = false;
            continue;
        };
        for (k, _) in t {
            if !FILTER_KEYS.contains(&k.get_ref().as_ref()) {
                checker.unknown_key(k.span(), k.get_ref(), "filter key", FILTER_KEYS);
                ok = false;
            }
        }
        let column = checker.required_str(t, "column", "filter", item.span()).map(|c| c.0);
        let list = |v: &Spanned<DeValue<'_>>| match v.get_ref() {
            DeValue::String(s) => Some(vec![s.to_string()]),
            DeValue::Array(a) => a.iter().map(|i| i.get_ref().as_str().map(str::to_string)).collect(),
            _ => None,
        };
        let tests: Vec<(&str, Option<Test>)> = ["equals", "not_equals", "is_empty"]
            .iter()
            .filter_map(|k| t.get(*k).map(|v| (*k, v)))
            .map(|(k, v)| {
                let test = match k {
                    "equals" => list(v).map(Test::Equals),
                    "not_equals" => list(v).map(Test::NotEquals),
                    _ => v.get_ref().as_bool().map(Test::IsEmpty),
                };
                if test.is_none() {
                    let want = if k == "is_empty" { "true or false" } else { "a string or a list of strings" };
                    checker
                        .diags
                        .push(Diagnostic::error(v.span(), format!("`{k}` is {want}")).label("unexpected value"));
                }
                (k, test)
            })
            .collect();
        match (column, tests.as_slice()) {
            (Some(column), [(_, Some(test))]) => out.push(Condition { column, test: test.clone() }),
            (_, [(_, None)]) | (None, _) => ok = false,
            (Some(_), []) => {
                checker.diags.push(
                    Diagnostic::error(item.span(), "a filter condition needs `equals`, `not_equals` or `is_empty`")
                        .label("no test")
                        .help(example),
                );
                ok = false;
            }
            (Some(_), _) => {
                checker.diags.push(
                    Diagnostic::error(
                        item.span(),
                        "a filter condition takes one test; list several conditions instead",
                    )
                    .label("more than one of equals, not_equals, is_empty")
                    .help("filter = [{ column = \"A\", equals = \"x\" }, { column = \"B\", is_empty = false }]"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// `dedupe = { on = [...], keep = "first" | "last" | "most_complete",
/// order_by = "column", merge = "fill_missing" | "none" }`.
fn dedupe_rule(checker: &mut Checker, plans: &[ColumnPlan], value: &Spanned<DeValue<'_>>) -> Option<Dedupe> {
    let span = value.span();
    let DeValue::Table(rule) = value.get_ref() else {
        checker.diags.push(
            Diagnostic::error(span, "dedupe is a table")
                .label("not a table")
                .help("dedupe = { on = [\"email\"], keep = \"first\" }"),
        );
        return None;
    };
    let mut ok = true;
    for (k, _) in rule {
        if !DEDUPE_KEYS.contains(&k.get_ref().as_ref()) {
            checker.unknown_key(k.span(), k.get_ref(), "dedupe key", DEDUPE_KEYS);
            ok = false;
        }
    }
    // `order_by`: a mapped, plain target column; `on` also a mapped key
    // inside custom_fields (`custom_fields.vat_id`).
    let mapped: Vec<&str> = plans.iter().filter(|p| p.json_key.is_none()).map(|p| p.target.as_str()).collect();
    let named = |v: &Spanned<DeValue<'_>>, checker: &mut Checker, allowed: &[&str]| -> Option<String> {
        match v.get_ref().as_str() {
            Some(c) if allowed.contains(&c) => Some(c.to_string()),
            Some(c) => {
                checker.unknown_key(v.span(), c, "mapped column of this entity", allowed);
                None
            }
            None => {
                checker.diags.push(Diagnostic::error(v.span(), "expected a column name").label("not a string"));
                None
            }
        }
    };
    let column = |v: &Spanned<DeValue<'_>>, checker: &mut Checker| named(v, checker, &mapped);
    let keys = comparable(plans);
    let comparable: Vec<&str> = keys.iter().map(String::as_str).collect();
    let mut on = Vec::new();
    match rule.get("on").map(|v| (v.get_ref(), v.span())) {
        Some((DeValue::Array(items), _)) if !items.is_empty() => {
            for item in items {
                match named(item, checker, &comparable) {
                    Some(c) => on.push(c),
                    None => ok = false,
                }
            }
        }
        Some((_, at)) => {
            checker
                .diags
                .push(Diagnostic::error(at, "dedupe.on lists the columns to compare").label("expected a list"));
            ok = false;
        }
        None => {
            checker.diags.push(
                Diagnostic::error(span.clone(), "dedupe needs `on`").label("which columns?").help("on = [\"email\"]"),
            );
            ok = false;
        }
    }
    let keep = match rule.get("keep") {
        None => Some(Keep::First),
        Some(v) => match v.get_ref().as_str() {
            Some("first") => Some(Keep::First),
            Some("last") => Some(Keep::Last),
            Some("most_complete") => Some(Keep::MostComplete),
            other => {
                checker.unknown_key(v.span(), other.unwrap_or("?"), "keep rule", &["first", "last", "most_complete"]);
                None
            }
        },
    };
    let order_by = match rule.get("order_by") {
        None => Some(None),
        Some(v) => column(v, checker).map(Some),
    };
    let fill_missing = match rule.get("merge").map(|v| (v.get_ref().as_str(), v.span())) {
        None | Some((Some("none"), _)) => Some(false),
        Some((Some("fill_missing"), _)) => Some(true),
        Some((other, at)) => {
            checker.unknown_key(at, other.unwrap_or("?"), "merge rule", &["none", "fill_missing"]);
            None
        }
    };
    if !ok {
        return None;
    }
    Some(Dedupe { on, keep: keep?, order_by: order_by?, fill_missing: fill_missing? })
}

const DEDUPE_KEYS: &[&str] = &["on", "keep", "order_by", "merge"];

const ON_MISSING: &[&str] = &["keep", "delete", "report"];

/// A limit as a whole number of rows or a percentage string (`"2.5%"`).
fn limit(checker: &mut Checker, v: &Spanned<DeValue<'_>>, key: &str, example: &str) -> Option<RejectBudget> {
    let budget = match v.get_ref() {
        r if r.as_integer().is_some() => {
            r.as_integer().and_then(|i| i.as_str().parse::<u64>().ok()).map(RejectBudget::Rows)
        }
        r => r.as_str().and_then(RejectBudget::parse).filter(|b| matches!(b, RejectBudget::Percent(_))),
    };
    if budget.is_none() {
        checker.diags.push(
            Diagnostic::error(v.span(), format!("{key} must be a whole number ≥ 0 or a percentage"))
                .label("not a limit")
                .help(example),
        );
    }
    budget
}

/// `similar = { on = ["first_name", "last_name"], threshold = 0.92 }`.
fn similar_rule(checker: &mut Checker, plans: &[ColumnPlan], value: &Spanned<DeValue<'_>>) -> Option<Similar> {
    let example = "similar = { on = [\"last_name\", \"first_name\", \"company\"], threshold = 0.92 }";
    let DeValue::Table(rule) = value.get_ref() else {
        checker.diags.push(Diagnostic::error(value.span(), "similar is a table").label("not a table").help(example));
        return None;
    };
    let mut ok = true;
    for (k, _) in rule {
        if !["on", "threshold"].contains(&k.get_ref().as_ref()) {
            checker.unknown_key(k.span(), k.get_ref(), "similar key", &["on", "threshold"]);
            ok = false;
        }
    }
    let on = match rule.get("on") {
        Some(v) => match_rule(checker, plans, v).filter(|on| !on.is_empty()),
        None => None,
    };
    if on.is_none() {
        checker.diags.push(
            Diagnostic::error(value.span(), "similar needs `on`: the columns compared")
                .label("which columns?")
                .help(example),
        );
    }
    let threshold = match rule.get("threshold").map(|v| (v.get_ref(), v.span())) {
        None => Some(0.92),
        Some((DeValue::Float(f), at)) => match f.as_str().parse::<f64>() {
            Ok(t) if t > 0.5 && t <= 1.0 => Some(t),
            _ => {
                checker.diags.push(
                    Diagnostic::error(at, "threshold is a Jaro-Winkler similarity above 0.5, at most 1.0")
                        .label("out of range")
                        .help("0.92 flags typos and swapped letters; 0.97 only near-identical text"),
                );
                None
            }
        },
        Some((_, at)) => {
            checker.diags.push(Diagnostic::error(at, "threshold is a number like 0.92").label("not a decimal number"));
            None
        }
    };
    if !ok {
        return None;
    }
    Some(Similar { on: on?, threshold: threshold? })
}

/// What `dedupe.on` and `match_existing` may compare: the mapped target
/// columns, and the mapped keys inside a JSONB column
/// (`custom_fields.vat_id`).
fn comparable(plans: &[ColumnPlan]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in plans {
        let name = match &p.json_key {
            None => p.target.clone(),
            Some(key) => format!("{}.{key}", p.target),
        };
        if !out.contains(&name) {
            out.push(name);
        }
    }
    out
}

/// `match_existing = ["email"]`: mapped target columns, or mapped keys
/// inside custom_fields.
fn match_rule(checker: &mut Checker, plans: &[ColumnPlan], value: &Spanned<DeValue<'_>>) -> Option<Vec<String>> {
    let keys = comparable(plans);
    let mapped: Vec<&str> = keys.iter().map(String::as_str).collect();
    let DeValue::Array(items) = value.get_ref() else {
        checker.diags.push(
            Diagnostic::error(value.span(), "match_existing lists columns")
                .label("expected a list")
                .help("match_existing = [\"email\"]"),
        );
        return None;
    };
    let mut out = Vec::new();
    for item in items {
        match item.get_ref().as_str() {
            Some(c) if mapped.contains(&c) => out.push(c.to_string()),
            Some(c) => {
                checker.unknown_key(item.span(), c, "mapped column of this entity", &mapped);
                return None;
            }
            None => {
                checker.diags.push(Diagnostic::error(item.span(), "expected a column name").label("not a string"));
                return None;
            }
        }
    }
    Some(out)
}

fn entity_key(checker: &mut Checker, table: &DeTable, entity: &str, fallback: Range<usize>) -> Option<KeySpec> {
    let Some(value) = table.get("key") else {
        checker.diags.push(
            Diagnostic::error(fallback, format!("[{entity}] has no source key")).label("missing `key`").help(format!(
                "name the legacy primary key: key = [\"CustomerID\"]; without one, key = \"{ROW_HASH}\" \
                     (a corrected row then becomes a new row)"
            )),
        );
        return None;
    };
    match value.get_ref() {
        DeValue::String(s) if s == ROW_HASH => Some(KeySpec::RowHash),
        DeValue::String(s) if !s.is_empty() => Some(KeySpec::Columns(vec![s.to_string()])),
        DeValue::Array(items) if !items.is_empty() => {
            let cols: Option<Vec<String>> = items.iter().map(|i| i.get_ref().as_str().map(str::to_string)).collect();
            if cols.is_none() {
                checker.diags.push(
                    Diagnostic::error(value.span(), "key columns must be strings").label("expected [\"Col\", ...]"),
                );
            }
            cols.map(KeySpec::Columns)
        }
        _ => {
            checker.diags.push(
                Diagnostic::error(value.span(), "key must name source columns")
                    .label("expected a column name or a list of them")
                    .help(format!("key = [\"CustomerID\"] or key = \"{ROW_HASH}\"")),
            );
            None
        }
    }
}

impl Mapping {
    /// The options of `[sources.NAME]` (without `kind`), deserialized into a
    /// connector's config struct; errors point into the mapping file.
    pub fn source_config<T: DeserializeOwned>(&self, name: &str) -> Result<T, Diagnostics> {
        let (root, _) = DeTable::parse_recoverable(&self.text);
        let mut root = root.into_inner();
        let env = self.env.clone();
        let mut checker = Checker { text: &self.text, diags: Vec::new(), env: BTreeMap::new(), failed: Vec::new() };
        interpolate_tree(&mut root, &mut checker, &|k| env.get(k).cloned());
        let block = root.get("sources").and_then(|s| s.get_ref().as_table()).and_then(|s| s.get(name)).cloned();
        let Some(block) = block else {
            return Err(self.diagnostics(vec![Diagnostic::error(0..0, format!("no [sources.{name}]"))]));
        };
        let span = block.span();
        let DeValue::Table(table) = block.into_inner() else {
            return Err(self.diagnostics(vec![Diagnostic::error(span, format!("[sources.{name}] is not a table"))]));
        };
        let table: DeTable = table.into_iter().filter(|(k, _)| k.get_ref() != "kind").collect();
        let value = Spanned::new(span.clone(), DeValue::Table(table));
        T::deserialize(toml::de::ValueDeserializer::from(value)).map_err(|e| {
            let at = e.span().unwrap_or(span);
            self.diagnostics(vec![
                Diagnostic::error(at, format!("[sources.{name}]: {}", e.message().trim())).label("here"),
            ])
        })
    }

    /// Checks the source columns the mapping names against a source's
    /// header; one error per unknown column, with a suggestion.
    /// The mapping's columns of `source` that its `header` lacks, each an
    /// error; suggestions come from `offered` (every name the source knows,
    /// which for a document source is more than it reads).
    pub fn check_source_columns(&self, source: &str, header: &[String], offered: &[String]) -> Vec<Diagnostic> {
        self.source_refs
            .iter()
            .filter(|r| r.source == source && !header.iter().any(|h| h == &r.column))
            .map(|r| {
                let d = Diagnostic::error(
                    r.span.clone(),
                    format!("unknown source column `{}` in source `{source}`", r.column),
                )
                .label(format!("not a column of {source}"));
                match did_you_mean(&r.column, offered.iter().map(String::as_str)) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help(format!("{source} has: {}", offered.join(", "))),
                }
            })
            .collect()
    }

    pub fn diagnostics(&self, items: Vec<Diagnostic>) -> Diagnostics {
        Diagnostics { path: self.path.clone(), text: self.text.clone(), items }
    }
}

#[cfg(test)]
mod tests;

/// Entities ordered so that one another links to comes first (contacts
/// before the tasks that name them), otherwise as the mapping lists them:
/// its keys are in the key map by the time the linking rows publish.
fn dependency_order(mut rest: Vec<EntityPlan>) -> Vec<EntityPlan> {
    let mut ordered: Vec<EntityPlan> = Vec::with_capacity(rest.len());
    while !rest.is_empty() {
        let ready = rest
            .iter()
            .position(|e| {
                e.columns
                    .iter()
                    .filter_map(|c| c.link.as_ref())
                    .all(|l| l.entity == e.entity || !rest.iter().any(|other| other.entity == l.entity))
            })
            .unwrap_or(0);
        ordered.push(rest.remove(ready));
    }
    ordered
}
