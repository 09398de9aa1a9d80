//! `migrate run` from a legacy MongoDB CRM (a real MongoDB-wire server)
//! into the platform: nested paths, phone arrays, a field whose type
//! changes between documents kept exactly, embedded notes unwound into
//! documents linked to their contacts, rejects located by document and
//! array element; and the customer's mongoexport file of the same
//! collection giving the same result (a second run from it changes nothing).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use migrate_testkit::MongoServer;
use migrate_testkit::dns::DnsServer;
use migrate_testkit::tls::{Flaw, TestPki};
use support::*;

/// last name, email, phone, status, created date, custom fields.
type ContactRow = (String, Option<String>, Option<String>, String, String, serde_json::Value);
/// title, file name, size, created, the linked contact's last name.
type DocumentRow = (String, Option<String>, Option<i64>, String, String);

async fn load_fixture(server: &MongoServer) {
    server.import("legacy_crm", "customers", &workspace().join("fixtures/mongodb/customers.json")).await;
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
    assert_eq!(entity(&r, "documents")["links_created"], 3);
    let html = std::fs::read_to_string(t.out_dir("server").join("report.html")).unwrap();
    assert!(html.contains("documents: 3 links added"), "the customer's page says what was linked");
    let first_run = r["run_id"].as_str().unwrap().to_string();

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

    // Each note is also a "note_of" link to its contact in entity_links.
    let links: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT d.title, l.relation, c.last_name FROM entity_links l
           JOIN documents d ON d.id = l.from_id AND l.from_entity = 'documents'
           JOIN contacts c ON c.id = l.to_id AND l.to_entity = 'contacts' AND c.id = d.contact_id
          ORDER BY d.title",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert_eq!(
        links,
        [
            (s("Intro call"), s("note_of"), s("Lovelace")),
            (s("Retirement party"), s("note_of"), s("Hopper")),
            (s("Signed contract"), s("note_of"), s("Lovelace")),
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
    assert_eq!(entity(&r, "documents")["links_created"], 0, "the links were there already");
    assert_eq!(t.admin_count("SELECT count(*) FROM entity_links").await, 3);

    // Rolling both runs back removes the links with the rows.
    let out = t.migrate_as(LOADER).env("ORG_ID", ORG_A).args(["rollback", &first_run, "--chain"]).output().unwrap();
    assert_success(&out);
    assert_eq!(t.admin_count("SELECT count(*) FROM entity_links").await, 0);
    assert_eq!(t.admin_count("SELECT count(*) FROM documents").await, 0);
}

fn inspect_json(args: &[&str]) -> serde_json::Value {
    let out = std::process::Command::new(migrate_bin()).arg("inspect").args(args).arg("--json").output().unwrap();
    assert_success(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

/// path, documents holding it, (type, count), mixed.
type PathRow = (String, u64, Vec<(String, u64)>, bool);

fn paths(i: &serde_json::Value) -> Vec<PathRow> {
    i["paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let types = p["types"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| (t[0].as_str().unwrap().to_string(), t[1].as_u64().unwrap()))
                .collect();
            (p["path"].as_str().unwrap().to_string(), p["documents"].as_u64().unwrap(), types, p["mixed"] == true)
        })
        .collect()
}

#[tokio::test]
async fn a_mapping_filter_on_a_mongodb_source_counts_the_documents_it_leaves_out() {
    let server = MongoServer::start();
    load_fixture(&server).await;
    let t = Target::new().await;
    let text = std::fs::read_to_string(workspace().join("fixtures/mongodb/legacy_crm.toml")).unwrap();
    let text = text.replacen(
        "[contacts]\nfrom = \"customers\"\nkey = [\"_id\"]\n",
        "[contacts]\nfrom = \"customers\"\nkey = [\"_id\"]\nfilter = { column = \"active\", equals = \"true\" }\n",
        1,
    );
    assert!(text.contains("filter = {"), "the fixture's [contacts] block moved");
    let mapping = t.work.path().join("filtered.toml");
    std::fs::write(&mapping, text).unwrap();
    let out = t
        .migrate_as(LOADER)
        .env("ORG_ID", ORG_A)
        .env("LEGACY_MONGO_URL", server.url("legacy_crm"))
        .arg("run")
        .arg(&mapping)
        .args(["--out", "filtered"])
        .output()
        .unwrap();
    assert_success(&out);
    let r = report(&t.out_dir("filtered"));
    migrate_testkit::check_report(&r);
    // The inactive customer (whose e-mail was also invalid) is filtered,
    // not rejected; the report still adds up.
    assert_eq!(counts(entity(&r, "contacts")), [5, 1, 0, 0, 4, 4, 0, 0]);
    assert_eq!(entity(&r, "contacts")["balanced"], true);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 filtered by the mapping"), "{stdout}");
    let mut admin = t.admin().await;
    let names: Vec<String> =
        sqlx::query_scalar("SELECT last_name FROM contacts ORDER BY last_name").fetch_all(&mut admin).await.unwrap();
    assert_eq!(names, ["Hopper", "Lovelace", "Müller", "Turing"]);
}

#[tokio::test]
async fn inspect_shows_each_paths_types_for_a_collection_and_its_export_and_init_starts_a_mapping() {
    let server = MongoServer::start();
    load_fixture(&server).await;
    let export = workspace().join("fixtures/mongodb/customers.json");
    let from_file = inspect_json(&[export.to_str().unwrap()]);
    let from_server = inspect_json(&[&server.url("legacy_crm"), "--collection", "customers"]);
    assert_eq!(from_file["kind"], "mongodb");
    assert_eq!(from_file["rows_sampled"], 5);
    assert_eq!(paths(&from_file), paths(&from_server));
    let all = paths(&from_file);
    let score = all.iter().find(|p| p.0 == "score").unwrap();
    let s = |x: &str| x.to_string();
    assert_eq!(score.1, 4);
    assert_eq!(score.2, [(s("array"), 1), (s("double"), 1), (s("int"), 1), (s("string"), 1)]);
    assert!(score.3, "score is flagged mixed");
    let size = all.iter().find(|p| p.0 == "notes.size").unwrap();
    assert!(!size.3, "int beside long is not mixed");
    let email = all.iter().find(|p| p.0 == "email").unwrap();
    assert_eq!((email.1, email.2.clone(), email.3), (5, vec![(s("string"), 4), (s("null"), 1)], false));
    assert!(from_server["file"].as_str().unwrap().ends_with(" customers"));

    // init starts a mapping from the export that validates as written.
    let dir = tempfile::tempdir().unwrap();
    let mapping = dir.path().join("customers.toml");
    let out = std::process::Command::new(migrate_bin())
        .args(["init", export.to_str().unwrap(), "--entity", "contacts", "--out", mapping.to_str().unwrap()])
        .output()
        .unwrap();
    assert_success(&out);
    let text = std::fs::read_to_string(&mapping).unwrap();
    for line in [
        "kind = \"mongodb\"",
        "last_name = { from = \"name.last\", transform = [\"trim\"] }",
        "phone = { from = \"phones.0.number\", transform = [\"trim\"] }",
        "\"custom_fields.score\" = { from = \"score.$json\", transform = [\"json\"] }",
    ] {
        assert!(text.contains(line), "{line} in\n{text}");
    }
    let out =
        std::process::Command::new(migrate_bin()).env("ORG_ID", ORG_A).arg("validate").arg(&mapping).output().unwrap();
    assert_success(&out);

    // A path no sampled document has is an error pointing at the mapping,
    // with the nearest path the documents do have.
    let typo = text.replace("\"name.last\"", "\"name.lsat\"");
    std::fs::write(&mapping, typo).unwrap();
    let out =
        std::process::Command::new(migrate_bin()).env("ORG_ID", ORG_A).arg("validate").arg(&mapping).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown source column `name.lsat` in source `customers`"), "{stderr}");
    assert!(stderr.contains("did you mean `name.last`?"), "{stderr}");
}

/// Old mongoexport wrote `$date` offsets without their colon (`-0700`):
/// they read as the instant they name. A document that cannot be read is
/// never silent: `inspect` counts it with the first error, and `validate`
/// says a field only such documents hold was not seen because of them.
#[tokio::test]
async fn legacy_date_offsets_load_and_unreadable_documents_are_reported_by_inspect_and_validate() {
    let t = Target::new().await;
    let dir = t.work.path().join("legacy");
    std::fs::create_dir_all(&dir).unwrap();
    let export = dir.join("people.json");
    std::fs::write(
        &export,
        concat!(
            r#"{"_id":"p1","name":"Ada","since":{"$date":"2009-04-01T00:00:00.000-0700"}}"#,
            "\n",
            r#"{"_id":"p2","name":"Grace","since":{"$date":"2010-06-15T12:00:00.000+0200"}}"#,
            "\n",
            r#"{"_id":"p3","name":"Alan","since":{"$date":"2011-01-31T23:30:00.000-07"}}"#,
            "\n",
            r#"{"_id":"p4","name":"Kurt","closed":{"$date":{"$numberLong":"not a number"}}}"#,
            "\n",
        ),
    )
    .unwrap();
    let i = inspect_json(&[export.to_str().unwrap()]);
    assert_eq!(i["rows_sampled"], 3);
    assert_eq!(i["unreadable"], 1);
    let first = i["first_unreadable"].as_str().unwrap();
    assert!(first.starts_with(&format!("{}:4: ", export.display())), "{first}");
    let text = std::process::Command::new(migrate_bin()).arg("inspect").arg(&export).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("sampled:   3 documents; 1 more could not be read (the first: "),
        "the terminal says so too:\n{text}"
    );

    let mapping = |extra: &str| {
        format!(
            r#"[migration]
name = "legacy"
org_id = "${{ORG_ID}}"
source_system = "legacy"

[sources.people]
kind = "mongodb"
path = "people.json"

[contacts]
from = "people"
key = "_id"

[contacts.columns]
first_name = "name"
created_at = {{ from = "since", transform = [{{ date = {{ formats = ["iso"] }} }}] }}
{extra}"#
        )
    };
    let bad = dir.join("closed.toml");
    std::fs::write(&bad, mapping("\"custom_fields.closed\" = \"closed\"\n")).unwrap();
    let out = t.migrate_as(LOADER).env("ORG_ID", ORG_A).arg("validate").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not seen in the sample, but 1 of the 4 sampled documents could not be read (the first: "),
        "{stderr}"
    );

    let good = dir.join("mapping.toml");
    std::fs::write(&good, mapping("")).unwrap();
    assert_success(&t.run(&good, ORG_A, "out"));
    let r = report(&t.out_dir("out"));
    assert_eq!(counts(entity(&r, "contacts")), [4, 0, 0, 1, 3, 3, 0, 0]);
    assert_eq!(reasons(&r, "contacts"), [("malformed_row".to_string(), 1, format!("{}:4", export.display()))]);
    let mut admin = t.admin().await;
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT first_name, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') FROM contacts ORDER BY created_at",
    )
    .fetch_all(&mut admin)
    .await
    .unwrap();
    let expect = [("Ada", "2009-04-01 07:00:00"), ("Grace", "2010-06-15 10:00:00"), ("Alan", "2011-02-01 06:30:00")];
    assert_eq!(rows, expect.map(|(a, b)| (a.to_string(), b.to_string())));
}

