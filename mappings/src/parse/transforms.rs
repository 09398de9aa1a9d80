//! `transform = [...]`: each item a name or a one-key table of options,
//! checked against what the previous transform gives and what the target
//! column takes.

use std::ops::Range;

use migrate_engine::transform::{
    BooleanSpec, Conversion, DateFormat, DateOutput, DateSpec, DayOrder, DurationOutput, EmailPart, EmailSpec, Locale,
    MoneySpec, NamePart, NameSpec, PhoneSpec, ValueKind, ValueMap, date, money,
};
use migrate_engine::{TargetType, Transform};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::document::Checker;
use crate::diagnostic::Diagnostic;
use crate::schema::ColumnDef;
use crate::suggest::did_you_mean;

pub(super) fn transforms(checker: &mut Checker, value: &Spanned<DeValue>, def: &ColumnDef) -> Option<Vec<Transform>> {
    let Some(items) = value.get_ref().as_array() else {
        checker.diags.push(
            Diagnostic::error(value.span(), "`transform` is an ordered list")
                .label("expected [...]")
                .help("transform = [\"trim\", \"lowercase\"]"),
        );
        return None;
    };
    let mut out = Vec::new();
    let mut ok = true;
    let mut kind = ValueKind::Text;
    let mut last_span = value.span();
    for item in items {
        let Some(t) = transform(checker, item, def) else {
            ok = false;
            continue;
        };
        if t.input() != kind {
            let previous = out.last().map_or("the source", |p: &Transform| p.name());
            checker.diags.push(
                Diagnostic::error(
                    item.span(),
                    format!("`{}` takes text, but `{previous}` gives {}", t.name(), kind.name()),
                )
                .label("does not fit here")
                .help("put text clean-up (trim, null_if, …) before the converting transform"),
            );
            ok = false;
        }
        kind = t.output();
        last_span = item.span();
        out.push(t);
    }
    if ok && !fits(kind, def) {
        checker.diags.push(
            Diagnostic::error(
                last_span,
                format!("this gives {}, which does not fit {} ({})", kind.name(), def.name, def.ty.sql_name()),
            )
            .label("wrong kind for the target column"),
        );
        ok = false;
    }
    ok.then_some(out)
}

/// Whether a value of `kind` may land in the column (JSONB keys take all).
fn fits(kind: ValueKind, def: &ColumnDef) -> bool {
    matches!(
        (kind, def.ty),
        (ValueKind::Text, _)
            | (_, TargetType::Json)
            | (ValueKind::Date, TargetType::Date)
            | (ValueKind::Timestamp, TargetType::Timestamp)
            | (ValueKind::Money, TargetType::Numeric)
            | (ValueKind::Boolean, TargetType::Boolean)
            | (ValueKind::Number, TargetType::Numeric | TargetType::Integer | TargetType::BigInt)
    )
}

/// The options table of a transform, read key by key; unknown keys and
/// wrong types become diagnostics.
struct Options<'t, 'i> {
    name: String,
    table: Option<&'t DeTable<'i>>,
    span: Range<usize>,
    ok: bool,
}

impl<'t, 'i> Options<'t, 'i> {
    fn get(&self, key: &str) -> Option<&'t Spanned<DeValue<'i>>> {
        self.table.and_then(|t| t.get(key))
    }

    fn bad(&mut self, checker: &mut Checker, span: Range<usize>, message: String, help: &str) {
        checker.diags.push(Diagnostic::error(span, message).label("invalid option").help(help.to_string()));
        self.ok = false;
    }

    fn str(&mut self, checker: &mut Checker, key: &str) -> Option<(String, Range<usize>)> {
        let v = self.get(key)?;
        match v.get_ref().as_str() {
            Some(s) => Some((s.to_string(), v.span())),
            None => {
                self.bad(checker, v.span(), format!("{}.{key} must be a string", self.name), "write it in quotes");
                None
            }
        }
    }

