use super::*;
use migrate_engine::{ColumnInput, Transform};

const ORG: &str = "7a1c0b52-3c1e-4d8e-9f5a-2b6d8e4f1a90";

fn env(name: &str) -> Option<String> {
    (name == "ORG_ID").then(|| ORG.to_string())
}

const GOOD: &str = r#"
[migration]
name = "acme"
org_id = "${ORG_ID}"
source_system = "acme-crm"

[sources.customers]
kind = "csv"
path = "customers.csv"

[contacts]
from = "customers"
key = ["CustomerID"]

[contacts.columns]
first_name = "FirstName"
email = { from = "E-Mail", transform = ["trim", "lowercase", { null_if = ["N/A"] }], required = true }
type = { value = "client" }
"custom_fields.ltv" = "LTV"
"#;

fn errors(text: &str) -> Vec<(String, (usize, usize), Option<String>)> {
    let d = parse("m.toml", text, &env).unwrap_err();
    d.items.iter().map(|i| (i.message.clone(), d.line_col(i.span.start), i.help.clone())).collect()
}

#[test]
fn a_good_mapping_becomes_a_plan() {
    let m = parse("m.toml", GOOD, &env).unwrap();
    assert_eq!(m.plan.org_id.to_string(), ORG);
    assert_eq!(m.plan.source_system, "acme-crm");
    let e = &m.plan.entities[0];
    assert_eq!(e.entity, "contacts");
    assert_eq!(e.key, KeySpec::Columns(vec!["CustomerID".into()]));
    let email = e.columns.iter().find(|c| c.target == "email").unwrap();
    assert_eq!(email.transforms, vec![Transform::Trim, Transform::Lowercase, Transform::NullIf(vec!["N/A".into()])]);
    assert!(email.required);
    assert_eq!(email.max_chars, Some(254));
    let kind = e.columns.iter().find(|c| c.target == "type").unwrap();
    assert_eq!(kind.input, ColumnInput::Constant("client".into()));
    let ltv = e.columns.iter().find(|c| c.json_key.as_deref() == Some("ltv")).unwrap();
    assert_eq!(ltv.target, "custom_fields");
    assert_eq!(e.source_columns(), vec!["CustomerID", "FirstName", "E-Mail", "LTV"]);
}

#[test]
fn a_misspelled_target_column_points_at_it_and_suggests_the_right_one() {
    let text = GOOD.replace("first_name = \"FirstName\"", "frist_name = \"FirstName\"");
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, "unknown target column `frist_name`");
    assert_eq!(errs[0].1, (16, 1));
    assert_eq!(errs[0].2.as_deref(), Some("did you mean `first_name`?"));
}

#[test]
fn every_mistake_is_reported_at_once() {
    let text = GOOD
        .replace("first_name = \"FirstName\"", "emial = \"FirstName\"")
        .replace("\"trim\", \"lowercase\"", "\"trim\", \"lowercse\"")
        .replace("{ value = \"client\" }", "{ value = \"customer\" }");
    let errs = errors(&text);
    let messages: Vec<&str> = errs.iter().map(|e| e.0.as_str()).collect();
    assert_eq!(messages.len(), 3, "{errs:?}");
    assert!(messages[0].contains("unknown target column `emial`"));
    assert!(messages[1].contains("unknown transform `lowercse`"));
    assert!(messages[2].contains("`customer` is not one of contact, client, lead, vendor, partner"));
    assert_eq!(errs[1].2.as_deref(), Some("did you mean `lowercase`?"));
}

