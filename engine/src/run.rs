//! The run loop: every entity of the plan, read → map → stage, then one
//! publish. Counts are kept here and nowhere else.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::Utc;
use uuid::Uuid;

use crate::counts::EntityCounts;
use crate::error::EngineError;
use crate::events::RunEvents;
use crate::incremental::DeleteCheck;
use crate::map::{MapNote, MapOutput, map_batch};
use crate::plan::{EntityPlan, RunPlan};
use crate::reject::RejectedRow;
use crate::report::{
    EntityReport, ExistingSummary, MappingInfo, MissingSummary, REPORT_SCHEMA_VERSION, RejectExample, RejectSummary,
    RunReport, RunStatus, SourceInfo, Warning,
};
use crate::sink::{PublishedEntity, Sink, SinkError};
use crate::source::{Source, SourceError};

/// Opens a source by its mapping name. Called once per entity, so two
/// entities reading one source each get their own stream.
pub type OpenSource<'a> = dyn Fn(&str) -> Result<Box<dyn Source>, SourceError> + Sync + 'a;

/// How many example values a warning carries.
const WARNING_EXAMPLES: usize = 3;

/// How much of a run one call does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RunMode {
    /// Read, stage and publish.
    #[default]
    Whole,
    /// One partition of a run that `Sink::prepare` recorded: read and stage
    /// this partition's rows, numbered from `seq_base` (below `seq_end`),
    /// and publish nothing. The report's status is `staged`; the run is
    /// published by `publish_staged` once every partition is staged.
    StagePartition { seq_base: u64, seq_end: u64 },
    /// Read every source whole (an incremental one too, from no mark) and
    /// stage it, for [`reconcile`]: nothing is published.
    Reconcile,
}

pub struct RunOptions<'a> {
    pub run_id: Uuid,
    pub mode: RunMode,
    pub mapping: MappingInfo,
    /// Stage and count, then roll back instead of publishing.
    pub dry_run: bool,
    /// Set by a signal handler; checked between batches.
    pub cancel: &'a AtomicBool,
}

/// Runs a plan. Returns the report whatever happened; `Err` only carries the
/// report of a run that published nothing, with the reason.
pub async fn run(
    plan: &RunPlan,
    options: RunOptions<'_>,
    open_source: &OpenSource<'_>,
    sink: &mut dyn Sink,
    events: &mut dyn RunEvents,
) -> Result<RunReport, (RunReport, EngineError)> {
    let started_at = Utc::now();
    let mut state = RunState::default();
    // Settle what the mapping left to the data before a row is loaded.
    let mut resolved = plan.clone();
    let prepared = match crate::infer::load_rates(&mut resolved, open_source).await {
        Ok(()) => crate::infer::infer(&mut resolved, open_source).await,
        Err(e) => Err(e),
    };
    let outcome = match prepared {
        Ok(decisions) => {
            state.decisions = decisions;
            stage_all(&resolved, &options, open_source, sink, events, &mut state).await
        }
        Err(e) => Err(e),
    };
    let plan = &resolved;
    if let RunMode::StagePartition { .. } = options.mode {
        // Staged rows stay for the publish; a failed partition is staged
        // again (its rows first removed) when it is retried.
        let _ = sink.detach().await;
        let (status, error) = match outcome {
            Ok(()) => (RunStatus::Staged, None),
            Err(e) => {
                (if matches!(e, EngineError::Cancelled) { RunStatus::Cancelled } else { RunStatus::Failed }, Some(e))
            }
        };
        let report = state.into_report(plan, options, started_at, status, &[], error.as_ref());
        return match error {
            None => Ok(report),
            Some(e) => Err((report, e)),
        };
    }
    let outcome = match outcome {
        Ok(()) => {
            events.publishing();
            let n = plan.entities.len();
            tracing::info!(
                "publishing {n} {}{}",
                if n == 1 { "entity" } else { "entities" },
                if options.dry_run { " (a dry run: rolled back at the end)" } else { "" }
            );
            sink.publish(!options.dry_run, options.cancel, events).await.map_err(|e| match e {
                SinkError::Cancelled => EngineError::Cancelled,
                other => EngineError::from(other),
            })
        }
        Err(e) => Err(e),
    };
    let outcome = match outcome {
        Ok(published) => state.account_links(&published, events).map(|()| published).map_err(EngineError::from),
        Err(e) => Err(e),
    };
    let (status, published, error) = match outcome {
        Ok(published) => (if options.dry_run { RunStatus::DryRun } else { RunStatus::Succeeded }, published, None),
        Err(error) => {
            let status = if matches!(error, EngineError::Cancelled) { RunStatus::Cancelled } else { RunStatus::Failed };
            // The run already failed; a failure to clean up is secondary and
            // the next run cleans up what is left.
            let _ = sink.abandon(status, &error.to_string()).await;
            (status, Vec::new(), Some(error))
        }
    };
    let report = state.into_report(plan, options, started_at, status, &published, error.as_ref());
    match error {
        None => {
            if let Err(e) = sink.finish(&report).await {
                return Err((report, e.into()));
            }
            Ok(report)
        }
        Some(e) => Err((report, e)),
    }
}

