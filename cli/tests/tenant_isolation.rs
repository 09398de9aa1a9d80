//! Tenant isolation is PostgreSQL's doing (RLS, a non-superuser role), not
//! only our code's.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use sqlx::Connection;
use support::*;

#[tokio::test]
async fn another_org_sees_nothing_and_nothing_crosses_orgs() {
    let t = Target::new().await;
    let mapping = t.demo("demo");
    assert_success(&t.run(&mapping, ORG_A, "a"));

    // The premise: the loader is a plain role.
    let mut admin = t.admin().await;
    let (superuser, bypass): (bool, bool) =
        sqlx::query_as("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1")
            .bind(LOADER)
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert!(!superuser && !bypass);

    assert_eq!(t.tenant_count(Some(ORG_A), "contacts").await, 274);
    assert!(t.tenant_count(Some(ORG_A), "migrate.after_image_sets").await > 0, "the run's after-images");
    for table in [
        "contacts",
        "migrate.keys",
        "migrate.runs",
        "migrate.before_images",
        "migrate.after_images",
        "migrate.after_image_sets",
    ] {
        assert_eq!(t.tenant_count(Some(ORG_B), table).await, 0, "org B must not see {table}");
        assert_eq!(t.tenant_count(None, table).await, 0, "no org set must see nothing of {table}");
    }
    // The loader without SET ROLE is still under RLS (it owns nothing).
    let mut loader = t.loader().await;
    let seen: i64 = sqlx::query_scalar("SELECT count(*) FROM contacts").fetch_one(&mut loader).await.unwrap();
    assert_eq!(seen, 0);
    let b_runs = t.migrate_as(LOADER).env("ORG_ID", ORG_B).args(["runs", "list"]).output().unwrap();
    assert_success(&b_runs);
    assert!(b_runs.stdout.is_empty(), "org B's run list is empty");
}

#[tokio::test]
async fn even_a_superuser_connection_cannot_write_another_orgs_rows_through_the_tenant_role() {
    let t = Target::new().await;
    let mapping = t.demo("demo");
    // A run connected as the superuser still publishes under the tenant role.
    assert_success(
        &t.migrate_as("postgres").env("ORG_ID", ORG_A).arg("run").arg(&mapping).args(["--out", "a"]).output().unwrap(),
    );
    assert_eq!(t.admin_count(&format!("SELECT count(*) FROM contacts WHERE org_id = '{ORG_A}'")).await, 274);

    let mut admin = t.admin().await;
    let mut tx = admin.begin().await.unwrap();
    sqlx::query("SET LOCAL ROLE platform_tenant").execute(&mut *tx).await.unwrap();
    sqlx::query("SELECT set_config('app.current_org_id', $1, true)").bind(ORG_A).execute(&mut *tx).await.unwrap();
    sqlx::query("SAVEPOINT s").execute(&mut *tx).await.unwrap();
    let insert = sqlx::query("INSERT INTO contacts (org_id, email) VALUES ($1::uuid, 'x@y.z')")
        .bind(ORG_B)
        .execute(&mut *tx)
        .await;
    let message = insert.unwrap_err().to_string();
    assert!(message.contains("row-level security"), "{message}");
    sqlx::query("ROLLBACK TO SAVEPOINT s").execute(&mut *tx).await.unwrap();
    let moved = sqlx::query("UPDATE contacts SET org_id = $1::uuid").bind(ORG_B).execute(&mut *tx).await;
    assert!(moved.unwrap_err().to_string().contains("row-level security"));
    tx.rollback().await.unwrap();

    // Org B loads the same file: its own rows, org A's untouched.
    assert_success(&t.run(&mapping, ORG_B, "b"));
    let r = report(&t.out_dir("b"));
    assert_eq!(entity(&r, "contacts")["inserted"], 274);
    assert_eq!(entity(&r, "contacts")["org_total"], 274);
    assert_eq!(t.tenant_count(Some(ORG_A), "contacts").await, 274);
    assert_eq!(t.tenant_count(Some(ORG_B), "contacts").await, 274);
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, 548);
}