    fn strs(&mut self, checker: &mut Checker, key: &str) -> Option<Vec<(String, Range<usize>)>> {
        let v = self.get(key)?;
        let list = v.get_ref().as_array().and_then(|a| {
            a.iter().map(|i| i.get_ref().as_str().map(|s| (s.to_string(), i.span()))).collect::<Option<Vec<_>>>()
        });
        if list.is_none() {
            self.bad(checker, v.span(), format!("{}.{key} must be a list of strings", self.name), "[\"a\", \"b\"]");
        }
        list
    }

    fn bool(&mut self, checker: &mut Checker, key: &str) -> Option<bool> {
        let v = self.get(key)?;
        let b = v.get_ref().as_bool();
        if b.is_none() {
            self.bad(checker, v.span(), format!("{}.{key} must be true or false", self.name), "true or false");
        }
        b
    }

    fn int(&mut self, checker: &mut Checker, key: &str) -> Option<u32> {
        let v = self.get(key)?;
        let n = v.get_ref().as_integer().and_then(|i| i.as_str().parse::<u32>().ok());
        if n.is_none() {
            self.bad(checker, v.span(), format!("{}.{key} must be a whole number", self.name), "e.g. 50");
        }
        n
    }

    /// Reports keys that are not among `valid`.
    fn finish(mut self, checker: &mut Checker, valid: &[&str]) -> bool {
        if let Some(t) = self.table {
            for (k, _) in t {
                if !valid.contains(&k.get_ref().as_ref()) {
                    checker.unknown_key(k.span(), k.get_ref(), &format!("option of {}", self.name), valid);
                    self.ok = false;
                }
            }
        }
        self.ok
    }
}