/// Publishes a partitioned run once every partition is staged: the counts
/// read, rejected and filtered are the partitions' (`staged`, their
/// reports), duplicates and what was loaded come from the publish. `sources`
/// describes the whole inputs (not each partition's slice).
pub async fn publish_staged(
    plan: &RunPlan,
    options: RunOptions<'_>,
    staged: &[RunReport],
    sources: Vec<SourceInfo>,
    sink: &mut dyn Sink,
    events: &mut dyn RunEvents,
) -> Result<RunReport, (RunReport, EngineError)> {
    let started_at = staged.iter().map(|r| r.started_at).min().unwrap_or_else(Utc::now);
    let mut state = RunState { sources, ..RunState::default() };
    let mut warnings: BTreeMap<(String, Option<String>, String), Warning> = BTreeMap::new();
    for report in staged {
        for e in &report.entities {
            let counts = state.counts.entry(e.entity.clone()).or_default();
            counts.read += e.counts.read;
            counts.rejected += e.counts.rejected;
            counts.filtered += e.counts.filtered;
            for r in &e.rejects_by_reason {
                state.rejects.merge(&e.entity, &r.reason, r.count, &r.examples);
            }
        }
        for w in &report.warnings {
            let merged = warnings
                .entry((w.entity.clone(), w.column.clone(), w.code.clone()))
                .or_insert_with(|| Warning { count: 0, examples: Vec::new(), ..w.clone() });
            merged.count += w.count;
            for example in &w.examples {
                if merged.examples.len() < WARNING_EXAMPLES && !merged.examples.contains(example) {
                    merged.examples.push(example.clone());
                }
            }
        }
        if state.decisions.is_empty() {
            state.decisions = report.decisions.clone();
        }
    }
    state.warnings = warnings.into_values().collect();
    // What the publish finds (duplicate keys, dedupe, orphans) is listed in
    // the run's own files; its rows carry no source fields (the partitions
    // have them).
    for entity in &plan.entities {
        if let Err(e) = events.entity_started(&entity.entity, &[]) {
            let report = state.into_report(plan, options, started_at, RunStatus::Failed, &[], None);
            return Err((report, EngineError::Output(e)));
        }
    }
    let attached = sink.attach(options.run_id, plan, 0..0).await.map_err(EngineError::from);
    let outcome = match attached {
        Ok(()) => sink.publish(true, options.cancel, events).await.map_err(|e| match e {
            SinkError::Cancelled => EngineError::Cancelled,
            other => EngineError::from(other),
        }),
        Err(e) => Err(e),
    };
    let outcome = match outcome {
        Ok(published) => state.account_links(&published, events).map(|()| published).map_err(EngineError::from),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(published) => {
            let report = state.into_report(plan, options, started_at, RunStatus::Succeeded, &published, None);
            match sink.finish(&report).await {
                Ok(()) => Ok(report),
                Err(e) => Err((report, e.into())),
            }
        }
        Err(e) => {
            // Nothing was published and the staging is kept: the publish
            // can be tried again.
            let _ = sink.detach().await;
            let status = if matches!(e, EngineError::Cancelled) { RunStatus::Cancelled } else { RunStatus::Failed };
            Err((state.into_report(plan, options, started_at, status, &[], Some(&e)), e))
        }
    }
}

