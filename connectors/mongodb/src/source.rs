//! The MongoDB `Source`: a sample of documents names the columns (paths),
//! then one reader task streams the collection through a cursor (the
//! server sends `batch_size` documents per getMore) or an export file
//! through the scanner, turning each document into rows.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bson::{Document, RawDocument, Utf8Lossy, doc};
use migrate_engine::parts::{PartMsg, PartWriter, Parts};
use migrate_engine::{Batch, RejectReason, Source, SourceError, SourceInfo, SourceLocation};
use mongodb::options::{ClientOptions, Tls, TlsOptions};
use mongodb::{Client, Collection, Cursor};
use tokio::sync::mpsc;

use crate::config::MongoSourceConfig;
use crate::file::{Item, Scanner, parse};
use crate::rows::RowShape;
use crate::shape::Shape;

/// How long finding a server may take when the URL does not say.
const SERVER_SELECTION: Duration = Duration::from_secs(15);

pub struct MongoSource {
    config: MongoSourceConfig,
    /// A file source's file, resolved against the mapping's folder.
    file: Option<PathBuf>,
    shape: Shape,
    /// The sample has been read (by `learn`): `prepare` does not read it again.
    learned: bool,
    columns: Vec<String>,
    parts: Parts,
    progress: Arc<Progress>,
    /// How the connection is protected, once the url is read.
    transport: Option<String>,
    /// An incremental read: the mark it starts from, then its window and
    /// the condition on the cursor that selects it.
    start: Option<migrate_engine::Mark>,
    window: Option<migrate_engine::Window>,
    window_filter: Option<Document>,
}

/// How a connection with these options is protected, for the report.
/// `ours`: the CA came from `tls_ca_file`, not the url.
fn transport(options: &ClientOptions, ours: bool) -> String {
    match &options.tls {
        None | Some(Tls::Disabled) => "plaintext (no TLS)".to_string(),
        Some(Tls::Enabled(t)) if t.allow_invalid_certificates == Some(true) => {
            "TLS; the server's certificate NOT verified (tlsAllowInvalidCertificates)".to_string()
        }
        Some(Tls::Enabled(t)) => {
            let roots = match (&t.ca_file_path, ours) {
                (Some(_), true) => "tls_ca_file",
                (Some(_), false) => "tlsCAFile",
                (None, _) => "the system's CAs",
            };
            format!("TLS; certificate and host name verified ({roots})")
        }
    }
}

#[derive(Default)]
struct Progress {
    bytes: AtomicU64,
    total: AtomicU64,
    digest: Mutex<Option<(u64, String)>>,
}

/// One document read, or why one could not be.
enum Next {
    Doc(Document, Origin, bool),
    Bad(Origin, RejectReason, String),
    End,
}

/// Where a document came from.
#[derive(Clone)]
enum Origin {
    Server,
    Line(u64),
}

/// Documents from a cursor or a file.
enum Docs {
    Cursor(Box<Cursor<Document>>, Option<Box<Resume>>),
    File(Box<Scanner<std::fs::File>>),
    /// A change stream's documents as a delta read them: the last state of
    /// each, a deleted one as its `_id` and `_migrate_deleted: 1`.
    Changes(std::vec::IntoIter<Document>),
}

/// The cursor that asks for the collection's change stream.
pub const CHANGE_STREAM: &str = "$change_stream";
/// The field a change stream's deleted documents carry.
pub const DELETED: &str = "_migrate_deleted";

/// How a `_id`-ordered find picks up after its connection is lost (a
/// server restart, a failover, a dropped socket): the same query for the
/// documents after the last `_id` read, so none is read twice or skipped.
struct Resume {
    collection: Collection<Document>,
    filter: Document,
    projection: Option<Document>,
    batch_size: u32,
    last_id: Option<bson::Bson>,
    attempts: u32,
}

/// Times one read may pick up again before the error ends the run.
const RESUMES: u32 = 5;

