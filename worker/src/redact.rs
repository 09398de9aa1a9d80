//! Secrets never reach a log line, a job row, a notification or a report:
//! every message the worker writes passes through `Redactor::clean`.

/// The secret values of this process's environment.
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

/// Environment variables whose values are secret.
const SECRET_VARS: &[&str] =
    &["DB_PASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "PGPASSWORD", "WEBHOOK_SECRET"];

impl Redactor {
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Self {
        let mut secrets: Vec<String> = SECRET_VARS.iter().filter_map(|v| env(v)).collect();
        if let Some(url) = env("DATABASE_URL") {
            // postgres://user:PASSWORD@host/db
            if let Some(password) = url
                .split_once("://")
                .and_then(|(_, rest)| rest.split_once('@'))
                .and_then(|(userinfo, _)| userinfo.split_once(':'))
                .map(|(_, p)| p.to_string())
            {
                secrets.push(password);
            }
            secrets.push(url);
        }
        // Short values would blank out ordinary words.
        secrets.retain(|s| s.len() >= 4);
        // Longest first, so a URL goes before the password inside it.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self { secrets }
    }

    pub fn clean(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            out = out.replace(s.as_str(), "[redacted]");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_replaced_wherever_they_appear() {
        let env = |name: &str| match name {
            "DB_PASSWORD" => Some("hunter22".to_string()),
            "DATABASE_URL" => Some("postgres://app:s3cr3t-pw@db:5432/platform".to_string()),
            "AWS_SECRET_ACCESS_KEY" => Some("wJalrXUtnFEMI".to_string()),
            _ => None,
        };
        let r = Redactor::from_env(&env);
        assert_eq!(
            r.clean("connect postgres://app:s3cr3t-pw@db:5432/platform failed; pw s3cr3t-pw, hunter22, wJalrXUtnFEMI"),
            "connect [redacted] failed; pw [redacted], [redacted], [redacted]"
        );
        assert_eq!(r.clean("nothing secret"), "nothing secret");
    }
}
