//! Child tables: a collection per parent row (`/groups/{id}/owners`). A full sync reads every
//! parent's rows. An incremental sync reads them only for the parents a documented signal says
//! changed — the parent's own delta, the directory audit log (`changefeed`) — plus a slice of
//! every parent on each sync, so that each table is re-read whole at least every
//! `child_refresh` (the safety net for what no signal reports). A table whose signal is
//! unavailable, or whose previous sync did not complete, is re-read in full.
//!
//! A parent re-read in an incremental sync replaces its rows: its pages are read first, then its
//! old rows deleted and the new ones inserted, so that a failed read deletes nothing.

use super::{Outcome, Scheduler, SyncMessage, TableRun, changefeed, classify, describe_failure};
use super::{convert, delta::dedupe_by_id, list_query, transitive};
use crate::graph::{GraphClient, GraphError};
use crate::tables::{self, Source, Table};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use tokio::sync::mpsc;

/// How a child table is brought up to date in this sync.
#[derive(Debug, Clone)]
pub(super) enum ChildPlan {
    /// Every parent's rows: a first sync, a table whose previous sync did not complete, or one
    /// whose change feed is unavailable.
    Full,
    /// Rows carried in the parent's delta pages (`members@delta`).
    ParentDelta,
    /// Only changed parents: changed in the parent's delta, named by the audit log (`audit`),
    /// or due in this sync's slice of the periodic refresh.
    Changed {
        audit: Arc<HashSet<String>>,
        refresh: Refresh,
    },
}

/// Buckets of parents, by a hash of the id, that the periodic refresh walks through.
const BUCKETS: u32 = 64;

/// Progress of a child table's periodic full re-read, spread across syncs: a cycle of
/// `child_refresh` re-reads every bucket of parents, each sync the buckets the elapsed time
/// calls for. Stored as `<cycle start> <buckets done>`; an empty or missing value means the
/// table must be re-read in full.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Refresh {
    cycle_start: DateTime<Utc>,
    done: u32,
    target: u32,
    now: DateTime<Utc>,
}

impl Refresh {
    pub fn key(table: &str, tenant: &str) -> String {
        format!("{table}|{tenant}|refresh")
    }

    /// The value stored after a full read at `now`: a new cycle starts.
    pub fn fresh(now: DateTime<Utc>) -> String {
        format!("{} 0", now.to_rfc3339())
    }

    /// What is due at `now`, from the stored value; `None` when the table needs a full read.
    pub fn due(stored: &str, now: DateTime<Utc>, interval: chrono::Duration) -> Option<Refresh> {
        let (start, done) = stored.split_once(' ')?;
        let cycle_start = start.parse::<DateTime<Utc>>().ok()?;
        let done: u32 = done.parse().ok().filter(|d| *d <= BUCKETS)?;
        let elapsed = (now - cycle_start).num_milliseconds().max(0) as f64;
        let share = elapsed / interval.num_milliseconds().max(1) as f64;
        let target = ((share * BUCKETS as f64).floor() as u32).clamp(done, BUCKETS);
        Some(Refresh {
            cycle_start,
            done,
            target,
            now,
        })
    }

    /// Whether this sync re-reads the parent `id`.
    pub fn covers(&self, id: &str) -> bool {
        (self.done..self.target).contains(&bucket(id))
    }

    pub fn is_empty(&self) -> bool {
        self.done >= self.target
    }

    /// The value to store once this sync's slice was read.
    pub fn after(&self) -> String {
        if self.target >= BUCKETS {
            Refresh::fresh(self.now)
        } else {
            format!("{} {}", self.cycle_start.to_rfc3339(), self.target)
        }
    }
}

/// A stable bucket for a parent id (FNV-1a).
fn bucket(id: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in id.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash % BUCKETS
}

/// Whether a child table reads this parent row at all (e.g. PIM group tables only for
/// role-assignable groups).
pub(super) fn applies_to(table: &Table, parent: &Value) -> bool {
    table.parent_condition.is_none_or(|c| c.holds(parent))
}