impl Resume {
    /// Whether `e` is a lost connection (or a cursor the server no longer
    /// has) rather than a refusal that would only repeat.
    fn recoverable(e: &mongodb::error::Error) -> bool {
        use mongodb::error::ErrorKind;
        match &*e.kind {
            ErrorKind::Io(_) | ErrorKind::ConnectionPoolCleared { .. } | ErrorKind::ServerSelection { .. } => true,
            // CursorNotFound: the server restarted under the cursor.
            ErrorKind::Command(c) => c.code == 43,
            _ => false,
        }
    }

    async fn reopen(&mut self) -> Result<Cursor<Document>, mongodb::error::Error> {
        let filter = match &self.last_id {
            Some(id) => doc! { "$and": [self.filter.clone(), { "_id": { "$gt": id.clone() } }] },
            None => self.filter.clone(),
        };
        let mut find = self.collection.find(filter).batch_size(self.batch_size).sort(doc! { "_id": 1 });
        if let Some(p) = &self.projection {
            find = find.projection(p.clone());
        }
        find.await
    }
}

impl Docs {
    async fn next(&mut self, label: &str) -> Result<Next, SourceError> {
        match self {
            Docs::Cursor(cursor, resume) => {
                let more = loop {
                    match cursor.advance().await {
                        Ok(more) => break more,
                        Err(e) => {
                            let Some(r) = resume.as_mut().filter(|r| r.attempts < RESUMES && Resume::recoverable(&e))
                            else {
                                return Err(SourceError::new(format!("reading ({label}): {e}")));
                            };
                            r.attempts += 1;
                            tokio::time::sleep(std::time::Duration::from_millis(500 * u64::from(r.attempts))).await;
                            match r.reopen().await {
                                Ok(c) => **cursor = c,
                                Err(e) if r.attempts < RESUMES && Resume::recoverable(&e) => {}
                                Err(e) => return Err(SourceError::new(format!("reading again ({label}): {e}"))),
                            }
                        }
                    }
                };
                if !more {
                    return Ok(Next::End);
                }
                let (doc, lossy) = decode(cursor.current())
                    .map_err(|e| SourceError::new(format!("reading ({label}): a document does not decode: {e}")))?;
                // Without an `_id` (projected away) there is nothing to
                // pick up after: a lost connection then ends the read.
                match doc.get("_id") {
                    Some(id) => {
                        if let Some(r) = resume.as_mut() {
                            r.last_id = Some(id.clone());
                        }
                    }
                    None => *resume = None,
                }
                Ok(Next::Doc(doc, Origin::Server, lossy))
            }
            Docs::Changes(docs) => Ok(match docs.next() {
                Some(doc) => Next::Doc(doc, Origin::Server, false),
                None => Next::End,
            }),
            Docs::File(scanner) => {
                let item =
                    scanner.next_item().map_err(|e| SourceError::new(format!("{label}:{}: {}", e.line, e.message)))?;
                Ok(match item {
                    None => Next::End,
                    Some(Item::TooLarge { line, size }) => Next::Bad(
                        Origin::Line(line),
                        RejectReason::FieldTooLarge,
                        format!("the document is {size} bytes, more than max_document_bytes"),
                    ),
                    Some(Item::Doc { line, bytes }) => match parse(&bytes) {
                        Ok(doc) => Next::Doc(doc, Origin::Line(line), false),
                        Err(message) => Next::Bad(Origin::Line(line), RejectReason::MalformedRow, message),
                    },
                })
            }
        }
    }
}

/// A document off the wire; strings that are not UTF-8 are read with
/// U+FFFD in place of the bad bytes (and the row says so).
fn decode(raw: &RawDocument) -> Result<(Document, bool), bson::error::Error> {
    match Document::try_from(raw) {
        Ok(doc) => Ok((doc, false)),
        Err(_) => {
            let Utf8Lossy(doc) = Utf8Lossy::<Document>::try_from(raw)?;
            Ok((doc, true))
        }
    }
}