fn transform(checker: &mut Checker, item: &Spanned<DeValue>, def: &ColumnDef) -> Option<Transform> {
    let span = item.span();
    let (name, name_span, args) = match item.get_ref() {
        DeValue::String(s) => (s.to_string(), span.clone(), None),
        DeValue::Table(t) if t.len() == 1 => {
            let (k, v) = t.iter().next()?;
            (k.get_ref().to_string(), k.span(), Some(v))
        }
        _ => {
            checker.diags.push(
                Diagnostic::error(span, "a transform is a name or a one-key table")
                    .label("unexpected")
                    .help("\"trim\" or { null_if = [\"N/A\"] }"),
            );
            return None;
        }
    };
    let table = match args.map(|a| (a.get_ref(), a.span())) {
        Some((DeValue::Table(t), _)) => Some(t),
        Some((DeValue::Array(_), _)) if matches!(name.as_str(), "null_if" | "strip_prefix" | "strip_suffix") => None,
        Some((DeValue::String(_), _))
            if matches!(name.as_str(), "join" | "split" | "strip_prefix" | "strip_suffix") =>
        {
            None
        }
        Some((_, span)) => {
            checker.diags.push(
                Diagnostic::error(span, format!("the options of `{name}` are a table"))
                    .label("expected { … }")
                    .help(format!("{{ {name} = {{ option = value }} }}")),
            );
            return None;
        }
        None => None,
    };
    let mut opts = Options { name: name.clone(), table, span: args.map_or(span.clone(), |a| a.span()), ok: true };
    let no_args = |checker: &mut Checker, opts: Options, t: Transform| opts.finish(checker, &[]).then_some(t);
    match name.as_str() {
        "trim" => no_args(checker, opts, Transform::Trim),
        "lowercase" => no_args(checker, opts, Transform::Lowercase),
        "uppercase" => no_args(checker, opts, Transform::Uppercase),
        "collapse_spaces" => no_args(checker, opts, Transform::CollapseSpaces),
        "email" => {
            let local_domains = opts.bool(checker, "local_domains").unwrap_or(false);
            let part = match opts.str(checker, "part") {
                None => EmailPart::Address,
                Some((p, _)) if p == "address" => EmailPart::Address,
                Some((p, _)) if p == "display_name" => EmailPart::DisplayName,
                Some((p, span)) => {
                    opts.bad(
                        checker,
                        span,
                        format!("part {p:?} is not a part of an e-mail"),
                        "\"address\" or \"display_name\"",
                    );
                    EmailPart::Address
                }
            };
            opts.finish(checker, &["local_domains", "part"])
                .then_some(Transform::Email(EmailSpec { local_domains, part }))
        }
        "truncate" => match def.max_chars {
            Some(max) => no_args(checker, opts, Transform::Truncate(max)),
            None => {
                checker.diags.push(
                    Diagnostic::error(name_span, format!("{} has no length limit to truncate to", def.name))
                        .label("nothing to truncate to"),
                );
                None
            }
        },
        "null_if" => {
            let values = args
                .and_then(|v| v.get_ref().as_array())
                .and_then(|a| a.iter().map(|i| i.get_ref().as_str().map(str::to_string)).collect::<Option<Vec<_>>>());
            match values {
                Some(v) => Some(Transform::NullIf(v)),
                None => {
                    checker.diags.push(
                        Diagnostic::error(opts.span, "null_if takes a list of strings")
                            .label("expected a list")
                            .help("{ null_if = [\"N/A\", \"-\"] }"),
                    );
                    None
                }
            }
        }
        "json" => no_args(checker, opts, Transform::Json),
        "join" => match args.and_then(|v| v.get_ref().as_str()) {
            Some(separator) => Some(Transform::Join(separator.to_string())),
            None => {
                checker.diags.push(
                    Diagnostic::error(opts.span, "join takes the separator")
                        .label("expected a string")
                        .help("{ join = \", \" }"),
                );
                None
            }
        },
        "strip_prefix" | "strip_suffix" => {
            let values = args.and_then(|v| match v.get_ref() {
                DeValue::String(s) if !s.is_empty() => Some(vec![s.to_string()]),
                DeValue::Array(a) if !a.is_empty() => a
                    .iter()
                    .map(|i| i.get_ref().as_str().filter(|s| !s.is_empty()).map(str::to_string))
                    .collect::<Option<Vec<_>>>(),
                _ => None,
            });
            match values {
                Some(v) if name == "strip_prefix" => Some(Transform::StripPrefix(v)),
                Some(v) => Some(Transform::StripSuffix(v)),
                None => {
                    checker.diags.push(
                        Diagnostic::error(opts.span, format!("{name} takes the text to remove, or a list of them"))
                            .label("expected a non-empty string or list")
                            .help(format!("{{ {name} = \"ID-\" }} or {{ {name} = [\"ID-\", \"#\"] }}")),
                    );
                    None
                }
            }
        }
        "split" => match args.and_then(|v| v.get_ref().as_str()).filter(|s| !s.is_empty()) {
            Some(separator) => Some(Transform::Split(separator.to_string())),
            None => {
                checker.diags.push(
                    Diagnostic::error(opts.span, "split takes the separator")
                        .label("expected a non-empty string")
                        .help("{ split = \",\" }: \"a, b, c\" becomes [\"a\", \"b\", \"c\"]"),
                );
                None
            }
        },
        "number" => {
            let locale = match opts.str(checker, "locale") {
                None => Some(Locale::En),
                Some((l, span)) => Locale::parse(&l).or_else(|| {
                    checker.unknown_key(span, &l, "locale", Locale::NAMES);
                    opts.ok = false;
                    None
                }),
            };
            let ok = opts.finish(checker, &["locale"]);
            locale.filter(|_| ok).map(Transform::Number)
        }
        "duration" => {
            let output = match opts.str(checker, "as") {
                None => Some(DurationOutput::Seconds),
                Some((o, _)) if o == "seconds" => Some(DurationOutput::Seconds),
                Some((o, _)) if o == "iso" => Some(DurationOutput::Iso),
                Some((o, span)) => {
                    checker.unknown_key(span, &o, "duration output", &["seconds", "iso"]);
                    opts.ok = false;
                    None
                }
            };
            let ok = opts.finish(checker, &["as"]);
            output.filter(|_| ok).map(Transform::Duration)
        }
        "date" => date_transform(checker, opts, def),
        "money" => {
            let mut infer_locale = false;
            let locale = match opts.str(checker, "locale") {
                None => Some(Locale::En),
                Some((l, _)) if l == "auto" => {
                    infer_locale = true;
                    Some(Locale::En)
                }
                Some((l, span)) => Locale::parse(&l).or_else(|| {
                    let mut valid = Locale::NAMES.to_vec();
                    valid.push("auto");
                    checker.unknown_key(span, &l, "locale", &valid);
                    opts.ok = false;
                    None
                }),
            };
            let currency = opts.str(checker, "currency").and_then(|(c, span)| {
                if money::CURRENCIES.contains(&c.as_str()) {
                    Some(c)
                } else {
                    checker.unknown_key(span, &c, "currency code", money::CURRENCIES);
                    opts.ok = false;
                    None
                }
            });
            let convert = match opts.get("convert") {
                None => Some(None),
                Some(v) => conversion(checker, v).map(Some),
            };
            if convert.is_none() {
                opts.ok = false;
            }
            let ok = opts.finish(checker, &["locale", "currency", "convert"]);
            ok.then_some(Transform::Money(MoneySpec {
                locale: locale?,
                infer_locale,
                default_currency: currency,
                convert: convert?,
            }))
        }
        "phone" => {
            let region = opts.str(checker, "region").map(|(r, span)| {
                if r.len() != 2 || !r.chars().all(|c| c.is_ascii_uppercase()) {
                    opts.bad(
                        checker,
                        span,
                        format!("region {r:?} is not a two-letter country code"),
                        "e.g. \"US\", \"DE\"",
                    );
                }
                r
            });
            let region_column = opts.str(checker, "region_column").map(|c| c.0);
            opts.finish(checker, &["region", "region_column"])
                .then_some(Transform::Phone(PhoneSpec { region, region_column }))
        }
        "boolean" => {
            let blank_is_false = opts.bool(checker, "blank_is_false").unwrap_or(false);
            opts.finish(checker, &["blank_is_false"]).then_some(Transform::Boolean(BooleanSpec { blank_is_false }))
        }
        "name" => {
            let part = match opts.str(checker, "part") {
                None => Some(NamePart::Full),
                Some((p, span)) => match p.as_str() {
                    "first" => Some(NamePart::First),
                    "last" => Some(NamePart::Last),
                    "full" => Some(NamePart::Full),
                    "middle" => Some(NamePart::Middle),
                    "title" => Some(NamePart::Title),
                    "suffix" => Some(NamePart::Suffix),
                    other => {
                        checker.unknown_key(
                            span,
                            other,
                            "name part",
                            &["first", "middle", "last", "title", "suffix", "full"],
                        );
                        opts.ok = false;
                        None
                    }
                },
            };
            let fix_caps = opts.bool(checker, "fix_caps").unwrap_or(false);
            let ok = opts.finish(checker, &["part", "fix_caps"]);
            ok.then_some(Transform::Name(NameSpec { part: part?, fix_caps }))
        }
        "map" => map_transform(checker, opts, def),
        other => {
            checker.unknown_key(name_span, other, "transform", Transform::NAMES);
            None
        }
    }
}

