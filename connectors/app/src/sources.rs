use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use migrate_csv::{CsvSource, CsvSourceConfig, FileIndex, Pinned};
use migrate_engine::{Source, SourceError};
use migrate_excel::ExcelSourceConfig;
use migrate_mappings::{Diagnostic, Diagnostics, Mapping};
use migrate_mongodb::MongoSourceConfig;
use migrate_mssql::MssqlSourceConfig;
use migrate_mysql::MysqlSourceConfig;
use migrate_sqldump::SqlDumpSourceConfig;
use migrate_xml::XmlSourceConfig;

use crate::load::at_block;

/// A source block's options, by kind. One variant per connector crate.
#[derive(Debug, Clone)]
enum SourceConfig {
    Csv(CsvSourceConfig),
    Excel(ExcelSourceConfig),
    Xml(XmlSourceConfig),
    SqlDump(SqlDumpSourceConfig),
    Mysql(MysqlSourceConfig),
    Mssql(MssqlSourceConfig),
    Mongo(MongoSourceConfig),
}

/// Every source of a mapping, configured and checked, ready to open.
pub struct SourceSet {
    base_dir: PathBuf,
    configs: Vec<(String, SourceConfig)>,
    /// (local folder with its `/`, what to show instead): see
    /// [`SourceSet::show_paths_as`].
    relocate: Option<(String, String)>,
}

impl SourceSet {
    /// Deserializes every source block; all errors at once, pointing into
    /// the mapping. Touches no file.
    pub fn configure(mapping: &Mapping) -> Result<Self, Diagnostics> {
        let base_dir = Path::new(&mapping.path).parent().map(Path::to_path_buf).unwrap_or_default();
        let mut configs = Vec::new();
        let mut errors = Vec::new();
        for block in &mapping.sources {
            let config = match block.kind.as_str() {
                "csv" => mapping.source_config::<CsvSourceConfig>(&block.name).map(SourceConfig::Csv),
                "excel" => mapping.source_config::<ExcelSourceConfig>(&block.name).map(SourceConfig::Excel),
                "xml" => mapping.source_config::<XmlSourceConfig>(&block.name).map(SourceConfig::Xml),
                "sql_dump" => mapping.source_config::<SqlDumpSourceConfig>(&block.name).map(SourceConfig::SqlDump),
                "mysql" => mapping.source_config::<MysqlSourceConfig>(&block.name).and_then(|c| match c.check() {
                    Ok(()) => Ok(SourceConfig::Mysql(c)),
                    Err(e) => Err(mapping.diagnostics(vec![at_block(mapping, &block.name, e)])),
                }),
                "mssql" => mapping.source_config::<MssqlSourceConfig>(&block.name).and_then(|c| match c.check() {
                    Ok(()) => Ok(SourceConfig::Mssql(c)),
                    Err(e) => Err(mapping.diagnostics(vec![at_block(mapping, &block.name, e)])),
                }),
                "mongodb" => {
                    mapping.source_config::<MongoSourceConfig>(&block.name).and_then(|mut c| match c.check() {
                        Ok(()) => {
                            c.wanted = wanted_columns(mapping, &block.name);
                            Ok(SourceConfig::Mongo(c))
                        }
                        Err(e) => Err(mapping.diagnostics(vec![at_block(mapping, &block.name, e)])),
                    })
                }
                other => Err(mapping.diagnostics(vec![at_block(
                    mapping,
                    &block.name,
                    format!("no connector for kind {other}"),
                )])),
            };
            match config {
                Ok(c) => configs.push((block.name.clone(), c)),
                Err(d) => errors.extend(d.items),
            }
        }
        if errors.is_empty() {
            Ok(Self { base_dir, configs, relocate: None })
        } else {
            Err(mapping.diagnostics(errors))
        }
    }

    /// Each file source's file, resolved against the mapping's folder (not
    /// checked for existence).
    pub fn files(&self) -> Vec<(String, PathBuf)> {
        self.configs
            .iter()
            .filter_map(|(name, config)| {
                let path = match config {
                    SourceConfig::Csv(c) => c.resolved_path(&self.base_dir),
                    SourceConfig::Excel(c) => c.resolved_path(&self.base_dir),
                    SourceConfig::Xml(c) => c.resolved_path(&self.base_dir),
                    SourceConfig::SqlDump(c) => c.resolved_path(&self.base_dir),
                    SourceConfig::Mongo(c) => c.resolved_path(&self.base_dir)?,
                    SourceConfig::Mysql(_) | SourceConfig::Mssql(_) => return None,
                };
                Some((name.clone(), path))
            })
            .collect()
    }