impl MongoSource {
    pub fn new(mut config: MongoSourceConfig, file: Option<PathBuf>) -> Self {
        // A change stream's deletes come as documents flagged deleted.
        if let Some(inc) = config.incremental.as_mut().filter(|i| i.cursor == CHANGE_STREAM) {
            inc.deletes = migrate_engine::incremental::Deletes::SoftDelete;
            inc.deleted_flag = Some(DELETED.to_string());
        }
        Self {
            config,
            file,
            shape: Shape::default(),
            learned: false,
            columns: Vec::new(),
            parts: Parts::default(),
            progress: Arc::default(),
            transport: None,
            start: None,
            window: None,
            window_filter: None,
        }
    }

    /// A delta from the change stream: every change since `start` (a
    /// resume token), up to `change_batch` events, folded into the last
    /// state of each document.
    async fn read_changes(
        &mut self,
        collection: &Collection<Document>,
        start: &migrate_engine::Mark,
        tls: bool,
    ) -> Result<Docs, SourceError> {
        use mongodb::change_stream::event::{OperationType, ResumeToken};
        use mongodb::options::FullDocumentType;
        let value: serde_json::Value = serde_json::from_str(&start.value)
            .map_err(|e| self.error("reading the stored mark", format!("{:?}: {e}", start.value)))?;
        let token: ResumeToken = bson::Bson::try_from(value)
            .map_err(|e| e.to_string())
            .and_then(|b| bson::deserialize_from_bson(b).map_err(|e| e.to_string()))
            .map_err(|e| self.error("reading the stored mark", format!("{:?}: {e}", start.value)))?;
        let mut stream = collection
            .watch()
            .full_document(FullDocumentType::UpdateLookup)
            .resume_after(token)
            .await
            .map_err(|e| self.server_error(e, tls))?;
        let mut docs: Vec<Document> = Vec::new();
        let mut index: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut events = 0u64;
        let mut caught_up = true;
        while let Some(event) = stream.next_if_any().await.map_err(|e| self.server_error(e, tls))? {
            events += 1;
            let id = event.document_key.as_ref().and_then(|k| k.get("_id")).cloned();
            let doc = match (event.operation_type, event.full_document, id) {
                (OperationType::Delete, _, Some(id)) => Some(doc! { "_id": id, DELETED: 1 }),
                // The document as it is now; gone since, its delete follows.
                (OperationType::Insert | OperationType::Update | OperationType::Replace, Some(d), _) => Some(d),
                _ => None,
            };
            if let Some(doc) = doc {
                let key = doc.get("_id").map(extended_json).unwrap_or_default();
                match index.get(&key) {
                    Some(&i) => docs[i] = doc,
                    None => {
                        index.insert(key, docs.len());
                        docs.push(doc);
                    }
                }
            }
            if events >= self.config.change_batch {
                caught_up = false;
                break;
            }
        }
        let token = stream.resume_token().ok_or_else(|| self.error("reading the change stream", "no resume token"))?;
        let token = bson::serialize_to_bson(&token).map_err(|e| self.error("keeping the resume token", e))?;
        let mut window = migrate_engine::Window::new(CHANGE_STREAM, Some(start), Some(extended_json(&token)));
        window.read_from = Some(start.value.clone());
        window.caught_up = Some(caught_up);
        tracing::info!("{}: {events} change events, {} documents changed", self.shown(), docs.len());
        self.window = Some(window);
        Ok(Docs::Changes(docs.into_iter()))
    }