/// Reads every source whole through the mapping, stages it, and has the
/// sink compare it with the target (nothing is published: the run is
/// recorded as a dry run). Returns each source's lag and each entity's
/// comparison.
pub async fn reconcile(
    plan: &RunPlan,
    options: RunOptions<'_>,
    open_source: &OpenSource<'_>,
    sink: &mut dyn Sink,
) -> Result<(Vec<crate::cutover::SourceLag>, Vec<crate::cutover::EntityReconciliation>), EngineError> {
    let options = RunOptions { mode: RunMode::Reconcile, ..options };
    let mut state = RunState::default();
    let mut resolved = plan.clone();
    crate::infer::load_rates(&mut resolved, open_source).await?;
    crate::infer::infer(&mut resolved, open_source).await?;
    let mut events = crate::events::NoEvents;
    let staged = stage_all(&resolved, &options, open_source, sink, &mut events, &mut state).await;
    let found = match staged {
        Ok(()) => sink.reconcile().await.map_err(EngineError::from),
        Err(e) => Err(e),
    };
    // The reconciliation publishes nothing: its staging goes either way.
    let ended = sink.abandon(RunStatus::DryRun, "cutover reconciliation: compared, nothing published").await;
    let found = found?;
    ended?;
    let lags = state
        .sources
        .iter()
        .map(|s| {
            let applied = state.applied_marks.get(&s.name);
            let window = s.window.as_ref();
            let applied_mark = applied.and_then(|m| m.as_ref().map(|m| m.value.clone()));
            let source_mark = window.and_then(|w| w.mark.clone());
            crate::cutover::SourceLag {
                name: s.name.clone(),
                kind: s.kind.clone(),
                location: s.location.clone(),
                cursor: window.map(|w| w.cursor.clone()),
                changed_since: window.is_some() && source_mark.is_some() && applied_mark != source_mark,
                applied_mark,
                source_mark,
            }
        })
        .collect();
    let entities = resolved
        .entities
        .iter()
        .map(|e| {
            let counts = state.counts.get(&e.entity).copied().unwrap_or_default();
            let found = found.iter().find(|f| f.entity == e.entity).cloned().unwrap_or_default();
            crate::cutover::EntityReconciliation::from_parts(&e.entity, &e.source, counts, found)
        })
        .collect();
    Ok((lags, entities))
}

#[derive(Default)]
struct RunState {
    counts: BTreeMap<String, EntityCounts>,
    /// Each entity's source width, for reject rows found at publish time.
    widths: BTreeMap<String, usize>,
    rejects: RejectTally,
    sources: Vec<SourceInfo>,
    warnings: Vec<Warning>,
    tally: NoteTally,
    decisions: Vec<crate::infer::Decision>,
    /// A reconciliation: each incremental source's stored mark.
    applied_marks: BTreeMap<String, Option<crate::incremental::Mark>>,
}

/// How many rejected rows a report shows per reason.
const REJECT_EXAMPLES: usize = 5;

/// Rejected rows counted per (entity, reason), with the first few.
#[derive(Default)]
struct RejectTally {
    by_reason: BTreeMap<(String, String), RejectSummary>,
}

impl RejectTally {
    fn add(&mut self, row: &RejectedRow) {
        let example = RejectExample {
            location: row.location.to_string(),
            column: row.column.clone(),
            value: row.value.clone(),
            message: row.message.clone(),
        };
        self.merge(&row.entity, row.reason.code(), 1, std::slice::from_ref(&example));
    }

    fn merge(&mut self, entity: &str, reason: &str, count: u64, examples: &[RejectExample]) {
        let summary = self.by_reason.entry((entity.to_string(), reason.to_string())).or_insert_with(|| RejectSummary {
            reason: reason.to_string(),
            count: 0,
            examples: Vec::new(),
        });
        summary.count += count;
        for e in examples {
            if summary.examples.len() < REJECT_EXAMPLES {
                summary.examples.push(e.clone());
            }
        }
    }

    /// An entity's reasons, the most frequent first.
    fn of(&self, entity: &str) -> Vec<RejectSummary> {
        let mut out: Vec<RejectSummary> =
            self.by_reason.iter().filter(|((e, _), _)| e == entity).map(|(_, s)| s.clone()).collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
        out
    }
}

