//! An XML export through a mapping into PostgreSQL: a list into JSONB,
//! records located by line.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

#[tokio::test]
async fn an_xml_export_loads_with_lists_in_jsonb_and_line_locations() {
    let t = Target::new().await;
    let dir = t.work.path().join("x");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("export.xml"),
        r#"<?xml version="1.0"?>
<crm:Export xmlns:crm="urn:acme:crm">
  <crm:Contact id="1"><crm:Mail>ADA@EXAMPLE.COM</crm:Mail><crm:Phone>1</crm:Phone><crm:Phone>2</crm:Phone></crm:Contact>
  <crm:Contact id="2"><crm:Mail></crm:Mail></crm:Contact>
  <crm:Contact id="3"><crm:Mail>grace@example.com</crm:Mail></crm:Contact>
</crm:Export>
"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("mapping.toml"),
        r#"[migration]
name = "xml"
org_id = "${ORG_ID}"
source_system = "xml"

[sources.export]
kind = "xml"
path = "export.xml"
record = "/a:Export/a:Contact"
namespaces = { a = "urn:acme:crm" }
fields = { id = "@id", mail = "a:Mail", phones = "a:Phone[]" }

[contacts]
from = "export"
key = "id"

[contacts.columns]
email = { from = "mail", transform = ["email"], required = true }
"custom_fields.phones" = "phones"
"#,
    )
    .unwrap();
    assert_success(&t.run(&dir.join("mapping.toml"), ORG_A, "x-out"));
    let r = report(&t.out_dir("x-out"));
    assert_eq!(counts(entity(&r, "contacts")), [3, 0, 0, 1, 2, 2, 0, 0]);
    let (_, rejects) = read_csv(&t.out_dir("x-out").join("rejects/contacts.csv"));
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0][0], format!("{}:4", dir.join("export.xml").display()));
    assert_eq!(rejects[0][3], "required_missing");
    let mut conn = t.admin().await;
    let phones: String = sqlx::query_scalar(
        "SELECT c.custom_fields->>'phones' FROM contacts c JOIN migrate.keys k ON k.target_id = c.id WHERE k.source_key = '1'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(phones, r#"["1","2"]"#);
}
