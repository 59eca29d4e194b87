//! The scheduler: reads every selected table from Graph and emits `SyncMessage`s.
//!
//! One module per way of reading a table: `list` (collections and singletons, every row every
//! time), `delta` (Graph delta queries), `cursor` (log tables by timestamp), `children` (a
//! collection per parent row: in full, or only for the parents a signal says changed),
//! `changefeed` (the directory audit log as that signal) and `transitive` (a table computed
//! from others). This module holds what they share: the messages, each table's live run, the
//! plan of every table, and the orchestration.
//!
//! Every top-level table runs as its own chain of pages, all at once. Child tables fan out over
//! their parent's rows, bounded by `CHILD_CHAINS`, so memory is bounded by the pages in flight
//! and the message channel. A failing table ends with a `TableDone` carrying its error; the
//! others go on. State (delta links, cursors, refresh progress) goes out last, after every row
//! it covers.

mod changefeed;
mod children;
pub mod convert;
mod cursor;
mod delta;
mod list;
pub mod report;
mod transitive;

use crate::graph::{GraphClient, GraphError, Traffic};
use crate::tables::{self, Incremental, Selected, Source, Table};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use children::{ChildPlan, Refresh};
use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::join_all;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};

/// What the scheduler tells the sinks, mirroring CloudQuery's sync messages.
#[derive(Debug)]
pub enum SyncMessage {
    /// Create or migrate the table before any of its rows arrive.
    MigrateTable(SchemaRef),
    /// One page of rows.
    Insert(RecordBatch),
    /// Rows removed in Graph: delete the rows of `table` whose columns equal `keys` (all of them),
    /// and their child rows.
    DeleteRecord {
        table: &'static str,
        keys: Vec<(String, String)>,
    },
    /// Incremental state to store once every message before this one is durably written
    /// (a delta link or a log cursor). Keys are `<table>|<tenant id>[|…]`.
    State { key: String, value: String },
    /// The table has finished. `replaced` is true when every current row was emitted by this
    /// sync, so rows it did not emit are stale and may be deleted.
    TableDone { table: &'static str, replaced: bool },
}

/// How a table's sync ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Complete,
    /// Some rows could not be read (a child table whose fetch failed for some parents).
    Partial(String),
    Failed(String),
    /// Not attempted or abandoned because a permission or licence is missing.
    Skipped(String),
}

/// Live state of one table, read by progress bars and the summary.
#[derive(Debug)]
pub struct TableRun {
    pub table: &'static Table,
    pub explicit: bool,
    pub rows: AtomicU64,
    /// Rows deleted because Graph reported them removed.
    pub removed: AtomicU64,
    pub traffic: Traffic,
    pub started: std::sync::Mutex<Option<Instant>>,
    pub elapsed: std::sync::Mutex<Option<Duration>>,
    pub outcome: std::sync::Mutex<Option<Outcome>>,
    /// Objects skipped because they lack a primary-key property.
    pub skipped_objects: AtomicU64,
    /// Set when a fatal error (403, licence) means no further requests should be made.
    stopped: AtomicBool,
    /// False once the table is read incrementally: then not every row is re-emitted.
    full: AtomicBool,
    /// The delta link or cursor to store when the run ends complete.
    pending_state: std::sync::Mutex<Option<SyncMessage>>,
    /// Set once `TableDone` went out, so that it goes out once.
    reported: AtomicBool,
    /// Child tables: how this sync brings them up to date.
    plan: std::sync::Mutex<ChildPlan>,
    /// Child tables read for changed parents: the parents already re-read in this sync.
    reread: std::sync::Mutex<HashSet<String>>,
    /// Rows of per-parent reads waiting to go out together: thousands of parents with a few
    /// children each would otherwise cost the sinks thousands of tiny batches.
    coalesced: std::sync::Mutex<Vec<RecordBatch>>,
}

