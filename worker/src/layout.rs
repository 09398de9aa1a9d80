//! The S3 key layout. Everything of a job lives under one prefix:
//!
//! ```text
//! tenants/{org_id}/{job}/mapping.toml        the mapping (uploaded last: it starts the job)
//! tenants/{org_id}/{job}/customers.csv       the data the mapping's sources name
//! tenants/{org_id}/{job}/_results/{run_id}/  report.json, rejects/, duplicates/ (written by the worker)
//! {MAPPINGS_PREFIX}{org_id}.toml             a tenant's stored mapping (optional)
//! ```
//!
//! An upload of `mapping.toml` runs the job with that mapping. Any other
//! upload runs it only when the tenant has a stored mapping. Keys under
//! `_results/`, and keys outside `tenants/`, are never jobs.

use uuid::Uuid;

/// What an uploaded object means to the worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// `mapping.toml` in a job prefix: run with the uploaded mapping.
    UploadedMapping { org: Uuid, prefix: String },
    /// Another file in a job prefix: run with the tenant's stored mapping,
    /// if there is one.
    DataFile { org: Uuid, prefix: String },
    /// Not a job, and why.
    Ignore(String),
}

/// The file name that starts a job with the mapping uploaded beside the data.
pub const MAPPING_FILE: &str = "mapping.toml";

/// The folder inside a job prefix the worker writes results to.
pub const RESULTS_DIR: &str = "_results";

pub fn classify(key: &str) -> Trigger {
    let parts: Vec<&str> = key.split('/').collect();
    let (org, job, rest) = match parts.as_slice() {
        ["tenants", org, job, rest @ ..] if !rest.is_empty() => (*org, *job, rest),
        _ => return Trigger::Ignore("not under tenants/{org_id}/{job}/".into()),
    };
    let Ok(org_id) = Uuid::parse_str(org) else {
        return Trigger::Ignore(format!("{org:?} is not an org id (a UUID)"));
    };
    // The job's own segment too: `tenants/ORG/../mapping.toml` is no job.
    if std::iter::once(&job).chain(rest).any(|p| p.is_empty() || *p == "." || *p == "..") {
        return Trigger::Ignore("empty or relative path segment".into());
    }
    if rest.first() == Some(&RESULTS_DIR) {
        return Trigger::Ignore("the worker's own results".into());
    }
    let prefix = format!("tenants/{org}/{job}/");
    if rest == [MAPPING_FILE] {
        Trigger::UploadedMapping { org: org_id, prefix }
    } else {
        Trigger::DataFile { org: org_id, prefix }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_classified() {
        let org = "0b6a1c1e-8a55-4f7b-9a51-3a0f6f1d2c10";
        let id = Uuid::parse_str(org).unwrap();
        let prefix = format!("tenants/{org}/job-1/");
        assert_eq!(
            classify(&format!("{prefix}mapping.toml")),
            Trigger::UploadedMapping { org: id, prefix: prefix.clone() }
        );
        assert_eq!(
            classify(&format!("{prefix}in/customers.csv")),
            Trigger::DataFile { org: id, prefix: prefix.clone() }
        );
        for ignored in [
            format!("{prefix}_results/r/report.json"),
            format!("tenants/{org}/mapping.toml"),
            "tenants/acme/job/mapping.toml".to_string(),
            format!("{prefix}../x"),
            format!("tenants/{org}/../mapping.toml"),
            format!("tenants/{org}/./mapping.toml"),
            format!("tenants/{org}//mapping.toml"),
            "uploads/x.csv".to_string(),
        ] {
            assert!(matches!(classify(&ignored), Trigger::Ignore(_)), "{ignored}");
        }
    }
}
