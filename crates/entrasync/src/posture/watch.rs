//! The change log of the objects that matter, for `entrasync check --since`.
//!
//! Object timestamps and the audit log show additions only, and only what Graph timestamps.
//! To see removals too (a privileged-role holder removed, a Conditional Access exclusion
//! dropped, a credential deleted), `entrasync sync` keeps a snapshot of a few *watched facts*
//! ([`super::controls::WATCHED`], SQL like the controls') per tenant in `entrasync_watch`, and
//! after each sync appends what appeared and disappeared since the previous snapshot to
//! `entrasync_changes`, stamped with the sync's time.
//!
//! A kind of fact is recorded only when every table it reads was synced completely in this run,
//! so a failed or skipped table never reads as "everything was removed". The first time a kind
//! is recorded for a tenant its facts become the baseline: one `baseline` row (detail: the number
//! of facts) instead of an `added` row per fact.

use super::{Db, Dialect, controls, sql};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Instant;

/// The snapshot of the watched facts: one row per tenant, kind and key.
pub const SNAPSHOT_TABLE: &str = "entrasync_watch";
/// The change log: `added`, `removed` and `baseline` rows.
pub const CHANGES_TABLE: &str = "entrasync_changes";

/// One kind of watched fact.
#[derive(Debug, serde::Serialize)]
pub struct Watch {
    /// Stable id shown by `check --since` (`LOG-ROLES`).
    pub id: &'static str,
    /// Stored in the `kind` column.
    pub kind: &'static str,
    pub title: &'static str,
    /// Every table the query reads; all must have synced completely in the run.
    pub tables: &'static [&'static str],
    /// Returns `key, object_id, object_name, detail` of one tenant (`@tenant()`). The key is
    /// made of ids only, so that a rename is not a change.
    pub sql: &'static str,
}

impl Watch {
    pub fn query(&self, dialect: Dialect, tenant: &str) -> String {
        let text = self
            .sql
            .replace("@tenant()", &format!("'{}'", tenant.replace('\'', "''")));
        let inner = sql::expand(&text, dialect, &controls::list);
        format!(
            "SELECT CAST(key AS TEXT), CAST(object_id AS TEXT), CAST(object_name AS TEXT), CAST(detail AS TEXT) FROM ({inner}) AS q"
        )
    }
}

/// What one recording did, for the log and the benchmark.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Stats {
    /// Kinds recorded (their tables synced completely).
    pub kinds: usize,
    /// Facts in the snapshot of the recorded kinds after this sync.
    pub facts: usize,
    pub added: usize,
    pub removed: usize,
    /// Kinds recorded for the first time (their facts became the baseline).
    pub baselines: usize,
    pub millis: u64,
}

const DDL: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS entrasync_watch (tenant_id TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, \
     object_id TEXT NOT NULL, object_name TEXT NOT NULL, detail TEXT NOT NULL, PRIMARY KEY (tenant_id, kind, key))",
    "CREATE TABLE IF NOT EXISTS entrasync_changes (tenant_id TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, \
     object_id TEXT NOT NULL, object_name TEXT NOT NULL, detail TEXT NOT NULL, change TEXT NOT NULL, detected_at TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS entrasync_changes_detected_at ON entrasync_changes (detected_at)",
];

type Facts = BTreeMap<String, [String; 3]>;

/// Computes the watched facts of `tenant` whose tables all synced completely (`complete`),
/// diffs them with the snapshot and appends the differences to the change log, as of `at`.
pub async fn record(
    db: &Db,
    tenant: &str,
    at: DateTime<Utc>,
    complete: &dyn Fn(&str) -> bool,
) -> anyhow::Result<Stats> {
    let start = Instant::now();
    for ddl in DDL {
        db.execute(ddl, &[]).await?;
    }
    let mut current = Vec::new();
    for watch in controls::WATCHED {
        if !watch.tables.iter().all(|t| complete(t)) {
            continue;
        }
        let rows = db
            .text_rows(&watch.query(db.dialect(), tenant))
            .await
            .map_err(|e| anyhow::anyhow!("computing the watched {}: {e:#}", watch.kind))?;
        let facts: Facts = rows
            .into_iter()
            .filter(|r| r.len() == 4 && !r[0].is_empty())
            .map(|r| (r[0].clone(), [r[1].clone(), r[2].clone(), r[3].clone()]))
            .collect();
        current.push((watch, facts));
    }
    let at = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    db.execute("BEGIN", &[]).await?;
    let written = write(db, tenant, &at, &current).await;
    match written {
        Ok(mut stats) => {
            db.execute("COMMIT", &[]).await?;
            stats.millis = start.elapsed().as_millis() as u64;
            Ok(stats)
        }
        Err(e) => {
            // The snapshot is left as it was: the next sync diffs against it again.
            let _ = db.execute("ROLLBACK", &[]).await;
            Err(e)
        }
    }
}

