//! Values a CRM export gets wrong, through a mapping into PostgreSQL: a bad
//! phone that need not cost its contact (`on_invalid`), and a placeholder
//! date in `created_at`, which cannot be NULL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

const PEOPLE: &str = "\
id,first,last,phone,since
1,Ada,Lovelace,+1 541 754 3010,2019-03-04
2,Grace,Hopper,call after 5,2020-05-06
3,Alan,Turing,n/a,0000-00-00
4,Kurt,Gödel,+1 (541) 754-3011,1900-01-01
";

fn mapping(on_invalid: &str) -> String {
    format!(
        r#"[migration]
name = "crm"
org_id = "${{ORG_ID}}"
source_system = "crm"

[sources.people]
kind = "csv"
path = "people.csv"

[contacts]
from = "people"
key = "id"

[contacts.columns]
first_name = "first"
last_name = "last"
phone = {{ from = "phone", transform = [{{ phone = {{ region = "US" }} }}], on_invalid = "{on_invalid}" }}
created_at = {{ from = "since", transform = [{{ date = {{ formats = ["%Y-%m-%d"] }} }}] }}
"#
    )
}

fn warning<'a>(r: &'a serde_json::Value, code: &str) -> &'a serde_json::Value {
    r["warnings"].as_array().unwrap().iter().find(|w| w["code"] == code).unwrap_or_else(|| panic!("no {code} in {r}"))
}

#[tokio::test]
async fn a_bad_phone_rejects_by_default_and_keep_raw_loads_the_contact_with_the_text_in_custom_fields() {
    let t = Target::new().await;
    let dir = t.work.path().join("crm");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("people.csv"), PEOPLE).unwrap();

    let reject = dir.join("reject.toml");
    std::fs::write(&reject, mapping("reject")).unwrap();
    assert_success(&t.run(&reject, ORG_A, "reject"));
    let r = report(&t.out_dir("reject"));
    assert_eq!(counts(entity(&r, "contacts")), [4, 0, 0, 2, 2, 2, 0, 0]);
    let (_, rejects) = read_csv(&t.out_dir("reject").join("rejects/contacts.csv"));
    let values: Vec<(&str, &str)> = rejects.iter().map(|r| (r[2].as_str(), r[3].as_str())).collect();
    assert_eq!(values, [("call after 5", "invalid_phone"), ("n/a", "invalid_phone")]);

    // The same export again with keep_raw: the two contacts load, their
    // phones empty and the text kept; the two loaded before are unchanged.
    let keep = dir.join("keep.toml");
    std::fs::write(&keep, mapping("keep_raw")).unwrap();
    assert_success(&t.run(&keep, ORG_A, "keep"));
    let r = report(&t.out_dir("keep"));
    assert_eq!(counts(entity(&r, "contacts")), [4, 0, 0, 0, 4, 2, 0, 2]);
    assert_eq!(entity(&r, "contacts")["balanced"], true);
    let kept = warning(&r, "invalid_kept_raw");
    assert_eq!((kept["column"].as_str(), kept["count"].as_u64()), (Some("phone"), Some(2)));
    let examples: Vec<&str> = kept["examples"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    assert_eq!(examples.len(), 2);
    assert!(examples[0].starts_with("call after 5 (phone: "), "{examples:?}");
    assert!(examples[1].starts_with("n/a (phone: "), "{examples:?}");

    let mut conn = t.admin().await;
    let rows: Vec<(String, Option<String>, serde_json::Value)> =
        sqlx::query_as("SELECT first_name, phone, custom_fields FROM contacts ORDER BY first_name")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let expected = [
        ("Ada", Some("+15417543010"), serde_json::json!({})),
        ("Alan", None, serde_json::json!({ "phone_raw": "n/a" })),
        ("Grace", None, serde_json::json!({ "phone_raw": "call after 5" })),
        ("Kurt", Some("+15417543011"), serde_json::json!({})),
    ];
    assert_eq!(rows, expected.map(|(f, p, c)| (f.to_string(), p.map(str::to_string), c)));

    // null: the same, without the text.
    let null = dir.join("null.toml");
    std::fs::write(&null, mapping("null")).unwrap();
    let out = t.migrate_as("migrate_loader").args(["validate"]).arg(&null).env("ORG_ID", ORG_A).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_success(&t.run(&null, ORG_A, "null"));
    let r = report(&t.out_dir("null"));
    assert_eq!(counts(entity(&r, "contacts")), [4, 0, 0, 0, 4, 0, 0, 4]);
    assert_eq!(warning(&r, "invalid_nulled")["count"], 2);
}

