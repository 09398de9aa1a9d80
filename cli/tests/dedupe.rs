//! Dedupe within a run: rows of different source keys that are one record
//! (the same e-mail, however it was typed) are kept once, by each keep
//! rule, optionally filling the survivor from the others; the dropped rows
//! are listed with their survivor, and their keys name the survivor's row.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

const CSV: &str = "id,first,last,email,phone,company,created
K1,Ada,Lovelace, Ada@Example.com ,,Analytical Engines,01/02/2020
K2,Ada,Lovelace,ada@example.com,+1 555 0100,Babbage & Co,03/04/2021
K3,Grace,Hopper,grace@example.com,,,05/06/2019
K4,Ada L.,Lovelace,ADA@EXAMPLE.COM,,,12/12/2019
K5,Alan,Turing,,,,01/01/2018
K6,Alan,Turing,,,,01/01/2018
";

fn mapping(dedupe: &str) -> String {
    format!(
        r#"[migration]
name = "dedupe"
org_id = "${{ORG_ID}}"
source_system = "people"

[sources.people]
kind = "csv"
path = "people.csv"

[contacts]
from = "people"
key = ["id"]
dedupe = {dedupe}

[contacts.columns]
first_name = "first"
last_name = "last"
email = {{ from = "email", transform = ["email"] }}
phone = "phone"
company = "company"
created_at = {{ from = "created", transform = [{{ date = {{ order = "mdy" }} }}] }}
"#
    )
}

/// Writes `people.csv` and a mapping deduping by `dedupe` into the work
/// directory; returns that directory.
fn fixture(t: &Target, csv: &str, dedupe: &str) -> std::path::PathBuf {
    let dir = t.work.path().join("d");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("people.csv"), csv).unwrap();
    std::fs::write(dir.join("mapping.toml"), mapping(dedupe)).unwrap();
    dir
}

/// Runs `dedupe` on the fixture in a fresh database; returns the report,
/// the Ada row as (first_name, phone, company) and the duplicates file.
async fn case(dedupe: &str) -> (serde_json::Value, (String, Option<String>, Option<String>), Vec<Vec<String>>, Target) {
    let t = Target::new().await;
    let dir = fixture(&t, CSV, dedupe);
    assert_success(&t.run(&dir.join("mapping.toml"), ORG_A, "out"));
    let r = report(&t.out_dir("out"));
    let mut admin = t.admin().await;
    let ada: (String, Option<String>, Option<String>) =
        sqlx::query_as("SELECT first_name, phone, company FROM contacts WHERE lower(email) = 'ada@example.com'")
            .fetch_one(&mut admin)
            .await
            .unwrap();
    let (_, dups) = read_csv(&t.out_dir("out").join("duplicates/contacts.csv"));
    (r, ada, dups, t)
}

fn some(s: &str) -> Option<String> {
    Some(s.to_string())
}

