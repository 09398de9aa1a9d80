use migrate_engine::parts::{PartitionConfig, check_read};
use serde::Deserialize;

/// `[sources.NAME]` with `kind = "mssql"`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MssqlSourceConfig {
    /// An ADO.NET connection string:
    /// `server=tcp:host,1433;user=…;password=${ERP_PASSWORD};database=erp`.
    pub connection: String,
    /// `schema.table` or `table`: every column, in primary key order.
    #[serde(default)]
    pub table: Option<String>,
    /// A SELECT of its own, instead of `table`. Money columns must be cast
    /// (`CAST(Amount AS decimal(19,4))`): read as they are, they would
    /// pass through a float.
    #[serde(default)]
    pub query: Option<String>,
    /// Split a `table` read into ranges of an integer or date column, read
    /// concurrently on separate connections.
    #[serde(default)]
    pub partition: Option<PartitionConfig>,
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
    /// A longer (n)varchar(max), varbinary(max), text or image value
    /// rejects its row.
    #[serde(default = "default_max_value_bytes")]
    pub max_value_bytes: usize,
}

fn default_batch_rows() -> usize {
    10_000
}

fn default_max_value_bytes() -> usize {
    16 * 1024 * 1024
}

impl MssqlSourceConfig {
    pub fn check(&self) -> Result<(), String> {
        check_read(self.table.as_deref(), self.query.as_deref(), self.partition.as_ref(), self.batch_rows, "schema")
    }

    /// The connection string with its password hidden (a password holding
    /// `;` included: parts without `=` after it are hidden too).
    pub fn shown(&self) -> String {
        let mut hiding = false;
        let mut parts = Vec::new();
        for part in self.connection.split(';') {
            match part.split_once('=') {
                Some((k, _)) if ["password", "pwd"].contains(&k.trim().to_ascii_lowercase().as_str()) => {
                    hiding = true;
                    parts.push(format!("{k}=***"));
                }
                None if hiding => {}
                _ => {
                    hiding = false;
                    parts.push(part.to_string());
                }
            }
        }
        parts.join(";")
    }
}

/// A SQL Server identifier in brackets, `]` doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("[{}]", name.replace(']', "]]"))
}

/// `schema.table` or `table`, quoted part by part.
pub(crate) fn quote_table(table: &str) -> String {
    table.split('.').map(|p| quote_ident(p.trim())).collect::<Vec<_>>().join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden_and_names_quoted() {
        let c = MssqlSourceConfig {
            connection: "server=tcp:db,1433;User=sa;Password=s3cr;et;database=erp".into(),
            table: Some("dbo.Acc]ounts".into()),
            query: None,
            partition: None,
            batch_rows: 1,
            max_value_bytes: 1,
        };
        assert_eq!(c.shown(), "server=tcp:db,1433;User=sa;Password=***;database=erp");
        assert_eq!(quote_table("dbo.Acc]ounts"), "[dbo].[Acc]]ounts]");
        assert_eq!(c.check(), Ok(()));
        assert!(MssqlSourceConfig { table: None, ..c.clone() }.check().unwrap_err().contains("name a `table`"));
    }
}
