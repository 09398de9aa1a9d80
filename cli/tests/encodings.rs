//! Text as legacy exports mangle it, through a mapping into PostgreSQL:
//! double-encoded UTF-8 repaired (and what that means for a re-run).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

fn mapping(double_encoded: Option<&str>) -> String {
    let option = double_encoded.map(|d| format!("double_encoded = \"{d}\"\n")).unwrap_or_default();
    format!(
        r#"[migration]
name = "crm"
org_id = "${{ORG_ID}}"
source_system = "crm"
{option}
[sources.people]
kind = "csv"
path = "people.csv"

[contacts]
from = "people"
key = "id"

[contacts.columns]
first_name = "first"
last_name = "last"
"#
    )
}

#[tokio::test]
async fn double_encoded_text_is_repaired_and_a_rerun_of_a_run_that_kept_it_updates_those_rows() {
    let t = Target::new().await;
    let dir = t.work.path().join("crm");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("people.csv"),
        "id,first,last\n1,ZoÃ«,MÃ¼ller\n2,Ada,Lovelace\n3,JosÃ©,PeÃ±a\n4,Zoë,Müller\n",
    )
    .unwrap();

    // As a mapping ran before the repair existed: values as read, counted.
    let keep = dir.join("keep.toml");
    std::fs::write(&keep, mapping(Some("keep"))).unwrap();
    assert_success(&t.run(&keep, ORG_A, "keep"));
    let r = report(&t.out_dir("keep"));
    assert_eq!(counts(entity(&r, "contacts")), [4, 0, 0, 0, 4, 4, 0, 0]);
    let suspect = r["warnings"].as_array().unwrap().iter().filter(|w| w["code"] == "double_encoded_utf8");
    assert_eq!(suspect.map(|w| w["count"].as_u64().unwrap()).sum::<u64>(), 4, "two columns of two rows");
    let mut conn = t.admin().await;
    let first: String =
        sqlx::query_scalar("SELECT first_name FROM contacts WHERE last_name LIKE 'M%' ORDER BY first_name LIMIT 1")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(first, "ZoÃ«");

    // The default repairs: the two mangled rows come back `updated`, the
    // clean ones `unchanged`.
    let repair = dir.join("repair.toml");
    std::fs::write(&repair, mapping(None)).unwrap();
    assert_success(&t.run(&repair, ORG_A, "repair"));
    let r = report(&t.out_dir("repair"));
    assert_eq!(counts(entity(&r, "contacts")), [4, 0, 0, 0, 4, 0, 2, 2]);
    let repaired: Vec<&serde_json::Value> =
        r["warnings"].as_array().unwrap().iter().filter(|w| w["code"] == "double_encoded_repaired").collect();
    assert_eq!(repaired.iter().map(|w| w["count"].as_u64().unwrap()).sum::<u64>(), 4);
    let first = repaired.iter().find(|w| w["column"] == "first").unwrap();
    assert_eq!(first["examples"], serde_json::json!(["ZoÃ« → Zoë", "JosÃ© → José"]));
    let names: Vec<(String, String)> =
        sqlx::query_as("SELECT first_name, last_name FROM contacts ORDER BY first_name, last_name")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    let expected = [("Ada", "Lovelace"), ("José", "Peña"), ("Zoë", "Müller"), ("Zoë", "Müller")];
    assert_eq!(names, expected.map(|(f, l)| (f.to_string(), l.to_string())));
}