#[tokio::test]
async fn a_placeholder_created_at_takes_the_load_time_and_the_report_says_so() {
    let t = Target::new().await;
    let dir = t.work.path().join("crm");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("people.csv"), PEOPLE).unwrap();
    let m = dir.join("m.toml");
    std::fs::write(&m, mapping("null")).unwrap();
    assert_success(&t.run(&m, ORG_A, "run"));
    let r = report(&t.out_dir("run"));
    assert_eq!(counts(entity(&r, "contacts")), [4, 0, 0, 0, 4, 4, 0, 0]);
    let defaulted = warning(&r, "sentinel_date_defaulted");
    assert_eq!((defaulted["column"].as_str(), defaulted["count"].as_u64()), (Some("since"), Some(2)));
    assert_eq!(defaulted["examples"], serde_json::json!(["0000-00-00", "1900-01-01"]));
    assert!(r["warnings"].as_array().unwrap().iter().all(|w| w["code"] != "sentinel_date_nulled"));

    let mut conn = t.admin().await;
    let today: Vec<(String, bool)> =
        sqlx::query_as("SELECT first_name, created_at > now() - interval '1 hour' FROM contacts ORDER BY first_name")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let expected = [("Ada", false), ("Alan", true), ("Grace", false), ("Kurt", true)];
    assert_eq!(today, expected.map(|(f, b)| (f.to_string(), b)));
    let html = std::fs::read_to_string(t.out_dir("run").join("report.html")).unwrap();
    assert!(html.contains("new rows got the default, the load time"), "the HTML explains the warning");
}

#[tokio::test]
async fn templates_stripped_prefixes_packed_lists_and_locale_numbers_land_in_postgres_exactly() {
    let t = Target::new().await;
    let dir = t.work.path().join("farm");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("orders.csv"),
        "ref,buyer,qty,unit,county,tags,acres\n\
         ORD-1,Fa. Hof Meyer,5,t,Kent,\"organic, , export\",\"1,644\"\n\
         ORD-2,Bolt Ltd,3,,Essex,,12.5\n",
    )
    .unwrap();
    let mapping = dir.join("m.toml");
    std::fs::write(
        &mapping,
        r#"[migration]
name = "farm"
org_id = "${ORG_ID}"
source_system = "farm"

[sources.orders]
kind = "csv"
path = "orders.csv"

[contacts]
from = "orders"
key = "ref"

[contacts.columns]
company = { from = "buyer", transform = [{ strip_prefix = ["Fa. ", "Firma "] }] }
"custom_fields.shipment" = { template = "{qty} {unit} to {county}" }
"custom_fields.tags" = { from = "tags", transform = [{ split = "," }] }
"custom_fields.acres" = { from = "acres", transform = ["number"] }
"custom_fields.ref" = { from = "ref", transform = [{ strip_prefix = "ORD-" }] }
"#,
    )
    .unwrap();
    assert_success(&t.run(&mapping, ORG_A, "run"));
    let r = report(&t.out_dir("run"));
    assert_eq!(counts(entity(&r, "contacts")), [2, 0, 0, 0, 2, 2, 0, 0]);
    let mut conn = t.admin().await;
    let rows: Vec<(String, serde_json::Value)> =
        sqlx::query_as("SELECT company, custom_fields FROM contacts ORDER BY company")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(
        rows,
        [
            ("Bolt Ltd".to_string(), serde_json::json!({ "shipment": "3 to Essex", "acres": 12.5, "ref": "2" })),
            (
                "Hof Meyer".to_string(),
                serde_json::json!({ "shipment": "5 t to Kent", "tags": ["organic", "export"], "acres": 1644, "ref": "1" })
            ),
        ]
    );
    let acres: Vec<String> =
        sqlx::query_scalar("SELECT jsonb_typeof(custom_fields->'acres') FROM contacts ORDER BY company")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(acres, ["number", "number"], "numbers, not strings, so the platform can sum them");
}