fn map_transform(checker: &mut Checker, mut opts: Options, def: &ColumnDef) -> Option<Transform> {
    let mut values = Vec::new();
    match opts.get("values").map(|v| (v.get_ref(), v.span())) {
        Some((DeValue::Table(t), _)) => {
            for (k, v) in t {
                match v.get_ref().as_str() {
                    Some(to) => {
                        check_allowed(checker, &mut opts, def, to, v.span());
                        values.push((k.get_ref().to_string(), to.to_string()));
                    }
                    None => opts.bad(checker, v.span(), "map values are strings".into(), "\"legacy\" = \"platform\""),
                }
            }
        }
        Some((_, span)) => opts.bad(checker, span, "map.values is a table".into(), "values = { \"A\" = \"active\" }"),
        None => {
            let span = opts.span.clone();
            opts.bad(checker, span, "map needs `values`".into(), "{ map = { values = { \"A\" = \"active\" } } }");
        }
    }
    let default = opts.str(checker, "default").map(|(d, span)| {
        check_allowed(checker, &mut opts, def, &d, span);
        d
    });
    let case_insensitive = opts.bool(checker, "case_insensitive").unwrap_or(false);
    let ok = opts.finish(checker, &["values", "default", "case_insensitive"]);
    ok.then_some(Transform::Map(ValueMap { values, default, case_insensitive }))
}

