use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

use crate::error::PgError;

/// The role every load runs as; created by `migrate schema apply`.
pub const TENANT_ROLE: &str = "platform_tenant";

/// Where the target database is: `DATABASE_URL`, or `DB_HOST`, `DB_PORT`,
/// `DB_NAME`, `DB_USER`, `DB_PASSWORD`, `DB_SSLMODE`, `DB_SSLROOTCERT`.
/// (Each may also come from a file its `_FILE` twin names: that is the
/// caller's `env`.)
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    pub options: PgConnectOptions,
    /// For messages: host, port and database, never the password.
    pub display: String,
    /// Where the settings came from: `DATABASE_URL` or the `DB_*` variables.
    pub from_url: bool,
}

/// Whether `scheme://user:password@host…` spells a password.
fn url_has_password(url: &str) -> bool {
    url.split_once("://")
        .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or(""))
        .and_then(|authority| authority.rsplit_once('@'))
        .is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

impl ConnectionConfig {
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, PgError> {
        let from_url = env("DATABASE_URL").is_some_and(|u| !u.is_empty());
        let options = if let Some(url) = env("DATABASE_URL").filter(|u| !u.is_empty()) {
            let o = PgConnectOptions::from_str(&url).map_err(|e| PgError::Config(format!("DATABASE_URL: {e}")))?;
            // A URL without a password takes DB_PASSWORD (or the file
            // DB_PASSWORD_FILE names), as libpq takes PGPASSWORD.
            match env("DB_PASSWORD") {
                Some(pw) if !url_has_password(&url) => o.password(&pw),
                _ => o,
            }
        } else {
            let mut o = PgConnectOptions::new_without_pgpass();
            o = o.host(&env("DB_HOST").unwrap_or_else(|| "localhost".to_string()));
            if let Some(port) = env("DB_PORT") {
                let port = port
                    .parse::<u16>()
                    .map_err(|_| PgError::Config(format!("DB_PORT {port:?} is not a port number")))?;
                o = o.port(port);
            }
            if let Some(db) = env("DB_NAME") {
                o = o.database(&db);
            }
            if let Some(user) = env("DB_USER") {
                o = o.username(&user);
            }
            if let Some(pw) = env("DB_PASSWORD") {
                o = o.password(&pw);
            }
            if let Some(mode) = env("DB_SSLMODE") {
                let mode = PgSslMode::from_str(&mode).map_err(|_| {
                    PgError::Config(format!(
                        "DB_SSLMODE {mode:?} is not one of disable, allow, prefer, require, verify-ca, verify-full"
                    ))
                })?;
                o = o.ssl_mode(mode);
            }
            if let Some(ca) = env("DB_SSLROOTCERT").filter(|c| !c.is_empty()) {
                if !std::path::Path::new(&ca).is_file() {
                    return Err(PgError::Config(format!("DB_SSLROOTCERT {ca:?} is not a file")));
                }
                o = o.ssl_root_cert(&ca);
            }
            o
        };
        let options = options.application_name("migrate");
        let display = format!(
            "{}:{}/{}",
            options.get_host(),
            options.get_port(),
            options.get_database().unwrap_or("(default database)")
        );
        Ok(Self { options, display, from_url })
    }

