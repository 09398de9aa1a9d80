use std::collections::BTreeMap;

use migrate_engine::parts::{PartitionConfig, check_read};
use serde::Deserialize;

/// `[sources.NAME]` with `kind = "mysql"` (MySQL 5.x and later, MariaDB).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MysqlSourceConfig {
    /// `mysql://user:password@host:3306/database`; options as URL
    /// parameters (`?require_ssl=true`). Use `${VAR}` for the password.
    pub url: String,
    /// `database.table` or `table`: every column, ordered by the primary
    /// key when there is one.
    #[serde(default)]
    pub table: Option<String>,
    /// A SELECT of its own, instead of `table`.
    #[serde(default)]
    pub query: Option<String>,
    /// Per column, the encoding its bytes really are in, whatever the
    /// column declares: `{ name = "utf-8" }` for a latin1 column that an
    /// application filled with UTF-8 bytes.
    #[serde(default)]
    pub decode: BTreeMap<String, String>,
    /// Split a `table` read into ranges of a numeric or date column, read
    /// concurrently on separate connections.
    #[serde(default)]
    pub partition: Option<PartitionConfig>,
    /// Rows per batch.
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
    /// A value larger than this (bytes) rejects its row instead of being
    /// kept whole in memory.
    #[serde(default = "default_max_value_bytes")]
    pub max_value_bytes: usize,
}

fn default_batch_rows() -> usize {
    10_000
}

fn default_max_value_bytes() -> usize {
    16 * 1024 * 1024
}

impl MysqlSourceConfig {
    /// What the mapping asks for, checked before connecting.
    pub fn check(&self) -> Result<(), String> {
        check_read(self.table.as_deref(), self.query.as_deref(), self.partition.as_ref(), self.batch_rows, "database")?;
        for (column, label) in &self.decode {
            if encoding_rs::Encoding::for_label(label.as_bytes()).is_none() {
                return Err(format!("decode.{column} = {label:?}: not an encoding name (utf-8, windows-1252, …)"));
            }
        }
        Ok(())
    }

    /// The URL with its password hidden, for the report and messages.
    pub fn shown_url(&self) -> String {
        match (self.url.find("://"), self.url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                let userinfo = &self.url[scheme + 3..at];
                let user = userinfo.split(':').next().unwrap_or("");
                format!("{}{user}:***{}", &self.url[..scheme + 3], &self.url[at..])
            }
            _ => self.url.clone(),
        }
    }
}

/// A MySQL identifier in backquotes, each backquote doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// `db.table` or `table`, quoted part by part.
pub(crate) fn quote_table(table: &str) -> String {
    table.split('.').map(|p| quote_ident(p.trim())).collect::<Vec<_>>().join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(extra: &str) -> MysqlSourceConfig {
        let text = format!("url = \"mysql://app:s3cret@db:3306/crm\"\n{extra}");
        toml_like(&text)
    }

    /// The options as serde sees them (JSON stands in for the mapping's TOML).
    fn toml_like(text: &str) -> MysqlSourceConfig {
        let mut map = serde_json::Map::new();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let (k, v) = line.split_once('=').unwrap_or((line, ""));
            let value: serde_json::Value =
                serde_json::from_str(v.trim()).unwrap_or(serde_json::Value::String(v.trim().to_string()));
            map.insert(k.trim().to_string(), value);
        }
        serde_json::from_value(serde_json::Value::Object(map)).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_table_or_a_query_and_sane_partitions() {
        assert_eq!(config("table = \"crm.customers\"").check(), Ok(()));
        assert!(config("").check().unwrap_err().contains("name a `table`"));
        assert!(config("table = \"a.b.c\"").check().unwrap_err().contains("database.table"));
        let both = config("table = \"t\"\nquery = \"SELECT 1\"");
        assert!(both.check().unwrap_err().contains("not both"));
        let mut c = config("table = \"t\"");
        c.partition = Some(PartitionConfig { column: "id".into(), parts: 1 });
        assert!(c.check().unwrap_err().contains("from 2 to 64"));
        c.decode.insert("name".into(), "klingon".into());
        c.partition = None;
        assert!(c.check().unwrap_err().contains("not an encoding name"));
    }

    #[test]
    fn the_password_never_shows_and_identifiers_are_quoted() {
        assert_eq!(config("table = \"t\"").shown_url(), "mysql://app:***@db:3306/crm");
        assert_eq!(quote_table("crm.cust`omers"), "`crm`.`cust``omers`");
    }
}
