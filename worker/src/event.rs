//! S3 event notifications as SQS delivers them.

use serde::Deserialize;

/// One created object, from an event record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    pub bucket: String,
    /// Decoded: S3 form-encodes keys in events (`+` for a space).
    pub key: String,
    /// What tells this upload from another of the same key: the version id
    /// when the bucket is versioned, else the ETag with the event's
    /// sequencer (S3 gives each PUT of a key its own; a redelivered event
    /// keeps it), or its time when there is no sequencer.
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
    #[serde(rename = "eventTime", default)]
    event_time: Option<String>,
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
    #[serde(default)]
    sequencer: Option<String>,
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
        // Without versioning, the same content uploaded again (a mapping
        // re-sent with corrected data) has the same ETag: the sequencer
        // (or the event's time) makes it a new upload.
        let object = &r.s3.object;
        let put = object.sequencer.clone().or(r.event_time.clone()).filter(|p| !p.is_empty());
        let etag = object.etag.as_deref().map(|e| e.trim_matches('"').to_string());
        let version = match object.version_id.clone().filter(|v| !v.is_empty() && v != "null") {
            Some(v) => v,
            None => match (etag, put) {
                (Some(e), Some(p)) => format!("{e}@{p}"),
                (e, p) => e.or(p).unwrap_or_default(),
            },
        };
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
        // The same content put twice: two uploads; one event delivered twice: one.
        let put = |sequencer: &str| {
            format!(
                r#"{{"Records":[{{"eventName":"ObjectCreated:Put","eventTime":"2026-12-02T10:00:00.000Z",
                "s3":{{"bucket":{{"name":"b"}},"object":{{"key":"k","eTag":"abc","sequencer":"{sequencer}"}}}}}}]}}"#
            )
        };
        let (first, again, second) =
            (parse(&put("0A1")).unwrap(), parse(&put("0A1")).unwrap(), parse(&put("0B2")).unwrap());
        assert_eq!(first[0].version, "abc@0A1");
        assert_eq!(first, again);
        assert_ne!(first[0].version, second[0].version);
        let timed = r#"{"Records":[{"eventName":"ObjectCreated:Put","eventTime":"2026-12-02T10:00:00.123Z",
            "s3":{"bucket":{"name":"b"},"object":{"key":"k","eTag":"abc"}}}]}"#;
        assert_eq!(parse(timed).unwrap()[0].version, "abc@2026-12-02T10:00:00.123Z");
        assert_eq!(parse(r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#).unwrap(), vec![]);
        assert!(matches!(parse("hello"), Err(EventError::NotAnEvent(_))));
    }
}
