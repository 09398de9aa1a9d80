//! Amounts converted into the org's currency at the rate of the row's date,
//! with the original kept, end to end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;

/// deals.csv → contacts, its `value` column converted as `convert` says.
fn write_mapping(dir: &std::path::Path, convert: &str) {
    let mapping = format!(
        r#"[migration]
name = "fx"
org_id = "${{ORG_ID}}"
source_system = "fx"

[sources.deals]
kind = "csv"
path = "deals.csv"

[sources.fx]
kind = "csv"
path = "rates.csv"

[contacts]
from = "deals"
key = "id"

[contacts.columns]
email = "email"
"custom_fields.value" = {{ from = "value", transform = [{{ money = {{ locale = "de", convert = {convert} }} }}] }}
"#
    );
    std::fs::write(dir.join("mapping.toml"), mapping).unwrap();
}

#[tokio::test]
async fn amounts_convert_at_the_rate_of_their_date_and_keep_the_original() {
    let t = Target::new().await;
    let dir = t.work.path().join("fx");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("rates.csv"),
        "date,currency,rate\n2024-01-02,EUR,1.0950\n2024-01-31,EUR,1.0850\n2024-01-31,GBP,1.27\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("deals.csv"),
        "id,email,invoiced,value\n\
         1,a@x.io,01/15/2024,\"1.000,00 €\"\n\
         2,b@x.io,02/01/2024,\"1.000,00 €\"\n\
         3,c@x.io,02/01/2024,\"0,10 £\"\n\
         4,d@x.io,12/31/2023,\"5,00 €\"\n\
         5,e@x.io,02/01/2024,\"7,00 USD\"\n",
    )
    .unwrap();
    write_mapping(&dir, r#"{ to = "USD", rates = "fx", date = "invoiced", formats = ["us"] }"#);
    let validate =
        t.migrate_as(LOADER).env("ORG_ID", ORG_A).arg("validate").arg(dir.join("mapping.toml")).output().unwrap();
    assert_success(&validate);
    assert_success(&t.run(&dir.join("mapping.toml"), ORG_A, "fx-out"));
    let r = report(&t.out_dir("fx-out"));
    assert_eq!(counts(entity(&r, "contacts")), [5, 0, 0, 1, 4, 4, 0, 0]);
    let (_, rejects) = read_csv(&t.out_dir("fx-out").join("rejects/contacts.csv"));
    assert_eq!(rejects.len(), 1);
    assert_eq!(rejects[0][3], "no_rate");
    assert_eq!(rejects[0][4], "convert: no EUR→USD rate on or before 2023-12-31 in fx");

    let mut conn = t.admin().await;
    let values: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT k.source_key, c.custom_fields->'value' FROM contacts c JOIN migrate.keys k ON k.target_id = c.id ORDER BY 1",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let expected = [
        (
            "1",
            serde_json::json!({"amount": "1095.00", "currency": "USD", "original_amount": "1000.00", "original_currency": "EUR", "rate": "1.0950", "rate_date": "2024-01-02"}),
        ),
        (
            "2",
            serde_json::json!({"amount": "1085.00", "currency": "USD", "original_amount": "1000.00", "original_currency": "EUR", "rate": "1.0850", "rate_date": "2024-01-31"}),
        ),
        (
            "3",
            serde_json::json!({"amount": "0.13", "currency": "USD", "original_amount": "0.10", "original_currency": "GBP", "rate": "1.27", "rate_date": "2024-01-31"}),
        ),
        ("5", serde_json::json!({"amount": "7.00", "currency": "USD"})),
    ];
    assert_eq!(values.len(), expected.len());
    for ((key, value), (k, v)) in values.iter().zip(expected) {
        assert_eq!((key.as_str(), value), (k, &v));
    }
}

#[tokio::test]
async fn a_bad_rates_file_stops_the_run_before_anything_loads() {
    let t = Target::new().await;
    let dir = t.work.path().join("badfx");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("rates.csv"), "date,currency,rate\n2024-01-02,EUR,1.09\n2024-01-03,EUR,lots\n").unwrap();
    std::fs::write(dir.join("deals.csv"), "id,email,invoiced,value\n1,a@x.io,2024-01-15,\"1,00 €\"\n").unwrap();
    write_mapping(&dir, r#"{ to = "USD", rates = "fx", date = "invoiced" }"#);
    let out = t.run(&dir.join("mapping.toml"), ORG_A, "bad");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rates.csv:3: rate \"lots\" is not a decimal number"), "{stderr}");
    assert_eq!(t.admin_count("SELECT count(*) FROM contacts").await, 0);
}
