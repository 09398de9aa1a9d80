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
    /// The certificate (PEM) of the private CA that signed the server's
    /// certificate. Implies TLS: the server must offer it, and its
    /// certificate must chain to this CA (and name the host, unless the
    /// url says `verify_identity=false`). Relative to the mapping file.
    #[serde(default)]
    pub ssl_ca: Option<std::path::PathBuf>,
    /// The host name the server's certificate must carry, where it is not
    /// the host in the url (a server reached through an SSH tunnel or by
    /// its IP address). Implies TLS.
    #[serde(default)]
    pub ssl_server_name: Option<String>,
    /// Read only the rows changed since the last published run (a delta),
    /// by a cursor column: `{ cursor = "updated_at", overlap = "10m" }`.
    #[serde(default)]
    pub incremental: Option<migrate_engine::IncrementalConfig>,
    /// With `incremental = { cursor = "$binlog" }`: the most row events
    /// one run reads from the binlog (it ends at a transaction's end).
    #[serde(default = "default_binlog_batch")]
    pub binlog_batch: u64,
    /// Rows per batch.
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
    /// A value larger than this (bytes) rejects its row instead of being
    /// kept whole in memory.
    #[serde(default = "default_max_value_bytes")]
    pub max_value_bytes: usize,
}

fn default_binlog_batch() -> u64 {
    100_000
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
        if let Some(inc) = &self.incremental {
            inc.check()?;
            if self.partition.is_some() {
                return Err("`incremental` reads one window on one connection: remove `partition`".into());
            }
            if inc.cursor == crate::binlog::BINLOG_CURSOR && (self.table.is_none() || inc.overlap.is_some()) {
                return Err("incremental from the binlog reads a `table` (no `query`) and takes no `overlap`".into());
            }
            if self.binlog_batch == 0 {
                return Err("binlog_batch must be at least 1".into());
            }
        }
        for (column, label) in &self.decode {
            if encoding_rs::Encoding::for_label(label.as_bytes()).is_none() {
                return Err(format!("decode.{column} = {label:?}: not an encoding name (utf-8, windows-1252, …)"));
            }
        }
        Ok(())
    }

    /// The driver's options: the url's, with `ssl_ca` (already resolved
    /// against the mapping's folder) as the only trusted authority.
    pub fn connect_opts(&self) -> Result<mysql_async::Opts, String> {
        // The driver asks rustls for the process's provider; with aws-lc
        // compiled in beside ring (tiberius's TLS), there is none unless
        // one is installed.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let tls_asked = self.ssl_ca.is_some() || self.ssl_server_name.is_some();
        // Either implies require_ssl, which the driver needs in the url to
        // read verify_ca there.
        let url = if tls_asked {
            let sep = if self.url.contains('?') { '&' } else { '?' };
            format!("{}{sep}require_ssl=true", self.url)
        } else {
            self.url.clone()
        };
        let opts = mysql_async::Opts::from_url(&url).map_err(|e| format!("reading the url: {e}"))?;
        if opts.ssl_opts().is_some_and(|s| s.skip_domain_validation() && !s.accept_invalid_certs()) {
            // The driver's check no longer recognises rustls's wording of a
            // wrong name, so the setting would be silently ignored.
            return Err("verify_identity=false is not supported: set ssl_server_name to the host name in the server's certificate".to_string());
        }
        let Some(mut ssl) = opts.ssl_opts().cloned() else { return Ok(opts) };
        if let Some(ca) = &self.ssl_ca {
            if !ca.is_file() {
                return Err(format!("ssl_ca {}: not a file", ca.display()));
            }
            ssl = ssl.with_root_certs(vec![ca.clone().into()]).with_disable_built_in_roots(true);
        }
        if let Some(name) = &self.ssl_server_name {
            ssl = ssl.with_danger_tls_hostname_override(Some(name.clone()));
        }
        Ok(mysql_async::OptsBuilder::from_opts(opts).ssl_opts(ssl).into())
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
/// How the connection is protected, for the report: what the options
/// demand, which a connection that succeeded has met.
pub(crate) fn transport(opts: &mysql_async::Opts) -> String {
    match opts.ssl_opts() {
        None => "plaintext (no TLS)".to_string(),
        Some(s) if s.accept_invalid_certs() => {
            "TLS; the server's certificate NOT verified (verify_ca=false)".to_string()
        }
        Some(s) => {
            let roots = if s.root_certs().is_empty() { "the system's CAs" } else { "ssl_ca" };
            match s.tls_hostname_override() {
                Some(name) => format!("TLS; certificate verified ({roots}) for host name {name} (ssl_server_name)"),
                None => format!("TLS; certificate and host name verified ({roots})"),
            }
        }
    }
}

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
    fn tls_is_described_as_the_options_ask() {
        let plain = config("table = \"t\"");
        assert_eq!(transport(&plain.connect_opts().unwrap()), "plaintext (no TLS)");
        let mut c = config("table = \"t\"");
        c.url.push_str("?require_ssl=true");
        assert_eq!(transport(&c.connect_opts().unwrap()), "TLS; certificate and host name verified (the system's CAs)");
        c.url.push_str("&verify_ca=false");
        assert!(transport(&c.connect_opts().unwrap()).contains("NOT verified"));
        let mut c = config("table = \"t\"");
        c.url.push_str("?require_ssl=true&verify_identity=false");
        assert!(c.connect_opts().unwrap_err().contains("set ssl_server_name"));
        c.url = c.url.replace("&verify_identity=false", "");
        c.ssl_server_name = Some("db.internal".into());
        assert!(transport(&c.connect_opts().unwrap()).contains("for host name db.internal (ssl_server_name)"));
        let dir = tempfile::tempdir().unwrap();
        let mut c = config("table = \"t\"");
        c.ssl_ca = Some(dir.path().join("ca.pem"));
        assert!(c.connect_opts().unwrap_err().contains("ca.pem: not a file"));
        std::fs::write(dir.path().join("ca.pem"), "-----BEGIN CERTIFICATE-----\n").unwrap();
        let opts = c.connect_opts().unwrap();
        assert!(opts.ssl_opts().is_some_and(|s| s.disable_built_in_roots() && s.root_certs().len() == 1));
        assert_eq!(transport(&opts), "TLS; certificate and host name verified (ssl_ca)");
    }

    #[test]
    fn the_password_never_shows_and_identifiers_are_quoted() {
        assert_eq!(config("table = \"t\"").shown_url(), "mysql://app:***@db:3306/crm");
        assert_eq!(quote_table("crm.cust`omers"), "`crm`.`cust``omers`");
    }
}