impl TableRun {
    fn new(selected: &Selected) -> TableRun {
        TableRun {
            table: selected.table,
            explicit: selected.explicit,
            rows: AtomicU64::new(0),
            removed: AtomicU64::new(0),
            traffic: Traffic {
                leading: selected.table.parent().is_none(),
                ..Traffic::default()
            },
            started: Default::default(),
            elapsed: Default::default(),
            outcome: Default::default(),
            skipped_objects: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            full: AtomicBool::new(true),
            pending_state: Default::default(),
            reported: AtomicBool::new(false),
            plan: std::sync::Mutex::new(ChildPlan::Full),
            reread: Default::default(),
            coalesced: Default::default(),
        }
    }

    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome.lock().expect("not poisoned").clone()
    }

    /// Marks the run started, once (a computed table may start with its first streamed rows).
    fn start(&self) {
        self.started
            .lock()
            .expect("not poisoned")
            .get_or_insert_with(Instant::now);
    }

    fn plan(&self) -> ChildPlan {
        self.plan.lock().expect("not poisoned").clone()
    }

    /// Records that everything was read, unless a failure was recorded first. A run that never
    /// says so ends `Failed`: only an explicit success may delete stale rows.
    fn complete(&self) {
        let skipped = self.skipped_objects.load(Relaxed);
        if skipped > 0 {
            self.fail(Outcome::Partial(format!(
                "{skipped} objects from Graph had no primary key ({}) and were skipped",
                self.table
                    .columns()
                    .iter()
                    .filter(|c| c.primary_key && c.graph.is_some())
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        self.fail(Outcome::Complete);
    }

    /// Records the first outcome; later ones of the same table only add to the log.
    fn fail(&self, outcome: Outcome) {
        let mut slot = self.outcome.lock().expect("not poisoned");
        if slot.is_none() {
            *slot = Some(outcome);
        }
    }

    /// Converts a page of this table's objects into one batch and sends it as one insert;
    /// returns each object's `_cq_id` (for its children), `None` for an object skipped for want
    /// of a primary key.
    async fn insert(
        &self,
        tx: &mpsc::Sender<SyncMessage>,
        objects: &[Value],
        ctx: &convert::RowContext<'_>,
        deterministic: bool,
    ) -> Result<Vec<Option<uuid::Uuid>>, GraphError> {
        self.insert_batched(tx, objects, ctx, deterministic, false)
            .await
    }

    /// As `insert`, with `coalesce` holding the batch back until `COALESCED_ROWS` rows wait or
    /// the table is flushed.
    async fn insert_batched(
        &self,
        tx: &mpsc::Sender<SyncMessage>,
        objects: &[Value],
        ctx: &convert::RowContext<'_>,
        deterministic: bool,
        coalesce: bool,
    ) -> Result<Vec<Option<uuid::Uuid>>, GraphError> {
        let keyed = self.keyed(objects);
        let kept: Vec<Value>;
        let rows = if keyed.iter().all(|k| *k) {
            objects
        } else {
            kept = objects
                .iter()
                .zip(&keyed)
                .filter(|(_, k)| **k)
                .map(|(o, _)| o.clone())
                .collect();
            &kept
        };
        if rows.is_empty() {
            return Ok(vec![None; objects.len()]);
        }
        let schema = convert::schema(self.table);
        let (batch, ids) = convert::to_batch(self.table, &schema, rows, ctx, deterministic)
            .map_err(|e| {
                GraphError::Setup(format!("{}: cannot convert a page: {e}", self.table.name))
            })?;
        self.rows.fetch_add(batch.num_rows() as u64, Relaxed);
        let ready = match coalesce {
            false => Some(Ok(batch)),
            true => {
                let mut waiting = self.coalesced.lock().expect("not poisoned");
                waiting.push(batch);
                let rows: usize = waiting.iter().map(RecordBatch::num_rows).sum();
                (rows >= COALESCED_ROWS).then(|| concat(&schema, std::mem::take(&mut *waiting)))
            }
        };
        if let Some(batch) = ready {
            tx.send(SyncMessage::Insert(batch?))
                .await
                .map_err(|_| GraphError::Setup("the sink stopped".into()))?;
        }
        let mut ids = ids.into_iter();
        Ok(keyed
            .into_iter()
            .map(|k| if k { ids.next() } else { None })
            .collect())
    }

    /// Sends the rows held back by `insert_batched`: before the table ends, and before any
    /// delete that could concern them goes out (a delete must not overtake an earlier insert).
    async fn flush(&self, tx: &mpsc::Sender<SyncMessage>) -> Result<(), GraphError> {
        let waiting = std::mem::take(&mut *self.coalesced.lock().expect("not poisoned"));
        if waiting.is_empty() {
            return Ok(());
        }
        let batch = concat(&convert::schema(self.table), waiting)?;
        tx.send(SyncMessage::Insert(batch))
            .await
            .map_err(|_| GraphError::Setup("the sink stopped".into()))
    }

    /// Which objects carry every primary-key property. The others are counted and skipped: the
    /// table then ends `Partial`, so nothing is deleted on the strength of this read.
    fn keyed(&self, objects: &[Value]) -> Vec<bool> {
        let columns = self.table.columns();
        let keys: Vec<_> = columns
            .iter()
            .filter_map(|c| c.graph.filter(|_| c.primary_key).map(|g| (g, c.kind)))
            .collect();
        objects
            .iter()
            .map(|object| {
                let has_keys = keys.iter().all(|(graph, kind)| match object.get(*graph) {
                    Some(Value::String(s)) => !s.is_empty(),
                    Some(Value::Null) | None => false,
                    Some(_) => *kind != entrasync_sinks::cq::ColumnKind::Utf8,
                });
                if !has_keys && self.skipped_objects.fetch_add(1, Relaxed) == 0 {
                    tracing::warn!(
                        table = self.table.name,
                        "Graph sent an object without its primary key; skipping it (and counting any others)"
                    );
                }
                has_keys
            })
            .collect()
    }

    fn is_complete(&self) -> bool {
        matches!(self.outcome(), None | Some(Outcome::Complete))
    }

    /// Ends the run; true when it completed.
    fn finish(&self) -> bool {
        let elapsed = self
            .started
            .lock()
            .expect("not poisoned")
            .map(|s| s.elapsed());
        *self.elapsed.lock().expect("not poisoned") = elapsed;
        self.fail(Outcome::Failed(
            "the table's task ended without reporting an outcome (an internal error)".into(),
        ));
        self.outcome() == Some(Outcome::Complete)
    }
}

/// Options of one sync that come from the source config.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    pub deterministic_cq_id: bool,
    /// Incremental state read from the backend (`<table>|<tenant id>` → delta link or cursor).
    /// `None` without `backend_options`: every table syncs in full and no state is emitted.
    pub state: Option<HashMap<String, String>>,
    /// How far back the first sync of a log table reads; `None` reads everything Graph keeps.
    pub log_lookback: Option<chrono::Duration>,
    /// How far before the newest entry seen a log cursor (and the audit change feed) restarts:
    /// Graph indexes log entries late. The overlap is de-duplicated by id.
    pub log_overlap: chrono::Duration,
    /// Every child table is re-read in full at least this often, spread across syncs.
    pub child_refresh: chrono::Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            deterministic_cq_id: false,
            state: None,
            log_lookback: None,
            log_overlap: chrono::Duration::hours(2),
            child_refresh: chrono::Duration::hours(24),
        }
    }
}