#[tokio::test]
async fn two_runs_of_the_same_mapping_cannot_interleave() {
    let t = Target::new().await;
    let mapping = t.demo("demo");
    let mut admin = t.admin().await;
    // Pretend a live run of the same org, system and entity holds its lock.
    sqlx::query("SELECT pg_advisory_lock(hashtextextended($1, 0))")
        .bind(format!("migrate:entity:{ORG_A}:acme-crm:contacts"))
        .execute(&mut admin)
        .await
        .unwrap();
    let out = t.run(&mapping, ORG_A, "second");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("another run holds contacts"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, 0);
    // Another org is not held up.
    assert_success(&t.run(&mapping, ORG_B, "other-org"));
}

/// A mapping that sets org_id or id, names a table outside the platform's
/// entities, or carries SQL in an identifier is refused by `validate` and
/// by `run`, and the database is untouched.
#[tokio::test]
async fn hostile_mappings_are_refused_before_any_sql_runs() {
    let t = Target::new().await;
    let demo = t.demo("demo");
    let good = std::fs::read_to_string(&demo).unwrap();
    let phone = "phone = { from = \"Phone\", transform = [\"trim\"] }";
    let cases = [
        ("org", good.replace(phone, &format!("org_id = \"{ORG_B}\"")), "contacts.org_id is set by the platform"),
        ("org-from", good.replace(phone, "org_id = \"Phone\""), "contacts.org_id is set by the platform"),
        ("id", good.replace(phone, "id = \"Phone\""), "contacts.id is set by the platform"),
        ("catalog", good.replace("[contacts]\n", "[pg_catalog.pg_authid]\n"), "unknown top-level table `pg_catalog`"),
        ("ledger", good.replace("[contacts]\n", "[\"migrate.keys\"]\n"), "unknown top-level table `migrate.keys`"),
        (
            "column",
            good.replace("phone = { from", "\"email\\\"; DROP TABLE contacts; --\" = { from"),
            "unknown target column `email\"; DROP TABLE contacts; --`",
        ),
        (
            "entity",
            good.replace("[contacts]\n", "[\"contacts\\\"; DROP TABLE contacts; --\"]\n"),
            "unknown top-level table `contacts\"; DROP TABLE contacts; --`",
        ),
    ];
    for (name, mapping, expected) in &cases {
        assert_ne!(mapping, &good, "{name}: the case changes the mapping");
        let path = demo.with_file_name(format!("{name}.toml"));
        std::fs::write(&path, mapping).unwrap();
        let validate = t.migrate_as(LOADER).env("ORG_ID", ORG_A).arg("validate").arg(&path).output().unwrap();
        let stderr = String::from_utf8_lossy(&validate.stderr);
        assert_eq!(validate.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(expected), "{name}: {stderr}");
        let run = t.run(&path, ORG_A, name);
        assert_eq!(run.status.code(), Some(2), "{name}: {}", String::from_utf8_lossy(&run.stderr));
        assert!(String::from_utf8_lossy(&run.stderr).contains(expected), "{name}");
    }
    assert_eq!(t.admin_count("SELECT count(*) FROM migrate.runs").await, 0, "no run started");
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, 0);
    assert_eq!(t.admin_count("SELECT count(*) FROM pg_tables WHERE tablename = 'contacts'").await, 1);
}

/// Values with SQL, COPY's own control characters (tab, newline, carriage
/// return, backslash, `\.`, `\N`) and quotes load as the exact text, and
/// a header that looks like SQL is only a name.
#[tokio::test]
async fn values_that_look_like_sql_or_copy_control_load_as_exact_text() {
    let t = Target::new().await;
    let dir = t.work.path().join("hostile");
    std::fs::create_dir_all(&dir).unwrap();
    let values = [
        "'); DROP TABLE contacts; --",
        "tab\there",
        "two\nlines",
        "carriage\rreturn",
        "back\\slash",
        "\\.",
        "\\N",
        "end of copy\n\\.\nafter",
        "\"double\" and 'single' quotes",
        "$1 $$ dollar $$ quoting",
        "ünïcödé ✓ 𝄞",
    ];
    let quote = |v: &str| format!("\"{}\"", v.replace('"', "\"\""));
    let mut csv = String::from("id,\"name\"\"); DROP TABLE contacts; --\",email\n");
    for (i, v) in values.iter().enumerate() {
        csv.push_str(&format!("H{i},{},h{i}@example.com\n", quote(v)));
    }
    std::fs::write(dir.join("people.csv"), csv).unwrap();
    let mapping = dir.join("mapping.toml");
    std::fs::write(
        &mapping,
        "[migration]\nname = \"hostile\"\norg_id = \"${ORG_ID}\"\nsource_system = \"hostile\"\n\n\
         [sources.people]\nkind = \"csv\"\npath = \"people.csv\"\n\n\
         [contacts]\nfrom = \"people\"\nkey = [\"id\"]\n\n[contacts.columns]\n\
         last_name = { from = \"name\\\"); DROP TABLE contacts; --\" }\nemail = \"email\"\n\
         \"custom_fields.raw\" = { from = \"name\\\"); DROP TABLE contacts; --\" }\n",
    )
    .unwrap();
    let out = t.run(&mapping, ORG_A, "hostile");
    assert_success(&out);
    let r = report(&t.out_dir("hostile"));
    assert_eq!(entity(&r, "contacts")["inserted"], values.len());
    let mut admin = t.admin().await;
    for (i, v) in values.iter().enumerate() {
        let (last, raw): (String, String) =
            sqlx::query_as("SELECT last_name, custom_fields->>'raw' FROM contacts WHERE email = $1")
                .bind(format!("h{i}@example.com"))
                .fetch_one(&mut admin)
                .await
                .unwrap();
        assert_eq!(&last, v, "last_name of H{i}");
        assert_eq!(&raw, v, "custom_fields.raw of H{i}");
    }
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, values.len() as i64);
}