    /// The sources that read a database over the network, by name.
    pub fn databases(&self) -> Vec<String> {
        self.configs
            .iter()
            .filter(|(_, c)| match c {
                SourceConfig::Mysql(_) | SourceConfig::Mssql(_) => true,
                SourceConfig::Mongo(c) => c.url.is_some(),
                _ => false,
            })
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// A CSV source's file indexed into parts of about `part_bytes`, for a
    /// partitioned run. `None` when the source is not a CSV or its encoding
    /// cannot be cut by bytes.
    pub fn csv_index(&self, name: &str, part_bytes: u64) -> Result<Option<FileIndex>, SourceError> {
        match self.configs.iter().find(|(n, _)| n == name) {
            Some((_, SourceConfig::Csv(c))) => {
                CsvSource::index(c, &c.resolved_path(&self.base_dir), part_bytes).map_err(SourceError::wrap)
            }
            _ => Ok(None),
        }
    }

    /// Reads a CSV source with its encoding and dialect pinned and its lines
    /// shifted by `line_offset`: one part of a partitioned file.
    pub fn pin_csv(&mut self, name: &str, pinned: &Pinned, line_offset: i64) {
        for (n, config) in &mut self.configs {
            if let (true, SourceConfig::Csv(c)) = (n == name, &mut *config) {
                let mut settled = pinned.apply(c);
                settled.line_offset = line_offset;
                *c = settled;
            }
        }
    }

    /// Opens a source and prepares it (connects, for a database): its
    /// columns are known when this returns.
    pub async fn open_prepared(&self, name: &str) -> Result<Box<dyn Source>, SourceError> {
        let mut source = self.open(name)?;
        source.prepare().await?;
        Ok(source)
    }

    /// Every location and message the sources give that names a file under
    /// `local` names it under `shown` instead: a worker's job folder is
    /// shown as the S3 prefix its files came from, in rejects, duplicates,
    /// the report and notifications alike.
    pub fn show_paths_as(&mut self, local: &Path, shown: &str) {
        self.relocate = Some((format!("{}/", local.display()), shown.to_string()));
    }

    /// Opens a source by name, for the run loop.
    pub fn open(&self, name: &str) -> Result<Box<dyn Source>, SourceError> {
        let opened = self.open_here(name);
        match &self.relocate {
            None => opened,
            Some((local, shown)) => match opened {
                Ok(inner) => Ok(Box::new(Relocated::new(inner, local, shown))),
                Err(e) => Err(SourceError::new(e.message.replace(local.as_str(), shown))),
            },
        }
    }

    fn open_here(&self, name: &str) -> Result<Box<dyn Source>, SourceError> {
        let Some((_, config)) = self.configs.iter().find(|(n, _)| n == name) else {
            return Err(SourceError::new(format!("no source named {name}")));
        };
        match config {
            SourceConfig::Csv(c) => {
                c.build(&self.base_dir).map(|s| Box::new(s) as Box<dyn Source>).map_err(SourceError::wrap)
            }
            SourceConfig::Excel(c) => {
                c.build(&self.base_dir).map(|s| Box::new(s) as Box<dyn Source>).map_err(SourceError::wrap)
            }
            SourceConfig::Xml(c) => {
                c.build(&self.base_dir).map(|s| Box::new(s) as Box<dyn Source>).map_err(SourceError::wrap)
            }
            SourceConfig::SqlDump(c) => {
                c.build(&self.base_dir).map(|s| Box::new(s) as Box<dyn Source>).map_err(SourceError::wrap)
            }
            SourceConfig::Mysql(c) => Ok(Box::new(c.build(&self.base_dir))),
            SourceConfig::Mssql(c) => Ok(Box::new(c.build(&self.base_dir))),
            SourceConfig::Mongo(c) => Ok(Box::new(c.build(&self.base_dir))),
        }
    }
}

/// The most an uploaded mapping's source options may ask for: an
/// operator's settings (the worker's `MAX_*` variables), defaulting to the
/// connectors' own defaults, so an upload can lower a limit, never raise it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ceilings {
    /// Bytes a workbook's zip parts may unpack to (`max_unpacked_bytes`).
    pub unpacked_bytes: u64,
    /// Bytes of an xlsb, xls or ods, read whole (`max_whole_file_bytes`).
    pub whole_file_bytes: u64,
    /// Bytes of one field (`max_field_bytes` of CSV and XML).
    pub field_bytes: usize,
    /// Bytes of one document of a MongoDB export (`max_document_bytes`).
    pub document_bytes: usize,
    /// Nesting of an XML export (`max_depth`).
    pub depth: usize,
    /// Rows of one batch (`batch_size`, `batch_rows`), and documents read
    /// to learn an export's paths (`sample`).
    pub batch_rows: usize,
    /// Memory a workbook's parts held whole may take (`max_memory_bytes`).
    pub memory_bytes: u64,
}