async fn write(
    db: &Db,
    tenant: &str,
    at: &str,
    current: &[(&Watch, Facts)],
) -> anyhow::Result<Stats> {
    let mut stats = Stats::default();
    for (watch, facts) in current {
        let kind = watch.kind;
        stats.kinds += 1;
        stats.facts += facts.len();
        let has_baseline = !db
            .text_rows_with(
                "SELECT kind FROM entrasync_changes WHERE tenant_id = $1 AND kind = $2 AND change = 'baseline' LIMIT 1",
                &[tenant, kind],
            )
            .await?
            .is_empty();
        let old: Facts = db
            .text_rows_with(
                "SELECT key, object_id, object_name, detail FROM entrasync_watch WHERE tenant_id = $1 AND kind = $2",
                &[tenant, kind],
            )
            .await?
            .into_iter()
            .map(|r| (r[0].clone(), [r[1].clone(), r[2].clone(), r[3].clone()]))
            .collect();
        let insert = "INSERT INTO entrasync_watch (tenant_id, kind, key, object_id, object_name, detail) VALUES ($1, $2, $3, $4, $5, $6)";
        let log = "INSERT INTO entrasync_changes (tenant_id, kind, key, object_id, object_name, detail, change, detected_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
        if !has_baseline {
            // The first recording of a kind: what exists is the baseline, not news.
            db.execute(
                "DELETE FROM entrasync_watch WHERE tenant_id = $1 AND kind = $2",
                &[tenant, kind],
            )
            .await?;
            let all: Vec<_> = facts.iter().collect();
            db.execute_each(insert, &snapshot(tenant, kind, &all))
                .await?;
            let count = format!("{} facts", facts.len());
            db.execute(log, &[tenant, kind, "", "", "", &count, "baseline", at])
                .await?;
            stats.baselines += 1;
            continue;
        }
        let removed: Vec<_> = old
            .iter()
            .filter(|(k, _)| !facts.contains_key(*k))
            .collect();
        let added: Vec<_> = facts
            .iter()
            .filter(|(k, _)| !old.contains_key(*k))
            .collect();
        db.execute_each(
            "DELETE FROM entrasync_watch WHERE tenant_id = $1 AND kind = $2 AND key = $3",
            &removed
                .iter()
                .map(|(key, _)| vec![tenant, kind, key.as_str()])
                .collect::<Vec<_>>(),
        )
        .await?;
        db.execute_each(log, &logged(tenant, kind, &removed, "removed", at))
            .await?;
        db.execute_each(insert, &snapshot(tenant, kind, &added))
            .await?;
        db.execute_each(log, &logged(tenant, kind, &added, "added", at))
            .await?;
        stats.removed += removed.len();
        stats.added += added.len();
    }
    Ok(stats)
}

/// The snapshot rows of `facts`.
fn snapshot<'a>(
    tenant: &'a str,
    kind: &'a str,
    facts: &[(&'a String, &'a [String; 3])],
) -> Vec<Vec<&'a str>> {
    facts
        .iter()
        .map(|(key, [id, name, detail])| vec![tenant, kind, key, id, name, detail])
        .collect()
}

/// The change-log rows of `facts`, as `change` at `at`.
fn logged<'a>(
    tenant: &'a str,
    kind: &'a str,
    facts: &[(&'a String, &'a [String; 3])],
    change: &'a str,
    at: &'a str,
) -> Vec<Vec<&'a str>> {
    facts
        .iter()
        .map(|(key, [id, name, detail])| vec![tenant, kind, key, id, name, detail, change, at])
        .collect()
}