impl SyncOptions {
    /// With a backend, `_cq_id` is derived from the primary key: rows re-emitted by a later
    /// incremental sync must keep the id their unchanged children point at.
    fn deterministic(&self) -> bool {
        self.deterministic_cq_id || self.state.is_some()
    }
}

/// Parent rows fetched for children at the same time, across all tables: enough requests in
/// flight to spend the identity budget (about 500 requests/s) at a few hundred milliseconds of
/// latency; the throttle, not this bound, sets the pace.
const CHILD_CHAINS: usize = 192;

/// Parent rows of one table whose children wait for a slot: a listing goes on without waiting
/// for other tables' children to finish (so the longest chain is never held up by them) until
/// this many of its own parents wait; each waits as a small task (its ids, no page). Large
/// enough that the groups delta chain outruns the first burst of every table's children (200
/// held it at ~190 ms a page for its first 200 pages on `large`; a queued task holds its ids,
/// its read is boxed only when it runs).
const QUEUED_PARENTS: usize = 4096;

/// Rows of per-parent reads sent together (see `TableRun::coalesced`).
const COALESCED_ROWS: usize = 1000;

fn concat(schema: &SchemaRef, batches: Vec<RecordBatch>) -> Result<RecordBatch, GraphError> {
    arrow_select::concat::concat_batches(schema, &batches)
        .map_err(|e| GraphError::Setup(format!("cannot join pages: {e}")))
}

/// The state key of a table in a tenant.
pub fn state_key(table: &str, tenant_id: &str) -> String {
    format!("{table}|{tenant_id}")
}

