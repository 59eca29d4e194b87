//! Progress while a sync runs (bars on a terminal, plain lines otherwise) and the summary at the end.

use super::{Outcome, TableRun};
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

/// Shows per-table progress until dropped.
pub struct Progress {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    /// Bars on an interactive stderr; nothing otherwise (plain log lines report each table).
    pub fn start(runs: Vec<Arc<TableRun>>, enabled: bool) -> Progress {
        if !enabled || !std::io::stderr().is_terminal() {
            return Progress {
                stop: None,
                task: None,
            };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(5));
        let style =
            ProgressStyle::with_template("{spinner} {prefix:<58} {msg}").expect("static template");
        let bars: Vec<(Arc<TableRun>, ProgressBar)> = runs
            .into_iter()
            .map(|run| {
                let bar = multi.add(ProgressBar::new_spinner());
                bar.set_style(style.clone());
                bar.set_prefix(run.table.name);
                (run, bar)
            })
            .collect();
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            loop {
                for (run, bar) in &bars {
                    bar.set_message(line(run));
                    if run.outcome().is_some() && !bar.is_finished() {
                        bar.finish();
                    } else {
                        bar.tick();
                    }
                }
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
            for (run, bar) in &bars {
                bar.set_message(line(run));
                bar.finish();
            }
            let _ = multi.clear();
        });
        Progress {
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

fn line(run: &TableRun) -> String {
    let t = &run.traffic;
    let mut s = format!(
        "{} rows, {} requests",
        run.rows.load(Relaxed),
        t.requests.load(Relaxed)
    );
    let waits = t.throttle_waits.load(Relaxed);
    if waits > 0 {
        let _ = write!(
            s,
            ", throttled {waits}× ({:.1} s)",
            t.throttle_wait_ms.load(Relaxed) as f64 / 1000.0
        );
    }
    match run.outcome() {
        Some(Outcome::Complete) => s.push_str(" ✓"),
        Some(Outcome::Partial(_)) => s.push_str(" partial"),
        Some(Outcome::Failed(_)) => s.push_str(" FAILED"),
        Some(Outcome::Skipped(_)) => s.push_str(" skipped"),
        None => {}
    }
    s
}

/// The end-of-sync table: rows, requests, resource units (identity tables), retries and time per
/// table, then skipped and failed tables with their reasons.
pub fn summary(runs: &[Arc<TableRun>]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<60} {:>10} {:>9} {:>9} {:>8} {:>9}  status",
        "table", "rows", "requests", "RU", "retries", "time"
    );
    let mut skipped = Vec::new();
    let mut failed = Vec::new();
    for run in runs {
        let outcome = run.outcome().unwrap_or(Outcome::Complete);
        let status = match &outcome {
            Outcome::Complete => "ok",
            Outcome::Partial(_) => "partial",
            Outcome::Failed(_) => "failed",
            Outcome::Skipped(_) => "skipped",
        };
        let elapsed = run
            .elapsed
            .lock()
            .expect("not poisoned")
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<60} {:>10} {:>9} {:>9} {:>8} {:>8.1}s  {status}",
            run.table.name,
            run.rows.load(Relaxed),
            run.traffic.requests.load(Relaxed),
            run.traffic.resource_units.load(Relaxed),
            run.traffic.retries.load(Relaxed),
            elapsed.as_secs_f64(),
        );
        match outcome {
            Outcome::Skipped(why) => skipped.push((run.table.name, why)),
            Outcome::Failed(why) | Outcome::Partial(why) => failed.push((run.table.name, why)),
            Outcome::Complete => {}
        }
    }
    if !skipped.is_empty() {
        let _ = writeln!(out, "\nSkipped (missing permission or licence):");
        for (name, why) in &skipped {
            let _ = writeln!(out, "  {name}: {why}");
        }
    }
    if !failed.is_empty() {
        let _ = writeln!(out, "\nFailed (previous rows of these tables were kept):");
        for (name, why) in &failed {
            let _ = writeln!(out, "  {name}: {why}");
        }
    }
    out
}