    /// The cursor's greatest value now (the next mark) and the condition
    /// that reads from the previous mark less the overlap to it.
    async fn plan_window(
        &mut self,
        collection: &Collection<Document>,
        inc: &migrate_engine::IncrementalConfig,
    ) -> Result<(), SourceError> {
        let field = inc.cursor.as_str();
        let top = collection
            .find_one(doc! { field: { "$exists": true, "$ne": null } })
            .sort(doc! { field: -1 })
            .projection(doc! { field: 1 })
            .await
            .map_err(|e| self.error(&format!("reading the greatest value of the cursor {field}"), e))?;
        let mark = top.as_ref().and_then(|d| crate::path::value_at(d, field)).cloned();
        let mut window =
            migrate_engine::Window::new(&inc.cursor, self.start.as_ref(), mark.as_ref().map(extended_json));
        if let Some(previous) = &self.start {
            let value: serde_json::Value = serde_json::from_str(&previous.value)
                .map_err(|e| self.error("reading the stored mark", format!("{:?}: {e}", previous.value)))?;
            let previous_value = bson::Bson::try_from(value)
                .map_err(|e| self.error("reading the stored mark", format!("{:?}: {e}", previous.value)))?;
            let lower = less_overlap(&previous_value, inc.overlap.as_ref())
                .map_err(|e| self.error(&format!("incremental.overlap of the cursor {field}"), e))?;
            window.read_from = Some(extended_json(&lower));
            let upper = mark.clone().unwrap_or(previous_value);
            self.window_filter = Some(doc! { field: { "$gte": lower, "$lte": upper } });
        }
        self.window = Some(window);
        Ok(())
    }

    /// A failed server operation; when it looks like TLS, what to change.
    fn server_error(&self, e: mongodb::error::Error, tls: bool) -> SourceError {
        let text = e.to_string();
        if let Some(problem) = migrate_engine::tls::CertProblem::of(&text) {
            let why = problem.explain("tls_ca_file (or tlsCAFile in the url)", "the host in the url");
            return self.error("connecting", format!("{why}: {text}"));
        }
        if text.contains("only supported on replica sets") {
            return self.error(
                "opening the change stream",
                format!("{text}: change streams need a replica set (one node will do); or use a cursor field"),
            );
        }
        if !tls && text.contains("Server selection timeout") {
            return self.error(
                "connecting",
                format!(
                    "{text}: no server answered; one that accepts only TLS connections looks like this: add tls=true to the url (and tls_ca_file for a private CA)"
                ),
            );
        }
        self.error("reading", text)
    }

    /// `url db.collection`, or the file.
    fn shown(&self) -> String {
        match &self.file {
            Some(path) => path.display().to_string(),
            None => {
                let db = self.config.database.as_deref().unwrap_or("");
                let c = self.config.collection.as_deref().unwrap_or("");
                format!("{} {db}{}{c}", self.config.shown_url(), if db.is_empty() { "" } else { "." })
            }
        }
    }

    /// The table part of a location: `db.collection`, or the file name.
    fn label(&self) -> String {
        match &self.file {
            Some(path) => path.display().to_string(),
            None => format!(
                "{}.{}",
                self.config.database.as_deref().unwrap_or(""),
                self.config.collection.as_deref().unwrap_or("")
            ),
        }
    }

    fn error(&self, doing: &str, e: impl std::fmt::Display) -> SourceError {
        SourceError::new(format!("{doing} ({}): {e}", self.shown()))
    }