pub struct Scheduler {
    client: Arc<GraphClient>,
    options: SyncOptions,
    runs: Vec<Arc<TableRun>>,
    tx: mpsc::Sender<SyncMessage>,
    child_slots: Arc<Semaphore>,
    /// Per parent table: its parents queued for a child slot (`QUEUED_PARENTS`).
    queued: HashMap<&'static str, Arc<Semaphore>>,
    /// When the sync started: the next change-feed cursor and refresh cycles count from here.
    started: DateTime<Utc>,
    /// The selected computed table's parent and the child table it is computed from.
    closure: Option<(&'static str, &'static str)>,
    /// Collected only when a computed table is rebuilt from every membership.
    memberships: Option<transitive::SharedMemberships>,
    /// Groups whose direct memberships changed in this sync, for the transitive table.
    membership_changed: std::sync::Mutex<HashSet<String>>,
    /// Directory objects reported removed, whose relationship rows go at the end of the sync.
    removed: std::sync::Mutex<Vec<String>>,
    /// Users soft-deleted within Graph's 30-day restore window, so that a restored user's
    /// memberships can be read back, and restores whose memberships are still to read.
    soft_deleted: std::sync::Mutex<transitive::SoftDeleted>,
    /// The directory audit log's cursor to store, when it was read.
    feed_cursor: std::sync::Mutex<Option<String>>,
    /// State entries of finished tables, sent once every row of the sync is out.
    states: std::sync::Mutex<Vec<SyncMessage>>,
}

/// Where a top-level table's reading starts.
enum Plan {
    /// The plain collection (or singleton): every row, every time.
    Full,
    /// A delta round from `url`; `initial` when it is the first round (all current objects).
    Delta { url: String, initial: bool },
    /// Log entries newer than `since` (all of them when `None`).
    Cursor {
        property: &'static str,
        since: Option<DateTime<Utc>>,
    },
}

impl Scheduler {
    pub fn new(
        client: Arc<GraphClient>,
        selected: &[Selected],
        options: SyncOptions,
        tx: mpsc::Sender<SyncMessage>,
    ) -> Scheduler {
        let soft_deleted = options
            .state
            .as_ref()
            .and_then(|s| s.get(&transitive::soft_deleted_key(client.tenant_id())))
            .map(|v| transitive::SoftDeleted::parse(v))
            .unwrap_or_default();
        let mut scheduler = Scheduler {
            client,
            options,
            runs: selected
                .iter()
                .map(|s| Arc::new(TableRun::new(s)))
                .collect(),
            tx,
            child_slots: Arc::new(Semaphore::new(CHILD_CHAINS)),
            queued: selected
                .iter()
                .filter_map(|s| match s.table.source {
                    Source::Child { parent, .. } => Some(parent),
                    _ => None,
                })
                .map(|parent| (parent, Arc::new(Semaphore::new(QUEUED_PARENTS))))
                .collect(),
            started: Utc::now(),
            closure: selected.iter().find_map(|s| match s.table.source {
                Source::Computed { parent, from } => Some((parent, from)),
                _ => None,
            }),
            memberships: None,
            membership_changed: Default::default(),
            removed: Default::default(),
            soft_deleted: std::sync::Mutex::new(soft_deleted),
            feed_cursor: Default::default(),
            states: Default::default(),
        };
        if scheduler.rebuilds_closure() {
            scheduler.memberships = Some(Default::default());
        }
        scheduler
    }

    /// The live state of every selected table, in catalog order.
    pub fn runs(&self) -> Vec<Arc<TableRun>> {
        self.runs.clone()
    }