impl Scheduler {
    /// Decides each child table's plan before the sync starts; reads the audit log when a
    /// table relies on it.
    pub(super) async fn plan_children(&self) {
        let tenant = self.client.tenant_id().to_string();
        let mut feed_users = Vec::new();
        for run in &self.runs {
            let Source::Child { parent, .. } = run.table.source else {
                continue;
            };
            let plan = if run.table.parent_delta.is_some() {
                ChildPlan::ParentDelta
            } else if !self.incremental() {
                ChildPlan::Full
            } else {
                let parent_table = tables::by_name(parent).expect("catalog parents exist");
                let parent_has_link = parent_table.incremental == tables::Incremental::Delta
                    && self.table_state(parent_table).is_some();
                let refresh = self
                    .state(&Refresh::key(run.table.name, &tenant))
                    .and_then(|v| Refresh::due(v, self.started, self.options.child_refresh));
                match (parent_has_link, refresh) {
                    (true, Some(refresh)) if !run.table.audit_activities.is_empty() => {
                        feed_users.push((run.clone(), refresh));
                        ChildPlan::Full
                    }
                    (true, Some(refresh)) => ChildPlan::Changed {
                        audit: Arc::default(),
                        refresh,
                    },
                    _ => ChildPlan::Full,
                }
            };
            *run.plan.lock().expect("not poisoned") = plan;
        }
        let feed_wanted = self.incremental()
            && self
                .runs
                .iter()
                .any(|r| !r.table.audit_activities.is_empty());
        if !feed_wanted {
            return;
        }
        if feed_users.is_empty() {
            // Nothing to read yet; the next sync reads the log from here.
            *self.feed_cursor.lock().expect("not poisoned") = Some(self.started.to_rfc3339());
            return;
        }
        let activities: HashSet<&str> = feed_users
            .iter()
            .flat_map(|(r, _)| r.table.audit_activities.iter().copied())
            .collect();
        match self.read_feed(&activities).await {
            Ok(feed) => {
                *self.feed_cursor.lock().expect("not poisoned") = Some(self.started.to_rfc3339());
                for (run, refresh) in feed_users {
                    let parent = tables::by_name(run.table.parent().expect("a child"))
                        .expect("catalog parents exist");
                    let audit =
                        feed.objects(run.table.audit_activities, changefeed::audit_type(parent));
                    *run.plan.lock().expect("not poisoned") = ChildPlan::Changed {
                        audit: Arc::new(audit),
                        refresh,
                    };
                }
            }
            Err(why) => {
                let names: Vec<&str> = feed_users.iter().map(|(r, _)| r.table.name).collect();
                tracing::warn!(
                    tables = names.join(", "),
                    "the audit log cannot serve as a change feed ({why}); re-reading these tables in full"
                );
                if why.starts_with("no audit log cursor") {
                    *self.feed_cursor.lock().expect("not poisoned") =
                        Some(self.started.to_rfc3339());
                }
            }
        }
    }

    /// After an incremental round of `run`: children re-read in full, and children re-read for
    /// the parents the audit log names or the refresh slice covers (those the delta reported
    /// changed were read with it).
    pub(super) async fn update_children(
        &self,
        run: &Arc<TableRun>,
        path: &str,
        children: &[Arc<TableRun>],
        jobs: &mut Vec<tokio::task::JoinHandle<()>>,
    ) -> Result<(), GraphError> {
        let mut whole = Vec::new();
        let mut sliced = Vec::new();
        for child in children {
            match child.plan() {
                ChildPlan::Full => whole.push(child.clone()),
                ChildPlan::Changed { audit, refresh } => {
                    let ids: Vec<String> = {
                        let done = child.reread.lock().expect("not poisoned");
                        audit
                            .iter()
                            .filter(|id| !done.contains(*id))
                            .cloned()
                            .collect()
                    };
                    for id in ids {
                        if child.stopped.load(Relaxed) || child.table.parent_condition.is_some() {
                            break;
                        }
                        let cq_id = convert::row_id(run.table, self.client.tenant_id(), &id);
                        child
                            .reread
                            .lock()
                            .expect("not poisoned")
                            .insert(id.clone());
                        self.spawn_children(vec![child.clone()], &id, cq_id, true, jobs)
                            .await;
                    }
                    if !refresh.is_empty() {
                        sliced.push((child.clone(), refresh));
                    }
                }
                ChildPlan::ParentDelta => {}
            }
        }
        if whole.is_empty() && sliced.is_empty() {
            return Ok(());
        }
        self.walk_parents(run, path, &whole, &sliced, jobs).await
    }