#[tokio::test]
async fn zone_abbreviations_load_as_their_offsets_and_an_ambiguous_one_is_rejected_until_the_mapping_names_it() {
    let t = Target::new().await;
    let dir = t.work.path().join("tz");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("calls.csv"),
        "id,subject,at\n1,Kickoff,03/10/2019 10:00 EST\n2,Review,07/01/2019 10:00 CEST\n3,Wrap-up,07/01/2019 10:00 CST\n",
    )
    .unwrap();
    let mapping = |zones: &str| {
        format!(
            r#"[migration]
name = "tz"
org_id = "${{ORG_ID}}"
source_system = "tz"

[sources.calls]
kind = "csv"
path = "calls.csv"

[tasks]
from = "calls"
key = "id"

[tasks.columns]
title = "subject"
completed_at = {{ from = "at", transform = [{{ date = {{ formats = ["us"], timezone = "Europe/London"{zones} }} }}] }}
"#
        )
    };
    let plain = dir.join("plain.toml");
    std::fs::write(&plain, mapping("")).unwrap();
    assert_success(&t.run(&plain, ORG_A, "plain"));
    let r = report(&t.out_dir("plain"));
    assert_eq!(counts(entity(&r, "tasks")), [3, 0, 0, 1, 2, 2, 0, 0]);
    let (_, rejects) = read_csv(&t.out_dir("plain").join("rejects/tasks.csv"));
    assert_eq!((rejects[0][2].as_str(), rejects[0][3].as_str()), ("07/01/2019 10:00 CST", "invalid_date"));
    assert!(rejects[0][4].contains("CST is ambiguous"), "{:?}", rejects[0]);

    let settled = dir.join("settled.toml");
    std::fs::write(&settled, mapping(", zone_abbreviations = { CST = \"America/Chicago\" }")).unwrap();
    assert_success(&t.run(&settled, ORG_A, "settled"));
    let r = report(&t.out_dir("settled"));
    assert_eq!(counts(entity(&r, "tasks")), [3, 0, 0, 0, 3, 1, 0, 2]);
    let mut conn = t.admin().await;
    let times: Vec<(String, String)> = sqlx::query_as(
        "SELECT title, to_char(completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') FROM tasks ORDER BY title",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let expected = [("Kickoff", "2019-03-10 15:00"), ("Review", "2019-07-01 08:00"), ("Wrap-up", "2019-07-01 15:00")];
    assert_eq!(times, expected.map(|(a, b)| (a.to_string(), b.to_string())));
}

#[tokio::test]
async fn a_formula_in_a_rejected_row_is_written_as_text_and_comes_back_exactly_when_fed_back() {
    let t = Target::new().await;
    let dir = t.work.path().join("f");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("people.csv"),
        "id,first,email,balance\n1,\"=HYPERLINK(\"\"http://x.example\"\",\"\"y\"\")\",not-an-address,-12.50\n2,Ada,ada@x.example,3\n",
    )
    .unwrap();
    let mapping = |path: &str| {
        format!(
            r#"[migration]
name = "f"
org_id = "${{ORG_ID}}"
source_system = "f"

[sources.people]
kind = "csv"
path = "{path}"
skip_columns = "_*"

[contacts]
from = "people"
key = "id"

[contacts.columns]
first_name = "first"
email = {{ from = "email", transform = ["email"] }}
"custom_fields.balance" = "balance"
"#
        )
    };
    let first = dir.join("first.toml");
    std::fs::write(&first, mapping("people.csv")).unwrap();
    assert_success(&t.run(&first, ORG_A, "first"));
    let rejects = t.out_dir("first").join("rejects/contacts.csv");
    let (header, rows) = read_csv(&rejects);
    assert_eq!(&header[5..], ["id", "first", "email", "balance"]);
    assert_eq!(rows[0][6], "'=HYPERLINK(\"http://x.example\",\"y\")", "a spreadsheet shows it as text");
    assert_eq!(rows[0][8], "'-12.50");

    // The customer corrects the address in a text editor and sends it back.
    let fixed = std::fs::read_to_string(&rejects).unwrap().replace("not-an-address", "zoe@x.example");
    std::fs::write(dir.join("fixed.csv"), fixed).unwrap();
    let again = dir.join("again.toml");
    std::fs::write(&again, mapping("fixed.csv")).unwrap();
    assert_success(&t.run(&again, ORG_A, "again"));
    assert_eq!(counts(entity(&report(&t.out_dir("again")), "contacts")), [1, 0, 0, 0, 1, 1, 0, 0]);
    let mut conn = t.admin().await;
    let (name, custom): (String, serde_json::Value) =
        sqlx::query_as("SELECT first_name, custom_fields FROM contacts WHERE email = 'zoe@x.example'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(name, "=HYPERLINK(\"http://x.example\",\"y\")");
    assert_eq!(custom["balance"], "-12.50");
}