/// `mongodb+srv://`: the seed list and options come from DNS (SRV and TXT
/// records, asked of the system's resolver), and the connection is TLS,
/// verified against the CA the url names.
#[tokio::test]
async fn a_mongodb_srv_url_resolves_through_dns_and_loads_over_verified_tls() {
    let pki = TestPki::new("hosted mongo");
    let host = "node1.cluster0.migrate.test";
    let server = MongoServer::start_tls(&pki.server_for("mongo", Flaw::None, &[host]), &pki.ca_file());
    load_fixture(&server).await;
    let dns = DnsServer::start(&[
        format!("--srv-host=_mongodb._tcp.cluster0.migrate.test,{host},{}", server.port),
        "--txt-record=cluster0.migrate.test,authSource=admin".to_string(),
        format!("--address=/{host}/127.0.0.1"),
    ]);
    let t = Target::new().await;
    let run = |ca: &std::path::Path, out: &str| {
        let mut c = dns.command(std::path::Path::new(migrate_bin()));
        t.connect_as(&mut c, LOADER);
        c.env("ORG_ID", ORG_A)
            .env(
                "LEGACY_MONGO_URL",
                format!(
                    "mongodb+srv://cluster0.migrate.test/legacy_crm?tlsCAFile={}&serverSelectionTimeoutMS=5000",
                    ca.display()
                ),
            )
            .arg("run")
            .arg(workspace().join("fixtures/mongodb/legacy_crm.toml"))
            .args(["--out", out])
            .output()
            .unwrap()
    };
    let out = run(&pki.ca_file(), "srv");
    assert_success(&out);
    let r = report(&t.out_dir("srv"));
    migrate_testkit::check_report(&r);
    assert_eq!(counts(entity(&r, "contacts")), [5, 0, 0, 1, 4, 4, 0, 0]);
    assert_eq!(r["sources"][0]["transport"], "TLS; certificate and host name verified (tlsCAFile)");
    let asked = dns.log();
    for query in
        ["query[SRV] _mongodb._tcp.cluster0.migrate.test", "query[TXT] cluster0.migrate.test", &format!("] {host}")]
    {
        assert!(asked.contains(query), "{query} not asked:\n{asked}");
    }
    // Another CA's certificate for the same name is refused.
    let stranger = TestPki::new("stranger");
    let out = run(&stranger.ca_file(), "srv-wrong-ca");
    // A source that cannot be opened stops the run before anything is
    // staged, as a configuration error.
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("not signed by an authority this machine trusts"), "{said}");
    // A name with no SRV record.
    let mut c = dns.command(std::path::Path::new(migrate_bin()));
    t.connect_as(&mut c, LOADER);
    let out = c
        .env("ORG_ID", ORG_A)
        .env("LEGACY_MONGO_URL", "mongodb+srv://nowhere.migrate.test/legacy_crm")
        .arg("run")
        .arg(workspace().join("fixtures/mongodb/legacy_crm.toml"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(said.contains("mongodb+srv://nowhere.migrate.test"), "{said}");
}
