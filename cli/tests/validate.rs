//! `migrate validate` and mapping mistakes at `run`: compiler-style errors,
//! all at once, exit 2, no database touched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;

use support::*;

fn demo_copy() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    for f in ["mapping.toml", "customers.csv"] {
        std::fs::copy(workspace().join("fixtures/demo").join(f), dir.path().join(f)).unwrap();
    }
    let mapping = dir.path().join("mapping.toml");
    (dir, mapping)
}

/// `migrate` with no database reachable: validation must not need one.
fn migrate(args: &[&str], mapping: &std::path::Path) -> std::process::Output {
    Command::new(migrate_bin())
        .env("ORG_ID", ORG_A)
        .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
        .current_dir(mapping.parent().unwrap())
        .args(args)
        .arg(mapping)
        .output()
        .unwrap()
}

fn edit(mapping: &std::path::Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(mapping).unwrap();
    assert!(text.contains(from), "{from}");
    std::fs::write(mapping, text.replacen(from, to, 1)).unwrap();
}

fn line_of(mapping: &std::path::Path, needle: &str) -> usize {
    std::fs::read_to_string(mapping).unwrap().lines().position(|l| l.contains(needle)).unwrap() + 1
}

#[test]
fn the_demo_mapping_is_valid() {
    let (_dir, mapping) = demo_copy();
    let out = migrate(&["validate"], &mapping);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).ends_with(": ok (contacts)\n"));
    assert!(out.stderr.is_empty());
}

#[test]
fn a_misspelled_target_column_shows_where_the_underline_and_a_suggestion() {
    let (_dir, mapping) = demo_copy();
    edit(&mapping, "email = {", "emial = {");
    let out = migrate(&["validate"], &mapping);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = line_of(&mapping, "emial = {");
    assert!(stderr.contains("error: unknown target column `emial`"), "{stderr}");
    assert!(stderr.contains(&format!("{}:{line}:1", mapping.display())), "{stderr}");
    assert!(stderr.contains(&format!("{line} | emial = {{")), "{stderr}");
    assert!(stderr.contains("| ^^^^^ not a column of contacts"), "{stderr}");
    assert!(stderr.contains("help: did you mean `email`?"), "{stderr}");
}

#[test]
fn three_mistakes_are_all_shown_in_one_pass() {
    let (_dir, mapping) = demo_copy();
    edit(&mapping, "email = {", "emial = {");
    edit(&mapping, "transform = [\"trim\", \"lowercase\"] }", "transform = [\"trim\", \"lowercse\"] }");
    edit(&mapping, "from = \"Phone\"", "from = \"Phnoe\"");
    let out = migrate(&["validate"], &mapping);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(
        errors,
        vec![
            "error: unknown target column `emial`",
            "error: unknown source column `Phnoe` in source `customers`",
            "error: unknown transform `lowercse`",
        ],
        "{stderr}"
    );
    assert!(stderr.contains("help: did you mean `Phone`?"));
    assert!(stderr.contains("help: did you mean `lowercase`?"));
    assert!(stderr.contains("3 error(s), 0 warning(s)"));
}

#[test]
fn source_problems_point_at_the_source_block() {
    let (_dir, mapping) = demo_copy();
    edit(&mapping, "path = \"customers.csv\"", "path = \"missing.csv\"\ndelimter = \";\"");
    let out = migrate(&["validate"], &mapping);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown field `delimter`"), "{stderr}");

    edit(&mapping, "\ndelimter = \";\"", "");
    let out = migrate(&["validate"], &mapping);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("cannot open") && stderr.contains("missing.csv"), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:{}:", mapping.display(), line_of(&mapping, "[sources.customers]"))),
        "{stderr}"
    );
}

#[test]
fn run_refuses_a_bad_mapping_before_touching_the_database() {
    let (_dir, mapping) = demo_copy();
    edit(&mapping, "email = {", "emial = {");
    let out = migrate(&["run"], &mapping);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown target column `emial`"));
    assert!(!stderr.contains("connect"), "{stderr}");
}

#[test]
fn a_missing_environment_variable_is_named() {
    let (_dir, mapping) = demo_copy();
    let out = Command::new(migrate_bin()).env_remove("ORG_ID").arg("validate").arg(&mapping).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: environment variable ORG_ID is not set"), "{stderr}");
    assert_eq!(stderr.lines().filter(|l| l.starts_with("error:")).count(), 1, "{stderr}");
}