impl Default for Ceilings {
    fn default() -> Self {
        Self {
            unpacked_bytes: 2 << 30,
            whole_file_bytes: 100 << 20,
            field_bytes: 1 << 20,
            document_bytes: 48 << 20,
            depth: 256,
            batch_rows: 10_000,
            memory_bytes: 1 << 30,
        }
    }
}

impl SourceSet {
    /// Holds every source's limits to `c`, the worker's ceilings: an
    /// option the mapping leaves out takes the ceiling where that is lower
    /// than the connector's default; one it sets above the ceiling is
    /// returned as a sentence, for the caller to refuse.
    pub fn hold_to(&mut self, mapping: &Mapping, c: &Ceilings) -> Vec<String> {
        let mut out = Vec::new();
        let rows = c.batch_rows as u64;
        for (name, config) in &mut self.configs {
            let set: BTreeSet<String> = mapping
                .source_config::<std::collections::BTreeMap<String, serde::de::IgnoredAny>>(name)
                .map(|t| t.into_keys().collect())
                .unwrap_or_default();
            let mut hold = Holder { out: &mut out, set: &set, source: name };
            match config {
                SourceConfig::Csv(x) => {
                    hold.limit("max_field_bytes", &mut x.max_field_bytes, c.field_bytes as u64, "MAX_FIELD_BYTES");
                    hold.limit("batch_size", &mut x.batch_size, rows, "MAX_BATCH_ROWS");
                }
                SourceConfig::Excel(x) => {
                    hold.limit("max_unpacked_bytes", &mut x.max_unpacked_bytes, c.unpacked_bytes, "MAX_UNPACKED_BYTES");
                    hold.limit(
                        "max_whole_file_bytes",
                        &mut x.max_whole_file_bytes,
                        c.whole_file_bytes,
                        "MAX_WHOLE_FILE_BYTES",
                    );
                    hold.limit("max_memory_bytes", &mut x.max_memory_bytes, c.memory_bytes, "MEMORY_BUDGET less 1 GiB");
                    hold.limit("batch_size", &mut x.batch_size, rows, "MAX_BATCH_ROWS");
                }
                SourceConfig::SqlDump(x) => {
                    hold.limit("max_field_bytes", &mut x.max_field_bytes, c.field_bytes as u64, "MAX_FIELD_BYTES");
                    hold.limit("batch_size", &mut x.batch_size, rows, "MAX_BATCH_ROWS");
                }
                SourceConfig::Xml(x) => {
                    hold.limit("max_field_bytes", &mut x.max_field_bytes, c.field_bytes as u64, "MAX_FIELD_BYTES");
                    hold.limit("max_depth", &mut x.max_depth, c.depth as u64, "MAX_DEPTH");
                    hold.limit("batch_size", &mut x.batch_size, rows, "MAX_BATCH_ROWS");
                }
                SourceConfig::Mongo(x) => {
                    hold.limit(
                        "max_document_bytes",
                        &mut x.max_document_bytes,
                        c.document_bytes as u64,
                        "MAX_DOCUMENT_BYTES",
                    );
                    hold.limit("batch_rows", &mut x.batch_rows, rows, "MAX_BATCH_ROWS");
                    hold.limit("sample", &mut x.sample, rows, "MAX_BATCH_ROWS");
                }
                // Database sources are refused in uploads altogether.
                SourceConfig::Mysql(_) | SourceConfig::Mssql(_) => {}
            }
        }
        out
    }
}

/// Holds one source's options to their ceilings (see [`SourceSet::hold_to`]).
struct Holder<'a> {
    out: &'a mut Vec<String>,
    /// The options the mapping sets.
    set: &'a BTreeSet<String>,
    source: &'a str,
}

