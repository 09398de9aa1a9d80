//! `[ENTITY.columns]`: one rule per target column.

use std::ops::Range;

use migrate_engine::{ColumnInput, ColumnPlan, Link, OnInvalid, Orphans, RAW_COLUMN, TargetType};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::document::Checker;
use crate::diagnostic::Diagnostic;
use crate::schema::{ColumnDef, Table};
use crate::suggest::did_you_mean;

const RULE_KEYS: &[&str] = &[
    "from",
    "join",
    "template",
    "value",
    "coalesce",
    "when",
    "required",
    "fill_down",
    "transform",
    "orphans",
    "relation",
    "on_invalid",
];
const ON_INVALID: &[&str] = &["reject", "null", "keep_raw"];
const WHEN_KEYS: &[&str] = &["column", "equals", "then", "else"];

/// Each column plan with the span of the source column it reads.
pub(super) fn column_plans(checker: &mut Checker, table: &Table, columns: &DeTable) -> Vec<(ColumnPlan, Range<usize>)> {
    let mut out = Vec::new();
    for (key, value) in columns {
        let name = key.get_ref().as_ref();
        let Some((def, json_key)) = target_column(checker, table, name, key.span()) else { continue };
        let has_raw = table.column(RAW_COLUMN).is_some();
        if let Some(plan) = column_rule(checker, def, json_key, value, has_raw) {
            out.push(plan);
        }
    }
    // NOT NULL columns without a default must be mapped.
    for def in table.mappable_columns().filter(|c| c.not_null && c.default.is_none()) {
        if !out.iter().any(|(p, _)| p.target == def.name) {
            let span = columns.iter().next().map_or(0..0, |(k, _)| k.span());
            checker.diags.push(
                Diagnostic::error(span, format!("{}.{} is NOT NULL and not mapped", table.name, def.name))
                    .label("in these columns")
                    .help(format!("map it: {} = \"SourceColumn\" or {} = {{ value = \"…\" }}", def.name, def.name)),
            );
        }
    }
    out
}

fn target_column(
    checker: &mut Checker,
    table: &Table,
    name: &str,
    span: Range<usize>,
) -> Option<(&'static ColumnDef, Option<String>)> {
    let (column, json_key) = match name.split_once('.') {
        Some((c, k)) => (c, Some(k.to_string())),
        None => (name, None),
    };
    let Some(def) = table.column(column) else {
        let valid: Vec<&str> = table.mappable_columns().map(|c| c.name).collect();
        let d = Diagnostic::error(span, format!("unknown target column `{name}`"))
            .label(format!("not a column of {}", table.name));
        checker.diags.push(match did_you_mean(column, valid.iter().copied()) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help(format!("{} has: {}", table.name, valid.join(", "))),
        });
        return None;
    };
    if def.managed {
        checker.diags.push(
            Diagnostic::error(span, format!("{}.{} is set by the platform", table.name, def.name))
                .label("cannot be mapped")
                .help("the id comes from the key map; the org from [migration] org_id"),
        );
        return None;
    }
    match (&json_key, def.ty) {
        (Some(k), TargetType::Json) if !k.is_empty() => {}
        (Some(_), TargetType::Json) => {
            checker.diags.push(Diagnostic::error(span, "empty key after the `.`").label("expected custom_fields.NAME"));
            return None;
        }
        (Some(_), _) => {
            checker.diags.push(
                Diagnostic::error(
                    span,
                    format!("{}.{} is not a JSON column; `.` keys only fit JSON columns", table.name, def.name),
                )
                .label("not JSON")
                .help("use custom_fields.NAME to keep a legacy field"),
            );
            return None;
        }
        (None, TargetType::Json) => {
            checker.diags.push(
                Diagnostic::error(span, format!("{} is a JSON object; map its keys one by one", def.name))
                    .label("a JSON column")
                    .help(format!("\"{}.NAME\" = \"SourceColumn\"", def.name)),
            );
            return None;
        }
        (None, _) => {}
    }
    Some((def, json_key))
}