#[test]
fn structural_mistakes() {
    let cases: Vec<(String, &str)> = vec![
        (GOOD.replace("key = [\"CustomerID\"]\n", ""), "[contacts] has no source key"),
        (GOOD.replace("${ORG_ID}", "${TENANT}"), "environment variable TENANT is not set"),
        (GOOD.replace("${ORG_ID}", "acme"), "org_id `acme` is not a UUID"),
        (GOOD.replace("from = \"customers\"", "from = \"custmers\""), "unknown source `custmers`"),
        (GOOD.replace("kind = \"csv\"", "kind = \"cvs\""), "unknown source kind `cvs`"),
        (
            GOOD.replace("[contacts]\n", "[contcts]\n").replace("[contacts.columns]", "[contcts.columns]"),
            "unknown top-level table `contcts`",
        ),
        (GOOD.replace("first_name = \"FirstName\"", "id = \"FirstName\""), "contacts.id is set by the platform"),
        (
            GOOD.replace("first_name = \"FirstName\"", "first_name = { from = \"A\", value = \"b\" }"),
            "a column takes one of from, template, value, coalesce and when; this has `from` and `value`",
        ),
        (
            GOOD.replace("first_name = \"FirstName\"", "custom_fields = \"X\""),
            "custom_fields is a JSON object; map its keys one by one",
        ),
        (
            GOOD.replace("first_name = \"FirstName\"", "first_name = { from = \"A\", transform = \"trim\" }"),
            "`transform` is an ordered list",
        ),
        (GOOD.replace("first_name = \"FirstName\"", "\"email.x\" = \"A\""), "contacts.email is not a JSON column"),
        (
            GOOD.replace("key = [\"CustomerID\"]", "key = [\"CustomerID\"]\ndeduplicate = true"),
            "unknown key of [contacts] `deduplicate`",
        ),
        (GOOD.replace("key = [\"CustomerID\"]", "key = [\"CustomerID\"]\ndedupe = true"), "dedupe is a table"),
        (
            GOOD.replace("key = [\"CustomerID\"]", "key = [\"CustomerID\"]\ndedupe = { on = [\"emial\"] }"),
            "unknown mapped column of this entity `emial`",
        ),
        (
            GOOD.replace(
                "key = [\"CustomerID\"]",
                "key = [\"CustomerID\"]\ndedupe = { on = [\"email\"], keep = \"best\" }",
            ),
            "unknown keep rule `best`",
        ),
        (
            GOOD.replace("key = [\"CustomerID\"]", "key = [\"CustomerID\"]\non_missing = \"purge\""),
            "unknown on_missing `purge`",
        ),
        (
            GOOD.replace("key = [\"CustomerID\"]", "key = [\"CustomerID\"]\nmax_deleted = \"lots\""),
            "max_deleted must be a whole number",
        ),
        (
            GOOD.replace("key = [\"CustomerID\"]", "key = [\"CustomerID\"]\nsimilar = { threshold = 0.9 }"),
            "similar needs `on`",
        ),
        (
            GOOD.replace(
                "key = [\"CustomerID\"]",
                "key = [\"CustomerID\"]\nsimilar = { on = [\"first_name\"], threshold = 0.2 }",
            ),
            "threshold is a Jaro-Winkler similarity above 0.5",
        ),
        (
            GOOD.replace(
                "key = [\"CustomerID\"]",
                "key = [\"CustomerID\"]\nsimilar = { on = [\"first_name\"], threshold = 1 }",
            ),
            "threshold is a number like 0.92",
        ),
        (GOOD.replace("name = \"acme\"\n", ""), "[migration] is missing `name`"),
        (
            "[migration]\nname = \"x\"\norg_id = \"${ORG_ID}\"\nsource_system = \"s\"\n".to_string(),
            "the mapping loads no entity",
        ),
        ("[migration\n".to_string(), "unclosed table"),
    ];
    for (text, expected) in cases {
        let errs = errors(&text);
        assert!(errs.iter().any(|e| e.0.contains(expected)), "expected {expected:?} in {errs:?}");
    }
}

#[test]
fn on_missing_and_similar_parse_into_the_plan() {
    let text = GOOD.replace(
        "key = [\"CustomerID\"]",
        "key = [\"CustomerID\"]\non_missing = \"delete\"\nsimilar = { on = [\"first_name\", \"email\"], threshold = 0.95 }",
    );
    let e = &parse("m.toml", &text, &env).unwrap().plan.entities[0];
    assert_eq!(e.on_missing, migrate_engine::OnMissing::Delete);
    assert_eq!(
        e.similar,
        Some(migrate_engine::Similar { on: vec!["first_name".into(), "email".into()], threshold: 0.95 })
    );
    let e = &parse("m.toml", GOOD, &env).unwrap().plan.entities[0];
    assert_eq!((e.on_missing, e.similar.as_ref()), (migrate_engine::OnMissing::Report, None), "the defaults");
}

#[test]
fn row_hash_is_an_explicit_key() {
    let m = parse("m.toml", &GOOD.replace("key = [\"CustomerID\"]", "key = \"$row_hash\""), &env).unwrap();
    assert_eq!(m.plan.entities[0].key, KeySpec::RowHash);
}