#[tokio::test]
async fn each_keep_rule_picks_its_survivor_and_the_rest_are_listed() {
    // read, filtered, duplicates, rejected, loaded, inserted, updated, unchanged
    let expected_counts = [6, 0, 2, 0, 4, 4, 0, 0];

    let (r, ada, dups, _t) = case(r#"{ on = ["email"], keep = "first" }"#).await;
    assert_eq!(counts(entity(&r, "contacts")), expected_counts);
    assert_eq!(ada, ("Ada".into(), None, some("Analytical Engines")), "K1, the first");
    let listed: Vec<(&str, &str)> = dups.iter().map(|d| (d[2].as_str(), d[1].as_str())).collect();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|(_, survivor)| survivor.ends_with("people.csv:2")), "{dups:?}");
    assert_eq!(listed.iter().map(|(k, _)| *k).collect::<Vec<_>>(), ["K2", "K4"]);

    let (r, ada, _, _t) = case(r#"{ on = ["email"], keep = "last" }"#).await;
    assert_eq!(counts(entity(&r, "contacts")), expected_counts);
    assert_eq!(ada, ("Ada L.".into(), None, None), "K4, the last");

    let (_, ada, _, _t) = case(r#"{ on = ["email"], keep = "most_complete" }"#).await;
    assert_eq!(ada, ("Ada".into(), some("+1 555 0100"), some("Babbage & Co")), "K2 has the most columns");

    let (_, ada, _, _t) = case(r#"{ on = ["email"], keep = "first", order_by = "created_at" }"#).await;
    assert_eq!(ada, ("Ada L.".into(), None, None), "K4 is the earliest created");

    let (_, ada, _, _t) = case(r#"{ on = ["email"], keep = "first", merge = "fill_missing" }"#).await;
    assert_eq!(ada, ("Ada".into(), some("+1 555 0100"), some("Analytical Engines")), "K1 filled from K2");

    // Rows without an e-mail are never one another's duplicates.
    let (_, _, _, t) = case(r#"{ on = ["email", "last_name"], keep = "first" }"#).await;
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts WHERE last_name = 'Turing'").await, 2);
}

#[tokio::test]
async fn a_rerun_changes_nothing_and_a_dropped_key_updates_its_survivor() {
    let (_, _, _, t) = case(r#"{ on = ["email"], keep = "first" }"#).await;
    let dir = t.work.path().join("d");
    assert_success(&t.run(&dir.join("mapping.toml"), ORG_A, "again"));
    let r = report(&t.out_dir("again"));
    assert_eq!(counts(entity(&r, "contacts")), [6, 0, 2, 0, 4, 0, 0, 4]);

    // K2 alone, with a new phone: it names the survivor's row (K1's).
    std::fs::write(
        dir.join("people.csv"),
        "id,first,last,email,phone,company,created\nK2,Ada,Lovelace,ada@example.com,+1 555 0199,,03/04/2021\n",
    )
    .unwrap();
    assert_success(&t.run(&dir.join("mapping.toml"), ORG_A, "k2"));
    let r = report(&t.out_dir("k2"));
    assert_eq!(counts(entity(&r, "contacts")), [1, 0, 0, 0, 1, 0, 1, 0]);
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, 4);
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts WHERE phone = '+1 555 0199'").await, 1);
    assert_eq!(entity(&r, "contacts")["target_count"], 4, "one row, however many keys name it");
}

#[tokio::test]
async fn a_row_the_org_already_has_is_matched_not_copied() {
    let t = Target::new().await;
    // Created in the platform, not by a migration; and another org's twin.
    let mut admin = t.admin().await;
    for (org, phone) in [(ORG_A, None), (ORG_B, Some("+1 555 0000"))] {
        sqlx::query("INSERT INTO contacts (id, org_id, first_name, email, phone) VALUES (gen_random_uuid(), $1, 'Ada', ' ADA@example.com', $2)")
            .bind(uuid::Uuid::parse_str(org).unwrap())
            .bind(phone)
            .execute(&mut admin)
            .await
            .unwrap();
    }
    let dir = t.work.path().join("m");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("people.csv"), CSV).unwrap();
    let text = mapping(r#"{ on = ["email"], keep = "most_complete" }"#)
        .replace("dedupe = {", "on_existing = \"fill_missing\"\nmatch_existing = [\"email\"]\ndedupe = {");
    std::fs::write(dir.join("mapping.toml"), text).unwrap();
    assert_success(&t.run(&dir.join("mapping.toml"), ORG_A, "out"));
    let r = report(&t.out_dir("out"));
    // K2 survives the dedupe and is the platform's Ada: filled, not copied.
    assert_eq!(counts(entity(&r, "contacts")), [6, 0, 2, 0, 4, 3, 1, 0]);
    let w = r["warnings"].as_array().unwrap().iter().find(|w| w["code"] == "matched_existing").unwrap();
    assert_eq!((w["count"].as_u64(), w["examples"][0].as_str()), (Some(1), Some("K2 → email=ada@example.com")));
    let ada: Vec<(String, Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT email, phone, company FROM contacts WHERE org_id = $1 AND lower(btrim(email)) = 'ada@example.com'",
    )
    .bind(uuid::Uuid::parse_str(ORG_A).unwrap())
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(
        ada,
        [(" ADA@example.com".to_string(), Some("+1 555 0100".to_string()), Some("Babbage & Co".to_string()))]
    );
    assert_eq!(
        t.admin_count(&format!("SELECT count(*) FROM contacts WHERE org_id = '{ORG_B}'")).await,
        1,
        "the other org is untouched"
    );
    assert_eq!(
        entity(&r, "contacts")["existing"],
        serde_json::json!({
            "on_existing": "fill_missing", "matched": 1, "matched_by_values": 1, "updated": 1, "unchanged": 0, "skipped": 0
        })
    );
}

#[tokio::test]
async fn names_compare_case_and_accent_folded_and_look_alikes_are_only_flagged() {
    let t = Target::new().await;
    let dir = t.work.path().join("folded");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("people.csv"),
        "id,first,last,email,phone,company,created
K1,José,Müller,,,Acme GmbH,01/02/2020
K2,  jose ,MULLER,,,,03/04/2021
K3,Jon,Smith,,,Acme Ltd,05/06/2019
K4,John,Smith,,,Acme Ltd,12/12/2019
K5,Grace,Hopper,,,Navy,01/01/2018
",
    )
    .unwrap();
    let text = mapping(r#"{ on = ["first_name", "last_name"], keep = "first" }"#).replace(
        "\n[contacts.columns]",
        "similar = { on = [\"last_name\", \"first_name\", \"company\"], threshold = 0.9 }\n\n[contacts.columns]",
    );
    std::fs::write(dir.join("mapping.toml"), text).unwrap();
    assert_success(&t.run(&dir.join("mapping.toml"), ORG_A, "out"));
    let r = report(&t.out_dir("out"));
    let e = entity(&r, "contacts");
    assert_eq!(counts(e), [5, 0, 1, 0, 4, 4, 0, 0], "K2 is K1 typed again");
    let (_, dups) = read_csv(&t.out_dir("out").join("duplicates/contacts.csv"));
    assert_eq!(dups.iter().map(|d| d[2].as_str()).collect::<Vec<_>>(), ["K2"]);

    // Jon and John Smith look alike: flagged for a person to decide, both loaded.
    assert_eq!(e["similar_pairs"], 1);
    let (header, pairs) = read_csv(&t.out_dir("out").join("similar/contacts.csv"));
    assert_eq!(header, ["_location", "_other_location", "_score", "_text", "_other_text"]);
    assert_eq!(pairs.len(), 1, "{pairs:?}");
    let mut texts = [pairs[0][3].as_str(), pairs[0][4].as_str()];
    texts.sort();
    assert_eq!(texts, ["smith john acme ltd", "smith jon acme ltd"]);
    let score: f64 = pairs[0][2].parse().unwrap();
    assert!((0.9..1.0).contains(&score), "{score}");
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts WHERE last_name = 'Smith'").await, 2);
}

#[tokio::test]
async fn the_report_counts_rows_that_met_existing_ones_by_on_existing() {
    let (_, _, _, t) = case(r#"{ on = ["email"], keep = "first" }"#).await;
    let dir = t.work.path().join("d");
    let mapping_path = dir.join("mapping.toml");
    let text = std::fs::read_to_string(&mapping_path).unwrap();
    // Grace's phone is new; with skip the existing rows stay as they are.
    std::fs::write(dir.join("people.csv"), CSV.replace("grace@example.com,,", "grace@example.com,+1 555 0300,"))
        .unwrap();
    std::fs::write(&mapping_path, text.replace("dedupe = {", "on_existing = \"skip\"\ndedupe = {")).unwrap();
    assert_success(&t.run(&mapping_path, ORG_A, "skip"));
    let e = entity(&report(&t.out_dir("skip")), "contacts").clone();
    assert_eq!(
        e["existing"],
        serde_json::json!({
            "on_existing": "skip", "matched": 4, "matched_by_values": 0, "updated": 0, "unchanged": 0, "skipped": 4
        })
    );
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts WHERE phone = '+1 555 0300'").await, 0);

    std::fs::write(&mapping_path, text).unwrap();
    assert_success(&t.run(&mapping_path, ORG_A, "update"));
    let e = entity(&report(&t.out_dir("update")), "contacts").clone();
    assert_eq!(
        e["existing"],
        serde_json::json!({
            "on_existing": "update", "matched": 4, "matched_by_values": 0, "updated": 1, "unchanged": 3, "skipped": 0
        })
    );
    let md = t
        .migrate_as(LOADER)
        .args(["report", "--format", "md"])
        .arg(t.out_dir("update").join("report.json"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&md.stdout)
            .contains("4 met existing rows (0 by values; on_existing update: 1 updated, 3 unchanged, 0 skipped)"),
        "{md:?}"
    );
}

/// `dedupe.on` and `match_existing` may name a key inside custom_fields:
/// a VAT number kept there dedupes the file and finds the org's own row.
#[tokio::test]
async fn dedupe_and_match_existing_compare_a_key_inside_custom_fields() {
    let t = Target::new().await;
    let mut admin = t.admin().await;
    sqlx::query(
        "INSERT INTO contacts (id, org_id, company, custom_fields) VALUES (gen_random_uuid(), $1, 'Platform GmbH', '{\"vat_id\": \"DE 123\"}')",
    )
    .bind(uuid::Uuid::parse_str(ORG_A).unwrap())
    .execute(&mut admin)
    .await
    .unwrap();
    let dir = t.work.path().join("vat");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("firms.csv"),
        "id,name,vat\nF1,Acme,FR 999\nF2,ACME S.A.,fr 999\nF3,Platform,de 123\nF4,Other,\nF5,Other Two,\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("mapping.toml"),
        r#"[migration]
name = "vat"
org_id = "${ORG_ID}"
source_system = "firms"

[sources.firms]
kind = "csv"
path = "firms.csv"

[contacts]
from = "firms"
key = ["id"]
dedupe = { on = ["custom_fields.vat_id"] }
match_existing = ["custom_fields.vat_id"]

[contacts.columns]
company = "name"
"custom_fields.vat_id" = "vat"
"#,
    )
    .unwrap();
    assert_success(&t.run(&dir.join("mapping.toml"), ORG_A, "out"));
    let r = report(&t.out_dir("out"));
    // F2 is F1 (the same VAT number, however typed); F3 is the org's row;
    // F4 and F5 have none, so nothing makes them one.
    assert_eq!(counts(entity(&r, "contacts")), [5, 0, 1, 0, 4, 3, 1, 0]);
    let w = r["warnings"].as_array().unwrap().iter().find(|w| w["code"] == "matched_existing").unwrap();
    assert_eq!(w["examples"][0], "F3 → custom_fields.vat_id=de 123");
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT company, coalesce(custom_fields->>'vat_id', '') FROM contacts WHERE org_id = $1 ORDER BY company",
    )
    .bind(uuid::Uuid::parse_str(ORG_A).unwrap())
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let expect = [("Acme", "FR 999"), ("Other", ""), ("Other Two", ""), ("Platform", "de 123")];
    assert_eq!(rows, expect.map(|(a, b)| (a.to_string(), b.to_string())));

    // A key that is not mapped is refused, with the keys that are.
    let bad = std::fs::read_to_string(dir.join("mapping.toml"))
        .unwrap()
        .replace("dedupe = { on = [\"custom_fields.vat_id\"] }", "dedupe = { on = [\"custom_fields.tax\"] }");
    std::fs::write(dir.join("bad.toml"), bad).unwrap();
    let out = t.migrate_as(LOADER).env("ORG_ID", ORG_A).arg("validate").arg(dir.join("bad.toml")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("custom_fields.tax"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Names typed every way a legacy system keeps them: case, accents
/// precomposed and combining, ß, ø, spaces at either end, tabs and runs of
/// spaces inside, a no-break space, Greek and Cyrillic.
const NAMES: &[&str] = &[
    "José",
    "JOSE",
    "jose\u{301}",
    " José ",
    "Jos\u{e9}\t",
    "Straße",
    "STRASSE",
    "Søren",
    "soren",
    "Ada  Lovelace",
    "ada\tlovelace",
    " ada lovelace",
    "\tAda Lovelace",
    "Ada\u{a0}Lovelace",
    "ΟΔΟΣ",
    "οδος",
    "Дмитрий",
    "ДМИТРИЙ",
    "Ærøskøbing",
    "aeroskobing",
    "Ünal",
    "unal",
    "İlker",
    "ilker",
    "   ",
    "",
];

/// Stages `names` as first names, deduped on them by `rule` after the
/// admin ran `prepare`; returns the
/// duplicates file as (key, survivor's location) and what `--verbose`
/// said of the dedupe step.
async fn names_case(names: &[&str], rule: &str, prepare: &str) -> (Vec<(String, String)>, String) {
    let t = Target::new().await;
    if !prepare.is_empty() {
        sqlx::raw_sql(sqlx::AssertSqlSafe(prepare.to_string())).execute(&mut t.admin().await).await.unwrap();
    }
    let mut csv = String::from("id,first,last,email,phone,company,created\n");
    for (i, name) in names.iter().enumerate() {
        csv.push_str(&format!("N{i},\"{name}\",Row{i},,,,01/01/2020\n"));
    }
    let dir = fixture(&t, &csv, rule);
    let out = t
        .migrate_as(LOADER)
        .env("ORG_ID", ORG_A)
        .args(["run", "--verbose", "--out", "out"])
        .arg(dir.join("mapping.toml"))
        .output()
        .unwrap();
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let step: Vec<&str> = stderr.lines().filter(|l| l.contains("publish contacts: ") || l.contains("dedupe")).collect();
    let step = step.join("\n");
    let (_, dups) = read_csv(&t.out_dir("out").join("duplicates/contacts.csv"));
    // Locations name the file in this run's own directory: keep its name.
    let line = |l: &String| l.rsplit('/').next().unwrap_or_default().to_string();
    (dups.iter().map(|d| (d[2].clone(), line(&d[1]))).collect(), step)
}

#[tokio::test]
async fn duplicates_found_while_staging_are_the_ones_the_window_finds() {
    for keep in ["first", "last"] {
        let (staging, step) = names_case(NAMES, &format!(r#"{{ on = ["first_name"], keep = "{keep}" }}"#), "").await;
        assert!(step.contains("grouped while staging"), "keep = {keep}: {step}");
        // merge = "fill_missing" is decided by the window alone; it changes
        // the survivors' values, not which rows are dropped.
        let (window, step) =
            names_case(NAMES, &format!(r#"{{ on = ["first_name"], keep = "{keep}", merge = "fill_missing" }}"#), "")
                .await;
        assert!(step.contains("grouped in SQL"), "keep = {keep}: {step}");
        assert_eq!(staging, window, "keep = {keep}");
        let dropped: Vec<&str> = staging.iter().map(|(k, _)| k.as_str()).collect();
        let (first, last) = if keep == "first" { (["N1", "N2", "N3"], "N0") } else { (["N0", "N1", "N2"], "N3") };
        for key in first {
            assert!(dropped.contains(&key), "keep = {keep}: {key} is a José: {staging:?}");
        }
        assert!(!dropped.contains(&last), "keep = {keep}: {last} survives: {staging:?}");
        assert!(dropped.contains(&"N6") || dropped.contains(&"N5"), "Straße = STRASSE: {staging:?}");
        assert!(dropped.contains(&"N8") || dropped.contains(&"N7"), "Søren = soren: {staging:?}");
    }
}

#[tokio::test]
async fn rows_the_database_folds_apart_are_never_merged_by_staging() {
    // A fold that reads the whole value (capitals in a value longer than
    // four characters mark it), which folding character by character
    // cannot know: the probes of single characters pass, the pairs do not.
    let prepare = r#"CREATE OR REPLACE FUNCTION migrate.fold(value text) RETURNS text LANGUAGE sql STABLE
        AS $$ SELECT NULLIF(lower(regexp_replace(btrim(value), '\s+', ' ', 'g'))
                  || CASE WHEN length(value) > 4 AND value ~ '[A-Z]' THEN '!' ELSE '' END, '') $$"#;
    let names = ["JOSEF", "josef", "Ann", "ANN", "josef"];
    let (dups, step) = names_case(&names, r#"{ on = ["first_name"], keep = "first" }"#, prepare).await;
    assert!(step.contains("2 of 3 pairs from staging do not hold"), "{step}");
    assert!(step.contains("grouped in SQL"), "{step}");
    let dropped: Vec<&str> = dups.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(dropped, ["N3", "N4"], "ANN is Ann, the second josef the first; JOSEF stands alone: {dups:?}");
    assert_eq!(dups[1].1, "people.csv:3", "{dups:?}");
}

#[tokio::test]
async fn rows_staged_without_ids_map_their_duplicates_to_the_survivor() {
    // A partition staged by an earlier version carries no ids: its new
    // keys take migrate.ordered_uuid's at publish, and the dropped
    // duplicates' keys must name the id their survivor got there.
    let t = Target::new().await;
    let dir = fixture(&t, CSV, r#"{ on = ["email"], keep = "first" }"#);
    let mut holder = t.admin().await;
    Target::hold_publish_lock(&mut holder, ORG_A).await;
    let child = t.spawn_run(&dir.join("mapping.toml"), ORG_A, "out");
    let mut admin = t.admin().await;
    wait_until(&mut admin, WAITING_TO_PUBLISH, "the run to stage").await;
    let table: String = sqlx::query_scalar(
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'migrate' AND tablename LIKE 'stage%' \
         AND tablename NOT LIKE '%seen'",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    let cleared = sqlx::query(sqlx::AssertSqlSafe(format!("UPDATE migrate.\"{table}\" SET id = NULL")))
        .execute(&mut admin)
        .await
        .unwrap();
    assert_eq!(cleared.rows_affected(), 6);
    sqlx::query("SELECT pg_advisory_unlock_all()").execute(&mut holder).await.unwrap();
    assert_success(&child.wait_with_output().unwrap());

    assert_eq!(counts(entity(&report(&t.out_dir("out")), "contacts")), [6, 0, 2, 0, 4, 4, 0, 0]);
    let keys: Vec<(String, bool)> = sqlx::query_as(
        "SELECT k.source_key, k.target_id = (SELECT target_id FROM migrate.keys WHERE source_key = 'K1')
           FROM migrate.keys k WHERE k.source_key IN ('K1', 'K2', 'K4') ORDER BY 1",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(keys, [("K1".into(), true), ("K2".into(), true), ("K4".into(), true)]);
    let ada: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM contacts c JOIN migrate.keys k ON k.target_id = c.id WHERE k.source_key = 'K2'",
    )
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert_eq!(ada, 1, "K2 reaches the survivor's row");
}

/// A first load takes its rows from staging as they are (README "How a
/// run loads", step 6): what it publishes fingerprints the same as what
/// the target holds after, and dropped duplicates' keys name the row
/// their survivor got. A re-run of the same file knows every key and
/// resolves the ids through the key map.
#[tokio::test]
async fn a_first_load_reads_staging_as_it_is_and_a_rerun_resolves_ids_through_the_key_map() {
    let t = Target::new().await;
    let dir = fixture(&t, CSV, r#"{ on = ["email"], keep = "first" }"#);
    let verbose_run = |out: &str| {
        let out = t
            .migrate_as(LOADER)
            .env("ORG_ID", ORG_A)
            .args(["run", "--verbose", "--out", out])
            .arg(dir.join("mapping.toml"))
            .output()
            .unwrap();
        assert_success(&out);
        String::from_utf8_lossy(&out.stderr).to_string()
    };

    let first = verbose_run("first");
    assert!(first.contains("publish contacts: every key new: the rows are read from staging as they are"), "{first}");
    assert!(!first.contains("publish contacts: ids resolved"), "{first}");
    let r = report(&t.out_dir("first"));
    let contacts = entity(&r, "contacts");
    assert_eq!(counts(contacts), [6, 0, 2, 0, 4, 4, 0, 0]);
    let checks = contacts["fingerprints"].as_array().unwrap();
    assert_eq!(checks.len(), 6);
    assert!(checks.iter().all(|c| c["matches"] == true), "{checks:?}");
    let mut admin = t.admin().await;
    let same: Vec<(String, bool)> = sqlx::query_as(
        "SELECT k.source_key, k.target_id = (SELECT target_id FROM migrate.keys WHERE source_key = 'K1')
           FROM migrate.keys k WHERE k.source_key IN ('K1', 'K2', 'K4') ORDER BY 1",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(same, [("K1".into(), true), ("K2".into(), true), ("K4".into(), true)]);

    let again = verbose_run("again");
    assert!(again.contains("publish contacts: ids resolved"), "{again}");
    assert!(!again.contains("every key new"), "{again}");
    assert_eq!(counts(entity(&report(&t.out_dir("again")), "contacts")), [6, 0, 2, 0, 4, 0, 0, 4]);
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, 4);
}