    /// Opens the documents: all of them, or the first `limit`.
    async fn open_docs(&mut self, limit: Option<usize>) -> Result<Docs, SourceError> {
        if let Some(path) = &self.file {
            let file = std::fs::File::open(path).map_err(|e| self.error("opening", e))?;
            let total = file.metadata().map(|m| m.len()).unwrap_or(0);
            self.progress.total.store(total, Ordering::Relaxed);
            return Ok(Docs::File(Box::new(Scanner::new(file, self.config.max_document_bytes))));
        }
        let url = self.config.url.clone().unwrap_or_default();
        let mut options = ClientOptions::parse(&url).await.map_err(|e| self.error("reading the url", e))?;
        if options.server_selection_timeout.is_none() {
            options.server_selection_timeout = Some(SERVER_SELECTION);
        }
        options.app_name.get_or_insert_with(|| "migrate".to_string());
        if let Some(ca) = &self.config.tls_ca_file {
            if !ca.is_file() {
                return Err(self.error("reading tls_ca_file", format!("{}: not a file", ca.display())));
            }
            let mut tls = match options.tls.take() {
                Some(Tls::Enabled(t)) => t,
                _ => TlsOptions::default(),
            };
            tls.ca_file_path = Some(ca.clone());
            options.tls = Some(Tls::Enabled(tls));
        }
        let tls = matches!(options.tls, Some(Tls::Enabled(_)));
        self.transport = Some(transport(&options, self.config.tls_ca_file.is_some()));
        let database = match (&self.config.database, &options.default_database) {
            (Some(d), _) | (None, Some(d)) => d.clone(),
            (None, None) => return Err(self.error("choosing the database", "the url names none: set `database`")),
        };
        self.config.database = Some(database.clone());
        let client = Client::with_options(options).map_err(|e| self.error("connecting", e))?;
        let name = self.config.collection.clone().unwrap_or_default();
        let collection = client.database(&database).collection::<Document>(&name);
        let batch = self.config.batch_size;
        let mut resume = None;
        let cursor = match self.config.pipeline().map_err(SourceError::new)? {
            Some(mut stages) => {
                if let Some(n) = limit {
                    stages.push(doc! { "$limit": n as i64 });
                }
                collection.aggregate(stages).batch_size(batch).await
            }
            None => {
                let mut filter = self.config.filter().map_err(SourceError::new)?.unwrap_or_default();
                // The whole read of a delta: only its window (the sample
                // that names the columns reads the whole collection).
                if let (None, Some(inc)) = (limit, self.config.incremental.clone()) {
                    if inc.cursor == CHANGE_STREAM {
                        match self.start.clone() {
                            Some(start) => return self.read_changes(&collection, &start, tls).await,
                            None => {
                                // The full load: the stream's position from
                                // before the read is the mark.
                                let stream = collection.watch().await.map_err(|e| self.server_error(e, tls))?;
                                let token = stream.resume_token().ok_or_else(|| {
                                    self.error("opening the change stream", "the server gave no resume token")
                                })?;
                                let token = bson::serialize_to_bson(&token)
                                    .map_err(|e| self.error("keeping the resume token", e))?;
                                let mut window =
                                    migrate_engine::Window::new(&inc.cursor, None, Some(extended_json(&token)));
                                window.caught_up = Some(true);
                                self.window = Some(window);
                            }
                        }
                    } else if self.window.is_none() {
                        self.plan_window(&collection, &inc).await?;
                    }
                    if let Some(w) = &self.window_filter {
                        filter = doc! { "$and": [filter, w.clone()] };
                    }
                }
                let projection = self.config.projection().map_err(SourceError::new)?;
                let mut find = collection.find(filter.clone()).batch_size(batch).sort(doc! { "_id": 1 });
                if let Some(p) = &projection {
                    find = find.projection(p.clone());
                }
                if let Some(n) = limit {
                    find = find.limit(n as i64);
                }
                // A whole read in `_id` order can pick up where it stopped.
                if limit.is_none() {
                    resume = Some(Box::new(Resume {
                        collection: collection.clone(),
                        filter,
                        projection,
                        batch_size: batch,
                        last_id: None,
                        attempts: 0,
                    }));
                }
                find.await
            }
        };
        let cursor = cursor.map_err(|e| self.server_error(e, tls))?;
        Ok(Docs::Cursor(Box::new(cursor), resume))
    }

    /// The shape of the first `sample` documents.
    async fn learn_shape(&mut self) -> Result<(), SourceError> {
        let mut docs = self.open_docs(Some(self.config.sample)).await?;
        let label = self.label();
        let mut shape = Shape::default();
        let mut seen = 0;
        while seen < self.config.sample {
            match docs.next(&label).await? {
                Next::Doc(doc, _, _) => shape.observe(&doc),
                Next::Bad(origin, _, message) => {
                    shape.unreadable += 1;
                    if shape.first_unreadable.is_none() {
                        let at = match origin {
                            Origin::Line(line) => format!("{label}:{line}"),
                            Origin::Server => label.clone(),
                        };
                        shape.first_unreadable = Some(format!("{at}: {message}"));
                    }
                }
                Next::End => break,
            }
            seen += 1;
        }
        self.shape = shape;
        self.learned = true;
        Ok(())
    }