    /// Lists every parent by id (the cheapest listing Graph offers) and starts the children:
    /// all of them for `whole` tables, those in this sync's refresh slice for `sliced` ones.
    async fn walk_parents(
        &self,
        run: &Arc<TableRun>,
        path: &str,
        whole: &[Arc<TableRun>],
        sliced: &[(Arc<TableRun>, Refresh)],
        jobs: &mut Vec<tokio::task::JoinHandle<()>>,
    ) -> Result<(), GraphError> {
        let mut select = vec!["id"];
        let conditions = whole
            .iter()
            .chain(sliced.iter().map(|(c, _)| c))
            .filter_map(|c| c.table.parent_condition);
        for condition in conditions {
            if !select.contains(&condition.property()) {
                select.push(condition.property());
            }
        }
        let mut url = self.client.url(&format!(
            "/{}{path}?$select={}{}",
            run.table.version.segment(),
            select.join(","),
            run.table
                .max_page_size
                .map(|n| format!("&$top={n}"))
                .unwrap_or_default()
        ));
        let mut chain = self.client.chain();
        loop {
            let all_stopped = whole
                .iter()
                .chain(sliced.iter().map(|(c, _)| c))
                .all(|c| c.stopped.load(Relaxed));
            if all_stopped {
                return Ok(());
            }
            let (parents, next) = self.page(&url, &run.traffic).await?;
            for parent in &parents {
                let Some(id) = parent.get("id").and_then(Value::as_str) else {
                    continue;
                };
                let cq_id = convert::row_id(run.table, self.client.tenant_id(), id);
                let wanted: Vec<Arc<TableRun>> = whole
                    .iter()
                    .filter(|c| !c.stopped.load(Relaxed) && applies_to(c.table, parent))
                    .cloned()
                    .collect();
                if !wanted.is_empty() {
                    self.spawn_children(wanted, id, cq_id, false, jobs).await;
                }
                let due: Vec<Arc<TableRun>> = sliced
                    .iter()
                    .filter(|(c, refresh)| {
                        !c.stopped.load(Relaxed)
                            && refresh.covers(id)
                            && applies_to(c.table, parent)
                            && c.reread
                                .lock()
                                .expect("not poisoned")
                                .insert(id.to_string())
                    })
                    .map(|(c, _)| c.clone())
                    .collect();
                if !due.is_empty() {
                    self.spawn_children(due, id, cq_id, true, jobs).await;
                }
            }
            match next {
                super::Link::Next(next) => {
                    chain.follow(&next)?;
                    url = next;
                }
                _ => return Ok(()),
            }
        }
    }