    /// Syncs every selected table; returns when all are done.
    pub async fn run(self: Arc<Self>) {
        for run in &self.runs {
            let schema = convert::schema(run.table);
            if self
                .tx
                .send(SyncMessage::MigrateTable(schema))
                .await
                .is_err()
            {
                return;
            }
        }
        // Decided before any table starts: how each child table is brought up to date, and
        // whether the transitive closure is rebuilt from every membership.
        self.plan_children().await;
        let top_level: Vec<_> = self
            .runs
            .iter()
            .filter(|r| r.table.parent().is_none())
            .cloned()
            .collect();
        let tasks = top_level.into_iter().map(|run| {
            let me = self.clone();
            tokio::spawn(async move {
                let task = AssertUnwindSafe(me.clone().sync_top_level(run.clone()));
                if let Err(panic) = task.catch_unwind().await {
                    let mut runs = me.children_of(run.table.name);
                    runs.push(run);
                    me.crashed(&runs, &panic_message(&*panic)).await;
                }
            })
        });
        join_all(tasks).await;
        // After every table's own rows, so that no later upsert brings a forgotten row back.
        let removed = std::mem::take(&mut *self.removed.lock().expect("not poisoned"));
        for id in removed {
            if self.forget_related(&id).await.is_err() {
                return;
            }
        }
        self.restore_memberships().await;
        for run in &self.runs {
            if let Source::Computed { parent, from } = run.table.source {
                run.start();
                let task = AssertUnwindSafe(self.compute(run, parent, from));
                if let Err(panic) = task.catch_unwind().await {
                    self.crashed(std::slice::from_ref(run), &panic_message(&*panic))
                        .await;
                }
                self.done(run).await;
            }
        }
        // Last: a state entry may only be stored once everything it covers is written.
        for state in self.final_states() {
            if self.tx.send(state).await.is_err() {
                return;
            }
        }
    }

    fn state(&self, key: &str) -> Option<&String> {
        self.options.state.as_ref()?.get(key)
    }

    fn table_state(&self, table: &Table) -> Option<&String> {
        self.state(&state_key(table.name, self.client.tenant_id()))
    }

    fn incremental(&self) -> bool {
        self.options.state.is_some()
    }

    fn plan(&self, table: &Table) -> Plan {
        if !self.incremental() {
            return match (table.incremental, table.source) {
                (Incremental::Cursor { property }, _) => Plan::Cursor {
                    property,
                    since: self.options.log_lookback.map(|d| Utc::now() - d),
                },
                // A first delta round lists every object like the plain listing, and carries
                // the relationships a child table would otherwise read once per parent (group
                // members and owners): a few thousand pages instead of one request per group.
                (Incremental::Delta, Source::List { path })
                    if self.delta_carries_children(table) =>
                {
                    Plan::Delta {
                        url: self.client.url(&self.delta_query(table, path)),
                        initial: true,
                    }
                }
                _ => Plan::Full,
            };
        }
        match (table.incremental, table.source) {
            (Incremental::Delta, Source::List { path }) => {
                // A closure rebuilt from every membership needs a full round of groups.
                let needs_all = self.is_closure_parent(table.name) && self.rebuilds_closure();
                match self.table_state(table) {
                    Some(link) if !needs_all => Plan::Delta {
                        url: link.clone(),
                        initial: false,
                    },
                    _ => Plan::Delta {
                        url: self.client.url(&self.delta_query(table, path)),
                        initial: true,
                    },
                }
            }
            (Incremental::Cursor { property }, _) => Plan::Cursor {
                property,
                since: match self
                    .table_state(table)
                    .and_then(|c| c.parse::<DateTime<Utc>>().ok())
                {
                    Some(cursor) => Some(cursor - self.options.log_overlap),
                    None => self.options.log_lookback.map(|d| Utc::now() - d),
                },
            },
            _ => Plan::Full,
        }
    }

    /// Whether a selected child table of `table` is carried by its delta pages.
    fn delta_carries_children(&self, table: &Table) -> bool {
        self.children_of(table.name)
            .iter()
            .any(|c| c.table.parent_delta.is_some())
    }

    /// Whether `table` holds the parents of the computed table (groups).
    fn is_closure_parent(&self, table: &str) -> bool {
        self.closure.is_some_and(|(parent, _)| parent == table)
    }

    /// Whether the computed table is computed from `table` (direct memberships).
    fn is_closure_input(&self, table: &str) -> bool {
        self.closure.is_some_and(|(_, from)| from == table)
    }

    fn children_of(&self, parent: &str) -> Vec<Arc<TableRun>> {
        self.runs
            .iter()
            .filter(|r| matches!(r.table.source, Source::Child { parent: p, .. } if p == parent))
            .cloned()
            .collect()
    }

    fn run_of(&self, name: &str) -> Option<&Arc<TableRun>> {
        self.runs.iter().find(|r| r.table.name == name)
    }