    /// The documents' paths with their types, from the sample.
    pub fn shape(&self) -> &Shape {
        &self.shape
    }

    /// Reads the sample and nothing else: the shape, for `migrate inspect`.
    /// A `prepare` after it starts reading without sampling again.
    pub async fn learn(&mut self) -> Result<&Shape, SourceError> {
        self.config.check().map_err(SourceError::new)?;
        self.learn_shape().await?;
        Ok(&self.shape)
    }

    /// The paths each row carries, chosen after `learn` (as the wiring
    /// sets them from a mapping before).
    pub fn want(&mut self, columns: Vec<String>) {
        self.config.wanted = columns;
    }

    /// The columns the rows carry: the mapping's paths that the sample
    /// holds (and `_id`), or every path outside arrays for a preview.
    fn choose_columns(&self) -> Vec<String> {
        let unwind = self.config.unwind.as_deref();
        if self.config.wanted.is_empty() {
            return self.shape.default_columns(unwind);
        }
        let mut out: Vec<String> = Vec::new();
        if self.shape.paths.contains_key("_id") {
            out.push("_id".into());
        }
        for c in &self.config.wanted {
            if self.shape.covers(c, unwind) && !out.contains(c) {
                out.push(c.clone());
            }
        }
        if self.config.incremental.as_ref().is_some_and(|i| i.cursor == CHANGE_STREAM) {
            out.push(DELETED.to_string());
        }
        out
    }
}

/// What the reader task needs.
struct ReadJob {
    docs: Docs,
    label: Arc<str>,
    columns: Vec<String>,
    rows: RowShape,
    unwind: Option<String>,
    batch_rows: usize,
    max_value_bytes: usize,
    progress: Arc<Progress>,
}

async fn read(mut job: ReadJob, tx: &mpsc::Sender<PartMsg>) -> Result<(), SourceError> {
    let id_column = job.columns.iter().position(|c| c == "_id");
    let Some(mut writer) =
        PartWriter::start(tx, job.label.clone(), job.columns.clone(), &[], job.batch_rows, job.max_value_bytes).await
    else {
        return Ok(());
    };
    let mut number: u64 = 0;
    loop {
        let next = job.docs.next(&job.label).await?;
        if let Docs::File(scanner) = &job.docs {
            job.progress.bytes.store(scanner.bytes_read(), Ordering::Relaxed);
        }
        number += 1;
        let (doc, origin, lossy) = match next {
            Next::End => break,
            Next::Bad(origin, reason, message) => {
                let location = locate(&job.label, &origin, number, None, None, job.unwind.as_deref());
                if !writer.push_malformed(location, reason, message).await {
                    return Ok(());
                }
                continue;
            }
            Next::Doc(doc, origin, lossy) => (doc, origin, lossy),
        };
        for row in job.rows.rows(&doc) {
            let id = id_column.and_then(|i| row.values.get(i).cloned().flatten());
            let location = locate(&job.label, &origin, number, id.as_deref(), row.index, job.unwind.as_deref());
            for (column, code, example) in &row.notes {
                writer.note(*column, code, example);
            }
            if lossy {
                writer.note(0, "invalid_bytes_replaced", "a string that is not UTF-8");
            }
            let mut values = row.values;
            for (i, v) in values.iter_mut().enumerate() {
                if v.as_ref().is_some_and(|t| writer.oversized(i, t.len())) {
                    *v = None;
                }
            }
            if !writer.push_at(values, location).await {
                return Ok(());
            }
        }
    }
    if let Docs::File(scanner) = &job.docs {
        *job.progress.digest.lock().unwrap_or_else(|p| p.into_inner()) = Some(scanner.digest());
    }
    writer.finish().await;
    Ok(())
}

