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
    /// Read only the rows changed since the last published run (a delta),
    /// by a cursor column: a `rowversion`, a datetime2 set on every write,
    /// a growing integer. A `table` only.
    #[serde(default)]
    pub incremental: Option<migrate_engine::IncrementalConfig>,
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
        check_read(self.table.as_deref(), self.query.as_deref(), self.partition.as_ref(), self.batch_rows, "schema")?;
        if let Some(inc) = &self.incremental {
            inc.check()?;
            if self.table.is_none() || self.partition.is_some() {
                return Err("`incremental` reads a `table`, on one connection (no `query`, no `partition`)".into());
            }
        }
        if self.setting("encrypt").is_some_and(|v| v.eq_ignore_ascii_case("strict")) {
            return Err("connection: encrypt=strict (TDS 8.0) is not supported yet: use encrypt=true".to_string());
        }
        // The driver's own reading of the string, without connecting (its
        // messages name keywords, never values).
        tiberius::Config::from_ado_string(&self.connection).map(|_| ()).map_err(|e| format!("connection: {e}"))
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

impl MssqlSourceConfig {
    /// The connection string's settings, keys lowercased and unspaced
    /// (`HostName In Certificate` → `hostnameincertificate`).
    fn settings(&self) -> Vec<(String, String)> {
        self.connection
            .split(';')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| {
                (k.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase(), v.trim().to_string())
            })
            .collect()
    }

    fn setting(&self, key: &str) -> Option<String> {
        self.settings().into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A relative `TrustServerCertificateCA` made relative to `base_dir`
    /// (the mapping's folder), as every other file a mapping names.
    pub(crate) fn resolve_ca(&mut self, base_dir: &std::path::Path) {
        let parts: Vec<String> = self
            .connection
            .split(';')
            .map(|part| match part.split_once('=') {
                Some((k, v))
                    if k.chars()
                        .filter(|c| !c.is_whitespace())
                        .collect::<String>()
                        .eq_ignore_ascii_case("trustservercertificateca")
                        && std::path::Path::new(v.trim()).is_relative()
                        && !v.trim().starts_with(['"', '\'', '{']) =>
                {
                    format!("{k}={}", base_dir.join(v.trim()).display())
                }
                _ => part.to_string(),
            })
            .collect();
        self.connection = parts.join(";");
    }

    /// How the connection is protected, as the connection string asks it
    /// (a connection that succeeded has met it), for the report.
    pub fn transport(&self) -> String {
        let encrypt = self.setting("encrypt").unwrap_or_else(|| "true".to_string()).to_lowercase();
        let level = match encrypt.as_str() {
            "danger_plaintext" => {
                return "plaintext (encrypt=DANGER_PLAINTEXT; TLS only if the server demands it)".to_string();
            }
            "false" | "no" => "TLS for the login at least, all of it if the server requires (encrypt=false)",
            _ => "TLS",
        };
        let trusted =
            self.setting("trustservercertificate").is_some_and(|v| matches!(v.to_lowercase().as_str(), "true" | "yes"));
        if trusted {
            return format!("{level}; the server's certificate NOT verified (TrustServerCertificate=true)");
        }
        let roots = if self.setting("trustservercertificateca").is_some() {
            "TrustServerCertificateCA"
        } else {
            "the system's CAs"
        };
        match self.setting("hostnameincertificate") {
            Some(name) => {
                format!("{level}; certificate verified ({roots}) for host name {name} (HostNameInCertificate)")
            }
            None => format!("{level}; certificate and host name verified ({roots})"),
        }
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
            incremental: None,
            connection: "server=tcp:db,1433;User=sa;Password=s3cr;et;database=erp".into(),
            table: Some("dbo.Acc]ounts".into()),
            query: None,
            partition: None,
            batch_rows: 1,
            max_value_bytes: 1,
        };
        assert_eq!(c.shown(), "server=tcp:db,1433;User=sa;Password=***;database=erp");
        assert_eq!(quote_table("dbo.Acc]ounts"), "[dbo].[Acc]]ounts]");
        // The driver reads an unquoted `;` as the end of the password: the
        // check says so before connecting, without the password.
        let e = c.check().unwrap_err();
        assert!(e.contains("must be quoted") && !e.contains("s3cr"), "{e}");
        let quoted =
            MssqlSourceConfig { connection: "server=tcp:db,1433;User=sa;Password={s3cr;et};database=erp".into(), ..c };
        assert_eq!(quoted.shown(), "server=tcp:db,1433;User=sa;Password=***;database=erp");
        assert_eq!(quoted.check(), Ok(()));
        assert!(MssqlSourceConfig { table: None, ..quoted.clone() }.check().unwrap_err().contains("name a `table`"));
    }

    #[test]
    fn tls_is_described_as_the_connection_string_asks() {
        let with = |tail: &str| MssqlSourceConfig {
            incremental: None,
            connection: format!("server=tcp:db,1433;user=sa;password=x;{tail}"),
            table: Some("t".into()),
            query: None,
            partition: None,
            batch_rows: 1,
            max_value_bytes: 1,
        };
        assert_eq!(with("").transport(), "TLS; certificate and host name verified (the system's CAs)");
        assert_eq!(
            with("Encrypt=True;TrustServerCertificate=true").transport(),
            "TLS; the server's certificate NOT verified (TrustServerCertificate=true)"
        );
        assert_eq!(
            with("encrypt=yes;TrustServerCertificateCA=ca.pem;HostName In Certificate=db.internal").transport(),
            "TLS; certificate verified (TrustServerCertificateCA) for host name db.internal (HostNameInCertificate)"
        );
        assert!(with("encrypt=DANGER_PLAINTEXT").transport().starts_with("plaintext"));
        let e = with("encrypt=maybe").check().unwrap_err();
        assert!(e.starts_with("connection: "), "{e}");
        let e = with("Encrypt=Strict").check().unwrap_err();
        assert_eq!(e, "connection: encrypt=strict (TDS 8.0) is not supported yet: use encrypt=true");
        let mut c = with("TrustServerCertificateCA = certs/ca.pem;database=erp");
        c.resolve_ca(std::path::Path::new("/maps"));
        assert_eq!(
            c.connection,
            "server=tcp:db,1433;user=sa;password=x;TrustServerCertificateCA =/maps/certs/ca.pem;database=erp"
        );
        let mut c = with("TrustServerCertificateCA=/etc/ca.pem");
        c.resolve_ca(std::path::Path::new("/maps"));
        assert!(c.connection.ends_with("TrustServerCertificateCA=/etc/ca.pem"));
    }
}