fn column_rule(
    checker: &mut Checker,
    def: &'static ColumnDef,
    json_key: Option<String>,
    value: &Spanned<DeValue>,
    has_raw: bool,
) -> Option<(ColumnPlan, Range<usize>)> {
    let mut plan = ColumnPlan {
        target: def.name.to_string(),
        json_key: json_key.clone(),
        input: ColumnInput::Constant(String::new()),
        transforms: Vec::new(),
        required: false,
        not_null: def.not_null,
        max_chars: def.max_chars,
        allowed: def.allowed.map(|a| a.iter().map(|s| s.to_string()).collect()),
        default: if json_key.is_some() { None } else { def.default.map(str::to_string) },
        target_type: def.ty,
        link: def.references.map(|to| Link { entity: to.to_string(), orphans: Orphans::Reject, relation: None }),
        on_invalid: OnInvalid::Reject,
        fill_down: false,
    };
    let span = value.span();
    match value.get_ref() {
        DeValue::String(s) => {
            plan.input = ColumnInput::Source(s.to_string());
            Some((plan, span))
        }
        DeValue::Table(rule) => {
            let mut ok = true;
            for (k, _) in rule {
                if !RULE_KEYS.contains(&k.get_ref().as_ref()) {
                    checker.unknown_key(k.span(), k.get_ref(), "column rule key", RULE_KEYS);
                    ok = false;
                }
            }
            let mut input_span = span.clone();
            match rule_input(checker, def, rule, &span) {
                Some((input, at)) => {
                    plan.input = input;
                    input_span = at;
                }
                None => ok = false,
            }
            if let Some(o) = rule.get("orphans") {
                match (o.get_ref().as_str(), plan.link.as_mut()) {
                    (Some("reject"), Some(link)) => link.orphans = Orphans::Reject,
                    (Some("unlinked"), Some(link)) => link.orphans = Orphans::Unlinked,
                    (_, None) => {
                        checker.diags.push(
                            Diagnostic::error(o.span(), format!("{} is not a link column", def.name))
                                .label("`orphans` only fits links"),
                        );
                        ok = false;
                    }
                    (other, Some(_)) => {
                        checker.unknown_key(o.span(), other.unwrap_or("?"), "orphans", &["reject", "unlinked"]);
                        ok = false;
                    }
                }
            }
            if let Some(r) = rule.get("relation") {
                match (r.get_ref().as_str(), plan.link.as_mut()) {
                    (Some(rel), Some(link)) if !rel.trim().is_empty() && rel.chars().count() <= 50 => {
                        link.relation = Some(rel.to_string());
                    }
                    (_, None) => {
                        checker.diags.push(
                            Diagnostic::error(r.span(), format!("{} is not a link column", def.name))
                                .label("`relation` only fits links")
                                .help("a link column (contact_id, board_id, …) can also be recorded in entity_links"),
                        );
                        ok = false;
                    }
                    _ => {
                        checker.diags.push(
                            Diagnostic::error(r.span(), "`relation` is a name of 1 to 50 characters")
                                .label("expected e.g. \"attached_to\""),
                        );
                        ok = false;
                    }
                }
            }
            if let Some(f) = rule.get("fill_down") {
                match (f.get_ref().as_bool(), &plan.input) {
                    (Some(b), ColumnInput::Source(_)) => plan.fill_down = b,
                    (Some(_), _) => {
                        checker.diags.push(
                            Diagnostic::error(f.span(), "`fill_down` fills one source column")
                                .label("this rule does not read one column")
                                .help("from = \"Region\", fill_down = true"),
                        );
                        ok = false;
                    }
                    (None, _) => {
                        checker.diags.push(
                            Diagnostic::error(f.span(), "`fill_down` must be true or false").label("not a boolean"),
                        );
                        ok = false;
                    }
                }
            }
            if let Some(r) = rule.get("required") {
                match r.get_ref().as_bool() {
                    Some(b) => plan.required = b,
                    None => {
                        checker.diags.push(
                            Diagnostic::error(r.span(), "`required` must be true or false").label("not a boolean"),
                        );
                        ok = false;
                    }
                }
            }
            if let Some(t) = rule.get("transform") {
                match super::transforms::transforms(checker, t, def) {
                    Some(list) => plan.transforms = list,
                    None => ok = false,
                }
            }
            if let Some(o) = rule.get("on_invalid") {
                match on_invalid(checker, &plan, o, has_raw) {
                    Some(policy) => plan.on_invalid = policy,
                    None => ok = false,
                }
            }
            ok.then_some((plan, input_span))
        }
        other => {
            checker.diags.push(
                Diagnostic::error(
                    span,
                    format!("a column rule is a source column name or a table, found {}", other.type_str()),
                )
                .label("unexpected value")
                .help(format!(
                    "{} = \"SourceColumn\" or {} = {{ from = \"SourceColumn\", transform = [\"trim\"] }}",
                    def.name, def.name
                )),
            );
            None
        }
    }
}

