use std::sync::Arc;

use super::*;
use crate::location::SourceLocation;
use crate::plan::{ColumnPlan, OnExisting, TargetType};
use crate::transform::Transform;

fn batch(columns: &[&str], rows: &[&[Option<&str>]]) -> Batch {
    let file: Arc<str> = "in.csv".into();
    let names: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
    let values = rows.iter().map(|r| r.iter().map(|v| v.map(str::to_string)).collect()).collect();
    let locations = (0..rows.len()).map(|i| SourceLocation::Line { file: file.clone(), line: i as u64 + 2 }).collect();
    Batch::from_rows(&names, values, locations).unwrap()
}

fn column(target: &str, from: &str) -> ColumnPlan {
    ColumnPlan::from_source(target, from)
}

fn plan(columns: Vec<ColumnPlan>) -> EntityPlan {
    EntityPlan {
        entity: "contacts".to_string(),
        source: "src".to_string(),
        key: KeySpec::Columns(vec!["id".to_string()]),
        columns,
        on_existing: OnExisting::Update,
        dedupe: None,
        match_existing: Vec::new(),
        on_missing: Default::default(),
        max_deleted: crate::plan::DEFAULT_MAX_DELETED,
        similar: None,
        double_encoded: Default::default(),
        filter: Vec::new(),
    }
}

#[test]
fn each_check_rejects_with_its_reason_and_the_raw_value() {
    let email = ColumnPlan {
        transforms: vec![Transform::Trim, Transform::Lowercase],
        required: true,
        ..column("email", "mail")
    };
    let kind = ColumnPlan { allowed: Some(vec!["client".into(), "lead".into()]), ..column("type", "kind") };
    let name = ColumnPlan { max_chars: Some(5), ..column("first_name", "name") };
    let p = plan(vec![email, kind, name]);
    let b = batch(
        &["id", "mail", "kind", "name"],
        &[
            &[Some("1"), Some(" A@B.COM "), Some("client"), Some("Ada")],
            &[Some("2"), Some("   "), Some("client"), Some("Ada")],
            &[Some(" "), Some("x@y.z"), Some("lead"), Some("Ada")],
            &[Some("4"), Some("x@y.z"), Some("prospect"), Some("Ada")],
            &[Some("5"), Some("x@y.z"), Some("lead"), Some("Adalbert")],
            &[Some("6"), None, Some("lead"), Some("Ada")],
        ],
    );
    let MapOutput { mapped, rejects, .. } = map_batch(&p, &b, 100).unwrap();
    assert_eq!(mapped.height(), 1);
    assert_eq!(mapped.value("email", 0), Some("a@b.com"));
    assert_eq!(mapped.keys, vec!["1"]);
    assert_eq!(mapped.seqs, vec![100]);
    assert_eq!(mapped.locations, vec!["in.csv:2"]);
    let got: Vec<(usize, RejectReason, Option<&str>, Option<&str>)> =
        rejects.iter().map(|r| (r.row, r.reason, r.column.as_deref(), r.value.as_deref())).collect();
    assert_eq!(
        got,
        vec![
            (1, RejectReason::RequiredMissing, Some("mail"), Some("   ")),
            (2, RejectReason::MissingKey, Some("id"), None),
            (3, RejectReason::InvalidValue, Some("kind"), Some("prospect")),
            (4, RejectReason::TooLong, Some("name"), Some("Adalbert")),
            (5, RejectReason::RequiredMissing, Some("mail"), None),
        ]
    );
    assert_eq!(rejects[3].message, "8 characters; first_name holds at most 5");
}

#[test]
fn a_null_in_a_not_null_column_with_a_default_is_left_to_the_default() {
    let with_default = ColumnPlan { not_null: true, default: Some("contact".into()), ..column("type", "kind") };
    let without = ColumnPlan { not_null: true, ..column("title", "t") };
    let b = batch(&["id", "kind", "t"], &[&[Some("1"), None, Some("x")], &[Some("2"), Some("lead"), None]]);
    let p = plan(vec![with_default, without]);
    let MapOutput { mapped, rejects, .. } = map_batch(&p, &b, 0).unwrap();
    assert_eq!(mapped.keys, vec!["1"]);
    assert_eq!(mapped.value("type", 0), None);
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0].reason, RejectReason::NotNull);
}