/// Transform notes counted per (entity, column, code), with a few examples.
#[derive(Default)]
struct NoteTally {
    counts: BTreeMap<(String, String, &'static str), (u64, Vec<String>)>,
}

impl NoteTally {
    fn add(&mut self, entity: &str, notes: Vec<MapNote>) {
        for note in notes {
            debug_assert!(crate::codes::warning_text(note.code).is_some(), "unlisted warning code {}", note.code);
            let (count, examples) = self.counts.entry((entity.to_string(), note.column, note.code)).or_default();
            *count += 1;
            if examples.len() < WARNING_EXAMPLES && !examples.contains(&note.example) {
                examples.push(note.example);
            }
        }
    }

    fn into_warnings(self) -> impl Iterator<Item = Warning> {
        self.counts.into_iter().map(|((entity, column, code), (count, examples))| Warning {
            entity,
            column: Some(column),
            code: code.to_string(),
            count,
            examples,
        })
    }
}

async fn stage_all(
    plan: &RunPlan,
    options: &RunOptions<'_>,
    open_source: &OpenSource<'_>,
    sink: &mut dyn Sink,
    events: &mut dyn RunEvents,
    state: &mut RunState,
) -> Result<(), EngineError> {
    let mut seq: u64 = match options.mode {
        RunMode::Whole | RunMode::Reconcile => {
            sink.begin(options.run_id, plan).await?;
            0
        }
        RunMode::StagePartition { seq_base, seq_end } => {
            sink.attach(options.run_id, plan, seq_base..seq_end).await?;
            seq_base
        }
    };
    for entity in &plan.entities {
        let started = std::time::Instant::now();
        tracing::info!("staging {}: reading source {}", entity.entity, entity.source);
        let mut source = open_source(&entity.source)
            .map_err(|error| EngineError::Source { source_name: entity.source.clone(), error })?;
        let incremental = source.incremental().cloned();
        let mut previous = None;
        if let Some(config) = &incremental {
            if let RunMode::StagePartition { .. } = options.mode {
                return Err(EngineError::Source {
                    source_name: entity.source.clone(),
                    error: SourceError::new("an incremental source is read by one process, not in partitions"),
                });
            }
            if !matches!(entity.key, crate::plan::KeySpec::Columns(_)) {
                return Err(EngineError::Source {
                    source_name: entity.source.clone(),
                    error: SourceError::new(format!(
                        "[{}] reads it incrementally: its key must name source columns, not $row_hash",
                        entity.entity
                    )),
                });
            }
            // A mark of another cursor column says nothing of this one.
            previous = sink.mark(&entity.source).await?.filter(|m| m.cursor == config.cursor);
            if options.mode == RunMode::Reconcile {
                // Read whole; the mark is what the last delta applied.
                state.applied_marks.insert(entity.source.clone(), previous.take());
            } else {
                source.start_from(previous.as_ref());
            }
        }
        source.prepare().await.map_err(|error| EngineError::Source { source_name: entity.source.clone(), error })?;
        let mut window = source.window();
        if let (Some(w), Some(config)) = (&mut window, &incremental) {
            w.settle_deletes(config, previous.as_ref());
            tracing::info!(
                "{}: {} (cursor {}, deletes: {})",
                entity.source,
                match (&w.read_from, &w.mark) {
                    (Some(from), Some(to)) => format!("a delta from {from} to {to}"),
                    (Some(from), None) => format!("a delta from {from}"),
                    (None, _) => "a full load".to_string(),
                },
                w.cursor,
                w.deletes.as_str()
            );
        }
        // Rows a soft-delete column marks deleted are not loaded; in a
        // delta, their keys are the rows gone from the source.
        let deleted_flag = incremental.as_ref().and_then(|c| c.deleted_flag.clone());
        let soft_deletes =
            deleted_flag.as_ref().filter(|_| window.as_ref().is_some_and(|w| w.deletes == DeleteCheck::SoftDelete));
        let with_flag;
        let entity = match &deleted_flag {
            Some(flag) => {
                let mut e = entity.clone();
                e.filter.push(crate::plan::Condition {
                    column: flag.clone(),
                    test: crate::plan::Test::Equals(
                        crate::incremental::NOT_DELETED.iter().map(|v| v.to_string()).collect(),
                    ),
                });
                with_flag = e;
                &with_flag
            }
            None => entity,
        };
        check_source_columns(entity, source.columns())?;
        for (setting, decision, evidence) in source.decisions() {
            let decided = crate::infer::Decision {
                entity: entity.entity.clone(),
                column: String::new(),
                setting,
                decision,
                evidence,
                source: Some(entity.source.clone()),
            };
            if !state.decisions.contains(&decided) {
                state.decisions.push(decided);
            }
        }
        let header = source.columns().to_vec();
        state.widths.insert(entity.entity.clone(), header.len());
        events.entity_started(&entity.entity, &header)?;
        let mut unmapped = UnmappedColumns::new(entity, &header);
        // Reading, mapping and staging overlap, each on its own thread:
        // the source is read on a thread of the blocking pool (decoding a
        // file is as busy as mapping it), the batches it reads are mapped
        // MAPPING_AHEAD at once on others, and this task stages them in
        // order while PostgreSQL takes the previous COPY. Each hand-over
        // holds one batch at most, so memory stays flat.
        let (read, mut reads) = tokio::sync::mpsc::channel(1);
        let runtime = tokio::runtime::Handle::current();
        let reader = tokio::task::spawn_blocking(move || {
            while let Some(batch) = runtime.block_on(source.next_batch()).transpose() {
                let failed = batch.is_err();
                let position = source.position();
                if read.blocking_send(batch.map(|b| (b, position))).is_err() || failed {
                    break;
                }
            }
            source
        });
        let (ready, batches) = tokio::sync::mpsc::channel(1);
        let shared = std::sync::Arc::new(entity.clone());
        let mut fill = crate::map::FillDown::default();
        let produce = async {
            let ready = ready;
            let mut next_seq = seq;
            let mut mapping = std::collections::VecDeque::new();
            let mut exhausted = false;
            loop {
                if options.cancel.load(Ordering::Relaxed) {
                    return Err(EngineError::Cancelled);
                }
                while !exhausted && mapping.len() < MAPPING_AHEAD {
                    let Some(batch) = reads.recv().await else {
                        exhausted = true;
                        break;
                    };
                    let (mut batch, position) =
                        batch.map_err(|error| EngineError::Source { source_name: entity.source.clone(), error })?;
                    fill.apply(entity, &mut batch)?;
                    let first_seq = next_seq;
                    next_seq += batch.height() as u64;
                    mapping.push_back((map_on_thread(&shared, batch, first_seq), position));
                }
                let Some((mapped, position)) = mapping.pop_front() else { break };
                let (batch, output) = mapped.await?;
                if ready.send((batch, output, position)).await.is_err() {
                    break;
                }
            }
            // Dropped here: a reader still reading stops at its next batch.
            drop(reads);
            Ok(next_seq)
        };
        let consume = async {
            // Owned here: when staging stops early, the reader's next send
            // fails and it stops too.
            let mut batches = batches;
            while let Some((batch, output, position)) = batches.recv().await {
                if options.cancel.load(Ordering::Relaxed) {
                    return Err(EngineError::Cancelled);
                }
                if let Some(flag) = soft_deletes {
                    let deleted = crate::map::keys_of(entity, &batch, Some(flag))?;
                    if !deleted.is_empty() {
                        sink.seen_keys(entity, &deleted, true).await?;
                    }
                }
                stage_batch(entity, &batch, output, position, sink, events, state, &mut unmapped).await?;
                // Past the budget the run cannot publish: stop reading.
                check_budget(plan, &state.counts, false)?;
            }
            Ok(())
        };
        let (produced, consumed) = tokio::join!(produce, consume);
        consumed?;
        seq = produced?;
        let source = joined(reader.await)?;
        if let Some(w) = &mut window {
            if w.deletes == DeleteCheck::KeyScan {
                w.keys_scanned = Some(scan_keys(entity, source.as_ref(), sink, options).await?);
            }
            if options.mode != RunMode::Reconcile {
                sink.window(entity, &entity.source, w).await?;
            }
        }
        state.sources.push(SourceInfo { name: entity.source.clone(), window, ..source.info() });
        state.warnings.extend(unmapped.into_warnings());
        let c = state.counts.get(&entity.entity).copied().unwrap_or_default();
        let staged = c.read.saturating_sub(c.filtered + c.rejected);
        tracing::info!(
            "staged {}: {} read, {} filtered, {} rejected, {} staged in {:.1} s",
            entity.entity,
            c.read,
            c.filtered,
            c.rejected,
            staged,
            started.elapsed().as_secs_f64()
        );
    }
    if options.cancel.load(Ordering::Relaxed) {
        return Err(EngineError::Cancelled);
    }
    check_budget(plan, &state.counts, true)
}

/// Reads every key the source has, for finding rows gone from it: the
/// sink holds them as seen. Returns how many were read.
async fn scan_keys(
    entity: &EntityPlan,
    source: &dyn Source,
    sink: &mut dyn Sink,
    options: &RunOptions<'_>,
) -> Result<u64, EngineError> {
    let failed = |error| EngineError::Source { source_name: entity.source.clone(), error };
    let crate::plan::KeySpec::Columns(columns) = &entity.key else { return Ok(0) };
    let mut scan = source
        .key_scan(columns)
        .ok_or_else(|| failed(SourceError::new("this source cannot scan its keys: set deletes to another value")))?;
    scan.prepare().await.map_err(failed)?;
    let mut scanned = 0;
    while let Some(batch) = scan.next_batch().await.map_err(failed)? {
        if options.cancel.load(Ordering::Relaxed) {
            return Err(EngineError::Cancelled);
        }
        let keys = crate::map::keys_of(entity, &batch, None)?;
        scanned += keys.len() as u64;
        sink.seen_keys(entity, &keys, false).await?;
    }
    tracing::info!("{}: key scan read {scanned} keys", entity.source);
    Ok(scanned)
}

/// How many batches map at once, each on a thread of the blocking pool:
/// two, so that mapping uses both cores while staging waits on PostgreSQL.
const MAPPING_AHEAD: usize = 2;

/// Starts mapping `batch` on a thread of the blocking pool; the returned
/// future hands it back with its output.
fn map_on_thread(
    entity: &std::sync::Arc<EntityPlan>,
    batch: crate::batch::Batch,
    first_seq: u64,
) -> impl std::future::Future<Output = Result<(crate::batch::Batch, MapOutput), EngineError>> + use<> {
    let entity = std::sync::Arc::clone(entity);
    let mapping = tokio::task::spawn_blocking(move || {
        let output = map_batch(&entity, &batch, first_seq);
        (batch, output)
    });
    async move {
        let (batch, output) = joined(mapping.await)?;
        Ok((batch, output?))
    }
}

/// The result of a thread of the blocking pool: a panic there is the same
/// panic here; a thread cancelled at shutdown is a cancelled run.
fn joined<T>(result: Result<T, tokio::task::JoinError>) -> Result<T, EngineError> {
    result.map_err(|e| match e.try_into_panic() {
        Ok(panic) => std::panic::resume_unwind(panic),
        Err(_) => EngineError::Cancelled,
    })
}

/// Counts, stages and reports one mapped batch.
#[allow(clippy::too_many_arguments)]
async fn stage_batch(
    entity: &EntityPlan,
    batch: &crate::batch::Batch,
    output: MapOutput,
    position: Option<(u64, u64)>,
    sink: &mut dyn Sink,
    events: &mut dyn RunEvents,
    state: &mut RunState,
    unmapped: &mut UnmappedColumns,
) -> Result<(), EngineError> {
    let counts = state.counts.entry(entity.entity.clone()).or_default();
    counts.read += batch.height() as u64;
    unmapped.observe(batch);
    let MapOutput { mapped, rejects: map_rejects, notes, filtered } = output;
    counts.filtered += filtered;
    state.tally.add(&entity.entity, notes);
    let source_notes =
        batch.notes.iter().map(|n| MapNote { column: n.column.clone(), code: n.code, example: n.example.clone() });
    state.tally.add(&entity.entity, source_notes.collect());
    for r in map_rejects {
        counts.rejected += 1;
        let row = rejected_row(entity, batch, r.row, r.column, r.value, r.reason, r.message);
        state.rejects.add(&row);
        events.rejected(&row)?;
    }
    for r in sink.stage(entity, &mapped).await? {
        let counts = state.counts.entry(entity.entity.clone()).or_default();
        let source_row = mapped.source_rows.get(r.row).copied().unwrap_or(0);
        let source_column = r.column.as_deref().and_then(|t| source_column_for(entity, t));
        let value = source_column
            .as_deref()
            .and_then(|c| batch.text(c).ok())
            .and_then(|c| c.get(source_row))
            .map(str::to_string);
        counts.rejected += 1;
        let row = rejected_row(entity, batch, source_row, source_column.or(r.column), value, r.reason, r.message);
        state.rejects.add(&row);
        events.rejected(&row)?;
    }
    let counts = state.counts.entry(entity.entity.clone()).or_default();
    events.progress(&entity.entity, counts, position);
    Ok(())
}

fn check_budget(plan: &RunPlan, counts: &BTreeMap<String, EntityCounts>, all_read: bool) -> Result<(), EngineError> {
    let rejected: u64 = counts.values().map(|c| c.rejected).sum();
    let read: u64 = counts.values().map(|c| c.read).sum();
    match plan.max_rejected {
        Some(budget) if budget.exceeded(rejected, read, all_read) => {
            Err(EngineError::RejectBudgetExceeded { rejected, read, budget: budget.to_string() })
        }
        _ => Ok(()),
    }
}

fn check_source_columns(entity: &EntityPlan, header: &[String]) -> Result<(), EngineError> {
    for column in entity.source_columns() {
        if !header.iter().any(|h| h == column) {
            return Err(EngineError::UnknownSourceColumn {
                source_name: entity.source.clone(),
                column: column.to_string(),
                available: header.join(", "),
            });
        }
    }
    Ok(())
}

/// The source column that feeds a target column, when exactly one does.
fn source_column_for(entity: &EntityPlan, target: &str) -> Option<String> {
    let mut sources = entity.columns.iter().filter(|c| c.target == target).filter_map(|c| c.input.describe());
    let first = sources.next();
    if sources.next().is_some() { None } else { first }
}

fn rejected_row(
    entity: &EntityPlan,
    batch: &crate::batch::Batch,
    row: usize,
    column: Option<String>,
    value: Option<String>,
    reason: crate::reject::RejectReason,
    message: String,
) -> RejectedRow {
    RejectedRow {
        entity: entity.entity.clone(),
        location: batch.locations.get(row).cloned().unwrap_or(crate::location::SourceLocation::Key {
            table: entity.source.as_str().into(),
            key: format!("row {row}"),
        }),
        column,
        value,
        reason,
        message,
        source_fields: batch.row_values(row),
    }
}

/// Source columns the mapping does not read, but that hold data: the
/// customer should know they were left behind.
struct UnmappedColumns {
    entity: String,
    columns: Vec<(String, u64, Vec<String>)>,
}

impl UnmappedColumns {
    fn new(entity: &EntityPlan, header: &[String]) -> Self {
        let used = entity.source_columns();
        let whole_row = matches!(entity.key, crate::plan::KeySpec::RowHash);
        let columns = header
            .iter()
            .filter(|h| !whole_row && !used.contains(&h.as_str()))
            .map(|h| (h.clone(), 0, Vec::new()))
            .collect();
        Self { entity: entity.entity.clone(), columns }
    }