/// `on_invalid = "reject" | "null" | "keep_raw"`, refused where it cannot
/// work: a column that may not be empty, or `keep_raw` without a
/// `custom_fields` column to keep the text in.
fn on_invalid(checker: &mut Checker, plan: &ColumnPlan, o: &Spanned<DeValue>, has_raw: bool) -> Option<OnInvalid> {
    let policy = match o.get_ref().as_str() {
        Some("reject") => OnInvalid::Reject,
        Some("null") => OnInvalid::Null,
        Some("keep_raw") => OnInvalid::KeepRaw,
        other => {
            checker.unknown_key(o.span(), other.unwrap_or("?"), "on_invalid", ON_INVALID);
            return None;
        }
    };
    if policy == OnInvalid::Reject {
        return Some(policy);
    }
    let cannot_be_empty = plan.required || (plan.not_null && plan.default.is_none() && plan.json_key.is_none());
    if cannot_be_empty {
        checker.diags.push(
            Diagnostic::error(
                o.span(),
                format!("{} cannot be left empty, so an invalid value must reject its row", plan.target),
            )
            .label(format!("`on_invalid = \"{}\"` empties the value", policy.as_str()))
            .help("remove on_invalid (or `required = true`) from this column"),
        );
        return None;
    }
    if policy == OnInvalid::KeepRaw && !has_raw {
        checker.diags.push(
            Diagnostic::error(o.span(), format!("this entity has no {RAW_COLUMN} column to keep the raw value in"))
                .label("`keep_raw` writes custom_fields.<column>_raw")
                .help("use on_invalid = \"null\" or \"reject\""),
        );
        return None;
    }
    Some(policy)
}

