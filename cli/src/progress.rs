//! The progress display of `migrate run`: a bar per entity (how far the
//! source is, with rows/s and an ETA, or a spinner when the source cannot
//! say how far it is), then a spinner while publishing. Drawn on stderr,
//! only on a terminal and without `--quiet`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use migrate_app::Progress;

#[derive(Default)]
struct State {
    bar: Option<ProgressBar>,
    entity: String,
    started: Option<Instant>,
}

/// Shared between the run's event callback and the command.
#[derive(Clone)]
pub struct Bars {
    state: Arc<Mutex<State>>,
    shown: bool,
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

impl Bars {
    pub fn new(shown: bool) -> Self {
        Self { state: Arc::new(Mutex::new(State::default())), shown }
    }

    fn bar(&self, len: Option<u64>) -> ProgressBar {
        let bar = match len {
            Some(n) => ProgressBar::new(n).with_style(style("{prefix:>12} [{bar:30}] {percent:>3}% {msg} · ETA {eta}")),
            None => ProgressBar::new_spinner().with_style(style("{prefix:>12} {spinner} {msg}")),
        };
        if !self.shown {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar
    }

    pub fn update(&self, event: Progress<'_>) {
        let Ok(mut s) = self.state.lock() else { return };
        match event {
            Progress::Rows { entity, counts, position } => {
                if s.entity != entity || s.bar.is_none() {
                    if let Some(old) = s.bar.take() {
                        old.finish();
                    }
                    let bar = self.bar(position.map(|(_, total)| total));
                    bar.set_prefix(entity.to_string());
                    s.bar = Some(bar);
                    s.entity = entity.to_string();
                    s.started = Some(Instant::now());
                }
                let elapsed = s.started.map_or(0.0, |t| t.elapsed().as_secs_f64()).max(0.001);
                if let Some(bar) = &s.bar {
                    if let Some((done, _)) = position {
                        bar.set_position(done);
                    } else {
                        bar.tick();
                    }
                    bar.set_message(format!(
                        "{} rows ({:.0}/s), {} rejected",
                        counts.read,
                        counts.read as f64 / elapsed,
                        counts.rejected
                    ));
                }
            }
            Progress::Publishing => {
                if let Some(old) = s.bar.take() {
                    old.finish();
                }
                let bar = self.bar(None);
                bar.set_prefix("publishing");
                bar.set_message("one transaction, under the tenant role");
                bar.enable_steady_tick(Duration::from_millis(120));
                s.bar = Some(bar);
                s.entity.clear();
            }
        }
    }

    /// Clears the display before the summary is printed.
    pub fn finish(&self) {
        if let Ok(mut s) = self.state.lock()
            && let Some(bar) = s.bar.take()
        {
            bar.finish_and_clear();
        }
    }
}
