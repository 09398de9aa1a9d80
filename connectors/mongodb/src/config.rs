use std::path::{Path, PathBuf};

use bson::{Bson, Document};
use serde::Deserialize;

/// `[sources.NAME]` with `kind = "mongodb"`: a collection read over the
/// network (`url`), or a mongoexport file (`path`) a customer sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MongoSourceConfig {
    /// `mongodb://user:password@host:27017/database?authSource=admin`;
    /// use `${VAR}` for the password.
    #[serde(default)]
    pub url: Option<String>,
    /// The certificate (PEM) of the private CA that signed the server's
    /// certificate, relative to the mapping. Implies TLS (as `tls=true`
    /// with `tlsCAFile` in the url, whose path is relative to where
    /// `migrate` runs).
    #[serde(default)]
    pub tls_ca_file: Option<PathBuf>,
    /// The database, when the URL names none.
    #[serde(default)]
    pub database: Option<String>,
    #[serde(default)]
    pub collection: Option<String>,
    /// A query filter, as extended JSON: `'{"deleted": {"$ne": true}}'`.
    #[serde(default)]
    pub filter: Option<String>,
    /// Which fields to read, as extended JSON: `'{"audit": 0}'`.
    #[serde(default)]
    pub projection: Option<String>,
    /// An aggregation pipeline instead of a filter, as an extended JSON
    /// array of stages. Read-only: `$out` and `$merge` are refused.
    #[serde(default)]
    pub pipeline: Option<String>,
    /// A mongoexport file (JSON lines or a JSON array), instead of `url`.
    #[serde(default)]
    pub path: Option<String>,
    /// One row per element of this array (`notes`): child rows for another
    /// entity, each with its parent's fields and `notes.$index`.
    #[serde(default)]
    pub unwind: Option<String>,
    /// Read only the documents changed since the last published run (a
    /// delta), by a cursor field: a date set on every write, an ObjectId
    /// (inserts only), a growing number.
    #[serde(default)]
    pub incremental: Option<migrate_engine::IncrementalConfig>,
    /// With `incremental = { cursor = "$change_stream" }`: the most change
    /// events one run reads.
    #[serde(default = "default_change_batch")]
    pub change_batch: u64,
    /// Documents read first to learn the paths (the source's columns).
    #[serde(default = "default_sample")]
    pub sample: usize,
    /// Documents the server sends per round trip (the cursor's getMore).
    #[serde(default = "default_batch_size")]
    pub batch_size: u32,
    /// Rows per batch handed to the pipeline.
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
    /// A file's document larger than this (bytes of JSON) is rejected
    /// instead of kept whole in memory; also the cap on one value's text.
    #[serde(default = "default_max_document_bytes")]
    pub max_document_bytes: usize,
    /// The mapping's columns of this source, set by the wiring: the paths
    /// each row carries.
    #[serde(skip)]
    pub wanted: Vec<String>,
}

fn default_change_batch() -> u64 {
    100_000
}

fn default_sample() -> usize {
    1_000
}

fn default_batch_size() -> u32 {
    1_000
}

fn default_batch_rows() -> usize {
    10_000
}

/// MongoDB's document limit, written as JSON with some room.
fn default_max_document_bytes() -> usize {
    48 * 1024 * 1024
}

impl MongoSourceConfig {
    /// A file source's file, resolved against the mapping's folder.
    pub fn resolved_path(&self, base_dir: &Path) -> Option<PathBuf> {
        self.path.as_ref().map(|p| base_dir.join(p))
    }