    fn observe(&mut self, batch: &crate::batch::Batch) {
        for (name, count, examples) in &mut self.columns {
            let Ok(values) = batch.text(name) else { continue };
            for v in values.iter().flatten().filter(|v| !v.trim().is_empty()) {
                *count += 1;
                if examples.len() < WARNING_EXAMPLES && !examples.iter().any(|e| e == v) {
                    examples.push(v.to_string());
                }
            }
        }
    }

    fn into_warnings(self) -> Vec<Warning> {
        let entity = self.entity;
        self.columns
            .into_iter()
            .filter(|(_, count, _)| *count > 0)
            .map(|(column, count, examples)| Warning {
                entity: entity.clone(),
                column: Some(column),
                code: "unmapped_source_column".to_string(),
                count,
                examples,
            })
            .collect()
    }
}

impl RunState {
    /// Rows whose links resolved to nothing: rejected ones are counted and
    /// written with the rejects; unlinked ones are warnings.
    fn account_links(&mut self, published: &[PublishedEntity], events: &mut dyn RunEvents) -> std::io::Result<()> {
        for p in published {
            let width = self.widths.get(&p.entity).copied().unwrap_or(0);
            for o in &p.orphans {
                self.counts.entry(p.entity.clone()).or_default().rejected += 1;
                let row = RejectedRow {
                    entity: p.entity.clone(),
                    location: crate::location::SourceLocation::Described(o.location.as_str().into()),
                    column: Some(o.column.clone()),
                    value: Some(o.value.clone()),
                    reason: crate::reject::RejectReason::OrphanReference,
                    message: format!(
                        "{} {:?} matches no {} loaded from this source system; the row was not loaded",
                        o.column, o.value, o.entity
                    ),
                    source_fields: vec![None; width],
                };
                self.rejects.add(&row);
                events.rejected(&row)?;
            }
            let notes: Vec<MapNote> = p
                .unlinked
                .iter()
                .map(|o| MapNote { column: o.column.clone(), code: "orphan_unlinked", example: o.value.clone() })
                .collect();
            self.tally.add(&p.entity, notes);
            let matched: Vec<MapNote> = p
                .matched
                .iter()
                .map(|(key, values)| MapNote {
                    column: values.split('=').next().unwrap_or("").to_string(),
                    code: "matched_existing",
                    example: format!("{key} → {values}"),
                })
                .collect();
            self.tally.add(&p.entity, matched);
        }
        Ok(())
    }