impl Holder<'_> {
    fn limit<T: Copy + TryInto<u64> + TryFrom<u64>>(
        &mut self,
        option: &str,
        value: &mut T,
        ceiling: u64,
        setting: &str,
    ) {
        let current: u64 = (*value).try_into().unwrap_or(u64::MAX);
        if current <= ceiling {
            return;
        }
        if self.set.contains(option) {
            self.out.push(format!(
                "source {} sets {option} = {current}, above the worker's ceiling {setting} = {ceiling}",
                self.source
            ));
        } else if let Ok(lowered) = T::try_from(ceiling) {
            *value = lowered;
        }
    }
}

/// A source whose file locations are shown under another name.
struct Relocated {
    inner: Box<dyn Source>,
    local: String,
    shown: String,
    /// The last file name rewritten, and what it became: every row of a
    /// batch shares one.
    last: Option<(Arc<str>, Arc<str>)>,
}

impl Relocated {
    fn new(inner: Box<dyn Source>, local: &str, shown: &str) -> Self {
        Self { inner, local: local.to_string(), shown: shown.to_string(), last: None }
    }

    fn text(&self, text: &str) -> String {
        text.replace(self.local.as_str(), &self.shown)
    }

    fn file(&mut self, file: &Arc<str>) -> Arc<str> {
        if let Some((from, to)) = &self.last
            && Arc::ptr_eq(from, file)
        {
            return to.clone();
        }
        let to: Arc<str> = self.text(file).into();
        self.last = Some((file.clone(), to.clone()));
        to
    }

    fn error(&self, e: SourceError) -> SourceError {
        SourceError { message: self.text(&e.message), cause: e.cause }
    }
}

#[async_trait::async_trait]
impl Source for Relocated {
    fn columns(&self) -> &[String] {
        self.inner.columns()
    }

    fn offered_columns(&self) -> Vec<String> {
        self.inner.offered_columns()
    }

    fn sample_problem(&self) -> Option<String> {
        self.inner.sample_problem()
    }

    fn decisions(&self) -> Vec<(String, String, String)> {
        self.inner.decisions()
    }

    async fn prepare(&mut self) -> Result<(), SourceError> {
        let result = self.inner.prepare().await;
        result.map_err(|e| self.error(e))
    }

    async fn next_batch(&mut self) -> Result<Option<migrate_engine::Batch>, SourceError> {
        use migrate_engine::SourceLocation as L;
        let batch = match self.inner.next_batch().await {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(None),
            Err(e) => return Err(self.error(e)),
        };
        let mut batch = batch;
        let locations = std::mem::take(&mut batch.locations);
        batch.locations = locations
            .into_iter()
            .map(|l| match l {
                L::Line { file, line } => L::Line { file: self.file(&file), line },
                L::Cell { file, sheet, cell } => L::Cell { file: self.file(&file), sheet, cell },
                L::Key { table, key } => L::Key { table: self.file(&table), key },
                L::Described(text) => L::Described(self.file(&text)),
            })
            .collect();
        for m in &mut batch.malformed {
            m.message = self.text(&m.message);
        }
        Ok(Some(batch))
    }

    fn info(&self) -> migrate_engine::SourceInfo {
        let mut info = self.inner.info();
        info.location = self.text(&info.location);
        info
    }

    fn position(&self) -> Option<(u64, u64)> {
        self.inner.position()
    }

    fn incremental(&self) -> Option<&migrate_engine::IncrementalConfig> {
        self.inner.incremental()
    }

    fn start_from(&mut self, mark: Option<&migrate_engine::Mark>) {
        self.inner.start_from(mark);
    }

    fn window(&self) -> Option<migrate_engine::Window> {
        self.inner.window()
    }

    fn key_scan(&self, columns: &[String]) -> Option<Box<dyn Source>> {
        self.inner.key_scan(columns)
    }
}

