//! The scheduler: reads every selected table from Graph and emits `SyncMessage`s.
//!
//! Every top-level table runs as its own chain of pages, all at once. Child tables fan out over
//! their parent's rows, bounded by `CHILD_CHAINS`, so memory is bounded by the pages in flight
//! and the message channel, never by the tenant's size. A failing table ends with a
//! `TableDone` carrying its error; the other tables go on.

pub mod convert;
pub mod report;
mod transitive;

use crate::graph::{GraphClient, GraphError, Traffic};
use crate::tables::{Selected, Source, Table};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::future::join_all;
use serde_json::Value;
use std::collections::HashMap;
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
    /// Rows removed in Graph (delta `@removed`): delete the row of `table` with this tenant and
    /// id, and its child rows.
    DeleteRecord {
        table: &'static str,
        tenant_id: String,
        id: String,
    },
    /// Incremental state to store once every message before this one is durably written
    /// (a delta link or a log cursor). Keys are `<table>|<tenant id>`.
    State { key: String, value: String },
    /// The table has finished; `complete` is true only when every row was read.
    TableDone { table: &'static str, complete: bool },
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
    pub traffic: Traffic,
    pub started: std::sync::Mutex<Option<Instant>>,
    pub elapsed: std::sync::Mutex<Option<Duration>>,
    pub outcome: std::sync::Mutex<Option<Outcome>>,
    /// Set when a fatal error (403, licence) means no further requests should be made.
    stopped: AtomicBool,
}

impl TableRun {
    fn new(selected: &Selected) -> TableRun {
        TableRun {
            table: selected.table,
            explicit: selected.explicit,
            rows: AtomicU64::new(0),
            traffic: Traffic::default(),
            started: Default::default(),
            elapsed: Default::default(),
            outcome: Default::default(),
            stopped: AtomicBool::new(false),
        }
    }

    pub fn outcome(&self) -> Option<Outcome> {
        self.outcome.lock().expect("not poisoned").clone()
    }

    fn start(&self) {
        *self.started.lock().expect("not poisoned") = Some(Instant::now());
    }

    /// Records the first failure; later ones of the same table only add to the log.
    fn fail(&self, outcome: Outcome) {
        let mut slot = self.outcome.lock().expect("not poisoned");
        if slot.is_none() {
            *slot = Some(outcome);
        }
    }

    fn finish(&self) -> bool {
        let elapsed = self
            .started
            .lock()
            .expect("not poisoned")
            .map(|s| s.elapsed());
        *self.elapsed.lock().expect("not poisoned") = elapsed;
        let mut slot = self.outcome.lock().expect("not poisoned");
        if slot.is_none() {
            *slot = Some(Outcome::Complete);
        }
        *slot == Some(Outcome::Complete)
    }
}

/// Options of one sync that come from the source config.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    pub deterministic_cq_id: bool,
    /// Incremental state read from the backend (`<table>|<tenant id>` → delta link or cursor).
    /// `None` without `backend_options`: every table syncs in full and no state is emitted.
    pub state: Option<std::collections::HashMap<String, String>>,
    /// How far back the first sync of a log table reads.
    pub log_lookback: Option<chrono::Duration>,
}

/// Parent rows fetched for children at the same time, across all tables.
const CHILD_CHAINS: usize = 32;

/// The direct-membership table that `entraid_group_transitive_members` is computed from.
pub const DIRECT_MEMBERS: &str = "entraid_group_members";

type SharedMemberships = Arc<std::sync::Mutex<transitive::Memberships>>;