    fn into_report(
        self,
        plan: &RunPlan,
        options: RunOptions<'_>,
        started_at: chrono::DateTime<Utc>,
        status: RunStatus,
        published: &[PublishedEntity],
        error: Option<&EngineError>,
    ) -> RunReport {
        let entities = plan
            .entities
            .iter()
            .map(|entity| {
                let mut counts = self.counts.get(&entity.entity).copied().unwrap_or_default();
                let p = published.iter().find(|p| p.entity == entity.entity);
                if let Some(p) = p {
                    counts.duplicates = p.duplicates;
                    counts.inserted = p.inserted;
                    counts.updated = p.updated;
                    counts.unchanged = p.unchanged;
                    counts.loaded = p.inserted + p.updated + p.unchanged;
                }
                EntityReport {
                    entity: entity.entity.clone(),
                    source: entity.source.clone(),
                    counts,
                    target_count: p.filter(|_| status == RunStatus::Succeeded).map(|p| p.target_count),
                    org_total: p.filter(|_| status == RunStatus::Succeeded).map(|p| p.org_total),
                    balanced: counts.balanced(),
                    rejects_by_reason: self.rejects.of(&entity.entity),
                    fingerprints: p.map(|p| p.fingerprints.clone()).unwrap_or_default(),
                    existing: p.map(|p| ExistingSummary {
                        on_existing: entity.on_existing.as_str().to_string(),
                        matched: p.updated + p.unchanged,
                        matched_by_values: p.matched.len() as u64,
                        updated: p.updated,
                        unchanged: p.unchanged - p.skipped.min(p.unchanged),
                        skipped: p.skipped,
                    }),
                    missing: p.and_then(|p| p.missing).map(|m| MissingSummary {
                        on_missing: entity.on_missing.as_str().to_string(),
                        count: m.missing,
                        deleted: m.deleted,
                        kept_referenced: m.kept_referenced,
                    }),
                    similar_pairs: p.and_then(|p| p.similar_pairs),
                    links_created: p.and_then(|p| p.links_created),
                }
            })
            .collect();
        RunReport {
            schema_version: REPORT_SCHEMA_VERSION,
            run_id: options.run_id,
            org_id: plan.org_id,
            mapping: options.mapping,
            status,
            error: error.map(ToString::to_string),
            started_at,
            finished_at: Utc::now(),
            sources: self.sources,
            entities,
            warnings: self.tally.into_warnings().chain(self.warnings).collect(),
            decisions: self.decisions,
        }
    }
}
