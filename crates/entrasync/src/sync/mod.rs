//! The scheduler: reads every selected table from Graph and emits `SyncMessage`s.
//!
//! Every top-level table runs as its own chain of pages, all at once. Child tables fan out over
//! their parent's rows, bounded by `CHILD_CHAINS`, so memory is bounded by the pages in flight
//! and the message channel, never by the tenant's size. A failing table ends with a
//! `TableDone` carrying its error; the other tables go on.
//!
//! With a state backend, delta tables read Graph's delta query: the first sync stores the delta
//! link, later syncs apply only the changes (upserts, `@removed` deletions, `members@delta`), and
//! child tables are re-read only for changed parents. Log tables keep a timestamp cursor.

pub mod convert;
pub mod report;
mod transitive;

use crate::graph::{GraphClient, GraphError, Traffic};
use crate::tables::{Incremental, Selected, Source, Table};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use chrono::{DateTime, Utc};
use futures::FutureExt;
use futures::future::join_all;
use serde_json::Value;
use std::collections::HashMap;
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
    /// (a delta link or a log cursor). Keys are `<table>|<tenant id>`.
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
    /// Set when a fatal error (403, licence) means no further requests should be made.
    stopped: AtomicBool,
    /// False once the table is read incrementally: then not every row is re-emitted.
    full: AtomicBool,
    /// The delta link or cursor to store when the run ends complete.
    pending_state: std::sync::Mutex<Option<SyncMessage>>,
    /// Objects skipped because they lack a primary-key property.
    pub skipped_objects: AtomicU64,
    /// Set once `TableDone` went out, so that it goes out once.
    reported: AtomicBool,
}

impl TableRun {
    fn new(selected: &Selected) -> TableRun {
        TableRun {
            table: selected.table,
            explicit: selected.explicit,
            rows: AtomicU64::new(0),
            removed: AtomicU64::new(0),
            traffic: Traffic::default(),
            started: Default::default(),
            elapsed: Default::default(),
            outcome: Default::default(),
            stopped: AtomicBool::new(false),
            full: AtomicBool::new(true),
            pending_state: Default::default(),
            skipped_objects: AtomicU64::new(0),
            reported: AtomicBool::new(false),
        }
    }

    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome.lock().expect("not poisoned").clone()
    }

    fn start(&self) {
        *self.started.lock().expect("not poisoned") = Some(Instant::now());
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

    /// Records the first failure; later ones of the same table only add to the log.
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
        tx.send(SyncMessage::Insert(batch))
            .await
            .map_err(|_| GraphError::Setup("the sink stopped".into()))?;
        let mut ids = ids.into_iter();
        Ok(keyed
            .into_iter()
            .map(|k| if k { ids.next() } else { None })
            .collect())
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
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    pub deterministic_cq_id: bool,
    /// Incremental state read from the backend (`<table>|<tenant id>` → delta link or cursor).
    /// `None` without `backend_options`: every table syncs in full and no state is emitted.
    pub state: Option<HashMap<String, String>>,
    /// How far back the first sync of a log table reads; `None` reads everything Graph keeps.
    pub log_lookback: Option<chrono::Duration>,
}

impl SyncOptions {
    /// With a backend, `_cq_id` is derived from the primary key: rows re-emitted by a later
    /// incremental sync must keep the id their unchanged children point at.
    fn deterministic(&self) -> bool {
        self.deterministic_cq_id || self.state.is_some()
    }
}

/// Parent rows fetched for children at the same time, across all tables.
const CHILD_CHAINS: usize = 32;

/// Log cursors restart this far before the newest entry seen, for entries Graph indexes late;
/// the overlap is de-duplicated by id.
const CURSOR_OVERLAP: chrono::Duration = chrono::Duration::minutes(5);

/// The direct-membership table that `entraid_group_transitive_members` is computed from.
pub const DIRECT_MEMBERS: &str = "entraid_group_members";