pub struct Scheduler {
    client: Arc<GraphClient>,
    options: SyncOptions,
    runs: Vec<Arc<TableRun>>,
    tx: mpsc::Sender<SyncMessage>,
    child_slots: Arc<Semaphore>,
    /// Collected only when a computed table needs them.
    memberships: Option<SharedMemberships>,
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
            tokio::spawn(async move { me.sync_top_level(run).await })
        });
        join_all(tasks).await;
        // Children and computed tables finish once their parents have.
        for run in &self.runs {
            if let Source::Child { .. } = run.table.source {
                self.done(run).await;
            }
        }
        for run in &self.runs {
            if let Source::Computed { parent } = run.table.source {
                self.compute(run, parent).await;
                self.done(run).await;
            }
        }
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
        let batches: Vec<RecordBatch> = {
            let memberships = memberships.lock().expect("not poisoned");
            let mut batches = Vec::new();
            for (group, cq_id, rows) in memberships.closure() {
                let ctx = convert::RowContext {
                    tenant_id: self.client.tenant_id(),
                    parent: Some((group, cq_id)),
                };
                match convert::to_batch(
                    run.table,
                    &schema,
                    &rows,
                    &ctx,
                    self.options.deterministic_cq_id,
                ) {
                    Ok((batch, _)) => batches.push(batch),
                    Err(e) => {
                        run.fail(Outcome::Failed(e.to_string()));
                        return;
                    }
                }
            }
            batches
        };
        for batch in batches {
            run.rows.fetch_add(batch.num_rows() as u64, Relaxed);
            if self.tx.send(SyncMessage::Insert(batch)).await.is_err() {
                return;
            }
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
        let complete = run.finish();
        let _ = self
            .tx
            .send(SyncMessage::TableDone {
                table: run.table.name,
                complete,
            })
            .await;
    }

    async fn sync_top_level(self: Arc<Self>, run: Arc<TableRun>) {
        run.start();
        let children = self.children_of(run.table.name);
        for child in &children {
            child.start();
        }
        let mut child_tasks = Vec::new();
        let result = match run.table.source {
            Source::List { path } => {
                let url = self.client.url(&list_query(run.table, path));
                self.read_pages(&run, url, None, &children, &mut child_tasks)
                    .await
            }
            Source::Singleton { path } => {
                let url = self
                    .client
                    .url(&format!("/{}{}", run.table.version.segment(), path));
                match self.client.get(&url, &run.traffic).await {
                    Ok(object) => {
                        self.emit(&run, &[object], None, &children, &mut child_tasks)
                            .await
                    }
                    Err(e) => Err(e),
                }
            }
            Source::Child { .. } | Source::Computed { .. } => Ok(()),
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
        join_all(child_tasks).await;
        self.done(&run).await;
    }

    /// Follows `@odata.nextLink` from `url`, emitting each page.
    async fn read_pages(
        &self,
        run: &Arc<TableRun>,
        mut url: String,
        parent: Option<(&str, uuid::Uuid)>,
        children: &[Arc<TableRun>],
        child_tasks: &mut Vec<tokio::task::JoinHandle<()>>,
    ) -> Result<(), GraphError> {
        loop {
            let mut page = self.client.get(&url, &run.traffic).await?;
            let objects = match page.get_mut("value").map(Value::take) {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            };
            if !objects.is_empty() {
                self.emit(run, &objects, parent, children, child_tasks)
                    .await?;
            }
            match page.get("@odata.nextLink").and_then(Value::as_str) {
                // Followed verbatim: the link carries Graph's own paging state.
                Some(next) => url = next.to_string(),
                None => return Ok(()),
            }
        }
    }

    /// Converts objects to a batch, sends it, and starts the children of each row.
    async fn emit(
        &self,
        run: &Arc<TableRun>,
        objects: &[Value],
        parent: Option<(&str, uuid::Uuid)>,
        children: &[Arc<TableRun>],
        child_tasks: &mut Vec<tokio::task::JoinHandle<()>>,
    ) -> Result<(), GraphError> {
        let schema = convert::schema(run.table);
        let ctx = convert::RowContext {
            tenant_id: self.client.tenant_id(),
            parent,
        };
        let (batch, ids) = convert::to_batch(
            run.table,
            &schema,
            objects,
            &ctx,
            self.options.deterministic_cq_id,
        )
        .map_err(|e| {
            GraphError::Setup(format!("{}: cannot convert a page: {e}", run.table.name))
        })?;
        run.rows.fetch_add(batch.num_rows() as u64, Relaxed);
        if self.tx.send(SyncMessage::Insert(batch)).await.is_err() {
            return Err(GraphError::Setup("the sink stopped".into()));
        }
        if let Some(memberships) = &self.memberships
            && run.table.name == "entraid_groups"
        {
            let mut m = memberships.lock().expect("not poisoned");
            for (object, cq_id) in objects.iter().zip(&ids) {
                if let Some(id) = object.get("id").and_then(Value::as_str) {
                    m.add_group(id, *cq_id);
                }
            }
        }
        if children.is_empty() {
            return Ok(());
        }
        for (object, cq_id) in objects.iter().zip(ids) {
            let Some(id) = object.get("id").and_then(Value::as_str) else {
                continue;
            };
            // Waiting for a slot here is the back-pressure that bounds memory.
            let slot = self
                .child_slots
                .clone()
                .acquire_owned()
                .await
                .expect("never closed");
            let me = ChildJob {
                client: self.client.clone(),
                options: self.options.clone(),
                tx: self.tx.clone(),
                children: children.to_vec(),
                parent_id: id.to_string(),
                parent_cq_id: cq_id,
                parent_object: object.clone(),
                memberships: self.memberships.clone(),
            };
            child_tasks.push(tokio::spawn(async move {
                me.run().await;
                drop(slot);
            }));
        }
        // Finished handles are dropped so the list does not grow with the tenant.
        child_tasks.retain(|t| !t.is_finished());
        Ok(())
    }
}