    /// What the mapping asks for, checked before connecting.
    pub fn check(&self) -> Result<(), String> {
        if let Some(url) = &self.url {
            // The driver's reading of the url, without a DNS lookup; its
            // message passes through the password's mask.
            if let Err(e) = mongodb::options::ConnectionString::parse(url) {
                return Err(format!("url {}: {}", self.shown_url(), self.hide_password(&e.to_string())));
            }
        }
        match (&self.url, &self.path) {
            (Some(_), Some(_)) => return Err("give `url` (a server) or `path` (an export file), not both".into()),
            (None, None) => return Err("give `url` and `collection`, or the `path` of a mongoexport file".into()),
            (Some(_), None) if self.collection.is_none() => return Err("name the `collection` to read".into()),
            (None, Some(_)) => {
                for (set, name) in [
                    (self.collection.is_some(), "collection"),
                    (self.database.is_some(), "database"),
                    (self.filter.is_some(), "filter"),
                    (self.projection.is_some(), "projection"),
                    (self.pipeline.is_some(), "pipeline"),
                ] {
                    if set {
                        return Err(format!("`{name}` needs a server (`url`); an export file is read whole"));
                    }
                }
            }
            _ => {}
        }
        if let Some(inc) = &self.incremental {
            inc.check()?;
            if self.url.is_none() || self.pipeline.is_some() {
                return Err("`incremental` reads a `collection` on a server (not a file, not a `pipeline`)".into());
            }
            if inc.cursor == crate::source::CHANGE_STREAM && (inc.overlap.is_some() || self.unwind.is_some()) {
                return Err("incremental from the change stream takes no `overlap` and no `unwind`".into());
            }
            if self.change_batch == 0 {
                return Err("change_batch must be at least 1".into());
            }
        }
        if self.pipeline.is_some() && (self.filter.is_some() || self.projection.is_some()) {
            return Err(
                "give a `pipeline` or a `filter`/`projection`, not both: put $match and $project in the pipeline"
                    .into(),
            );
        }
        self.filter()?;
        self.projection()?;
        self.pipeline()?;
        if let Some(u) = &self.unwind
            && (u.is_empty() || u.split('.').any(|s| s.is_empty() || s.starts_with('$')))
        {
            return Err(format!("unwind = {u:?}: a path to an array (`notes`, `history.events`)"));
        }
        if self.sample == 0 || self.batch_size == 0 || self.batch_rows == 0 {
            return Err("sample, batch_size and batch_rows must be at least 1".into());
        }
        Ok(())
    }

    pub fn filter(&self) -> Result<Option<Document>, String> {
        self.filter.as_deref().map(|t| document("filter", t)).transpose()
    }

    pub fn projection(&self) -> Result<Option<Document>, String> {
        self.projection.as_deref().map(|t| document("projection", t)).transpose()
    }

    pub fn pipeline(&self) -> Result<Option<Vec<Document>>, String> {
        let Some(text) = &self.pipeline else { return Ok(None) };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("pipeline: not JSON: {e}"))?;
        let serde_json::Value::Array(stages) = value else {
            return Err("pipeline: an array of stages, `[{\"$match\": {…}}, …]`".into());
        };
        let mut out = Vec::with_capacity(stages.len());
        for (i, stage) in stages.into_iter().enumerate() {
            let stage = match Bson::try_from(stage) {
                Ok(Bson::Document(d)) => d,
                Ok(_) => return Err(format!("pipeline stage {}: not a document", i + 1)),
                Err(e) => return Err(format!("pipeline stage {}: not MongoDB extended JSON: {e}", i + 1)),
            };
            if let Some(op) = stage.keys().find(|k| matches!(k.as_str(), "$out" | "$merge")) {
                return Err(format!("pipeline stage {}: {op} writes to the source; a migration only reads it", i + 1));
            }
            out.push(stage);
        }
        Ok(Some(out))
    }

    /// The URL with its password hidden, for the report and messages.
    /// `text` with the url's password, if any, replaced by `***`.
    fn hide_password(&self, text: &str) -> String {
        let password = self
            .url
            .as_deref()
            .and_then(|u| u.split_once("://"))
            .and_then(|(_, rest)| rest.rsplit_once('@'))
            .and_then(|(userinfo, _)| userinfo.split_once(':'))
            .map(|(_, p)| p)
            .filter(|p| !p.is_empty());
        match password {
            Some(p) => text.replace(p, "***"),
            None => text.to_string(),
        }
    }

    pub fn shown_url(&self) -> String {
        let Some(url) = &self.url else { return String::new() };
        match (url.find("://"), url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                let user = url.get(scheme + 3..at).and_then(|u| u.split(':').next()).unwrap_or("");
                format!("{}{user}:***{}", url.get(..scheme + 3).unwrap_or(""), url.get(at..).unwrap_or(""))
            }
            _ => url.clone(),
        }
    }
}