/// `Name <address>` loads the address (counted), the name can go to its own
/// column, and a domain without a dot is refused unless the mapping allows
/// local domains.
#[tokio::test]
async fn display_name_forms_load_their_address_and_dotless_domains_are_refused_by_default() {
    let t = Target::new().await;
    let dir = t.work.path().join("mail");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("people.csv"),
        "id,mail\n1,Bob <BOB@Example.COM>\n2,a@b\n3,\"\"\"Smith, Jo\"\" <jo@example.org>\"\n4,ada@example.com\n5,ops@intranet\n",
    )
    .unwrap();
    let mapping = |email: &str| {
        format!(
            r#"[migration]
name = "mail"
org_id = "${{ORG_ID}}"
source_system = "mail-{}"

[sources.people]
kind = "csv"
path = "people.csv"

[contacts]
from = "people"
key = "id"

[contacts.columns]
email = {{ from = "mail", transform = [{email}] }}
"custom_fields.mail_name" = {{ from = "mail", transform = [{{ email = {{ part = "display_name" }} }}] }}
"#,
            email.len()
        )
    };
    let strict = dir.join("strict.toml");
    std::fs::write(&strict, mapping("\"email\"")).unwrap();
    assert_success(&t.run(&strict, ORG_A, "strict"));
    let r = report(&t.out_dir("strict"));
    assert_eq!(counts(entity(&r, "contacts")), [5, 0, 0, 2, 3, 3, 0, 0]);
    let w = warning(&r, "email_display_name_removed");
    assert_eq!((w["column"].as_str(), w["count"].as_u64()), (Some("mail"), Some(2)));
    let (_, rejects) = read_csv(&t.out_dir("strict").join("rejects/contacts.csv"));
    let why: Vec<(&str, &str)> = rejects.iter().map(|r| (r[2].as_str(), r[4].as_str())).collect();
    assert_eq!(
        why,
        [
            (
                "a@b",
                "email: \"a@b\": the domain \"b\" has no dot (a local domain; allow it with { email = { local_domains = true } })"
            ),
            (
                "ops@intranet",
                "email: \"ops@intranet\": the domain \"intranet\" has no dot (a local domain; allow it with { email = { local_domains = true } })"
            ),
        ]
    );
    let local = dir.join("local.toml");
    std::fs::write(&local, mapping("{ email = { local_domains = true } }")).unwrap();
    assert_success(&t.run(&local, ORG_B, "local"));
    assert_eq!(counts(entity(&report(&t.out_dir("local")), "contacts")), [5, 0, 0, 0, 5, 5, 0, 0]);

    let mut admin = t.admin().await;
    let rows: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT k.source_key, c.email, c.custom_fields->>'mail_name' FROM contacts c
           JOIN migrate.keys k ON k.target_id = c.id WHERE c.org_id = $1 ORDER BY k.source_key",
    )
    .bind(uuid::Uuid::parse_str(ORG_B).unwrap())
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        rows,
        [
            ("1".to_string(), s("BOB@example.com"), s("Bob")),
            ("2".to_string(), s("a@b"), None),
            ("3".to_string(), s("jo@example.org"), s("Smith, Jo")),
            ("4".to_string(), s("ada@example.com"), None),
            ("5".to_string(), s("ops@intranet"), None),
        ]
    );
}