type SharedMemberships = Arc<std::sync::Mutex<transitive::Memberships>>;

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
    /// Collected only when a computed table needs them.
    memberships: Option<SharedMemberships>,
    /// Directory objects reported removed, whose relationship rows go at the end of the sync.
    removed: std::sync::Mutex<Vec<String>>,
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
        let computed = selected
            .iter()
            .any(|s| matches!(s.table.source, Source::Computed { .. }));
        Scheduler {
            client,
            options,
            runs: selected
                .iter()
                .map(|s| Arc::new(TableRun::new(s)))
                .collect(),
            tx,
            child_slots: Arc::new(Semaphore::new(CHILD_CHAINS)),
            memberships: computed.then(Default::default),
            removed: Default::default(),
            states: Default::default(),
        }
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
        for run in &self.runs {
            if let Source::Computed { parent } = run.table.source {
                self.compute(run, parent).await;
                self.done(run).await;
            }
        }
        // Last: a state entry may only be stored once everything it covers is written.
        let states = std::mem::take(&mut *self.states.lock().expect("not poisoned"));
        for state in states {
            if self.tx.send(state).await.is_err() {
                return;
            }
        }
    }

    fn state(&self, table: &Table) -> Option<&String> {
        let key = state_key(table.name, self.client.tenant_id());
        self.options.state.as_ref()?.get(&key)
    }

    fn plan(&self, table: &Table) -> Plan {
        let Some(_) = &self.options.state else {
            return match table.incremental {
                Incremental::Cursor { property } => Plan::Cursor {
                    property,
                    since: self.options.log_lookback.map(|d| Utc::now() - d),
                },
                _ => Plan::Full,
            };
        };
        match (table.incremental, table.source) {
            (Incremental::Delta, Source::List { path }) => {
                // The transitive closure needs every membership: re-read groups in full.
                let needs_all = table.name == "entraid_groups" && self.memberships.is_some();
                match self.state(table) {
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
                    .state(table)
                    .and_then(|c| c.parse::<DateTime<Utc>>().ok())
                {
                    Some(cursor) => Some(cursor - CURSOR_OVERLAP),
                    None => self.options.log_lookback.map(|d| Utc::now() - d),
                },
            },
            _ => Plan::Full,
        }
    }

    /// `/{version}{path}/delta?$select=…`, with the relationships whose `@delta` annotation
    /// carries the rows of a selected child table (`members` for group members).
    fn delta_query(&self, table: &Table, path: &str) -> String {
        let mut select: Vec<&str> = table.select();
        for child in self.children_of(table.name) {
            if let Some(relationship) = child.table.parent_delta {
                select.push(relationship);
            }
        }
        let mut url = format!("/{}{}/delta", table.version.segment(), path);
        if !select.is_empty() {
            url.push_str("?$select=");
            url.push_str(&select.join(","));
        }
        url
    }

    /// Emits a computed table once its inputs are complete; fails it otherwise, since a partial
    /// closure would silently under-report access.
    async fn compute(&self, run: &Arc<TableRun>, parent: &str) {
        run.start();
        let complete = |name: &str| {
            self.runs
                .iter()
                .find(|r| r.table.name == name)
                .is_some_and(|r| r.outcome() == Some(Outcome::Complete))
        };
        if !complete(parent) || !complete(DIRECT_MEMBERS) {
            run.fail(Outcome::Failed(format!(
                "computed from {parent} and {DIRECT_MEMBERS}, which did not sync completely"
            )));
            return;
        }
        let Some(memberships) = &self.memberships else {
            return;
        };
        let schema = convert::schema(run.table);
        let batches: Result<Vec<RecordBatch>, _> = {
            let memberships = memberships.lock().expect("not poisoned");
            memberships
                .closure()
                .map(|(group, cq_id, rows)| {
                    let ctx = convert::RowContext {
                        tenant_id: self.client.tenant_id(),
                        parent: Some((group, cq_id)),
                    };
                    convert::to_batch(
                        run.table,
                        &schema,
                        &rows,
                        &ctx,
                        self.options.deterministic(),
                    )
                    .map(|(batch, _)| batch)
                })
                .collect()
        };
        match batches {
            Ok(batches) => {
                for batch in batches {
                    run.rows.fetch_add(batch.num_rows() as u64, Relaxed);
                    if self.tx.send(SyncMessage::Insert(batch)).await.is_err() {
                        return;
                    }
                }
                run.complete();
            }
            Err(e) => run.fail(Outcome::Failed(e.to_string())),
        }
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

    fn children_of(&self, parent: &str) -> Vec<Arc<TableRun>> {
        self.runs
            .iter()
            .filter(|r| matches!(r.table.source, Source::Child { parent: p, .. } if p == parent))
            .cloned()
            .collect()
    }

    async fn done(&self, run: &TableRun) {
        if run.reported.swap(true, Relaxed) {
            return;
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
        // The state goes out after every row it covers, children included, and only when all
        // of them were read: otherwise the next sync repeats this round.
        let pending = run.pending_state.lock().expect("not poisoned").take();
        if let Some(state) = pending
            && run.is_complete()
            && children.iter().all(|c| c.is_complete())
        {
            self.states.lock().expect("not poisoned").push(state);
        }
        self.done(&run).await;
        for child in &children {
            self.done(child).await;
        }
    }

    async fn read_full(
        &self,
        run: &Arc<TableRun>,
        children: &[Arc<TableRun>],
        jobs: &mut Vec<tokio::task::JoinHandle<()>>,
    ) -> Result<(), GraphError> {
        match run.table.source {
            Source::List { path } => {
                let mut url = self.client.url(&list_query(run.table, path, None));
                let mut chain = self.client.chain();
                loop {
                    let (objects, next) = self.page(&url, &run.traffic).await?;
                    self.emit(run, &objects, children, jobs, Read::Listing)
                        .await?;
                    match next {
                        Link::Next(next) => {
                            chain.follow(&next)?;
                            url = next;
                        }
                        _ => return Ok(()),
                    }
                }
            }
            Source::Singleton { path } => {
                let url = self
                    .client
                    .url(&format!("/{}{path}", run.table.version.segment()));
                let object = self.client.get(&url, &run.traffic).await?;
                self.emit(run, &[object], children, jobs, Read::Listing)
                    .await
            }
            Source::Child { .. } | Source::Computed { .. } => Ok(()),
        }
    }

    /// One delta round: upserts, `@removed` deletions, `members@delta`, and children re-read
    /// for the parents that changed. An expired delta link restarts as a full round.
    async fn read_delta(
        &self,
        run: &Arc<TableRun>,
        mut url: String,
        mut initial: bool,
        children: &[Arc<TableRun>],
        jobs: &mut Vec<tokio::task::JoinHandle<()>>,
    ) -> Result<(), GraphError> {
        let Source::List { path } = run.table.source else {
            unreachable!("delta plans are made for collections only")
        };
        let mut chain = self.client.chain();
        loop {
            run.full.store(initial, Relaxed);
            for child in children {
                child.full.store(initial, Relaxed);
            }
            let (objects, link) = match self.page(&url, &run.traffic).await {
                Ok(page) => page,
                Err(e) if e.is_delta_expired() && !initial => {
                    tracing::warn!(
                        table = run.table.name,
                        "the stored delta link can no longer be used ({e}); syncing the table in full"
                    );
                    url = self.client.url(&self.delta_query(run.table, path));
                    initial = true;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let (present, removed): (Vec<Value>, Vec<Value>) = objects
                .into_iter()
                .partition(|o| o.get("@removed").is_none());
            for gone in &removed {
                let Some(id) = gone.get("id").and_then(Value::as_str) else {
                    // A removal we cannot apply: the round must not count as complete.
                    run.skipped_objects.fetch_add(1, Relaxed);
                    continue;
                };
                {
                    run.removed.fetch_add(1, Relaxed);
                    self.send(SyncMessage::DeleteRecord {
                        table: run.table.name,
                        keys: self.keys(&[("id", id)]),
                    })
                    .await?;
                    self.removed
                        .lock()
                        .expect("not poisoned")
                        .push(id.to_string());
                }
            }
            let present = dedupe_by_id(present);
            let read = Read::Delta {
                incremental: !initial,
            };
            self.emit(run, &present, children, jobs, read).await?;
            match link {
                Link::Next(next) => {
                    chain.follow(&next)?;
                    url = next;
                }
                Link::Delta(delta) => {
                    if !initial {
                        self.reread_children(run, path, children, jobs).await?;
                    }
                    *run.pending_state.lock().expect("not poisoned") = Some(SyncMessage::State {
                        key: state_key(run.table.name, self.client.tenant_id()),
                        value: delta,
                    });
                    return Ok(());
                }
                Link::End => return Ok(()),
            }
        }
    }

    /// In an incremental round, the child tables that the parent's delta does not carry (owners,
    /// app role assignments, …) are re-read for every parent: Graph's delta does not report a
    /// parent whose owners changed, so reading only changed parents would leave stale rows.
    /// The parents are enumerated by their ids alone, the cheapest listing Graph offers.
    async fn reread_children(
        &self,
        run: &Arc<TableRun>,
        path: &str,
        children: &[Arc<TableRun>],
        jobs: &mut Vec<tokio::task::JoinHandle<()>>,
    ) -> Result<(), GraphError> {
        let fetched: Vec<Arc<TableRun>> = children
            .iter()
            .filter(|c| c.table.parent_delta.is_none())
            .cloned()
            .collect();
        if fetched.is_empty() {
            return Ok(());
        }
        for child in &fetched {
            child.full.store(true, Relaxed);
        }
        let mut select = vec!["id"];
        select.extend(fetched.iter().filter_map(|c| c.table.parent_condition));
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
            let (parents, next) = self.page(&url, &run.traffic).await?;
            for parent in &parents {
                let Some(id) = parent.get("id").and_then(Value::as_str) else {
                    continue;
                };
                let wanted: Vec<Arc<TableRun>> = fetched
                    .iter()
                    .filter(|c| !c.stopped.load(Relaxed) && applies_to(c.table, parent))
                    .cloned()
                    .collect();
                if wanted.is_empty() {
                    continue;
                }
                let cq_id = convert::row_id(run.table, self.client.tenant_id(), id);
                self.spawn_children(wanted, id, cq_id, jobs).await;
            }
            match next {
                Link::Next(next) => {
                    chain.follow(&next)?;
                    url = next;
                }
                _ => return Ok(()),
            }
        }
    }

    /// Starts a job reading `children` of one parent row; waits for a free slot first, the
    /// back-pressure that bounds memory.
    async fn spawn_children(
        &self,
        children: Vec<Arc<TableRun>>,
        parent_id: &str,
        parent_cq_id: uuid::Uuid,
        jobs: &mut Vec<tokio::task::JoinHandle<()>>,
    ) {
        let slot = self
            .child_slots
            .clone()
            .acquire_owned()
            .await
            .expect("never closed");
        let job = ChildJob {
            client: self.client.clone(),
            deterministic: self.options.deterministic(),
            tx: self.tx.clone(),
            children,
            parent_id: parent_id.to_string(),
            parent_cq_id,
            memberships: self.memberships.clone(),
        };
        jobs.push(tokio::spawn(async move {
            let children = job.children.clone();
            if let Err(panic) = AssertUnwindSafe(job.run()).catch_unwind().await {
                let why = panic_message(&*panic);
                for child in children {
                    tracing::error!(table = child.table.name, "internal error: {why}");
                    child.fail(Outcome::Failed(format!(
                        "internal error: {why} (please report it; nothing was deleted)"
                    )));
                }
            }
            drop(slot);
        }));
        // Finished handles are dropped so the list does not grow with the tenant.
        jobs.retain(|t| !t.is_finished());
    }

    /// A log table: entries newer than `since`, largest pages Graph allows; the newest
    /// timestamp seen becomes the cursor.
    async fn read_log(
        &self,
        run: &Arc<TableRun>,
        property: &'static str,
        since: Option<DateTime<Utc>>,
    ) -> Result<(), GraphError> {
        // History is kept: logs are never replaced wholesale.
        run.full.store(false, Relaxed);
        let Source::List { path } = run.table.source else {
            return Ok(());
        };
        let filter = since.map(|t| format!("{property} ge {}", t.format("%Y-%m-%dT%H:%M:%SZ")));
        let mut url = self
            .client
            .url(&list_query(run.table, path, filter.as_deref()));
        let mut newest: Option<String> = None;
        let mut chain = self.client.chain();
        loop {
            let (objects, next) = self.page(&url, &run.traffic).await?;
            for o in &objects {
                if let Some(t) = o.get(property).and_then(Value::as_str)
                    && newest.as_deref().is_none_or(|n| later(t, n))
                {
                    newest = Some(t.to_string());
                }
            }
            let objects = dedupe_by_id(objects);
            self.emit(run, &objects, &[], &mut Vec::new(), Read::Listing)
                .await?;
            match next {
                Link::Next(next) => {
                    chain.follow(&next)?;
                    url = next;
                }
                _ => break,
            }
        }
        if self.options.state.is_some() {
            let previous = self.state(run.table).cloned();
            let cursor = match (newest, previous) {
                (Some(n), Some(p)) if !later(&n, &p) => Some(p),
                (Some(n), _) => Some(n),
                (None, p) => p,
            };
            if let Some(cursor) = cursor {
                *run.pending_state.lock().expect("not poisoned") = Some(SyncMessage::State {
                    key: state_key(run.table.name, self.client.tenant_id()),
                    value: cursor,
                });
            }
        }
        Ok(())
    }

    /// GETs one page: its objects and where to go next.
    async fn page(&self, url: &str, traffic: &Traffic) -> Result<(Vec<Value>, Link), GraphError> {
        let page = self.client.get_page(url, traffic).await?;
        Ok((page.objects, Link::of(page.next, page.delta)))
    }

    /// A removed directory object no longer shows in any relationship listing (members, owners,
    /// …); delta does not report those relationships for soft-deleted objects, so their rows go
    /// here, as a full sync would drop them.
    async fn forget_related(&self, id: &str) -> Result<(), GraphError> {
        for run in &self.runs {
            if run.table.resource == "directoryObject"
                && matches!(run.table.source, Source::Child { .. })
            {
                self.send(SyncMessage::DeleteRecord {
                    table: run.table.name,
                    keys: self.keys(&[("id", id)]),
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

    /// Converts objects to a batch, sends it, and starts the children of each row.
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
        let ids = run
            .insert(&self.tx, objects, &ctx, self.options.deterministic())
            .await?;
        if let Some(memberships) = &self.memberships
            && run.table.name == "entraid_groups"
        {
            let mut m = memberships.lock().expect("not poisoned");
            for (object, cq_id) in objects.iter().zip(&ids) {
                if let (Some(id), Some(cq_id)) = (object.get("id").and_then(Value::as_str), cq_id) {
                    m.add_group(id, *cq_id);
                }
            }
        }
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
            let fetched: Vec<Arc<TableRun>> = match read {
                Read::Listing => children.to_vec(),
                Read::Delta { incremental: false } => children
                    .iter()
                    .filter(|c| c.table.parent_delta.is_none())
                    .cloned()
                    .collect(),
                // Re-read for every parent once the delta round is over.
                Read::Delta { incremental: true } => Vec::new(),
            }
            .into_iter()
            .filter(|c| !c.stopped.load(Relaxed) && applies_to(c.table, object))
            .collect();
            if !fetched.is_empty() {
                self.spawn_children(fetched, id, cq_id, jobs).await;
            }
        }
        Ok(())
    }

    /// Rows of a child table carried in the parent's delta page: additions upserted, entries
    /// with `@removed` deleted.
    async fn emit_related(
        &self,
        child: &Arc<TableRun>,
        parent_id: &str,
        parent_cq_id: uuid::Uuid,
        related: &[Value],
    ) -> Result<(), GraphError> {
        let parent_key = child.table.parent_key().unwrap_or("parent_id");
        let (present, removed): (Vec<Value>, Vec<Value>) = related
            .iter()
            .cloned()
            .partition(|o| o.get("@removed").is_none());
        for gone in &removed {
            if let Some(id) = gone.get("id").and_then(Value::as_str) {
                child.removed.fetch_add(1, Relaxed);
                self.send(SyncMessage::DeleteRecord {
                    table: child.table.name,
                    keys: self.keys(&[(parent_key, parent_id), ("id", id)]),
                })
                .await?;
            }
        }
        if let Some(m) = &self.memberships
            && child.table.name == DIRECT_MEMBERS
        {
            m.lock()
                .expect("not poisoned")
                .add_members(parent_id, &present);
        }
        if present.is_empty() {
            return Ok(());
        }
        let ctx = convert::RowContext {
            tenant_id: self.client.tenant_id(),
            parent: Some((parent_id, parent_cq_id)),
        };
        child
            .insert(&self.tx, &present, &ctx, self.options.deterministic())
            .await
            .map(|_| ())
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

/// RFC 3339 timestamps compared as instants.
fn later(a: &str, b: &str) -> bool {
    match (convert::parse_timestamp(a), convert::parse_timestamp(b)) {
        (Some(a), Some(b)) => a > b,
        _ => a > b,
    }
}

/// Keeps the last occurrence of each id: Graph may repeat an object within a response (delta
/// replays, split `members@delta`), and one batch must not upsert a key twice.
fn dedupe_by_id(objects: Vec<Value>) -> Vec<Value> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Value> = Vec::with_capacity(objects.len());
    for o in objects {
        match o.get("id").and_then(Value::as_str).map(str::to_string) {
            Some(id) => match index.get(&id) {
                Some(&i) => merge_into(&mut out[i], o),
                None => {
                    index.insert(id, out.len());
                    out.push(o);
                }
            },
            None => out.push(o),
        }
    }
    out
}

/// Later properties win; `*@delta` arrays are concatenated (a large group's members arrive in
/// several pieces).
fn merge_into(target: &mut Value, newer: Value) {
    let (Some(t), Value::Object(n)) = (target.as_object_mut(), newer) else {
        return;
    };
    for (k, v) in n {
        match (t.get_mut(&k), v) {
            (Some(Value::Array(existing)), Value::Array(more)) if k.ends_with("@delta") => {
                existing.extend(more)
            }
            (_, v) => {
                t.insert(k, v);
            }
        }
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
    memberships: Option<SharedMemberships>,
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
            injected_panic(child.table.name);
            let path = path.replace("{id}", &self.parent_id);
            let url = self.client.url(&list_query(child.table, &path, None));
            let result = self.read_child(child, url).await;
            match result {
                Ok(()) => {}
                // The parent vanished between its listing and this request: nothing to read.
                Err(e) if e.status() == Some(404) => {
                    tracing::debug!(table = child.table.name, parent = %self.parent_id, "parent gone: {e}");
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

    async fn read_child(&self, child: &Arc<TableRun>, mut url: String) -> Result<(), GraphError> {
        let mut chain = self.client.chain();
        loop {
            let page = self.client.get_page(&url, &child.traffic).await?;
            let objects = dedupe_by_id(page.objects);
            if !objects.is_empty() {
                if let Some(m) = &self.memberships
                    && child.table.name == DIRECT_MEMBERS
                {
                    m.lock()
                        .expect("not poisoned")
                        .add_members(&self.parent_id, &objects);
                }
                let ctx = convert::RowContext {
                    tenant_id: self.client.tenant_id(),
                    parent: Some((&self.parent_id, self.parent_cq_id)),
                };
                child
                    .insert(&self.tx, &objects, &ctx, self.deterministic)
                    .await?;
            }
            match page.next {
                Some(next) => {
                    chain.follow(&next)?;
                    url = next;
                }
                None => return Ok(()),
            }
        }
    }
}

/// Whether a child table reads this parent row at all (e.g. PIM group tables only for
/// role-assignable groups).
fn applies_to(table: &Table, parent: &Value) -> bool {
    match table.parent_condition {
        Some(flag) => parent.get(flag).and_then(Value::as_bool) == Some(true),
        None => true,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn split_member_deltas_merge_by_group() {
        let merged = dedupe_by_id(vec![
            json!({"id": "g", "displayName": "A", "members@delta": [{"id": "u1"}]}),
            json!({"id": "x"}),
            json!({"id": "g", "members@delta": [{"id": "u2"}]}),
        ]);
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0]["displayName"], "A");
        assert_eq!(
            merged[0]["members@delta"],
            json!([{"id": "u1"}, {"id": "u2"}])
        );
    }

    #[test]
    fn later_compares_instants() {
        assert!(later(
            "2024-01-02T00:00:00Z",
            "2024-01-01T23:59:59.9999999Z"
        ));
        assert!(!later(
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00.0000000Z"
        ));
    }
}