fn constant(value: &DeValue) -> Option<String> {
    match value {
        DeValue::String(s) => Some(s.to_string()),
        DeValue::Integer(i) => Some(i.as_str().to_string()),
        DeValue::Float(f) => Some(f.as_str().to_string()),
        DeValue::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn constant_problem(def: &ColumnDef, value: &str) -> Option<String> {
    if let Some(allowed) = def.allowed
        && !allowed.contains(&value)
    {
        let hint =
            did_you_mean(value, allowed.iter().copied()).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
        return Some(format!("`{value}` is not one of {} for {}{hint}", allowed.join(", "), def.name));
    }
    if let Some(max) = def.max_chars
        && value.chars().count() > max
    {
        return Some(format!("{} holds at most {max} characters", def.name));
    }
    None
}

/// Where a rule's value comes from: exactly one of `from` (a column, or a
/// list joined by `join`), `value`, `coalesce` or `when`.
fn rule_input(
    checker: &mut Checker,
    def: &ColumnDef,
    rule: &DeTable,
    span: &Range<usize>,
) -> Option<(ColumnInput, Range<usize>)> {
    let given: Vec<(&str, &Spanned<DeValue>)> = ["from", "template", "value", "coalesce", "when"]
        .iter()
        .filter_map(|k| rule.get(*k).map(|v| (*k, v)))
        .collect();
    let (key, v) = match given.as_slice() {
        [one] => *one,
        [] => {
            checker.diags.push(
                Diagnostic::error(span.clone(), format!("the rule for {} has neither `from` nor `value`", def.name))
                    .label("where does the value come from?")
                    .help("{ from = \"SourceColumn\" }, { value = \"constant\" }, { coalesce = [\"A\", \"B\"] } or { when = { … } }"),
            );
            return None;
        }
        [_, (second, v), ..] => {
            let first = given.first().map_or("", |g| g.0);
            checker.diags.push(
                Diagnostic::error(
                    v.span(),
                    format!(
                        "a column takes one of from, template, value, coalesce and when; this has `{first}` and `{second}`"
                    ),
                )
                .label("remove one"),
            );
            return None;
        }
    };
    if let Some(j) = rule.get("join")
        && !(key == "from" && v.get_ref().is_array())
    {
        checker
            .diags
            .push(Diagnostic::error(j.span(), "`join` goes with `from = [\"A\", \"B\"]`").label("nothing to join"));
        return None;
    }
    let names = |checker: &mut Checker, v: &Spanned<DeValue>, what: &str| -> Option<Vec<String>> {
        let list = v.get_ref().as_array().and_then(|a| {
            a.iter()
                .map(|i| i.get_ref().as_str().filter(|s| !s.is_empty()).map(str::to_string))
                .collect::<Option<Vec<_>>>()
        });
        match list {
            Some(l) if l.len() >= 2 => Some(l),
            _ => {
                checker.diags.push(
                    Diagnostic::error(v.span(), format!("{what} takes a list of two or more source columns"))
                        .label("expected [\"A\", \"B\"]"),
                );
                None
            }
        }
    };
    let input = match key {
        "from" => match v.get_ref() {
            DeValue::String(s) if !s.is_empty() => ColumnInput::Source(s.to_string()),
            DeValue::Array(_) => {
                let columns = names(checker, v, "from")?;
                let separator = match rule.get("join").map(|j| j.get_ref().as_str()) {
                    None => " ".to_string(),
                    Some(Some(sep)) => sep.to_string(),
                    Some(None) => {
                        checker
                            .diags
                            .push(Diagnostic::error(v.span(), "`join` is a string").label("expected a string"));
                        return None;
                    }
                };
                ColumnInput::Concat { columns, separator }
            }
            _ => {
                checker
                    .diags
                    .push(Diagnostic::error(v.span(), "`from` must name a source column").label("expected a string"));
                return None;
            }
        },
        "value" => {
            let Some(c) = constant(v.get_ref()) else {
                checker.diags.push(
                    Diagnostic::error(v.span(), "`value` must be a string, number or boolean").label("not a scalar"),
                );
                return None;
            };
            if let Some(problem) = constant_problem(def, &c) {
                checker.diags.push(Diagnostic::error(v.span(), problem).label("does not fit the column"));
                return None;
            }
            ColumnInput::Constant(c)
        }
        "coalesce" => ColumnInput::Coalesce(names(checker, v, "coalesce")?),
        "template" => {
            let parsed = match v.get_ref().as_str() {
                Some(t) => migrate_engine::TemplatePart::parse(t),
                None => Err("`template` is a string: \"{Qty} {Unit} to {County}\"".to_string()),
            };
            match parsed {
                Ok(parts) => ColumnInput::Template(parts),
                Err(why) => {
                    checker.diags.push(Diagnostic::error(v.span(), why).label("in this template"));
                    return None;
                }
            }
        }
        _ => when_input(checker, def, v)?,
    };
    Some((input, v.span()))
}

fn when_input(checker: &mut Checker, def: &ColumnDef, v: &Spanned<DeValue>) -> Option<ColumnInput> {
    let help = "when = { column = \"IsCustomer\", equals = [\"Y\", \"1\"], then = \"client\", else = \"lead\" }";
    let Some(t) = v.get_ref().as_table() else {
        checker.diags.push(Diagnostic::error(v.span(), "`when` is a table").label("expected { … }").help(help));
        return None;
    };
    let mut ok = true;
    for (k, _) in t {
        if !WHEN_KEYS.contains(&k.get_ref().as_ref()) {
            checker.unknown_key(k.span(), k.get_ref(), "key of when", WHEN_KEYS);
            ok = false;
        }
    }
    let column = checker.required_str(t, "column", "when", v.span()).map(|c| c.0);
    let then = checker.required_str(t, "then", "when", v.span());
    let equals = match t.get("equals").map(|e| e.get_ref()) {
        Some(DeValue::String(s)) => Some(vec![s.to_string()]),
        Some(DeValue::Array(a)) => a.iter().map(|i| i.get_ref().as_str().map(str::to_string)).collect(),
        _ => None,
    };
    if equals.is_none() {
        checker
            .diags
            .push(Diagnostic::error(v.span(), "when needs `equals`, a string or a list").label("no equals").help(help));
    }
    let otherwise = match t.get("else") {
        None => Some(None),
        Some(e) => match e.get_ref().as_str() {
            Some(s) => Some(Some((s.to_string(), e.span()))),
            None => {
                checker.diags.push(Diagnostic::error(e.span(), "`else` is a string").label("expected a string"));
                None
            }
        },
    };
    for (value, span) in then.iter().chain(otherwise.iter().flatten()) {
        if let Some(problem) = constant_problem(def, value) {
            checker.diags.push(Diagnostic::error(span.clone(), problem).label("does not fit the column"));
            ok = false;
        }
    }
    let (column, then, equals, otherwise) = (column?, then?, equals?, otherwise?);
    ok.then(|| ColumnInput::When { column, equals, then: then.0, otherwise: otherwise.map(|o| o.0) })
}