/// `crm.customers[_id=65a…]`, `export.json:12`, and under `unwind` the
/// element too (`… notes[3]`).
fn locate(
    label: &Arc<str>,
    origin: &Origin,
    number: u64,
    id: Option<&str>,
    index: Option<usize>,
    unwind: Option<&str>,
) -> SourceLocation {
    let element = match (unwind, index) {
        (Some(u), Some(i)) => format!(" {u}[{i}]"),
        _ => String::new(),
    };
    match (origin, element.is_empty()) {
        (Origin::Line(line), true) => SourceLocation::Line { file: label.clone(), line: *line },
        (Origin::Line(line), false) => SourceLocation::Described(format!("{label}:{line}{element}").into()),
        (Origin::Server, _) => {
            let key = match id {
                Some(id) => format!("_id={id}{element}"),
                None => format!("document {number}{element}"),
            };
            SourceLocation::Key { table: label.clone(), key }
        }
    }
}

#[async_trait]
impl Source for MongoSource {
    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn sample_problem(&self) -> Option<String> {
        let first = self.shape.first_unreadable.as_ref()?;
        Some(format!(
            "{} of the {} sampled documents could not be read (the first: {first}); a field only they hold is not seen",
            self.shape.unreadable,
            self.shape.documents + self.shape.unreadable
        ))
    }

    fn offered_columns(&self) -> Vec<String> {
        let mut out: Vec<String> = self.shape.paths.keys().cloned().collect();
        if let Some(u) = &self.config.unwind {
            out.push(format!("{u}.$index"));
        }
        out
    }

    async fn prepare(&mut self) -> Result<(), SourceError> {
        self.config.check().map_err(SourceError::new)?;
        if !self.learned {
            self.learn_shape().await?;
        }
        self.columns = self.choose_columns();
        let docs = self.open_docs(None).await?;
        let job = ReadJob {
            docs,
            label: self.label().into(),
            columns: self.columns.clone(),
            rows: RowShape::new(&self.columns, self.config.unwind.as_deref()),
            unwind: self.config.unwind.clone(),
            batch_rows: self.config.batch_rows,
            max_value_bytes: self.config.max_document_bytes,
            progress: self.progress.clone(),
        };
        let tx = self.parts.add(String::new());
        tokio::spawn(async move {
            if let Err(e) = read(job, &tx).await {
                let _ = tx.send(PartMsg::Error(e)).await;
            }
        });
        let shown = self.shown();
        self.parts.columns(&shown).await?;
        Ok(())
    }

    async fn next_batch(&mut self) -> Result<Option<Batch>, SourceError> {
        let shown = self.shown();
        self.parts.next_batch(&self.columns, &shown).await
    }

    fn info(&self) -> SourceInfo {
        let digest = self.progress.digest.lock().map(|d| d.clone()).unwrap_or(None);
        SourceInfo {
            kind: "mongodb".into(),
            location: self.shown(),
            row_count: Some(self.parts.rows()),
            size: digest.as_ref().map(|d| d.0),
            sha256: digest.map(|d| d.1),
            transport: self.transport.clone(),
            window: self.window.clone(),
            ..SourceInfo::default()
        }
    }

    fn incremental(&self) -> Option<&migrate_engine::IncrementalConfig> {
        self.config.incremental.as_ref()
    }

    fn start_from(&mut self, mark: Option<&migrate_engine::Mark>) {
        self.start = mark.cloned();
    }

    fn window(&self) -> Option<migrate_engine::Window> {
        self.window.clone()
    }

    fn key_scan(&self, columns: &[String]) -> Option<Box<dyn Source>> {
        let mut projection = Document::new();
        for c in columns {
            projection.insert(c.as_str(), 1);
        }
        let config = MongoSourceConfig {
            incremental: None,
            projection: Some(bson::Bson::Document(projection).into_relaxed_extjson().to_string()),
            wanted: columns.to_vec(),
            ..self.config.clone()
        };
        Some(Box::new(MongoSource::new(config, None)))
    }

