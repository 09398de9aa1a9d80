//! A run's output directory: `report.json`, `rejects/ENTITY.csv`,
//! `duplicates/ENTITY.csv`, and when there are any `missing/ENTITY.csv` (rows
//! gone from the source since an earlier run) and `similar/ENTITY.csv` (rows
//! flagged as likely the same record). Written as the run goes, so memory
//! does not grow with the number of rows listed.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use migrate_engine::{DuplicateRow, EntityCounts, MissingRow, RejectedRow, RunEvents, RunReport, SimilarPair};

type CsvOut = csv::Writer<BufWriter<File>>;
/// What the terminal's progress display hears.
pub enum Progress<'a> {
    /// After each batch: the entity's counts, and how far the source is
    /// (`Source::position`) when it knows.
    Rows { entity: &'a str, counts: &'a EntityCounts, position: Option<(u64, u64)> },
    /// Everything is staged; the publish is under way.
    Publishing,
}

type ProgressFn = Box<dyn FnMut(Progress<'_>) + Send>;

pub struct OutputDir {
    dir: PathBuf,
    rejects: BTreeMap<String, CsvOut>,
    duplicates: BTreeMap<String, CsvOut>,
    /// Opened at their first row.
    missing: BTreeMap<String, CsvOut>,
    similar: BTreeMap<String, CsvOut>,
    /// Called with each progress update (the terminal's progress line).
    progress: Option<ProgressFn>,
}

impl OutputDir {
    pub fn create(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir.join("rejects"))?;
        std::fs::create_dir_all(dir.join("duplicates"))?;
        Ok(Self {
            dir: dir.to_path_buf(),
            rejects: BTreeMap::new(),
            duplicates: BTreeMap::new(),
            missing: BTreeMap::new(),
            similar: BTreeMap::new(),
            progress: None,
        })
    }

    pub fn on_progress(mut self, f: impl FnMut(Progress<'_>) + Send + 'static) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Flushes every open file.
    pub fn close(&mut self) -> std::io::Result<()> {
        for w in self
            .rejects
            .values_mut()
            .chain(self.duplicates.values_mut())
            .chain(self.missing.values_mut())
            .chain(self.similar.values_mut())
        {
            w.flush()?;
        }
        Ok(())
    }
}

/// The writer of `dir/kind/ENTITY.csv`, created with `header` on first use.
fn lazy_csv<'a>(
    files: &'a mut BTreeMap<String, CsvOut>,
    dir: &Path,
    kind: &str,
    entity: &str,
    header: &[&str],
) -> std::io::Result<&'a mut CsvOut> {
    if !files.contains_key(entity) {
        std::fs::create_dir_all(dir.join(kind))?;
        let header: Vec<String> = header.iter().map(|s| s.to_string()).collect();
        files.insert(entity.to_string(), open_csv(&dir.join(kind).join(format!("{entity}.csv")), &header)?);
    }
    files.get_mut(entity).ok_or_else(|| std::io::Error::other("output file vanished"))
}

fn open_csv(path: &Path, header: &[String]) -> std::io::Result<CsvOut> {
    let mut w = csv::Writer::from_writer(BufWriter::new(File::create(path)?));
    w.write_record(header).map_err(std::io::Error::other)?;
    Ok(w)
}

impl RunEvents for OutputDir {
    fn entity_started(&mut self, entity: &str, source_columns: &[String]) -> std::io::Result<()> {
        let mut header: Vec<String> =
            ["_location", "_column", "_value", "_reason", "_message"].iter().map(|s| s.to_string()).collect();
        header.extend(source_columns.iter().cloned());
        let rejects = open_csv(&self.dir.join("rejects").join(format!("{entity}.csv")), &header)?;
        self.rejects.insert(entity.to_string(), rejects);
        let dup_header: Vec<String> =
            ["_location", "_survivor_location", "_source_key"].iter().map(|s| s.to_string()).collect();
        let duplicates = open_csv(&self.dir.join("duplicates").join(format!("{entity}.csv")), &dup_header)?;
        self.duplicates.insert(entity.to_string(), duplicates);
        Ok(())
    }

    fn rejected(&mut self, row: &RejectedRow) -> std::io::Result<()> {
        let Some(w) = self.rejects.get_mut(&row.entity) else { return Ok(()) };
        let mut record = vec![
            row.location.to_string(),
            row.column.clone().unwrap_or_default(),
            row.value.clone().unwrap_or_default(),
            row.reason.code().to_string(),
            row.message.clone(),
        ];
        record.extend(row.source_fields.iter().map(|v| v.clone().unwrap_or_default()));
        w.write_record(record.iter().map(|v| migrate_csv::escape_formula(v).into_owned()))
            .map_err(std::io::Error::other)
    }

    fn duplicate(&mut self, row: &DuplicateRow) -> std::io::Result<()> {
        let Some(w) = self.duplicates.get_mut(&row.entity) else { return Ok(()) };
        let key = row.source_key.replace('\u{1f}', "|");
        w.write_record(
            [&row.location, &row.survivor_location, &key].map(|v| migrate_csv::escape_formula(v).into_owned()),
        )
        .map_err(std::io::Error::other)
    }

    fn missing(&mut self, row: &MissingRow) -> std::io::Result<()> {
        let header = ["_source_key", "_target_id", "_action"];
        let w = lazy_csv(&mut self.missing, &self.dir, "missing", &row.entity, &header)?;
        w.write_record([&row.source_key.replace('\u{1f}', "|"), &row.target_id.to_string(), row.action])
            .map_err(std::io::Error::other)
    }

    fn similar(&mut self, pair: &SimilarPair) -> std::io::Result<()> {
        let header = ["_location", "_other_location", "_score", "_text", "_other_text"];
        let w = lazy_csv(&mut self.similar, &self.dir, "similar", &pair.entity, &header)?;
        w.write_record([
            pair.location.as_str(),
            pair.other_location.as_str(),
            &format!("{:.3}", pair.score),
            pair.text.as_str(),
            pair.other_text.as_str(),
        ])
        .map_err(std::io::Error::other)
    }

    fn progress(&mut self, entity: &str, counts: &EntityCounts, position: Option<(u64, u64)>) {
        if let Some(f) = &mut self.progress {
            f(Progress::Rows { entity, counts, position });
        }
    }

    fn publishing(&mut self) {
        if let Some(f) = &mut self.progress {
            f(Progress::Publishing);
        }
    }
}

/// Writes `report.json` (pretty, newline-terminated) and, from it, the
/// customer's `report.html`. Returns the JSON's path.
pub fn write_report(dir: &Path, report: &RunReport) -> std::io::Result<PathBuf> {
    let path = dir.join("report.json");
    let mut text = serde_json::to_string_pretty(report).map_err(std::io::Error::other)?;
    text.push('\n');
    std::fs::write(&path, text)?;
    std::fs::write(dir.join("report.html"), crate::report::render_html(report))?;
    Ok(path)
}
