//! `migrate run` from a legacy MongoDB CRM (a real MongoDB-wire server)
//! into the platform: nested paths, phone arrays, a field whose type
//! changes between documents kept exactly, embedded notes unwound into
//! documents linked to their contacts, rejects located by document and
//! array element; and the customer's mongoexport file of the same
//! collection giving the same result (a second run from it changes nothing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use bson::{Bson, Document};
use migrate_testkit::MongoServer;
use support::*;

/// last name, email, phone, status, created date, custom fields.
type ContactRow = (String, Option<String>, Option<String>, String, String, serde_json::Value);
/// title, file name, size, created, the linked contact's last name.
type DocumentRow = (String, Option<String>, Option<i64>, String, String);

async fn load_fixture(server: &MongoServer) {
    let text = std::fs::read_to_string(workspace().join("fixtures/mongodb/customers.json")).unwrap();
    let docs: Vec<Document> = text
        .lines()
        .map(|l| match Bson::try_from(serde_json::from_str::<serde_json::Value>(l).unwrap()).unwrap() {
            Bson::Document(d) => d,
            other => panic!("{other:?}"),
        })
        .collect();
    let client = mongodb::Client::with_uri_str(server.url("legacy_crm")).await.unwrap();
    client.database("legacy_crm").collection::<Document>("customers").insert_many(docs).await.unwrap();
}

fn reasons(r: &serde_json::Value, name: &str) -> Vec<(String, u64, String)> {
    entity(r, name)["rejects_by_reason"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| {
            (
                x["reason"].as_str().unwrap().to_string(),
                x["count"].as_u64().unwrap(),
                x["examples"][0]["location"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_legacy_mongodb_crm_lands_in_contacts_and_linked_documents() {
    let server = MongoServer::start();
    load_fixture(&server).await;
    let t = Target::new().await;
    let out = t
        .migrate_as(LOADER)
        .env("ORG_ID", ORG_A)
        .env("LEGACY_MONGO_URL", server.url("legacy_crm"))
        .arg("run")
        .arg(workspace().join("fixtures/mongodb/legacy_crm.toml"))
        .args(["--out", "server"])
        .output()
        .unwrap();
    assert_success(&out);
    let r = report(&t.out_dir("server"));
    migrate_testkit::check_report(&r);
    // read, filtered, duplicates, rejected, loaded, inserted, updated, unchanged
    assert_eq!(counts(entity(&r, "contacts")), [5, 0, 0, 1, 4, 4, 0, 0]);
    assert_eq!(counts(entity(&r, "documents")), [6, 0, 0, 3, 3, 3, 0, 0]);
    assert_eq!(
        reasons(&r, "contacts"),
        [("invalid_email".into(), 1, "legacy_crm.customers[_id=5f1a2b3c4d5e6f7081920a03]".into())]
    );
    assert_eq!(
        reasons(&r, "documents"),
        [
            ("required_missing".into(), 2, "legacy_crm.customers[_id=5f1a2b3c4d5e6f7081920a04 notes[0]]".into()),
            ("orphan_reference".into(), 1, "legacy_crm.customers[_id=5f1a2b3c4d5e6f7081920a03 notes[0]]".into()),
        ]
    );
    assert_eq!(r["sources"][0]["kind"], "mongodb");

    let mut admin = t.admin().await;
    let contacts: Vec<ContactRow> = sqlx::query_as(
        "SELECT last_name, email, phone, status, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), custom_fields
           FROM contacts ORDER BY last_name",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let names: Vec<&str> = contacts.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(names, ["Hopper", "Lovelace", "Müller", "Turing"]);
    let ada = &contacts[1];
    assert_eq!(
        (ada.1.as_deref(), ada.2.as_deref(), ada.4.as_str()),
        (Some("ADA@example.com"), Some("+442079460018"), "1840-12-24")
    );
    let cf = &ada.5;
    assert_eq!(cf["address"]["city"], "London");
    assert_eq!(cf["all_phones"], "+44 20 7946 0018, +44 20 7946 0019");
    assert_eq!(cf["tags"], serde_json::json!(["vip", "uk"]));
    assert_eq!(cf["lifetime_value"], serde_json::json!({ "amount": "15000.00", "currency": "USD" }));
    assert_eq!(cf["legacy_uuid"], "f55fb70f-b372-435f-98ca-bdd3d4cf27e7");
    // The score was a number, a string, a double or absent: each kept as it was.
    let scores: Vec<(&serde_json::Value, &serde_json::Value)> =
        contacts.iter().map(|c| (&c.5["score"], &c.5["score_type"])).collect();
    assert_eq!(
        scores,
        [
            (&serde_json::json!(99.5), &serde_json::json!("double")),
            (&serde_json::json!(87), &serde_json::json!("int")),
            (&serde_json::json!("92"), &serde_json::json!("string")),
            (&serde_json::Value::Null, &serde_json::json!("missing")),
        ]
    );
    let muller = &contacts[2];
    assert_eq!((muller.2.as_deref(), muller.4.as_str()), (None, "2019-03-14"), "an empty phone array is no phone");
    assert_eq!(contacts[3].4, "1912-01-01", "a date before 1970");
    assert_eq!(contacts[3].5["lifetime_value"]["amount"], "0.10");

    let documents: Vec<DocumentRow> = sqlx::query_as(
        "SELECT d.title, d.file_name, d.size_bytes, to_char(d.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI'), c.last_name
           FROM documents d JOIN contacts c ON c.id = d.contact_id ORDER BY d.title",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let s = |x: &str| x.to_string();
    assert_eq!(
        documents,
        [
            (s("Intro call"), None, None, s("2019-03-14 09:30"), s("Lovelace")),
            (s("Retirement party"), Some(s("party.jpg")), Some(20480), s("1986-08-14 18:00"), s("Hopper")),
            (s("Signed contract"), Some(s("contract.pdf")), Some(482_133), s("2019-04-01 14:00"), s("Lovelace")),
        ]
    );

    // The customer's export of the same collection: the same rows, so
    // nothing changes.
    let out = t
        .migrate_as(LOADER)
        .env("ORG_ID", ORG_A)
        .arg("run")
        .arg(workspace().join("fixtures/mongodb/legacy_crm_export.toml"))
        .args(["--out", "export"])
        .output()
        .unwrap();
    assert_success(&out);
    let r = report(&t.out_dir("export"));
    migrate_testkit::check_report(&r);
    assert_eq!(counts(entity(&r, "contacts")), [5, 0, 0, 1, 4, 0, 0, 4]);
    assert_eq!(counts(entity(&r, "documents")), [6, 0, 0, 3, 3, 0, 0, 3]);
    let (reason, count, location) = &reasons(&r, "documents")[0];
    assert_eq!((reason.as_str(), *count), ("required_missing", 2));
    assert!(location.ends_with("fixtures/mongodb/customers.json:4 notes[0]"), "{location}");
    assert_eq!(r["sources"][0]["sha256"].as_str().map(str::len), Some(64));
}