/// Customers in many countries: each row's phone region from a column,
/// the mapping's region where it is empty; a region column the file lacks
/// fails validate.
#[tokio::test]
async fn a_phone_region_column_gives_each_row_its_country() {
    let t = Target::new().await;
    let dir = t.work.path().join("intl");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("people.csv"),
        "id,phone,country\n1,030 1234567,DE\n2,(541) 754-3010,us\n3,020 7946 0958,GB\n4,(541) 754-3011,\n",
    )
    .unwrap();
    let mapping = |column: &str| {
        format!(
            r#"[migration]
name = "intl"
org_id = "${{ORG_ID}}"
source_system = "intl"

[sources.people]
kind = "csv"
path = "people.csv"

[contacts]
from = "people"
key = "id"

[contacts.columns]
phone = {{ from = "phone", transform = [{{ phone = {{ region = "US", region_column = "{column}" }} }}] }}
"#
        )
    };
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, mapping("Land")).unwrap();
    let out = t.migrate_as(LOADER).env("ORG_ID", ORG_A).arg("validate").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Land"), "{}", String::from_utf8_lossy(&out.stderr));
    let good = dir.join("mapping.toml");
    std::fs::write(&good, mapping("country")).unwrap();
    assert_success(&t.run(&good, ORG_A, "out"));
    assert_eq!(counts(entity(&report(&t.out_dir("out")), "contacts")), [4, 0, 0, 0, 4, 4, 0, 0]);
    let mut admin = t.admin().await;
    let phones: Vec<(String, String)> = sqlx::query_as(
        "SELECT k.source_key, c.phone FROM contacts c JOIN migrate.keys k ON k.target_id = c.id ORDER BY k.source_key",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let expect = [("1", "+49301234567"), ("2", "+15417543010"), ("3", "+442079460958"), ("4", "+15417543011")];
    assert_eq!(phones, expect.map(|(a, b)| (a.to_string(), b.to_string())));
}

/// A sparse hierarchical export writes the parent once above its children:
/// `fill_down = true` gives each empty value the one above it, across
/// batches, counted as `filled_down`.
#[tokio::test]
async fn fill_down_gives_empty_values_the_value_above_across_batches() {
    let t = Target::new().await;
    let dir = t.work.path().join("tree");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("people.csv"), "Region,Name\nNorth,Ada\n,Grace\n  ,Alan\nSouth,Kurt\n,Edsger\n").unwrap();
    let mapping = |rule: &str| {
        format!(
            r#"[migration]
name = "tree"
org_id = "${{ORG_ID}}"
source_system = "tree"

[sources.people]
kind = "csv"
path = "people.csv"
batch_size = 2

[contacts]
from = "people"
key = "Name"

[contacts.columns]
last_name = "Name"
"custom_fields.region" = {rule}
"#
        )
    };
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, mapping(r#"{ value = "x", fill_down = true }"#)).unwrap();
    let out = t.migrate_as(LOADER).env("ORG_ID", ORG_A).arg("validate").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("`fill_down` fills one source column"));

    let good = dir.join("mapping.toml");
    std::fs::write(&good, mapping(r#"{ from = "Region", fill_down = true }"#)).unwrap();
    assert_success(&t.run(&good, ORG_A, "out"));
    let r = report(&t.out_dir("out"));
    assert_eq!(counts(entity(&r, "contacts")), [5, 0, 0, 0, 5, 5, 0, 0]);
    let w = warning(&r, "filled_down");
    assert_eq!((w["column"].as_str(), w["count"].as_u64()), (Some("Region"), Some(3)));
    let mut admin = t.admin().await;
    let rows: Vec<(String, String)> =
        sqlx::query_as("SELECT last_name, custom_fields->>'region' FROM contacts ORDER BY last_name")
            .fetch_all(&mut admin)
            .await
            .unwrap();
    let expect = [("Ada", "North"), ("Alan", "North"), ("Edsger", "South"), ("Grace", "North"), ("Kurt", "South")];
    assert_eq!(rows, expect.map(|(a, b)| (a.to_string(), b.to_string())));
}
