//! README's "Connecting to the customer's servers": its table has a row
//! per system, and its examples are read by the code that reads them in a
//! run (the settings, the drivers' own parsers), without connecting.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use migrate_mongodb::MongoSourceConfig;
use migrate_mssql::MssqlSourceConfig;
use migrate_mysql::MysqlSourceConfig;
use migrate_postgres::ConnectionConfig;

fn section() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let start = readme.find("## Connecting to the customer's servers").expect("the section");
    let rest = &readme[start + 3..];
    rest[..rest.find("\n## ").unwrap_or(rest.len())].to_string()
}

/// The fenced blocks of `text` in this language.
fn blocks(text: &str, language: &str) -> Vec<String> {
    text.split(&format!("```{language}\n")).skip(1).map(|b| b[..b.find("```").unwrap()].to_string()).collect()
}

#[test]
fn the_table_has_a_row_per_system() {
    let section = section();
    let rows: Vec<&str> = section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| system") && !l.starts_with("| ---"))
        .collect();
    let systems: Vec<&str> = rows.iter().map(|r| r.split('|').nth(1).unwrap().trim()).collect();
    assert_eq!(systems, ["PostgreSQL (the platform)", "MySQL, MariaDB", "SQL Server", "MongoDB"]);
    for row in rows {
        let cells: Vec<&str> = row.trim_matches('|').split(" | ").collect();
        assert_eq!(cells.len(), 7, "seven columns: {row}");
        assert!(cells.iter().all(|c| !c.trim().is_empty()), "every column filled: {row}");
    }
}

#[test]
fn the_connection_examples_read_as_they_would_in_a_run() {
    let section = section();
    let dir = tempfile::tempdir().unwrap();
    let file = |path: &str| {
        let path = dir.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "a file").unwrap();
        path.display().to_string()
    };

    // The platform database: every exported variable, files made where
    // the example points.
    let shell = blocks(&section, "sh");
    assert_eq!(shell.len(), 1);
    let mut vars: Vec<(String, String)> = Vec::new();
    for line in shell[0].lines().filter_map(|l| l.strip_prefix("export ")) {
        for pair in line.split_whitespace() {
            let (k, v) = pair.split_once('=').unwrap();
            let v = if k.ends_with("_FILE") || k == "DB_SSLROOTCERT" { file(v) } else { v.to_string() };
            vars.push((k.to_string(), v));
        }
    }
    let names: Vec<&str> = vars.iter().map(|(k, _)| k.as_str()).collect();
    assert!(names.contains(&"DB_SSLROOTCERT") && names.contains(&"DB_PASSWORD_FILE"), "{names:?}");
    let env = |name: &str| {
        migrate_mappings::env_or_file(name, &|n| vars.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())).unwrap()
    };
    let pg = ConnectionConfig::from_env(&env).unwrap();
    assert_eq!(pg.display, "db.platform.internal:5432/platform");

    // The customer's servers: each source as its connector reads it, after
    // `${VAR}` is filled in.
    let toml_blocks = blocks(&section, "toml");
    assert_eq!(toml_blocks.len(), 1);
    let text = migrate_mappings::interpolate(&toml_blocks[0], &|_| Some("pw".to_string())).unwrap();
    let doc: toml::Table = toml::from_str(&text).unwrap();
    let sources = doc["sources"].as_table().unwrap();
    let mut kinds = Vec::new();
    for (name, source) in sources {
        let mut table = source.as_table().unwrap().clone();
        let kind = table.remove("kind").unwrap().as_str().unwrap().to_string();
        let json = serde_json::to_value(&table).unwrap();
        match kind.as_str() {
            "mysql" => {
                let mut c: MysqlSourceConfig = serde_json::from_value(json).unwrap();
                c.check().unwrap();
                c.ssl_ca = c.ssl_ca.map(|ca| file(&ca.display().to_string()).into());
                let opts = c.connect_opts().unwrap();
                assert!(opts.ssl_opts().is_some(), "{name}: ssl_ca turns TLS on");
            }
            "mssql" => {
                let c: MssqlSourceConfig = serde_json::from_value(json).unwrap();
                c.check().unwrap();
                assert!(c.transport().contains("for host name erp-db.customer.example"), "{}", c.transport());
            }
            "mongodb" => {
                let c: MongoSourceConfig = serde_json::from_value(json).unwrap();
                c.check().unwrap();
            }
            other => panic!("{name}: kind {other}"),
        }
        kinds.push(kind);
    }
    kinds.sort();
    assert_eq!(kinds, ["mongodb", "mssql", "mysql"]);
}
