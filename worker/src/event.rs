//! S3 event notifications as SQS delivers them.

use serde::Deserialize;

/// One created object, from an event record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub bucket: String,
    /// Decoded: S3 form-encodes keys in events (`+` for a space).
    pub key: String,
    /// The version id when the bucket is versioned, else the ETag.
    pub version: String,
    pub size: u64,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "Records", default)]
    records: Vec<Record>,
    #[serde(rename = "Event")]
    event: Option<String>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "eventName", default)]
    event_name: String,
    s3: S3Entity,
}

#[derive(Deserialize)]
struct S3Entity {
    bucket: Bucket,
    object: Object,
}

#[derive(Deserialize)]
struct Bucket {
    name: String,
}

#[derive(Deserialize)]
struct Object {
    key: String,
    #[serde(default)]
    size: u64,
    #[serde(rename = "eTag", default)]
    etag: Option<String>,
    #[serde(rename = "versionId", default)]
    version_id: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventError {
    #[error("the message is not an S3 event notification: {0}")]
    NotAnEvent(String),
    #[error("object key {0:?} is not valid percent-encoded UTF-8")]
    BadKey(String),
}

/// `+` is a space, then percent-decoding: how S3 writes keys in events.
pub fn decode_key(raw: &str) -> Result<String, EventError> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| EventError::BadKey(raw.to_string()))
}

/// The created objects a message announces; none for `s3:TestEvent` and
/// for events other than object creation.
pub fn parse(body: &str) -> Result<Vec<Upload>, EventError> {
    let envelope: Envelope = serde_json::from_str(body).map_err(|e| EventError::NotAnEvent(e.to_string()))?;
    if envelope.event.as_deref() == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    for r in envelope.records {
        if !r.event_name.starts_with("ObjectCreated:") {
            continue;
        }
        let version =
            r.s3.object
                .version_id
                .filter(|v| !v.is_empty() && v != "null")
                .or(r.s3.object.etag.map(|e| e.trim_matches('"').to_string()))
                .unwrap_or_default();
        out.push(Upload {
            bucket: r.s3.bucket.name,
            key: decode_key(&r.s3.object.key)?,
            version,
            size: r.s3.object.size,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_form_decoded() {
        assert_eq!(
            decode_key("tenants%2Fab%2Fjob+1%2FKunden+%C3%9Cbersicht.csv").unwrap(),
            "tenants/ab/job 1/Kunden Übersicht.csv"
        );
        assert_eq!(decode_key("a%2Bb").unwrap(), "a+b");
        assert!(decode_key("bad%FF").is_err());
    }

    #[test]
    fn created_objects_are_read_and_test_events_ignored() {
        let body = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"uploads"},
            "object":{"key":"tenants/o/j/mapping.toml","size":12,"eTag":"\"abc\""}}},
            {"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"uploads"},"object":{"key":"x"}}},
            {"eventName":"ObjectCreated:CompleteMultipartUpload","s3":{"bucket":{"name":"uploads"},
            "object":{"key":"k","size":1,"eTag":"e-2","versionId":"v7"}}}]}"#;
        let uploads = parse(body).unwrap();
        assert_eq!(uploads.len(), 2);
        assert_eq!(
            uploads[0],
            Upload {
                bucket: "uploads".into(),
                key: "tenants/o/j/mapping.toml".into(),
                version: "abc".into(),
                size: 12
            }
        );
        assert_eq!(uploads[1].version, "v7");
        assert_eq!(parse(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#).unwrap(), vec![]);
        assert!(matches!(parse("hello"), Err(EventError::NotAnEvent(_))));
    }
}