/// Opens every source the mapping uses and checks the source columns it
/// names against the real header: the part of `validate` that reads files.
pub async fn check_sources(mapping: &Mapping, sources: &SourceSet) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for block in &mapping.sources {
        match sources.open_prepared(&block.name).await {
            Ok(source) => {
                let unknown = mapping.check_source_columns(&block.name, source.columns(), &source.offered_columns());
                // A column not seen because the documents holding it could
                // not be read: say so at each, and at the block.
                let problem = source.sample_problem();
                out.extend(unknown.into_iter().map(|d| match &problem {
                    Some(p) if d.severity == migrate_mappings::Severity::Error => {
                        let before = d.help.clone().map_or(String::new(), |h| format!("{h}; "));
                        d.help(format!("{before}not seen in the sample, but {p}"))
                    }
                    _ => d,
                }));
                if let Some(p) = problem {
                    let mut d = at_block(mapping, &block.name, format!("source `{}`: {p}", block.name));
                    d.severity = migrate_mappings::Severity::Warning;
                    out.push(d);
                }
                out.extend(misread_hint(mapping, sources, &block.name, source.as_ref()));
                if let Some(why) = source.info().header.and_then(|h| h.looks_like_data) {
                    let mut d = at_block(
                        mapping,
                        &block.name,
                        format!("the header of source `{}` looks like data", block.name),
                    );
                    d.severity = migrate_mappings::Severity::Warning;
                    out.push(d.help(format!("{why} [{}]", migrate_engine::header::HEADER_LOOKS_LIKE_DATA)));
                }
            }
            Err(e) => out.push(at_block(mapping, &block.name, e.to_string())),
        }
    }
    out
}

/// When more than half of the columns a mapping names from a CSV source
/// are not in the header it read, the delimiter or the header line was
/// probably guessed wrong: a warning that says so and shows how each other
/// delimiter would read the file (its header's line and names, and how
/// many of the mapping's columns it has).
fn misread_hint(mapping: &Mapping, sources: &SourceSet, name: &str, source: &dyn Source) -> Option<Diagnostic> {
    let mut named: Vec<&str> =
        mapping.source_refs.iter().filter(|r| r.source == name).map(|r| r.column.as_str()).collect();
    named.sort_unstable();
    named.dedup();
    let header = source.columns();
    let found = |h: &[String]| named.iter().filter(|c| h.iter().any(|x| x == *c)).count();
    let missing = named.len() - found(header);
    if named.len() < 2 || missing * 2 <= named.len() {
        return None;
    }
    let Some(SourceConfig::Csv(config)) = sources.configs.iter().find(|(n, _)| n == name).map(|(_, c)| c) else {
        return None;
    };
    let csv = config.build(&sources.base_dir).ok()?;
    let info = source.info();
    let used = info.delimiter.clone().unwrap_or_default();
    let line = info.header.as_ref().and_then(|h| h.line).map_or(String::new(), |l| format!(" on line {l}"));
    let mut others: Vec<(usize, migrate_csv::Candidate)> = migrate_csv::dialect_candidates(&csv)
        .into_iter()
        .filter(|c| (c.delimiter as char).to_string() != used || c.header.as_slice() != header)
        .map(|c| (found(&c.header), c))
        .collect();
    others.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    let shown: Vec<String> = others
        .iter()
        .map(|(n, c)| {
            let names: Vec<&str> = c.header.iter().take(6).map(String::as_str).collect();
            let more = if c.header.len() > 6 { ", …" } else { "" };
            format!(
                "delimiter {:?} takes line {} as the header ({}{more}): {n} of the {} columns found",
                (c.delimiter as char).to_string(),
                c.line,
                names.join(", "),
                named.len()
            )
        })
        .collect();
    let mut d = at_block(
        mapping,
        name,
        format!(
            "{missing} of the {} columns the mapping names are not in the header of `{name}` (delimiter {used:?}{line}): \
             the delimiter or the header line was probably guessed wrong",
            named.len()
        ),
    );
    d.severity = migrate_mappings::Severity::Warning;
    let help = if shown.is_empty() {
        "no other delimiter reads the file differently: check the column names, or set skip_rows".to_string()
    } else {
        format!("{}; set `delimiter` and `skip_rows` in [sources.{name}]", shown.join("; "))
    };
    Some(d.help(help))
}

/// The source columns a mapping's entities read from one source: a
/// document source carries only these paths in its rows.
/// (Keys and values, and every other column a rule names: a date's
/// `timezone_column`, a conversion's `date_column`.)
fn wanted_columns(mapping: &Mapping, source: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let planned = mapping.plan.entities.iter().filter(|e| e.source == source).flat_map(|e| e.source_columns());
    let named = mapping.source_refs.iter().filter(|r| r.source == source).map(|r| r.column.as_str());
    for column in planned.chain(named) {
        if !out.iter().any(|c| c == column) {
            out.push(column.to_string());
        }
    }
    out
}