    /// Ends tables whose task panicked: failed, so that none of their rows is deleted as stale.
    async fn crashed(&self, runs: &[Arc<TableRun>], why: &str) {
        for run in runs {
            tracing::error!(table = run.table.name, "internal error: {why}");
            run.fail(Outcome::Failed(format!(
                "internal error: {why} (please report it; nothing was deleted)"
            )));
            self.done(run).await;
        }
    }

    async fn done(&self, run: &TableRun) {
        if run.reported.swap(true, Relaxed) {
            return;
        }
        if let Err(e) = run.flush(&self.tx).await {
            run.fail(Outcome::Failed(e.to_string()));
        }
        let complete = run.finish();
        let replaced = complete && run.full.load(Relaxed);
        let _ = self
            .tx
            .send(SyncMessage::TableDone {
                table: run.table.name,
                replaced,
            })
            .await;
    }

    async fn send(&self, message: SyncMessage) -> Result<(), GraphError> {
        if let SyncMessage::DeleteRecord { table, .. } = &message {
            // The delete cascades to child tables: none may hold back rows it should remove.
            let mut runs = self.children_of(table);
            runs.extend(self.run_of(table).cloned());
            for run in runs {
                run.flush(&self.tx).await?;
            }
        }
        self.tx
            .send(message)
            .await
            .map_err(|_| GraphError::Setup("the sink stopped".into()))
    }

    async fn sync_top_level(self: Arc<Self>, run: Arc<TableRun>) {
        run.start();
        let children = self.children_of(run.table.name);
        for child in &children {
            child.start();
        }
        let mut jobs = Vec::new();
        let result = match self.plan(run.table) {
            Plan::Full => self.read_full(&run, &children, &mut jobs).await,
            Plan::Delta { url, initial } => {
                self.read_delta(&run, url, initial, &children, &mut jobs)
                    .await
            }
            Plan::Cursor { property, since } => self.read_log(&run, property, since).await,
        };
        if let Err(err) = result {
            run.fail(classify(run.table, &err));
            tracing::error!(
                table = run.table.name,
                "{}",
                describe_failure(run.table, &err)
            );
            // Children of a failed parent cannot be complete either.
            for child in &children {
                child.fail(Outcome::Failed(format!(
                    "parent table {} failed",
                    run.table.name
                )));
            }
        }
        if run.outcome().is_none() {
            run.complete();
        }
        for joined in join_all(jobs).await {
            if let Err(e) = joined {
                for child in &children {
                    child.fail(Outcome::Failed(format!("a child task was lost: {e}")));
                }
            }
        }
        for child in &children {
            child.complete();
        }
        // The parent's delta link goes out after every row it covers, and only when the
        // children its delta pages carry were read too; a child read per parent has its own
        // state (`children::Refresh`), so a child skipped for a missing permission or licence
        // does not hold the parent back.
        let pending = run.pending_state.lock().expect("not poisoned").take();
        if let Some(state) = pending
            && run.is_complete()
            && children
                .iter()
                .filter(|c| c.table.parent_delta.is_some())
                .all(|c| c.is_complete())
        {
            self.states.lock().expect("not poisoned").push(state);
        }
        self.done(&run).await;
        for child in &children {
            self.done(child).await;
        }
    }

    /// The state entries of this sync, children's refresh progress first: a child that did not
    /// complete is marked for a full re-read before any parent link moves on.
    fn final_states(&self) -> Vec<SyncMessage> {
        if !self.incremental() {
            return Vec::new();
        }
        let tenant = self.client.tenant_id();
        let mut out = Vec::new();
        for run in &self.runs {
            let key = Refresh::key(run.table.name, tenant);
            let tracked = match run.table.source {
                Source::Child { .. } => run.table.parent_delta.is_none(),
                Source::Computed { .. } => true,
                _ => false,
            };
            if !tracked {
                continue;
            }
            let value = if run.outcome() == Some(Outcome::Complete) {
                match run.plan() {
                    ChildPlan::Changed { refresh, .. } => refresh.after().to_string(),
                    _ => Refresh::fresh(self.started).to_string(),
                }
            } else {
                String::new()
            };
            out.push(SyncMessage::State { key, value });
        }
        out.extend(std::mem::take(
            &mut *self.states.lock().expect("not poisoned"),
        ));
        if let Some(cursor) = self.feed_cursor.lock().expect("not poisoned").take() {
            out.push(SyncMessage::State {
                key: changefeed::state_key(tenant),
                value: cursor,
            });
        }
        if self.runs.iter().any(|r| transitive::restorable(r.table)) {
            let soft_deleted = self.soft_deleted.lock().expect("not poisoned");
            out.push(SyncMessage::State {
                key: transitive::soft_deleted_key(tenant),
                value: soft_deleted.format(self.started),
            });
        }
        out
    }