    /// Starts a job reading `children` of one parent row. The job waits for a free slot; the
    /// caller waits only while `QUEUED_PARENTS` of its table's parents wait, the back-pressure
    /// that bounds memory. With `replace`, the parent's previous rows go.
    pub(super) async fn spawn_children(
        &self,
        children: Vec<Arc<TableRun>>,
        parent_id: &str,
        parent_cq_id: uuid::Uuid,
        replace: bool,
        jobs: &mut Vec<tokio::task::JoinHandle<()>>,
    ) {
        let parent_table = children.first().and_then(|c| match c.table.source {
            Source::Child { parent, .. } => Some(parent),
            _ => None,
        });
        let queued = match parent_table.and_then(|p| self.queued.get(p)) {
            Some(queue) => Some(queue.clone().acquire_owned().await.expect("never closed")),
            None => None,
        };
        let slots = self.child_slots.clone();
        let job = ChildJob {
            client: self.client.clone(),
            deterministic: self.options.deterministic(),
            tx: self.tx.clone(),
            children,
            parent_id: parent_id.to_string(),
            parent_cq_id,
            replace,
            memberships: self
                .memberships
                .clone()
                .zip(self.closure.map(|(_, from)| from)),
        };
        jobs.push(tokio::spawn(async move {
            let slot = slots.acquire_owned().await.expect("never closed");
            let children = job.children.clone();
            // Boxed once it runs: a queued task then holds its job (ids), not the room the
            // running read needs (thousands of parents may wait).
            let task =
                futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(Box::pin(job.run())));
            if let Err(panic) = task.await {
                let why = super::panic_message(&*panic);
                for child in children {
                    tracing::error!(table = child.table.name, "internal error: {why}");
                    child.fail(Outcome::Failed(format!(
                        "internal error: {why} (please report it; nothing was deleted)"
                    )));
                }
            }
            drop((slot, queued));
        }));
        // Finished handles are dropped so the list does not grow with the tenant (now and
        // then: most of a full list is still waiting).
        if jobs.len().is_multiple_of(256) {
            jobs.retain(|t| !t.is_finished());
        }
    }

    /// Re-reads, for users restored in this sync, the relationships Graph's delta does not
    /// report: the members of every group, role and administrative unit the user belongs to,
    /// the owners of what it owns, the registered owners of its devices.
    pub(super) async fn restore_memberships(&self) {
        let restored = std::mem::take(&mut self.soft_deleted.lock().expect("not poisoned").restore);
        if restored.is_empty() {
            return;
        }
        // (listing of the user, the relationship it appears in)
        const LOOKUPS: [(&str, &str); 3] = [
            ("memberOf", "/members"),
            ("ownedObjects", "/owners"),
            ("ownedDevices", "/registeredOwners"),
        ];
        let mut jobs = Vec::new();
        for user in restored {
            for (listing, relationship) in LOOKUPS {
                let tables = self.relationship_tables(relationship);
                if tables.is_empty() {
                    continue;
                }
                let url = self
                    .client
                    .url(&format!("/v1.0/users/{user}/{listing}?$select=id&$top=999"));
                let holders = match self.read_all(&url, &crate::graph::Traffic::default()).await {
                    Ok(holders) => holders,
                    Err(e) => {
                        // Tried again at the next sync.
                        tracing::warn!(user = %user, "cannot read a restored user's {listing} yet: {e}");
                        let mut soft = self.soft_deleted.lock().expect("not poisoned");
                        if !soft.restore.contains(&user) {
                            soft.restore.push(user.clone());
                        }
                        continue;
                    }
                };
                for holder in holders {
                    let (Some(id), Some(kind)) = (
                        holder.get("id").and_then(Value::as_str),
                        holder.get("@odata.type").and_then(Value::as_str),
                    ) else {
                        continue;
                    };
                    for run in &tables {
                        let parent = tables::by_name(run.table.parent().expect("a child"))
                            .expect("catalog parents exist");
                        if kind != format!("#microsoft.graph.{}", parent.resource) {
                            continue;
                        }
                        if self.is_closure_input(run.table.name) {
                            self.membership_changed
                                .lock()
                                .expect("not poisoned")
                                .insert(id.to_string());
                        }
                        let cq_id = convert::row_id(parent, self.client.tenant_id(), id);
                        self.spawn_children(vec![run.clone()], id, cq_id, true, &mut jobs)
                            .await;
                    }
                }
            }
        }
        futures::future::join_all(jobs).await;
    }

    /// The selected child tables of one relationship (`/members`, `/owners`, …).
    fn relationship_tables(&self, relationship: &str) -> Vec<Arc<TableRun>> {
        self.runs
            .iter()
            .filter(|r| {
                matches!(r.table.source, Source::Child { path, .. } if path.ends_with(relationship))
            })
            .cloned()
            .collect()
    }
}

/// Everything needed to read the child tables of one parent row.
struct ChildJob {
    client: Arc<GraphClient>,
    deterministic: bool,
    tx: mpsc::Sender<SyncMessage>,
    children: Vec<Arc<TableRun>>,
    parent_id: String,
    parent_cq_id: uuid::Uuid,
    /// Replace the parent's previous rows (an incremental re-read of one parent).
    replace: bool,
    /// Memberships collected for the computed table, and the table they are collected from.
    memberships: Option<(transitive::SharedMemberships, &'static str)>,
}

impl ChildJob {
    async fn run(self) {
        for child in &self.children {
            if child.stopped.load(Relaxed) {
                continue;
            }
            let Source::Child { path, .. } = child.table.source else {
                continue;
            };
            super::injected_panic(child.table.name);
            let path = path.replace("{id}", &self.parent_id);
            let url = self.client.url(&list_query(child.table, &path, None));
            let result = self.read_child(child, url).await;
            match result {
                Ok(()) => {}
                // The parent vanished between its listing and this request: nothing to read,
                // and nothing of it to keep.
                Err(e) if e.status() == Some(404) => {
                    tracing::debug!(table = child.table.name, parent = %self.parent_id, "parent gone: {e}");
                    if self.replace && self.forget_parent(child).await.is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let outcome = classify(child.table, &e);
                    let fatal = !matches!(outcome, Outcome::Failed(_)) || !e.is_retryable();
                    if fatal {
                        // A permission or licence error will repeat for every parent.
                        if !child.stopped.swap(true, Relaxed) {
                            tracing::error!(
                                table = child.table.name,
                                "{}",
                                describe_failure(child.table, &e)
                            );
                        }
                        child.fail(outcome);
                    } else {
                        tracing::error!(table = child.table.name, parent = %self.parent_id, "{e}");
                        child.fail(Outcome::Partial(e.to_string()));
                    }
                }
            }
        }
    }