/// A value the mapping writes into an enumerated column must be allowed.
fn check_allowed(checker: &mut Checker, opts: &mut Options, def: &ColumnDef, value: &str, span: Range<usize>) {
    if let Some(allowed) = def.allowed
        && !allowed.contains(&value)
    {
        let hint = did_you_mean(value, allowed.iter().copied())
            .map_or_else(|| format!("{} takes: {}", def.name, allowed.join(", ")), |s| format!("did you mean `{s}`?"));
        opts.bad(checker, span, format!("`{value}` is not a value of {}", def.name), &hint);
    }
}

fn date_transform(checker: &mut Checker, mut opts: Options, def: &ColumnDef) -> Option<Transform> {
    let mut spec = DateSpec {
        output: if def.ty == TargetType::Date { DateOutput::Date } else { DateOutput::Timestamp },
        ..DateSpec::default()
    };
    let formats = opts.strs(checker, "formats");
    let order = opts.str(checker, "order");
    match (formats, order) {
        (Some(_), Some((_, span))) => {
            opts.bad(
                checker,
                span,
                "give `formats` or `order`, not both".into(),
                "order = \"mdy\" picks the US formats",
            );
        }
        (Some(list), None) => {
            let mut formats = Vec::new();
            for (f, span) in list {
                if let Some(preset) = DateFormat::preset(&f) {
                    formats.extend(preset);
                } else if f.contains('%') {
                    formats.push(DateFormat::Pattern(f));
                } else {
                    checker.unknown_key(span, &f, "date format (a preset or a %-pattern)", date::PRESETS);
                    opts.ok = false;
                }
            }
            if formats.is_empty() {
                let span = opts.span.clone();
                opts.bad(checker, span, "date.formats is empty".into(), "formats = [\"us\"] or [\"%m/%d/%Y\"]");
            }
            spec.formats = formats;
        }
        (None, Some((order, span))) => match order.as_str() {
            "mdy" => spec.formats = DateFormat::for_order(DayOrder::Mdy),
            "dmy" => spec.formats = DateFormat::for_order(DayOrder::Dmy),
            "ymd" => spec.formats = DateFormat::for_order(DayOrder::Ymd),
            "auto" => {
                spec.formats = Vec::new();
                spec.infer_order = true;
            }
            other => {
                checker.unknown_key(span, other, "date order", &["mdy", "dmy", "ymd", "auto"]);
                opts.ok = false;
            }
        },
        (None, None) => {}
    }
    if let Some((tz, span)) = opts.str(checker, "timezone") {
        match tz.parse() {
            Ok(zone) => spec.timezone = zone,
            Err(_) => opts.bad(
                checker,
                span,
                format!("{tz:?} is not an IANA time zone"),
                "e.g. \"America/New_York\", \"Europe/Berlin\", \"UTC\"",
            ),
        }
    }
    spec.timezone_column = opts.str(checker, "timezone_column").map(|c| c.0);
    if let Some(v) = opts.get("zone_abbreviations") {
        match v.get_ref().as_table() {
            Some(t) => {
                for (k, zone) in t {
                    let abbr = k.get_ref().to_string();
                    let parsed = zone.get_ref().as_str().and_then(|z| z.parse::<migrate_engine::transform::Tz>().ok());
                    if !(2..=5).contains(&abbr.len()) || !abbr.bytes().all(|b| b.is_ascii_uppercase()) {
                        opts.bad(
                            checker,
                            k.span(),
                            format!("{abbr:?} is not a zone abbreviation"),
                            "2 to 5 capital letters: CST, IST, BST",
                        );
                    } else if let Some(tz) = parsed {
                        spec.zone_abbreviations.push((abbr, tz));
                    } else {
                        opts.bad(
                            checker,
                            zone.span(),
                            format!("{abbr} must name an IANA time zone"),
                            "e.g. CST = \"America/Chicago\"",
                        );
                    }
                }
            }
            None => opts.bad(
                checker,
                v.span(),
                "zone_abbreviations is a table".to_string(),
                "zone_abbreviations = { CST = \"America/Chicago\" }",
            ),
        }
    }
    if let Some((kind, span)) = opts.str(checker, "as") {
        match kind.as_str() {
            "date" => spec.output = DateOutput::Date,
            "timestamp" => spec.output = DateOutput::Timestamp,
            other => {
                checker.unknown_key(span, other, "date output", &["date", "timestamp"]);
                opts.ok = false;
            }
        }
    }
    if let Some(list) = opts.strs(checker, "sentinels") {
        spec.sentinels = list.iter().map(|(s, _)| s.clone()).collect();
        spec.sentinel_dates = list.iter().filter_map(|(s, _)| chrono_date(s)).collect();
    }
    if let Some(pivot) = opts.int(checker, "pivot") {
        if pivot > 100 {
            let span = opts.get("pivot").map_or(opts.span.clone(), |v| v.span());
            opts.bad(checker, span, "pivot is a two-digit year (0–100)".into(), "pivot = 50: 49 → 2049, 50 → 1950");
        }
        spec.pivot = pivot;
    }
    for (key, slot) in [("min", &mut spec.min), ("max", &mut spec.max)] {
        if let Some((text, span)) = opts.str(checker, key) {
            match chrono_date(&text) {
                Some(d) => *slot = d,
                None => opts.bad(
                    checker,
                    span,
                    format!("date.{key} {text:?} is not a YYYY-MM-DD date"),
                    "e.g. \"1900-01-01\"",
                ),
            }
        }
    }
    let ok = opts.finish(
        checker,
        &[
            "formats",
            "order",
            "timezone",
            "timezone_column",
            "zone_abbreviations",
            "as",
            "sentinels",
            "pivot",
            "min",
            "max",
        ],
    );
    ok.then(|| Transform::Date(Box::new(spec)))
}