    fn position(&self) -> Option<(u64, u64)> {
        let total = self.progress.total.load(Ordering::Relaxed);
        (total > 0).then(|| (self.progress.bytes.load(Ordering::Relaxed), total))
    }
}

/// A value as relaxed extended JSON (`{"$date":"2026-11-01T10:00:00Z"}`,
/// `{"$oid":"…"}`, `42`): how a mark is stored and shown.
fn extended_json(value: &bson::Bson) -> String {
    value.clone().into_relaxed_extjson().to_string()
}

/// `value` less the overlap: seconds off a date or an ObjectId's time,
/// units off a number.
fn less_overlap(
    value: &bson::Bson,
    overlap: Option<&migrate_engine::incremental::Overlap>,
) -> Result<bson::Bson, String> {
    use bson::Bson;
    use migrate_engine::incremental::Overlap;
    let Some(overlap) = overlap else { return Ok(value.clone()) };
    let seconds = overlap.seconds()?;
    Ok(match (value, overlap, seconds) {
        (Bson::DateTime(d), _, Some(s)) => Bson::DateTime(bson::DateTime::from_millis(
            d.timestamp_millis().saturating_sub((s as i64).saturating_mul(1000)),
        )),
        (Bson::ObjectId(id), _, Some(s)) => {
            // The smallest id of that second: four bytes of time, then zeros.
            let at = id.timestamp().timestamp_millis() / 1000 - s as i64;
            let mut bytes = [0u8; 12];
            bytes[..4].copy_from_slice(&u32::try_from(at.max(0)).unwrap_or(0).to_be_bytes());
            Bson::ObjectId(bson::oid::ObjectId::from_bytes(bytes))
        }
        (Bson::Int32(n), Overlap::Units(u), _) => Bson::Int64(i64::from(*n) - *u as i64),
        (Bson::Int64(n), Overlap::Units(u), _) => Bson::Int64(n - *u as i64),
        (Bson::Double(n), Overlap::Units(u), _) => Bson::Double(n - *u as f64),
        (other, _, _) => {
            return Err(format!(
                "a {} cursor takes no such overlap: a duration (\"10m\") for a date or an ObjectId, a number for a number",
                crate::value::type_name(other)
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bson::Bson;
    use migrate_engine::incremental::Overlap;

    #[test]
    fn the_overlap_comes_off_a_date_an_object_id_or_a_number() {
        let ten_minutes = Overlap::Duration("10m".into());
        let at = bson::DateTime::parse_rfc3339_str("2026-11-01T10:00:00Z").unwrap();
        let lower = less_overlap(&Bson::DateTime(at), Some(&ten_minutes)).unwrap();
        assert_eq!(extended_json(&lower), r#"{"$date":"2026-11-01T09:50:00Z"}"#);
        let id = bson::oid::ObjectId::parse_str("6903f0a0aaaaaaaaaaaaaaaa").unwrap();
        let Bson::ObjectId(lower) = less_overlap(&Bson::ObjectId(id), Some(&ten_minutes)).unwrap() else {
            panic!("an ObjectId")
        };
        assert_eq!(lower.timestamp().timestamp_millis() / 1000, i64::from(0x6903_f0a0_u32) - 600);
        assert_eq!(&lower.bytes()[4..], &[0u8; 8]);
        assert_eq!(less_overlap(&Bson::Int64(1000), Some(&Overlap::Units(50))).unwrap(), Bson::Int64(950));
        assert_eq!(less_overlap(&Bson::Int32(7), None).unwrap(), Bson::Int32(7));
        assert!(less_overlap(&Bson::String("x".into()), Some(&ten_minutes)).unwrap_err().contains("takes no such"));
        assert!(less_overlap(&Bson::Int64(1), Some(&ten_minutes)).is_err());
    }
}