#[test]
fn bad_usage_exits_2() {
    let out = Command::new(migrate_bin()).args(["run"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = Command::new(migrate_bin()).args(["frobnicate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

fn auto_mapping(dir: &std::path::Path, rows: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("in.csv"), format!("id,email,when,ltv\n{rows}")).unwrap();
    let mapping = dir.join("auto.toml");
    std::fs::write(
        &mapping,
        r#"[migration]
name = "auto"
org_id = "${ORG_ID}"
source_system = "auto"

[sources.s]
kind = "csv"
path = "in.csv"

[contacts]
from = "s"
key = "id"

[contacts.columns]
email = "email"
created_at = { from = "when", transform = [{ date = { order = "auto" } }] }
"custom_fields.ltv" = { from = "ltv", transform = [{ money = { locale = "auto", currency = "EUR" } }] }
"#,
    )
    .unwrap();
    mapping
}

#[test]
fn auto_settings_are_decided_at_validate_with_their_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = auto_mapping(dir.path(), "1,a@b.co,03/06/2018,\"1.234,56\"\n2,c@d.co,25/12/2019,\"12,00\"\n");
    let out = migrate(&["validate"], &mapping);
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "contacts.created_at: date_order = dmy (2 numeric dates: 1 day-first (e.g. \"25/12/2019\"), 0 month-first)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("contacts.custom_fields.ltv: money_locale = de"), "{stdout}");
}

#[test]
fn a_column_the_data_does_not_settle_is_refused_with_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let mapping = auto_mapping(dir.path(), "1,a@b.co,03/06/2018,\"1,50\"\n2,c@d.co,04/07/2019,\"2,50\"\n");
    let out = migrate(&["validate"], &mapping);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: contacts.created_at: ambiguous: none of 2 values has a part above 12"), "{stderr}");
    let out = migrate(&["run"], &mapping);
    assert_eq!(out.status.code(), Some(2), "run refuses it too");
}

#[test]
fn an_oversized_or_deeply_nested_mapping_is_refused_with_a_clear_error() {
    let (dir, mapping) = demo_copy();
    // Deeply nested TOML: the parser's own limit, reported at its place.
    let nested = dir.path().join("nested.toml");
    std::fs::write(&nested, format!("a = {}{}\n", "[".repeat(5000), "]".repeat(5000))).unwrap();
    let out = migrate(&["validate"], &nested);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("recursion") && stderr.contains("nested.toml:1:"), "{stderr}");
    // 10 MB of columns: refused before it is read.
    let mut text = std::fs::read_to_string(&mapping).unwrap();
    while text.len() < 10_000_000 {
        text.push_str(&format!("\"custom_fields.k{}\" = \"Notes\"\n", text.len()));
    }
    std::fs::write(&mapping, &text).unwrap();
    let out = migrate(&["validate"], &mapping);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("a mapping file is at most 1048576 bytes (1 MiB)"), "{stderr}");
}

/// A bank export as banks write them: a dozen lines of account details and
/// notices (one with commas) above a `;` table whose amounts have decimal
/// commas.
const BANK: &str = "Umsatzanzeige;Datei erstellt am: 02.12.2026\n\
\n\
IBAN;DE00 1234 5678 9012 3456 78\n\
Kontoname;Girokonto\n\
Bank;Beispielbank\n\
Kunde;Erika Mustermann\n\
Zeitraum;01.11.2026 - 30.11.2026\n\
Saldo;1.234,56;EUR\n\
\n\
In der CSV-Datei finden Sie alle Umsätze, Vormerkungen und Salden des Zeitraums, sortiert nach Datum.\n\
Hinweis: Beträge mit Komma, Tausender mit Punkt\n\
Sortierung;Datum absteigend\n\
\n\
Buchung;Valuta;Auftraggeber/Empfänger;Buchungstext;Verwendungszweck;Saldo;Währung;Betrag;Währung\n\
28.11.2026;28.11.2026;Stadtwerke;Lastschrift;Abschlag 11/2026;1.234,56;EUR;-85,00;EUR\n\
25.11.2026;25.11.2026;Arbeitgeber GmbH;Gehalt;Lohn November;1.319,56;EUR;2.400,00;EUR\n\
20.11.2026;20.11.2026;Supermarkt;Kartenzahlung;Einkauf;-1.080,44;EUR;-42,10;EUR\n";