    /// A removed directory object no longer shows in any relationship listing (members, owners,
    /// …); delta does not report those relationships for soft-deleted objects, so their rows go
    /// here, as a full sync would drop them.
    async fn forget_related(&self, id: &str) -> Result<(), GraphError> {
        for run in &self.runs {
            let relationship = matches!(run.table.source, Source::Child { .. })
                && run.table.resource == "directoryObject";
            let computed = matches!(run.table.source, Source::Computed { .. });
            let keys: &[&str] = if relationship || computed {
                &["id"]
            } else if run.table.resource == "appRoleAssignment" {
                // Graph drops the assignments of a deleted principal or resource with it.
                &["principal_id", "resource_id"]
            } else {
                &[]
            };
            for key in keys {
                self.send(SyncMessage::DeleteRecord {
                    table: run.table.name,
                    keys: self.keys(&[(key, id)]),
                })
                .await?;
            }
        }
        Ok(())
    }

    /// `tenant_id` plus the given key columns.
    fn keys(&self, keys: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut out = vec![("tenant_id".to_string(), self.client.tenant_id().to_string())];
        out.extend(keys.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        out
    }

    /// Converts objects to a batch, sends it, and starts the children each row needs.
    async fn emit(
        &self,
        run: &Arc<TableRun>,
        objects: &[Value],
        children: &[Arc<TableRun>],
        jobs: &mut Vec<tokio::task::JoinHandle<()>>,
        read: Read,
    ) -> Result<(), GraphError> {
        if objects.is_empty() {
            return Ok(());
        }
        injected_panic(run.table.name);
        let ctx = convert::RowContext {
            tenant_id: self.client.tenant_id(),
            parent: None,
        };
        // A listing hands its page over in parts and flushes the table when the page ends.
        let ids = run
            .insert_batched(
                &self.tx,
                objects,
                &ctx,
                self.options.deterministic(),
                read == Read::Listing,
            )
            .await?;
        if let Some(memberships) = &self.memberships
            && self.is_closure_parent(run.table.name)
        {
            let mut m = memberships.lock().expect("not poisoned");
            for (object, cq_id) in objects.iter().zip(&ids) {
                if let (Some(id), Some(cq_id)) = (object.get("id").and_then(Value::as_str), cq_id) {
                    m.add_group(id, *cq_id);
                }
            }
        }
        // A listing's objects carry one child table's rows (`$expand`) when not too many.
        let expanded = match read {
            Read::Listing => list::expanded_child(children),
            Read::Delta { .. } => None,
        };
        // The children read per parent row for objects read this way (decided once a page).
        let fetched: Vec<&Arc<TableRun>> = children
            .iter()
            .filter(|c| match read {
                Read::Listing => true,
                // In a first delta round the delta pages carry the `parent_delta` children.
                Read::Delta { incremental: false } => c.table.parent_delta.is_none(),
                // Later rounds: a changed parent's children, unless a full re-read follows.
                Read::Delta { incremental: true } => matches!(c.plan(), ChildPlan::Changed { .. }),
            })
            .collect();
        for (object, cq_id) in objects.iter().zip(ids) {
            let (Some(id), Some(cq_id)) = (object.get("id").and_then(Value::as_str), cq_id) else {
                continue;
            };
            // Rows carried by the parent's own delta page (`members@delta`).
            for child in children {
                if let Some(relationship) = child.table.parent_delta
                    && let Some(Value::Array(related)) =
                        object.get(format!("{relationship}@delta").as_str())
                {
                    self.emit_related(child, id, cq_id, related).await?;
                }
            }
            let mut carried = None;
            if let Some(child) = expanded
                && let Some(relationship) = child.table.expand
                && let Some(Value::Array(related)) = object.get(relationship)
                && related.len() < tables::EXPAND_LIMIT
            {
                self.emit_expanded(child, id, cq_id, related).await?;
                carried = Some(child.table.name);
            }
            let wanted: Vec<Arc<TableRun>> = fetched
                .iter()
                .filter(|c| Some(c.table.name) != carried)
                .filter(|c| !c.stopped.load(Relaxed) && children::applies_to(c.table, object))
                .map(|c| Arc::clone(c))
                .collect();
            if wanted.is_empty() {
                continue;
            }
            let replace = matches!(read, Read::Delta { incremental: true });
            if replace {
                for child in &wanted {
                    child
                        .reread
                        .lock()
                        .expect("not poisoned")
                        .insert(id.to_string());
                }
            }
            self.spawn_children(wanted, id, cq_id, replace, jobs).await;
        }
        Ok(())
    }
}

impl Scheduler {
    /// Rows of a child table that came with their parent (`$expand`): all of the parent's.
    async fn emit_expanded(
        &self,
        child: &Arc<TableRun>,
        parent_id: &str,
        parent_cq_id: uuid::Uuid,
        related: &[Value],
    ) -> Result<(), GraphError> {
        if related.is_empty() {
            return Ok(());
        }
        injected_panic(child.table.name);
        let ctx = convert::RowContext {
            tenant_id: self.client.tenant_id(),
            parent: Some((parent_id, parent_cq_id)),
        };
        child
            .insert_batched(&self.tx, related, &ctx, self.options.deterministic(), true)
            .await
            .map(|_| ())
    }
}

/// How the objects handed to `emit` were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    /// A plain listing: children are fetched per parent.
    Listing,
    /// A delta page: `parent_delta` children come in the page itself.
    Delta { incremental: bool },
}