/// Everything needed to read the child tables of one parent row.
struct ChildJob {
    client: Arc<GraphClient>,
    options: SyncOptions,
    tx: mpsc::Sender<SyncMessage>,
    children: Vec<Arc<TableRun>>,
    parent_id: String,
    parent_cq_id: uuid::Uuid,
    parent_object: Value,
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
            if !applies_to(child.table, &self.parent_object) {
                continue;
            }
            let path = path.replace("{id}", &self.parent_id);
            let url = self.client.url(&list_query(child.table, &path));
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
        let schema = convert::schema(child.table);
        loop {
            let mut page = self.client.get(&url, &child.traffic).await?;
            let objects = match page.get_mut("value").map(Value::take) {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            };
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
                let (batch, _) = convert::to_batch(
                    child.table,
                    &schema,
                    &objects,
                    &ctx,
                    self.options.deterministic_cq_id,
                )
                .map_err(|e| GraphError::Setup(format!("{}: {e}", child.table.name)))?;
                child.rows.fetch_add(batch.num_rows() as u64, Relaxed);
                if self.tx.send(SyncMessage::Insert(batch)).await.is_err() {
                    return Err(GraphError::Setup("the sink stopped".into()));
                }
            }
            match page.get("@odata.nextLink").and_then(Value::as_str) {
                Some(next) => url = next.to_string(),
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

/// `/{version}{path}?$select=…&$top=…` for a collection.
fn list_query(table: &Table, path: &str) -> String {
    let mut query: Vec<String> = Vec::new();
    let select = table.select();
    if table.use_select && !select.is_empty() {
        query.push(format!("$select={}", select.join(",")));
    }
    if let Some(top) = table.max_page_size {
        query.push(format!("$top={top}"));
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
    if err.is_licence_missing() {
        Outcome::Skipped(describe_failure(table, err))
    } else if err.is_permission_denied() {
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

/// Per-table results, keyed by table name, for exit codes and summaries.
pub fn outcomes(runs: &[Arc<TableRun>]) -> HashMap<&'static str, Outcome> {
    runs.iter()
        .map(|r| (r.table.name, r.outcome().unwrap_or(Outcome::Complete)))
        .collect()
}