/// NUL bytes (PostgreSQL text cannot hold them) and bytes that are not
/// UTF-8 in a file declared UTF-8: the first load without the NUL and are
/// counted, the second reject their row naming line, field and encoding;
/// nothing is lost and the report adds up.
#[tokio::test]
async fn nul_bytes_and_invalid_utf8_are_counted_and_the_report_adds_up() {
    let t = Target::new().await;
    let dir = t.work.path().join("bytes");
    std::fs::create_dir_all(&dir).unwrap();
    let mut csv = b"id,name,email\n".to_vec();
    csv.extend_from_slice(b"B1,Ada\0Lovelace,b1@example.com\n");
    csv.extend_from_slice(b"B2,Caf\xe9 latin1,b2@example.com\n");
    csv.extend_from_slice(b"B3,\0\0,b3@example.com\n");
    csv.extend_from_slice(b"B4,Plain,b4@example.com\n");
    std::fs::write(dir.join("people.csv"), csv).unwrap();
    let mapping = dir.join("mapping.toml");
    std::fs::write(
        &mapping,
        "[migration]\nname = \"bytes\"\norg_id = \"${ORG_ID}\"\nsource_system = \"bytes\"\n\n\
         [sources.people]\nkind = \"csv\"\npath = \"people.csv\"\nencoding = \"utf-8\"\n\n\
         [contacts]\nfrom = \"people\"\nkey = [\"id\"]\n\n[contacts.columns]\n\
         last_name = \"name\"\nemail = \"email\"\n",
    )
    .unwrap();
    let out = t.run(&mapping, ORG_A, "bytes");
    assert_success(&out);
    let r = report(&t.out_dir("bytes"));
    migrate_testkit::check_report(&r);
    // read, filtered, duplicates, rejected, loaded, inserted, updated, unchanged
    assert_eq!(counts(entity(&r, "contacts")), [4, 0, 0, 1, 3, 3, 0, 0]);
    let reject = &entity(&r, "contacts")["rejects_by_reason"][0];
    assert_eq!(reject["reason"], "invalid_encoding");
    assert!(reject["examples"][0]["location"].as_str().unwrap().ends_with("people.csv:3"), "{reject}");
    assert!(
        reject["examples"][0]["message"]
            .as_str()
            .unwrap()
            .contains("field 2 (name) has bytes that are not valid UTF-8"),
        "{reject}"
    );
    let nul = r["warnings"].as_array().unwrap().iter().find(|w| w["code"] == "nul_removed").expect("a nul warning");
    assert_eq!((nul["column"].as_str(), nul["count"].as_u64()), (Some("name"), Some(2)), "{nul}");
    let mut admin = t.admin().await;
    let names: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT email, last_name FROM contacts ORDER BY email").fetch_all(&mut admin).await.unwrap();
    let s = |x: &str| x.to_string();
    assert_eq!(
        names,
        [
            (s("b1@example.com"), Some(s("AdaLovelace"))),
            (s("b3@example.com"), Some(s(""))),
            (s("b4@example.com"), Some(s("Plain")))
        ]
    );
}