/// Where a page says to go next.
enum Link {
    Next(String),
    Delta(String),
    End,
}

impl Link {
    fn of(next: Option<String>, delta: Option<String>) -> Link {
        // A next link wins: the delta link only comes with the last page.
        match (next, delta) {
            (Some(next), _) => Link::Next(next),
            (None, Some(delta)) => Link::Delta(delta),
            (None, None) => Link::End,
        }
    }
}

impl Scheduler {
    /// GETs one page: its objects and where to go next.
    async fn page(&self, url: &str, traffic: &Traffic) -> Result<(Vec<Value>, Link), GraphError> {
        let page = self.client.get_page(url, traffic).await?;
        Ok((page.objects, Link::of(page.next, page.delta)))
    }
}

/// Test hook, in debug builds only: `ENTRASYNC_TEST_PANIC=<table>` panics that table's task
/// before it writes anything, to prove that a crash never counts as success.
fn injected_panic(table: &str) {
    if cfg!(debug_assertions) && std::env::var("ENTRASYNC_TEST_PANIC").is_ok_and(|t| t == table) {
        panic!("injected by ENTRASYNC_TEST_PANIC for {table}");
    }
}

/// The text of a panic's payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("a task panicked: {text}")
}

/// `/{version}{path}?$select=…&$top=…[&$filter=…]` for a collection.
fn list_query(table: &Table, path: &str, filter: Option<&str>) -> String {
    let mut query: Vec<String> = Vec::new();
    let select = table.select();
    if !select.is_empty() {
        query.push(format!("$select={}", select.join(",")));
    }
    if let Some(top) = table.max_page_size {
        query.push(format!("$top={top}"));
    }
    if let Some(filter) = filter {
        query.push(format!("$filter={filter}"));
    }
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut url = format!("/{}{}", table.version.segment(), path);
    if !query.is_empty() {
        url.push(sep);
        url.push_str(&query.join("&"));
    }
    url
}

/// Sorts an error into the table outcome it causes.
fn classify(table: &Table, err: &GraphError) -> Outcome {
    if err.is_licence_missing() || err.is_permission_denied() {
        Outcome::Skipped(describe_failure(table, err))
    } else {
        Outcome::Failed(describe_failure(table, err))
    }
}

/// The user-facing reason a table could not be synced, with what to do about it.
pub fn describe_failure(table: &Table, err: &GraphError) -> String {
    if err.is_licence_missing() {
        let licence = table
            .licence
            .map(|l| l.name())
            .unwrap_or("a premium licence");
        format!("{err}; the tenant needs {licence} for {}", table.name)
    } else if err.is_permission_denied() {
        format!(
            "{err}; grant the application permission {} (admin consent required) to sync {}",
            table
                .permissions
                .first()
                .copied()
                .unwrap_or("Directory.Read.All"),
            table.name
        )
    } else {
        err.to_string()
    }
}