fn document(what: &str, text: &str) -> Result<Document, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("{what}: not JSON: {e}"))?;
    match Bson::try_from(value) {
        Ok(Bson::Document(d)) => Ok(d),
        Ok(_) => Err(format!("{what}: a document, `{{…}}`")),
        Err(e) => Err(format!("{what}: not MongoDB extended JSON: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(json: serde_json::Value) -> MongoSourceConfig {
        serde_json::from_value(json).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_server_or_a_file_and_read_only_pipelines() {
        let ok = config(serde_json::json!({"url": "mongodb://h/crm", "collection": "customers",
            "filter": r#"{"since": {"$lt": {"$date": "2020-01-01T00:00:00Z"}}}"#}));
        assert_eq!(ok.check(), Ok(()));
        assert!(matches!(
            ok.filter().unwrap().unwrap().get_document("since").unwrap().get("$lt"),
            Some(Bson::DateTime(_))
        ));
        assert!(config(serde_json::json!({})).check().unwrap_err().contains("mongoexport"));
        assert!(config(serde_json::json!({"url": "mongodb://h"})).check().unwrap_err().contains("collection"));
        let both = config(serde_json::json!({"url": "mongodb://h", "path": "x.json"}));
        assert!(both.check().unwrap_err().contains("not both"));
        let file_filter = config(serde_json::json!({"path": "x.json", "filter": "{}"}));
        assert!(file_filter.check().unwrap_err().contains("needs a server"));
        let writes = config(serde_json::json!({"url": "mongodb://h", "collection": "c",
            "pipeline": r#"[{"$match": {}}, {"$merge": {"into": "x"}}]"#}));
        assert!(writes.check().unwrap_err().contains("stage 2: $merge writes"));
        let bad = config(serde_json::json!({"url": "mongodb://h", "collection": "c", "filter": "{\"a\": "}));
        assert!(bad.check().unwrap_err().starts_with("filter: not JSON"));
        let unwind = config(serde_json::json!({"path": "x.json", "unwind": "notes.$index"}));
        assert!(unwind.check().unwrap_err().contains("path to an array"));
    }

    #[test]
    fn the_password_never_shows() {
        let c = config(serde_json::json!({"url": "mongodb://app:s3cr@t@db:27017/crm", "collection": "c"}));
        assert_eq!(c.shown_url(), "mongodb://app:***@db:27017/crm");
    }

    #[test]
    fn the_driver_reads_the_url_before_connecting_and_never_shows_the_password() {
        let srv =
            config(serde_json::json!({"url": "mongodb+srv://app:pw1@cluster0.example.net/crm", "collection": "c"}));
        assert_eq!(srv.check(), Ok(()));
        let bad = config(
            serde_json::json!({"url": "mongodb+srv://app:pw1@cluster0.example.net:27017/crm", "collection": "c"}),
        );
        let e = bad.check().unwrap_err();
        assert!(e.starts_with("url mongodb+srv://app:***@cluster0.example.net:27017/crm: "), "{e}");
        assert!(!e.contains("pw1"), "{e}");
        let unknown = config(serde_json::json!({"url": "mongodb://app:pw1@h/crm?tlsCAFiel=x", "collection": "c"}));
        assert!(unknown.check().is_err());
    }
}