fn chrono_date(text: &str) -> Option<migrate_engine::transform::NaiveDate> {
    migrate_engine::transform::NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// `convert = { to = "USD", rates = "fx", date = "InvoiceDate", formats = ["us"] }`
fn conversion(checker: &mut Checker, v: &Spanned<DeValue>) -> Option<Conversion> {
    let help = "convert = { to = \"USD\", rates = \"fx\", date = \"InvoiceDate\", formats = [\"iso\"] }";
    let Some(t) = v.get_ref().as_table() else {
        checker.diags.push(Diagnostic::error(v.span(), "`convert` is a table").label("expected { … }").help(help));
        return None;
    };
    let mut opts = Options { name: "convert".into(), table: Some(t), span: v.span(), ok: true };
    let to = checker.required_str(t, "to", "convert", v.span()).map(|(to, span)| {
        if !money::CURRENCIES.contains(&to.as_str()) {
            checker.unknown_key(span, &to, "currency code", money::CURRENCIES);
            opts.ok = false;
        }
        to
    });
    let rates = checker.required_str(t, "rates", "convert", v.span()).map(|r| r.0);
    let date = checker.required_str(t, "date", "convert", v.span()).map(|d| d.0);
    let mut formats = Vec::new();
    for (f, span) in opts.strs(checker, "formats").unwrap_or_else(|| vec![("iso".to_string(), v.span())]) {
        match DateFormat::preset(&f) {
            Some(p) => formats.extend(p),
            None if f.contains('%') => formats.push(DateFormat::Pattern(f)),
            None => {
                checker.unknown_key(span, &f, "date format (a preset or a %-pattern)", date::PRESETS);
                opts.ok = false;
            }
        }
    }
    let ok = opts.finish(checker, &["to", "rates", "date", "formats"]);
    let (to, rates_source, date_column) = (to?, rates?, date?);
    ok.then_some(Conversion { to, rates_source, date_column, date_formats: formats, rates: None })
}