    /// What went wrong connecting, and which setting to look at.
    pub fn explain(&self, e: &sqlx::Error) -> String {
        let var = |name: &str| {
            if self.from_url { format!("the {name} in DATABASE_URL") } else { format!("DB_{}", name.to_uppercase()) }
        };
        let user = self.options.get_username().to_string();
        if let Some(db) = e.as_database_error() {
            let code = db.code().map(|c| c.to_string()).unwrap_or_default();
            let hint = match code.as_str() {
                "28P01" => format!("check {} for user {user:?}", var("password")),
                "28000" => format!("check {} (role {user:?}) and the server's pg_hba.conf", var("user")),
                "3D000" => format!("check {}, or run `migrate schema apply` against the right database", var("name")),
                "53300" => "the server has no free connection slots; try again later".to_string(),
                _ => String::new(),
            };
            return if hint.is_empty() { db.message().to_string() } else { format!("{}: {hint}", db.message()) };
        }
        let text = e.to_string();
        let lower = text.to_lowercase();
        if lower.contains("connection refused") {
            format!(
                "nothing accepts connections there (connection refused): is PostgreSQL running, and are {} and {} right?",
                var("host"),
                var("port")
            )
        } else if lower.contains("lookup address") || lower.contains("name or service not known") {
            format!("the host name does not resolve: check {}", var("host"))
        } else if lower.contains("timed out") {
            format!("no answer (timed out): check {}, {} and any firewall in between", var("host"), var("port"))
        } else if let Some(problem) = migrate_engine::tls::CertProblem::of(&text) {
            let ca = if self.from_url { "sslrootcert in DATABASE_URL" } else { "DB_SSLROOTCERT" };
            format!("{}: {text}", problem.explain(ca, &var("host")))
        } else if lower.contains("tls") || lower.contains("ssl") || lower.contains("certificate") {
            format!("{text}: check DB_SSLMODE (or sslmode in DATABASE_URL)")
        } else {
            text
        }
    }

    pub async fn connect(&self) -> Result<sqlx::PgConnection, PgError> {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect_with(&self.options)
            .await
            .map_err(|e| PgError::Connect { target: self.display.clone(), message: self.explain(&e) })?;
        // A backend blocked on a lock does not notice that its client died
        // until the wait ends; with this it checks every few seconds, so a
        // killed run's locks and transaction go away on their own. The
        // setting exists from PostgreSQL 14 on; older servers go without.
        let _ =
            sqlx::query("SELECT set_config('client_connection_check_interval', '2s', false)").execute(&mut conn).await;
        Ok(conn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(vars: &[(&str, &str)]) -> Result<ConnectionConfig, PgError> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        ConnectionConfig::from_env(&|name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn database_url_wins_and_the_password_is_never_shown() {
        let c = from(&[("DATABASE_URL", "postgres://u:secret@db.internal:6543/crm"), ("DB_HOST", "ignored")]).unwrap();
        assert_eq!(c.display, "db.internal:6543/crm");
        assert_eq!(c.options.get_username(), "u");
    }

    #[test]
    fn a_url_without_a_password_takes_db_password() {
        assert!(url_has_password("postgres://u:pw@h/db"));
        assert!(url_has_password("postgres://u:@h/db"));
        assert!(!url_has_password("postgres://u@h/db?sslmode=require"));
        assert!(!url_has_password("postgres://h:5432/db"));
        assert!(!url_has_password("postgres://h/db?options=a:b@c"));
        let c = from(&[("DATABASE_URL", "postgres://u@db.internal/crm"), ("DB_PASSWORD", "from-file")]).unwrap();
        assert_eq!(c.display, "db.internal:5432/crm");
    }

    #[test]
    fn separate_variables_build_the_connection() {
        let c = from(&[("DB_HOST", "10.0.0.5"), ("DB_PORT", "5433"), ("DB_NAME", "platform"), ("DB_USER", "loader")])
            .unwrap();
        assert_eq!(c.display, "10.0.0.5:5433/platform");
        assert_eq!(c.options.get_username(), "loader");
    }

    #[test]
    fn bad_values_are_named() {
        let e = from(&[("DB_PORT", "fivefour")]).err().unwrap().to_string();
        assert!(e.contains("DB_PORT \"fivefour\" is not a port number"), "{e}");
        let e = from(&[("DB_SSLMODE", "sometimes")]).err().unwrap().to_string();
        assert!(e.contains("DB_SSLMODE \"sometimes\""), "{e}");
        let e = from(&[("DATABASE_URL", "postgres://host:port/db")]).err().unwrap().to_string();
        assert!(e.contains("DATABASE_URL"), "{e}");
    }
}