    /// Deletes every row of this parent in `child`.
    async fn forget_parent(&self, child: &TableRun) -> Result<(), GraphError> {
        child.flush(&self.tx).await?;
        let parent_key = child.table.parent_key().unwrap_or("parent_id");
        self.tx
            .send(SyncMessage::DeleteRecord {
                table: child.table.name,
                keys: vec![
                    ("tenant_id".into(), self.client.tenant_id().to_string()),
                    (parent_key.into(), self.parent_id.clone()),
                ],
            })
            .await
            .map_err(|_| GraphError::Setup("the sink stopped".into()))
    }

    async fn read_child(&self, child: &Arc<TableRun>, mut url: String) -> Result<(), GraphError> {
        let mut chain = self.client.chain();
        // A replacing read holds the parent's pages until all arrived: a failure midway must
        // not have deleted the old rows.
        let mut held: Vec<Vec<Value>> = Vec::new();
        loop {
            let page = self.client.get_page(&url, &child.traffic).await?;
            let objects = dedupe_by_id(page.objects);
            if self.replace {
                held.push(objects);
            } else {
                self.write(child, &objects).await?;
            }
            match page.next {
                Some(next) => {
                    chain.follow(&next)?;
                    url = next;
                }
                None => break,
            }
        }
        if self.replace {
            self.forget_parent(child).await?;
            for objects in held {
                self.write(child, &objects).await?;
            }
        }
        Ok(())
    }

    async fn write(&self, child: &Arc<TableRun>, objects: &[Value]) -> Result<(), GraphError> {
        if objects.is_empty() {
            return Ok(());
        }
        if let Some((m, from)) = &self.memberships
            && child.table.name == *from
        {
            m.lock()
                .expect("not poisoned")
                .add_members(&self.parent_id, objects);
        }
        let ctx = convert::RowContext {
            tenant_id: self.client.tenant_id(),
            parent: Some((&self.parent_id, self.parent_cq_id)),
        };
        // Reads that replace a parent's rows send them at once; the others join a batch.
        child
            .insert_batched(&self.tx, objects, &ctx, self.deterministic, !self.replace)
            .await
            .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn refresh_spreads_a_cycle_over_the_interval() {
        let day = chrono::Duration::hours(24);
        let start = at("2026-01-01T00:00:00Z");
        let stored = Refresh::fresh(start);
        // Right after a full read nothing is due.
        let r = Refresh::due(&stored, start + chrono::Duration::minutes(1), day).unwrap();
        assert!(r.is_empty());
        // A quarter of the interval later, a quarter of the buckets.
        let r = Refresh::due(&stored, start + chrono::Duration::hours(6), day).unwrap();
        assert_eq!((r.done, r.target), (0, 16));
        let next = r.after();
        let r = Refresh::due(&next, start + chrono::Duration::hours(12), day).unwrap();
        assert_eq!((r.done, r.target), (16, 32));
        // Overdue: everything left, then a new cycle.
        let r = Refresh::due(&r.after(), start + chrono::Duration::days(3), day).unwrap();
        assert_eq!((r.done, r.target), (32, 64));
        assert!(r.after().ends_with(" 0"));
        // Every id falls in exactly one bucket of a cycle.
        let ids: Vec<String> = (0..1000).map(|i| format!("id-{i}")).collect();
        let slices = [(0, 16), (16, 32), (32, 64)];
        for id in &ids {
            let hits = slices
                .iter()
                .filter(|(d, t)| (*d..*t).contains(&bucket(id)))
                .count();
            assert_eq!(hits, 1, "{id}");
        }
    }

    #[test]
    fn an_unreadable_refresh_state_means_a_full_read() {
        let day = chrono::Duration::hours(24);
        let now = at("2026-01-01T00:00:00Z");
        assert!(Refresh::due("", now, day).is_none());
        assert!(Refresh::due("garbage", now, day).is_none());
        assert!(Refresh::due("2026-01-01T00:00:00Z 65", now, day).is_none());
    }
}