#[test]
fn not_null_columns_without_a_default_must_be_mapped() {
    let text = GOOD
        .replace("[contacts]", "[tasks]")
        .replace("[contacts.columns]", "[tasks.columns]")
        .replace("first_name = \"FirstName\"\n", "")
        .replace("email = {", "description = {")
        .replace(", required = true", "")
        .replace("type = { value = \"client\" }\n", "");
    let errs = errors(&text);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, "tasks.title is NOT NULL and not mapped");
}

#[test]
fn source_columns_are_checked_against_the_header_with_suggestions() {
    let m = parse("m.toml", GOOD, &env).unwrap();
    let header: Vec<String> = ["CustomerID", "FirstName", "EMail", "LTV"].iter().map(|s| s.to_string()).collect();
    let d = m.diagnostics(m.check_source_columns("customers", &header, &header));
    assert_eq!(d.items.len(), 1);
    assert_eq!(d.items[0].message, "unknown source column `E-Mail` in source `customers`");
    assert_eq!(d.items[0].help.as_deref(), Some("did you mean `EMail`?"));
    assert_eq!(d.line_col(d.items[0].span.start).0, 17);
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct FakeConfig {
    path: String,
}

#[test]
fn source_options_deserialize_with_errors_pointing_into_the_file() {
    let m = parse("m.toml", GOOD, &env).unwrap();
    let c: FakeConfig = m.source_config("customers").unwrap();
    assert_eq!(c.path, "customers.csv");

    let m =
        parse("m.toml", &GOOD.replace("path = \"customers.csv\"", "path = \"customers.csv\"\ndelimter = \";\""), &env)
            .unwrap();
    let d = m.source_config::<FakeConfig>("customers").unwrap_err();
    assert!(d.items[0].message.contains("unknown field `delimter`"), "{:?}", d.items);
    assert_eq!(d.line_col(d.items[0].span.start), (10, 1));
}

fn with_columns(columns: &str) -> String {
    let start = GOOD.find("first_name = ").unwrap();
    format!("{}{columns}\n", &GOOD[..start])
}

#[test]
fn converting_transforms_parse_into_their_specs() {
    use migrate_engine::transform::{DateOutput, Locale};
    let text = with_columns(
        r#"email = { from = "E", transform = ["email"], required = true }
phone = { from = "P", transform = [{ phone = { region = "US" } }] }
created_at = { from = "C", transform = ["trim", { date = { formats = ["us", "%d %b %Y"], timezone = "America/New_York", pivot = 30 } }] }
type = { from = "T", transform = [{ map = { values = { "C" = "client", "L" = "lead" }, default = "contact", case_insensitive = true } }] }
first_name = { from = "N", transform = [{ name = { part = "first", fix_caps = true } }] }
company = { from = "Co", transform = ["truncate"] }
"custom_fields.ltv" = { from = "LTV", transform = [{ money = { locale = "de", currency = "EUR" } }] }
"custom_fields.vip" = { from = "V", transform = [{ boolean = { blank_is_false = true } }] }"#,
    );
    let m = parse("m.toml", &text, &env).unwrap();
    let e = &m.plan.entities[0];
    let column = |target: &str, key: Option<&str>| {
        e.columns.iter().find(|c| c.target == target && c.json_key.as_deref() == key).unwrap()
    };
    let Transform::Date(date) = &column("created_at", None).transforms[1] else { panic!() };
    assert_eq!(date.output, DateOutput::Timestamp);
    assert_eq!(date.timezone.name(), "America/New_York");
    assert_eq!(date.pivot, 30);
    assert_eq!(date.formats.len(), 9, "8 US formats and one pattern");
    assert_eq!(column("company", None).transforms, vec![Transform::Truncate(200)]);
    let Transform::Money(money) = &column("custom_fields", Some("ltv")).transforms[0] else { panic!() };
    assert_eq!((money.locale, money.default_currency.as_deref()), (Locale::De, Some("EUR")));
    let Transform::Map(map) = &column("type", None).transforms[0] else { panic!() };
    assert_eq!(map.values.len(), 2);
    assert_eq!(map.default.as_deref(), Some("contact"));
}

#[test]
fn transforms_that_do_not_fit_are_errors_with_a_reason() {
    let cases = [
        (
            r#"created_at = { from = "C", transform = [{ date = { formats = ["us"] } }, "lowercase"] }"#,
            "`lowercase` takes text, but `date` gives a timestamp",
        ),
        (
            r#"first_name = { from = "L", transform = [{ money = { currency = "USD" } }] }"#,
            "this gives an amount with a currency, which does not fit first_name (text)",
        ),
        (
            r#"created_at = { from = "C", transform = [{ date = { timezone = "Mars/Olympus" } }] }"#,
            "\"Mars/Olympus\" is not an IANA time zone",
        ),
        (
            r#"created_at = { from = "C", transform = [{ date = { formats = ["usa"] } }] }"#,
            "unknown date format (a preset or a %-pattern) `usa`",
        ),
        (
            r#"created_at = { from = "C", transform = [{ date = { timezon = "UTC" } }] }"#,
            "unknown option of date `timezon`",
        ),
        (
            r#"type = { from = "T", transform = [{ map = { values = { "C" = "clinet" } } }] }"#,
            "`clinet` is not a value of type",
        ),
        (
            r#""custom_fields.x" = { from = "X", transform = ["truncate"] }"#,
            "custom_fields has no length limit to truncate to",
        ),
        (
            r#""custom_fields.x" = { from = "X", transform = [{ money = { currency = "EURO" } }] }"#,
            "unknown currency code `EURO`",
        ),
        (r#""custom_fields.x" = { from = "X", transform = [{ money = { locale = "uk" } }] }"#, "unknown locale `uk`"),
        (
            r#"phone = { from = "P", transform = [{ phone = { region = "usa" } }] }"#,
            "region \"usa\" is not a two-letter country code",
        ),
        (r#"first_name = { from = "N", transform = [{ name = { part = "second" } }] }"#, "unknown name part `second`"),
        (r#"email = { from = "E", transform = ["email", { trim = true }] }"#, "the options of `trim` are a table"),
    ];
    for (columns, expected) in cases {
        let errs = errors(&with_columns(columns));
        assert!(errs.iter().any(|e| e.0.contains(expected)), "expected {expected:?} in {errs:?}");
    }
    let errs =
        errors(&with_columns(r#"type = { from = "T", transform = [{ map = { values = { "C" = "clinet" } } }] }"#));
    assert_eq!(errs[0].2.as_deref(), Some("did you mean `client`?"));
}

#[test]
fn several_columns_combine_by_join_coalesce_or_match() {
    let text = with_columns(
        r#"created_at = { from = ["Date", "Time"], join = "T", transform = [{ date = { formats = ["iso"], timezone_column = "Zone" } }] }
phone = { coalesce = ["Mobile", "Phone"] }
type = { when = { column = "IsCustomer", equals = ["Y", "1"], then = "client", else = "lead" } }
first_name = { from = ["First", "Middle"] }"#,
    );
    let m = parse("m.toml", &text, &env).unwrap();
    let e = &m.plan.entities[0];
    let input = |target: &str| &e.columns.iter().find(|c| c.target == target).unwrap().input;
    assert_eq!(
        input("created_at"),
        &ColumnInput::Concat { columns: vec!["Date".into(), "Time".into()], separator: "T".into() }
    );
    assert_eq!(input("phone"), &ColumnInput::Coalesce(vec!["Mobile".into(), "Phone".into()]));
    assert_eq!(
        input("type"),
        &ColumnInput::When {
            column: "IsCustomer".into(),
            equals: vec!["Y".into(), "1".into()],
            then: "client".into(),
            otherwise: Some("lead".into())
        }
    );
    assert_eq!(
        input("first_name"),
        &ColumnInput::Concat { columns: vec!["First".into(), "Middle".into()], separator: " ".into() }
    );
    let header: Vec<String> = ["CustomerID", "Date", "Time", "Zone", "Mobile", "Phone", "IsCustomer", "First"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let unknown: Vec<String> =
        m.check_source_columns("customers", &header, &header).into_iter().map(|d| d.message).collect();
    assert_eq!(unknown, vec!["unknown source column `Middle` in source `customers`"]);

    let cases = [
        (r#"phone = { coalesce = ["Mobile"] }"#, "coalesce takes a list of two or more source columns"),
        (r#"phone = { from = "Phone", join = "-" }"#, "`join` goes with `from = [\"A\", \"B\"]`"),
        (
            r#"type = { when = { column = "K", equals = "Y", then = "customer" } }"#,
            "`customer` is not one of contact, client",
        ),
        (r#"type = { when = { column = "K", then = "client" } }"#, "when needs `equals`"),
        (r#"phone = { from = "A", coalesce = ["B", "C"] }"#, "this has `from` and `coalesce`"),
    ];
    for (columns, expected) in cases {
        let errs = errors(&with_columns(columns));
        assert!(errs.iter().any(|e| e.0.contains(expected)), "expected {expected:?} in {errs:?}");
    }
}

#[test]
fn conversions_name_a_rates_source_and_a_date_column() {
    let ok = with_columns(
        r#""custom_fields.v" = { from = "V", transform = [{ money = { locale = "de", convert = { to = "USD", rates = "customers", date = "D", formats = ["us"] } } }] }"#,
    );
    let m = parse("m.toml", &ok, &env).unwrap();
    let refs: Vec<&str> = m.source_refs.iter().map(|r| r.column.as_str()).collect();
    assert!(refs.contains(&"D") && refs.contains(&"rate") && refs.contains(&"currency"), "{refs:?}");
    let cases = [
        (
            r#""custom_fields.v" = { from = "V", transform = [{ money = { convert = { to = "USD", rates = "fxx", date = "D" } } }] }"#,
            "unknown rates source `fxx`",
        ),
        (
            r#""custom_fields.v" = { from = "V", transform = [{ money = { convert = { to = "USDX", rates = "customers", date = "D" } } }] }"#,
            "unknown currency code `USDX`",
        ),
        (
            r#""custom_fields.v" = { from = "V", transform = [{ money = { convert = { to = "USD", rates = "customers" } } }] }"#,
            "convert is missing `date`",
        ),
        (
            r#""custom_fields.v" = { from = "V", transform = [{ money = { convert = "USD" } }] }"#,
            "`convert` is a table",
        ),
    ];
    for (columns, expected) in cases {
        let errs = errors(&with_columns(columns));
        assert!(errs.iter().any(|e| e.0.contains(expected)), "expected {expected:?} in {errs:?}");
    }
}

/// Every mapping the README shows parses without a mistake.
#[test]
fn every_toml_example_in_the_readme_parses() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let mut blocks = Vec::new();
    let mut rest = readme.as_str();
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + 8..];
        let end = body.find("\n```").unwrap();
        blocks.push(&body[..end]);
        rest = &body[end..];
    }
    assert!(blocks.len() >= 12, "the reference and eleven recipes: {}", blocks.len());
    let env = |name: &str| match name {
        "ORG_ID" => Some("7a1c0b52-3c1e-4d8e-9f5a-2b6d8e4f1a90".to_string()),
        n if n.ends_with("_URL") => Some("mysql://user:pw@db:3306/crm".to_string()),
        n if n.ends_with("_PASSWORD") => Some("pw".to_string()),
        _ => None,
    };
    for (i, block) in blocks.iter().enumerate() {
        if let Err(d) = crate::parse("README.md", block, &env) {
            panic!("README toml block {i} does not parse:\n{}\n{block}", d.render(false));
        }
    }
}

#[test]
fn links_can_be_recorded_in_entity_links_and_json_transforms_parse() {
    let text = format!(
        "{GOOD}\n[tasks]\nfrom = \"customers\"\nkey = [\"TaskID\"]\n[tasks.columns]\ntitle = \"Subject\"\n\
         contact_id = {{ from = \"CustomerID\", relation = \"task_of\" }}\n\
         \"custom_fields.tags\" = {{ from = \"Tags\", transform = [\"json\"] }}\n\
         \"custom_fields.phones\" = {{ from = \"Phones\", transform = [{{ join = \", \" }}] }}\n"
    );
    let m = parse("m.toml", &text, &env).unwrap_or_else(|d| panic!("{:?}", d.items));
    let tasks = m.plan.entities.iter().find(|e| e.entity == "tasks").unwrap();
    let link = tasks.columns.iter().find_map(|c| c.link.as_ref()).unwrap();
    assert_eq!(link.relation.as_deref(), Some("task_of"));
    let transforms: Vec<&Transform> = tasks.columns.iter().flat_map(|c| c.transforms.iter()).collect();
    assert_eq!(transforms, [&Transform::Json, &Transform::Join(", ".into())]);

    let not_a_link =
        GOOD.replace("first_name = \"FirstName\"", "first_name = { from = \"FirstName\", relation = \"x\" }");
    assert_eq!(errors(&not_a_link)[0].0, "first_name is not a link column");
    let json_into_text =
        GOOD.replace("first_name = \"FirstName\"", "first_name = { from = \"FirstName\", transform = [\"json\"] }");
    assert!(
        errors(&json_into_text)[0].0.contains("this gives JSON, which does not fit first_name"),
        "{:?}",
        errors(&json_into_text)
    );
}

#[test]
fn double_encoded_is_repair_by_default_keep_on_request_and_nothing_else() {
    use migrate_engine::transform::mojibake::DoubleEncoded;
    let m = parse("m.toml", GOOD, &env).unwrap();
    assert_eq!(m.plan.entities[0].double_encoded, DoubleEncoded::Repair);
    let keep = GOOD.replace("source_system = \"acme-crm\"", "source_system = \"acme-crm\"\ndouble_encoded = \"keep\"");
    let m = parse("m.toml", &keep, &env).unwrap();
    assert_eq!(m.plan.entities[0].double_encoded, DoubleEncoded::Keep);
    let errs =
        errors(&GOOD.replace("source_system = \"acme-crm\"", "source_system = \"acme-crm\"\ndouble_encoded = \"fix\""));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, "double_encoded is \"repair\" or \"keep\"");
    assert_eq!(errs[0].1, (6, 18));
}

#[test]
fn on_invalid_parses_and_is_refused_where_it_cannot_work() {
    use migrate_engine::OnInvalid;
    let text = with_columns(
        r#"phone = { from = "P", transform = [{ phone = { region = "US" } }], on_invalid = "keep_raw" }
email = { from = "E", transform = ["email"], on_invalid = "null" }
first_name = { from = "F", on_invalid = "reject" }"#,
    );
    let m = parse("m.toml", &text, &env).unwrap_or_else(|d| panic!("{:?}", d.items));
    let policy = |t: &str| m.plan.entities[0].columns.iter().find(|c| c.target == t).unwrap().on_invalid;
    assert_eq!(
        (policy("phone"), policy("email"), policy("first_name")),
        (OnInvalid::KeepRaw, OnInvalid::Null, OnInvalid::Reject)
    );
    assert!(m.plan.entities[0].target_columns().contains(&"custom_fields"), "keep_raw writes custom_fields");

    let required =
        with_columns(r#"email = { from = "E", transform = ["email"], required = true, on_invalid = "null" }"#);
    let errs = errors(&required);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, "email cannot be left empty, so an invalid value must reject its row");

    let unknown = with_columns(r#"email = { from = "E", on_invalid = "skip" }"#);
    assert!(errors(&unknown)[0].0.contains("skip"), "{:?}", errors(&unknown));

    let no_custom_fields = format!(
        "{GOOD}\n[task_columns]\nfrom = \"customers\"\nkey = [\"C\"]\n[task_columns.columns]\nboard_id = \"B\"\n\
         name = \"N\"\nposition = {{ from = \"P\", on_invalid = \"keep_raw\" }}\n"
    );
    let errs = errors(&no_custom_fields);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert_eq!(errs[0].0, "this entity has no custom_fields column to keep the raw value in");
    assert_eq!(errs[0].2.as_deref(), Some("use on_invalid = \"null\" or \"reject\""));
}

#[test]
fn a_filter_is_a_condition_or_a_list_and_its_columns_are_source_columns() {
    use migrate_engine::{Condition, Test};
    let one = GOOD.replace(
        "key = [\"CustomerID\"]",
        "key = [\"CustomerID\"]\nfilter = { column = \"Status\", not_equals = [\"deleted\"] }",
    );
    let m = parse("m.toml", &one, &env).unwrap_or_else(|d| panic!("{:?}", d.items));
    assert_eq!(
        m.plan.entities[0].filter,
        [Condition { column: "Status".into(), test: Test::NotEquals(vec!["deleted".into()]) }]
    );
    assert!(m.plan.entities[0].source_columns().contains(&"Status"));
    assert!(m.source_refs.iter().any(|r| r.column == "Status"), "validate checks it against the header");

    let list = GOOD.replace(
        "key = [\"CustomerID\"]",
        "key = [\"CustomerID\"]\nfilter = [{ column = \"Type\", equals = \"C\" }, { column = \"Mail\", is_empty = false }]",
    );
    let m = parse("m.toml", &list, &env).unwrap_or_else(|d| panic!("{:?}", d.items));
    assert_eq!(m.plan.entities[0].filter.len(), 2);
    assert_eq!(m.plan.entities[0].filter[1].test, Test::IsEmpty(false));

    let two_tests = GOOD.replace(
        "key = [\"CustomerID\"]",
        "key = [\"CustomerID\"]\nfilter = { column = \"T\", equals = \"a\", is_empty = true }",
    );
    assert_eq!(errors(&two_tests)[0].0, "a filter condition takes one test; list several conditions instead");
    let none = GOOD.replace("key = [\"CustomerID\"]", "key = [\"CustomerID\"]\nfilter = { column = \"T\" }");
    assert_eq!(errors(&none)[0].0, "a filter condition needs `equals`, `not_equals` or `is_empty`");
    let typo =
        GOOD.replace("key = [\"CustomerID\"]", "key = [\"CustomerID\"]\nfilter = { column = \"T\", equal = \"a\" }");
    assert_eq!(errors(&typo)[0].0, "unknown filter key `equal`");
}

#[test]
fn templates_strip_split_and_number_parse_and_are_checked() {
    use migrate_engine::TemplatePart;
    use migrate_engine::transform::Locale;
    let text = with_columns(
        r#"company = { template = "{Name} ({City})", transform = [{ strip_prefix = ["Fa. ", "Firma "] }, { strip_suffix = " GmbH" }] }
"custom_fields.tags" = { from = "Tags", transform = [{ split = ";" }] }
"custom_fields.visits" = { from = "Visits", transform = [{ number = { locale = "de" } }] }
"custom_fields.count" = { from = "Count", transform = ["number"] }"#,
    );
    let m = parse("m.toml", &text, &env).unwrap_or_else(|d| panic!("{:?}", d.items));
    let e = &m.plan.entities[0];
    assert_eq!(
        e.columns[0].input,
        ColumnInput::Template(vec![
            TemplatePart::Column("Name".into()),
            TemplatePart::Text(" (".into()),
            TemplatePart::Column("City".into()),
            TemplatePart::Text(")".into()),
        ])
    );
    assert_eq!(
        e.columns[0].transforms,
        [Transform::StripPrefix(vec!["Fa. ".into(), "Firma ".into()]), Transform::StripSuffix(vec![" GmbH".into()])]
    );
    assert_eq!(e.columns[1].transforms, [Transform::Split(";".into())]);
    assert_eq!(e.columns[2].transforms, [Transform::Number(Locale::De)]);
    assert_eq!(e.columns[3].transforms, [Transform::Number(Locale::En)]);
    assert!(m.source_refs.iter().any(|r| r.column == "City"), "template columns are checked against the header");

    let errs = errors(&with_columns(r#"company = { template = "Acme" }"#));
    assert_eq!(errs[0].0, "the template names no source column: write it as `{Column}`");
    let errs = errors(&with_columns(r#"company = { from = "T", transform = [{ split = "," }] }"#));
    assert!(errs[0].0.contains("this gives JSON, which does not fit company"), "{errs:?}");
    let errs = errors(&with_columns(r#"first_name = { from = "N", transform = ["number"] }"#));
    assert!(errs[0].0.contains("this gives a number, which does not fit first_name"), "{errs:?}");
    let errs =
        errors(&with_columns(r#""custom_fields.n" = { from = "N", transform = [{ number = { locale = "xx" } }] }"#));
    assert!(errs[0].0.contains("unknown locale `xx`"), "{errs:?}");
}

#[test]
fn zone_abbreviations_name_iana_zones() {
    let text = with_columns(
        r#"created_at = { from = "C", transform = [{ date = { formats = ["us"], zone_abbreviations = { CST = "America/Chicago", IST = "Asia/Kolkata" } } }] }"#,
    );
    let m = parse("m.toml", &text, &env).unwrap_or_else(|d| panic!("{:?}", d.items));
    let Transform::Date(spec) = &m.plan.entities[0].columns[0].transforms[0] else { panic!("a date") };
    let names: Vec<(&str, &str)> = spec.zone_abbreviations.iter().map(|(a, z)| (a.as_str(), z.name())).collect();
    assert_eq!(names, [("CST", "America/Chicago"), ("IST", "Asia/Kolkata")]);
    let bad = with_columns(
        r#"created_at = { from = "C", transform = [{ date = { zone_abbreviations = { CST = "Chicago" } } }] }"#,
    );
    assert_eq!(errors(&bad)[0].0, "CST must name an IANA time zone");
}