#[test]
fn json_keys_fold_into_one_object_and_constants_fill_every_row() {
    let region = ColumnPlan {
        target: "custom_fields".into(),
        json_key: Some("region".into()),
        target_type: TargetType::Json,
        ..column("custom_fields", "r")
    };
    let ltv = ColumnPlan {
        target: "custom_fields".into(),
        json_key: Some("ltv".into()),
        target_type: TargetType::Json,
        ..column("custom_fields", "v")
    };
    let kind = ColumnPlan { input: ColumnInput::Constant("client".into()), ..column("type", "") };
    let p = plan(vec![region, kind, ltv]);
    let b = batch(&["id", "r", "v"], &[&[Some("1"), Some("North"), Some("12.50")], &[Some("2"), None, Some("")]]);
    let MapOutput { mapped, rejects, .. } = map_batch(&p, &b, 0).unwrap();
    assert!(rejects.is_empty());
    let columns: Vec<String> = mapped.frame.columns().iter().map(|c| c.name().to_string()).collect();
    assert_eq!(columns, vec!["custom_fields", "type"]);
    assert_eq!(mapped.value("custom_fields", 0), Some(r#"{"ltv":"12.50","region":"North"}"#));
    assert_eq!(mapped.value("custom_fields", 1), Some("{}"));
    assert_eq!(mapped.value("type", 1), Some("client"));
}

#[test]
fn composite_keys_stay_distinct_and_row_hashes_see_every_field() {
    let mut p = plan(vec![column("first_name", "a")]);
    p.key = KeySpec::Columns(vec!["a".into(), "b".into()]);
    let b = batch(&["a", "b"], &[&[Some("x,y"), Some("z")], &[Some("x"), Some("y,z")]]);
    let mapped = map_batch(&p, &b, 0).unwrap().mapped;
    assert_ne!(mapped.keys[0], mapped.keys[1]);

    p.key = KeySpec::RowHash;
    let b = batch(&["a", "b"], &[&[Some("x"), None], &[Some("x"), Some("")], &[Some("x"), None]]);
    let mapped = map_batch(&p, &b, 0).unwrap().mapped;
    assert_ne!(mapped.keys[0], mapped.keys[1], "NULL and empty differ");
    assert_eq!(mapped.keys[0], mapped.keys[2], "the same row hashes the same");
    assert_eq!(mapped.keys[0].len(), 64);

    // Error cells the source read as empty hash as the error they held.
    let mut b = batch(&["a", "b"], &[&[Some("x"), None], &[Some("x"), None], &[Some("x"), None], &[Some("x"), None]]);
    for (row, error) in [(0, "#NAME?"), (1, "#VALUE!"), (3, "#NAME?")] {
        b.notes.push(crate::batch::SourceNote {
            row,
            column: "b".into(),
            code: crate::map::NULLED_ERROR_CELL,
            example: error.into(),
        });
    }
    let keys = map_batch(&p, &b, 0).unwrap().mapped.keys;
    assert_ne!(keys[0], keys[1], "two different errors");
    assert_ne!(keys[0], keys[2], "an error and an empty cell");
    assert_ne!(keys[1], keys[2]);
    assert_eq!(keys[0], keys[3], "the same error");
}

#[test]
fn malformed_rows_are_rejected_before_anything_else() {
    let mut b = batch(&["id", "a"], &[&[Some("1"), Some("x")], &[Some("2"), Some("y")]]);
    b.malformed.push(crate::batch::MalformedRow {
        row: 1,
        reason: RejectReason::MalformedRow,
        message: "record has 3 fields, the header has 2".into(),
    });
    let MapOutput { mapped, rejects, .. } = map_batch(&plan(vec![column("first_name", "a")]), &b, 0).unwrap();
    assert_eq!(mapped.keys, vec!["1"]);
    assert_eq!(rejects[0].reason, RejectReason::MalformedRow);
}

#[test]
fn inputs_join_coalesce_and_match_columns() {
    let date_time = ColumnPlan {
        input: ColumnInput::Concat { columns: vec!["d".into(), "t".into()], separator: " ".into() },
        ..column("first_name", "")
    };
    let phone = ColumnPlan { input: ColumnInput::Coalesce(vec!["m".into(), "p".into()]), ..column("phone", "") };
    let kind = ColumnPlan {
        input: ColumnInput::When {
            column: "c".into(),
            equals: vec!["Y".into()],
            then: "client".into(),
            otherwise: None,
        },
        ..column("type", "")
    };
    let p = plan(vec![date_time, phone, kind]);
    let b = batch(
        &["id", "d", "t", "m", "p", "c"],
        &[
            &[Some("1"), Some("2020-01-02"), Some("10:00"), Some(" "), Some("555"), Some(" Y ")],
            &[Some("2"), Some("2020-01-03"), None, Some("777"), Some("555"), Some("N")],
            &[Some("3"), None, Some(""), None, None, None],
        ],
    );
    let mapped = map_batch(&p, &b, 0).unwrap().mapped;
    let col = |name: &str| (0..3).map(|r| mapped.value(name, r).map(str::to_string)).collect::<Vec<_>>();
    assert_eq!(col("first_name"), vec![Some("2020-01-02 10:00".into()), Some("2020-01-03".into()), None]);
    assert_eq!(col("phone"), vec![Some("555".into()), Some("777".into()), None]);
    assert_eq!(col("type"), vec![Some("client".into()), None, None]);
}

#[test]
fn transform_notes_count_only_rows_that_are_kept_and_nul_bytes_are_dropped() {
    use crate::transform::{DateOutput, DateSpec};
    let created = ColumnPlan {
        transforms: vec![Transform::Date(Box::new(DateSpec { output: DateOutput::Date, ..DateSpec::default() }))],
        target_type: TargetType::Date,
        ..column("due_date", "c")
    };
    let name = column("first_name", "n");
    let p = plan(vec![created, name]);
    let b = batch(
        &["id", "c", "n"],
        &[
            &[Some("1"), Some("0000-00-00"), Some("A\0da")],
            &[Some(""), Some("0000-00-00"), Some("x")],
            &[Some("3"), Some("2020-02-30"), Some("y")],
        ],
    );
    let out = map_batch(&p, &b, 0).unwrap();
    assert_eq!(out.mapped.keys, vec!["1"]);
    assert_eq!(out.mapped.value("first_name", 0), Some("Ada"));
    let notes: Vec<(&str, &str)> = out.notes.iter().map(|n| (n.column.as_str(), n.code)).collect();
    assert_eq!(notes, vec![("c", "sentinel_date_nulled"), ("n", "nul_removed")]);
    assert_eq!(
        out.rejects.iter().map(|r| r.reason).collect::<Vec<_>>(),
        vec![RejectReason::MissingKey, RejectReason::InvalidDate]
    );
    assert_eq!(out.rejects[1].value.as_deref(), Some("2020-02-30"));
    assert!(out.rejects[1].message.starts_with("date: \"2020-02-30\" matches none"), "{}", out.rejects[1].message);
}

#[test]
fn double_encoded_source_values_are_repaired_and_counted_but_keys_are_not() {
    use crate::transform::mojibake::DoubleEncoded;
    let b = batch(
        &["id", "name"],
        &[&[Some("KÃ¶ln-1"), Some("CafÃ©")], &[Some("2"), Some("Café")], &[Some("3"), Some("Ãlvaro â€“ Ã")]],
    );
    let p = plan(vec![column("first_name", "name")]);
    let out = map_batch(&p, &b, 0).unwrap();
    let names: Vec<Option<&str>> = (0..3).map(|r| out.mapped.value("first_name", r)).collect();
    assert_eq!(names, [Some("Café"), Some("Café"), Some("Ãlvaro – Ã")]);
    assert_eq!(out.mapped.keys, ["KÃ¶ln-1", "2", "3"], "keys identify rows across runs: never repaired");
    let notes: Vec<(&str, &str)> = out.notes.iter().map(|n| (n.code, n.example.as_str())).collect();
    assert_eq!(
        notes,
        [("double_encoded_repaired", "CafÃ© → Café"), ("double_encoded_repaired", "Ãlvaro â€“ Ã → Ãlvaro – Ã")]
    );

    let keep = EntityPlan { double_encoded: DoubleEncoded::Keep, ..p };
    let out = map_batch(&keep, &b, 0).unwrap();
    assert_eq!(out.mapped.value("first_name", 0), Some("CafÃ©"));
    let notes: Vec<(&str, &str)> = out.notes.iter().map(|n| (n.code, n.example.as_str())).collect();
    assert_eq!(notes, [("double_encoded_utf8", "CafÃ©"), ("double_encoded_utf8", "Ãlvaro â€“ Ã")]);
}

#[test]
fn on_invalid_nulls_or_keeps_raw_instead_of_rejecting_and_counts_each_use() {
    use crate::plan::OnInvalid;
    let email = |on_invalid| ColumnPlan {
        transforms: vec![Transform::Email(Default::default())],
        on_invalid,
        ..column("email", "mail")
    };
    let kind = |on_invalid| ColumnPlan {
        allowed: Some(vec!["client".into(), "lead".into()]),
        on_invalid,
        ..column("type", "kind")
    };
    let region = ColumnPlan {
        json_key: Some("region".into()),
        target_type: TargetType::Json,
        max_chars: Some(3),
        on_invalid: OnInvalid::KeepRaw,
        ..column("custom_fields", "reg")
    };
    let b = batch(
        &["id", "mail", "kind", "reg"],
        &[
            &[Some("1"), Some("a@b.example"), Some("client"), Some("NW")],
            &[Some("2"), Some("not an address"), Some("prospect"), Some("North-West")],
            &[Some("3"), Some("c@d.example"), Some("lead"), None],
        ],
    );

    // The default: each bad value costs its row.
    let out = map_batch(&plan(vec![email(OnInvalid::Reject), kind(OnInvalid::Reject)]), &b, 0).unwrap();
    assert_eq!(out.mapped.keys, ["1", "3"]);
    assert_eq!(out.rejects.iter().map(|r| r.reason).collect::<Vec<_>>(), [RejectReason::InvalidEmail]);

    // null: the row loads without the value, and the report counts it.
    let out = map_batch(&plan(vec![email(OnInvalid::Null), kind(OnInvalid::KeepRaw), region]), &b, 0).unwrap();
    assert!(out.rejects.is_empty(), "{:?}", out.rejects);
    assert_eq!(out.mapped.keys, ["1", "2", "3"]);
    assert_eq!(out.mapped.value("email", 1), None);
    assert_eq!(out.mapped.value("type", 1), None);
    let custom: Vec<serde_json::Value> =
        (0..3).map(|r| serde_json::from_str(out.mapped.value("custom_fields", r).unwrap()).unwrap()).collect();
    assert_eq!(custom[0], serde_json::json!({ "region": "NW" }));
    assert_eq!(custom[1], serde_json::json!({ "type_raw": "prospect", "region_raw": "North-West" }));
    assert_eq!(custom[2], serde_json::json!({}));
    let notes: Vec<(&str, &str, &str)> =
        out.notes.iter().map(|n| (n.column.as_str(), n.code, n.example.as_str())).collect();
    assert_eq!(notes.len(), 3, "{notes:?}");
    assert_eq!((notes[0].0, notes[0].1), ("mail", "invalid_nulled"));
    assert!(notes[0].2.starts_with("not an address (email: "), "{}", notes[0].2);
    assert_eq!((notes[1].0, notes[1].1), ("kind", "invalid_kept_raw"));
    assert_eq!(notes[1].2, "prospect (\"prospect\" is not one of client, lead for type)");
    assert_eq!((notes[2].0, notes[2].1), ("reg", "invalid_kept_raw"));

    // A column that may not be empty still rejects, with the value's reason.
    let required = ColumnPlan { required: true, ..email(OnInvalid::Null) };
    let out = map_batch(&plan(vec![required]), &b, 0).unwrap();
    assert_eq!(out.mapped.keys, ["1", "3"]);
    assert_eq!(out.rejects[0].reason, RejectReason::InvalidEmail);
    assert!(out.rejects[0].message.ends_with("(on_invalid cannot leave email empty)"), "{}", out.rejects[0].message);
    assert!(out.notes.is_empty());
}

#[test]
fn timestamps_and_dates_inside_custom_fields_are_rfc_3339_in_utc() {
    use crate::transform::{DateOutput, DateSpec};
    let at = |key: &str, output| ColumnPlan {
        target: "custom_fields".into(),
        json_key: Some(key.into()),
        target_type: TargetType::Json,
        transforms: vec![Transform::Date(Box::new(DateSpec { output, ..DateSpec::default() }))],
        ..column("custom_fields", key)
    };
    let p = plan(vec![at("seen", DateOutput::Timestamp), at("born", DateOutput::Date)]);
    let b = batch(&["id", "seen", "born"], &[&[Some("1"), Some("2016-12-18 15:08:16.25"), Some("1990-02-03")]]);
    let out = map_batch(&p, &b, 0).unwrap();
    assert!(out.rejects.is_empty(), "{:?}", out.rejects);
    assert_eq!(
        out.mapped.value("custom_fields", 0),
        Some(r#"{"born":"1990-02-03","seen":"2016-12-18T15:08:16.250000Z"}"#)
    );
}

#[test]
fn a_sentinel_date_in_a_column_with_a_default_is_counted_as_defaulted_not_nulled() {
    use crate::transform::{DateOutput, DateSpec};
    let date = || Transform::Date(Box::new(DateSpec { output: DateOutput::Timestamp, ..DateSpec::default() }));
    let created = ColumnPlan {
        transforms: vec![date()],
        target_type: TargetType::Timestamp,
        not_null: true,
        default: Some("now".into()),
        ..column("created_at", "c")
    };
    let completed =
        ColumnPlan { transforms: vec![date()], target_type: TargetType::Timestamp, ..column("completed_at", "d") };
    let b = batch(&["id", "c", "d"], &[&[Some("1"), Some("0000-00-00"), Some("1900-01-01")]]);
    let out = map_batch(&plan(vec![created, completed]), &b, 0).unwrap();
    assert_eq!(out.mapped.keys, ["1"]);
    assert_eq!(out.mapped.value("created_at", 0), None, "left to the default");
    let notes: Vec<(&str, &str)> = out.notes.iter().map(|n| (n.column.as_str(), n.code)).collect();
    assert_eq!(notes, [("c", "sentinel_date_defaulted"), ("d", "sentinel_date_nulled")]);
}

#[test]
fn a_filter_leaves_rows_out_uncounted_as_rejects_and_an_empty_field_equals_the_empty_string() {
    use crate::plan::{Condition, Test};
    let kind = ColumnPlan {
        input: ColumnInput::When {
            column: "closed".into(),
            equals: vec!["".into()],
            then: "open".into(),
            otherwise: Some("done".into()),
        },
        ..column("status", "")
    };
    let email = ColumnPlan { transforms: vec![Transform::Email(Default::default())], ..column("email", "mail") };
    let mut p = plan(vec![kind, email]);
    p.filter = vec![
        Condition { column: "state".into(), test: Test::NotEquals(vec!["deleted".into(), "test".into()]) },
        Condition { column: "mail".into(), test: Test::IsEmpty(false) },
    ];
    let b = batch(
        &["id", "state", "closed", "mail"],
        &[
            &[Some("1"), Some("live"), None, Some("a@b.example")],
            &[Some("2"), Some(" deleted "), None, Some("not an address")],
            &[Some("3"), Some("live"), Some("2024-01-02"), Some("c@d.example")],
            &[Some("4"), None, Some(" "), None],
            &[Some("5"), Some("live"), None, Some("bad")],
        ],
    );
    let out = map_batch(&p, &b, 0).unwrap();
    assert_eq!(out.mapped.keys, ["1", "3"]);
    assert_eq!(out.filtered, 2, "row 2 (deleted, its bad address never looked at) and row 4 (no mail)");
    assert_eq!(out.rejects.iter().map(|r| r.row).collect::<Vec<_>>(), [4]);
    assert_eq!(out.mapped.value("status", 0), Some("open"), "a missing field equals \"\"");
    assert_eq!(out.mapped.value("status", 1), Some("done"));
}

#[test]
fn templates_strip_split_and_locale_numbers_fill_custom_fields_exactly() {
    use crate::plan::TemplatePart;
    use crate::transform::Locale;
    let json = |key: &str, input: ColumnInput, transforms: Vec<Transform>| ColumnPlan {
        json_key: Some(key.into()),
        target_type: TargetType::Json,
        input,
        transforms,
        ..column("custom_fields", "")
    };
    let src = |c: &str| ColumnInput::Source(c.into());
    let p = plan(vec![
        json("shipment", ColumnInput::Template(TemplatePart::parse("{qty} {unit} to {county}").unwrap()), vec![]),
        json("tags", src("tags"), vec![Transform::Split(",".into())]),
        json("visits", src("visits"), vec![Transform::Number(Locale::En)]),
        json("balance", src("balance"), vec![Transform::Number(Locale::De)]),
        ColumnPlan {
            transforms: vec![
                Transform::StripPrefix(vec!["CUST-".into(), "#".into()]),
                Transform::StripSuffix(vec![" (old)".into()]),
            ],
            ..column("company", "ref")
        },
    ]);
    let b = batch(
        &["id", "qty", "unit", "county", "tags", "visits", "balance", "ref"],
        &[
            &[
                Some("1"),
                Some("5"),
                Some("t"),
                Some("Kent"),
                Some("vip, , uk ,"),
                Some("1,644"),
                Some("-1.234,50"),
                Some("CUST-Acme (old)"),
            ],
            &[Some("2"), Some("3"), None, Some(" Essex "), Some(""), Some("12.5"), Some("0,10"), Some("#Bolt")],
            &[Some("3"), None, None, None, None, None, None, Some("CUST-")],
        ],
    );
    let out = map_batch(&p, &b, 0).unwrap();
    assert!(out.rejects.is_empty(), "{:?}", out.rejects);
    let custom: Vec<serde_json::Value> =
        (0..3).map(|r| serde_json::from_str(out.mapped.value("custom_fields", r).unwrap()).unwrap()).collect();
    assert_eq!(
        custom[0],
        serde_json::json!({ "shipment": "5 t to Kent", "tags": ["vip", "uk"], "visits": 1644, "balance": -1234.5 })
    );
    assert_eq!(custom[1], serde_json::json!({ "shipment": "3 to Essex", "visits": 12.5, "balance": 0.1 }));
    assert_eq!(custom[2], serde_json::json!({}));
    let companies: Vec<Option<&str>> = (0..3).map(|r| out.mapped.value("company", r)).collect();
    assert_eq!(companies, [Some("Acme"), Some("Bolt"), None]);

    let bad = batch(
        &["id", "qty", "unit", "county", "tags", "visits", "balance", "ref"],
        &[&[Some("4"), None, None, None, None, Some("1.644,5"), None, None]],
    );
    let out = map_batch(&p, &bad, 0).unwrap();
    assert_eq!(out.rejects.len(), 1);
    assert_eq!(out.rejects[0].reason, RejectReason::InvalidAmount);
    assert_eq!(out.rejects[0].message, "number: \"1.644,5\" is not a number in the en locale");
}

#[test]
fn a_template_names_columns_in_braces_and_says_what_is_wrong() {
    use crate::plan::TemplatePart;
    assert_eq!(
        TemplatePart::parse("{a} {{x}} {b}").unwrap(),
        [TemplatePart::Column("a".into()), TemplatePart::Text(" {x} ".into()), TemplatePart::Column("b".into())]
    );
    assert!(TemplatePart::parse("no columns").unwrap_err().contains("names no source column"));
    assert!(TemplatePart::parse("{}").unwrap_err().contains("empty `{}`"));
    assert!(TemplatePart::parse("a } b {c}").unwrap_err().contains("without its `{`"));
}

#[test]
fn json_numbers_are_exact_or_strings() {
    assert_eq!(super::json_number("1644"), serde_json::json!(1644));
    assert_eq!(super::json_number("-12.50"), serde_json::json!(-12.5));
    assert_eq!(super::json_number("0.1"), serde_json::json!(0.1));
    assert_eq!(super::json_number("12345678901234567890.123"), serde_json::json!("12345678901234567890.123"));
}