const BANK_MAPPING: &str = r#"[migration]
name = "bank"
org_id = "${ORG_ID}"
source_system = "bank"

[sources.konto]
kind = "csv"
path = "umsaetze.csv"
delimiter = "auto"
skip_rows = "auto"

[contacts]
from = "konto"
key = "$row_hash"

[contacts.columns]
company = "Auftraggeber/Empfänger"
"custom_fields.booked" = { from = "Buchung", transform = [{ date = { formats = ["%d.%m.%Y"] } }] }
"custom_fields.amount" = { from = "Betrag", transform = [{ money = { locale = "de", currency = "EUR" } }] }
"custom_fields.purpose" = "Verwendungszweck"
"#;

#[test]
fn a_bank_export_with_a_preamble_is_read_from_its_table_and_a_wrong_delimiter_shows_the_right_one() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    assert!(readme.contains(BANK_MAPPING), "Cookbook 13 is this mapping");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("umsaetze.csv"), BANK).unwrap();
    let mapping = dir.path().join("bank.toml");
    std::fs::write(&mapping, BANK_MAPPING).unwrap();
    let out = migrate(&["validate"], &mapping);
    assert_success(&out);
    let out = migrate(&["preview", "--rows", "3", "--json"], &mapping);
    assert_success(&out);
    let preview: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = &preview["entities"][0];
    assert_eq!(e["rejected"], serde_json::json!([]));
    let rows = e["rows"].as_array().unwrap();
    let got: Vec<(String, String, serde_json::Value)> = rows
        .iter()
        .map(|r| {
            let custom: serde_json::Value =
                serde_json::from_str(r["values"]["custom_fields"].as_str().unwrap()).unwrap();
            (r["location"].as_str().unwrap().to_string(), r["values"]["company"].as_str().unwrap().to_string(), custom)
        })
        .collect();
    assert_eq!(got.len(), 3);
    assert!(got[0].0.ends_with("/umsaetze.csv:15"), "the first row is on line 15: {}", got[0].0);
    assert_eq!(got[0].1, "Stadtwerke");
    assert_eq!(
        got[1].2,
        serde_json::json!({
            "amount": { "amount": "2400.00", "currency": "EUR" },
            "booked": "2026-11-25T00:00:00.000000Z",
            "purpose": "Lohn November",
        })
    );
    assert_eq!(got[2].2["amount"]["amount"], "-42.10");

    // Declared wrong: most mapped columns are missing, and validate says
    // which reading would find them.
    edit(&mapping, "delimiter = \"auto\"", "delimiter = \",\"");
    let out = migrate(&["validate"], &mapping);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: unknown source column `Auftraggeber/Empfänger` in source `konto`"), "{stderr}");
    assert!(
        stderr.contains(
            "warning: 4 of the 4 columns the mapping names are not in the header of `konto` (delimiter \",\" on line 15): \
             the delimiter or the header line was probably guessed wrong"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "delimiter \";\" takes line 14 as the header (Buchung, Valuta, Auftraggeber/Empfänger, Buchungstext, \
             Verwendungszweck, Saldo, …): 4 of the 4 columns found"
        ),
        "{stderr}"
    );
}

/// A `when` whose branch none of the first rows takes is a warning: the
/// value it waits for is spelled otherwise in the file (or never there).
#[test]
fn a_when_branch_no_sampled_row_takes_is_a_warning() {
    let (_dir, mapping) = demo_copy();
    let text = std::fs::read_to_string(&mapping).unwrap();
    let extra = "\"custom_fields.flagged\" = { when = { column = \"LegacyFlag\", equals = [\"YES\"], then = \"yes\", else = \"no\" } }\n\
                 \"custom_fields.regioned\" = { when = { column = \"Region\", equals = [\"North\", \"South\", \"East\", \"West\", \"\"], then = \"known\", else = \"other\" } }\n";
    std::fs::write(&mapping, format!("{text}{extra}")).unwrap();
    let out = migrate(&["validate"], &mapping);
    assert_success(&out);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: contacts.custom_fields.flagged: none of the first 302 rows of source customers takes `then` of its `when`"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "warning: contacts.custom_fields.regioned: none of the first 302 rows of source customers takes the other branch (`else`) of its `when`"
        ),
        "{stderr}"
    );
}
