//! `entrasync sync`: config → tables → scheduler → the built-in sinks.
//!
//! The writer adds `_cq_sync_time` and `_cq_source_name` as the CloudQuery CLI does, so a
//! database written by entrasync alone looks like one written through CloudQuery.

use crate::config::{
    Config, DestinationConfig, DestinationKind, MigrateMode, SourceConfig, WriteMode,
};
use crate::graph::GraphClient;
use crate::sync::{Outcome, Scheduler, SyncMessage, SyncOptions, TableRun, report};
use crate::tables;
use anyhow::{Context, anyhow};
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::Schema;
use chrono::{DateTime, SubsecRound, Utc};
use entrasync_sinks::Sink;
use entrasync_sinks::cq::{self, ColumnKind};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;

/// How a finished sync went, for the exit code.
#[derive(Debug, Default)]
pub struct SyncResult {
    /// Tables that failed, or that the user named explicitly and could not be synced, plus one
    /// for each tenant whose sync failed as a whole.
    pub errors: usize,
    /// Tables matched only by a glob that were skipped for a missing permission or licence.
    pub warnings: usize,
    /// Tenants whose sync failed as a whole (sign-in refused, a destination failing), each as
    /// `tenant … (source …): why`.
    pub failed_tenants: Vec<String>,
}

/// Pages buffered between Graph and the sinks; the bound on memory besides in-flight requests.
/// The writer mostly keeps up: 16 held a large tenant's sync at 98 MB peak RSS, 4 at 91 MB,
/// with the groups delta chain's pages waiting for it ~7 ms each instead of ~5.
const CHANNEL_PAGES: usize = 4;

/// A destination shared by every source that names it: two sinks on one SQLite file would
/// fight over its lock, so each destination is opened once and its writes are serialised.
type Shared = Arc<tokio::sync::Mutex<Destination>>;

/// A source whose tenant accepted the sign-in, ready to sync.
struct Tenant<'a> {
    source: &'a SourceConfig,
    spec: crate::config::EntraSpec,
    client: Arc<GraphClient>,
    // Keeps a built-in simulator serving until the sync ends.
    _simulator: simulator::Running,
}

/// Syncs every source (one per tenant) at once in this process. One tenant's failure does not
/// stop the others; the result names it.
pub async fn sync(config: &Config, progress: bool) -> anyhow::Result<SyncResult> {
    let mut selected = Vec::new();
    for source in &config.sources {
        selected.push(
            tables::select(
                &tables::all(),
                &source.tables,
                &source.skip_tables,
                source.skip_dependent_tables,
            )
            .map_err(|e| anyhow!("{}: source {:?}: {e}", source.file.display(), source.name))?,
        );
    }
    // Database servers are reached first, then the tenants, and only then are local files
    // created: a database that is down fails before any Graph traffic, and a refused sign-in
    // leaves no file behind.
    let used = |d: &&DestinationConfig| {
        config
            .sources
            .iter()
            .any(|s| s.destinations.contains(&d.name))
    };
    let local = |d: &DestinationConfig| d.kind != DestinationKind::Postgres;
    let mut opened: HashMap<&str, Shared> = HashMap::new();
    for dest in config
        .destinations
        .iter()
        .filter(used)
        .filter(|d| !local(d))
    {
        opened.insert(&dest.name, Arc::new(open_sink(dest).await?.into()));
    }
    let mut result = SyncResult::default();
    let mut tenants = Vec::new();
    let signed_in = futures::future::join_all(config.sources.iter().map(sign_in)).await;
    for (source, signed_in) in config.sources.iter().zip(signed_in) {
        match signed_in {
            Ok(tenant) => tenants.push(tenant),
            // One tenant: its refusal is the run's error, as it always was.
            Err(e) if config.sources.len() == 1 => return Err(e),
            Err(e) => fail_tenant(&mut result, source, &source.spec.tenant_id, &e),
        }
    }
    if tenants.is_empty() {
        anyhow::bail!(
            "no tenant accepted the sign-in:\n  {}",
            result.failed_tenants.join("\n  ")
        );
    }
    for dest in config.destinations.iter().filter(|d| local(d)) {
        if tenants
            .iter()
            .any(|t| t.source.destinations.contains(&dest.name))
        {
            opened.insert(&dest.name, Arc::new(open_sink(dest).await?.into()));
        }
    }
    // Bars for several tenants at once would overwrite each other.
    let progress = progress && tenants.len() == 1;
    let several = config.sources.len() > 1;
    let runs = tenants.iter().map(|tenant| {
        let index = config
            .sources
            .iter()
            .position(|s| std::ptr::eq(s, tenant.source))
            .expect("a tenant is one of the sources");
        let sinks: Vec<Shared> = tenant
            .source
            .destinations
            .iter()
            .map(|name| opened[name.as_str()].clone())
            .collect();
        sync_tenant(config, tenant, &selected[index], sinks, progress, several)
    });
    let outcomes = futures::future::join_all(runs).await;
    for (tenant, outcome) in tenants.iter().zip(outcomes) {
        match outcome {
            Ok(r) => {
                result.errors += r.errors;
                result.warnings += r.warnings;
            }
            Err(e) if !several => return Err(e),
            Err(e) => {
                let id = Some(tenant.client.tenant_id().to_string());
                fail_tenant(&mut result, tenant.source, &id, &e);
            }
        }
    }
    if !result.failed_tenants.is_empty() {
        eprintln!(
            "\n{} of {} tenants failed:\n  {}",
            result.failed_tenants.len(),
            config.sources.len(),
            result.failed_tenants.join("\n  ")
        );
    }
    Ok(result)
}

fn fail_tenant(
    result: &mut SyncResult,
    source: &SourceConfig,
    tenant: &Option<String>,
    error: &anyhow::Error,
) {
    let tenant = tenant.as_deref().unwrap_or("(no tenant_id)");
    tracing::error!(source = %source.name, tenant, "tenant failed: {error:#}");
    result.errors += 1;
    result.failed_tenants.push(format!(
        "tenant {tenant} (source {:?}): {error:#}",
        source.name
    ));
}

/// A client for the source's tenant, signed in: the credential works and the tenant's GUID is
/// known.
async fn sign_in(source: &SourceConfig) -> anyhow::Result<Tenant<'_>> {
    let (spec, simulator) = simulator::resolve(&source.spec).await?;
    let client = GraphClient::new(&spec).map_err(|e| anyhow!("source {:?}: {e}", source.name))?;
    client
        .sign_in()
        .await
        .map_err(|e| anyhow!("source {:?}: {e}", source.name))?;
    Ok(Tenant {
        source,
        spec,
        client,
        _simulator: simulator,
    })
}

async fn sync_tenant(
    config: &Config,
    tenant: &Tenant<'_>,
    selected: &[tables::Selected],
    sinks: Vec<Shared>,
    progress: bool,
    several: bool,
) -> anyhow::Result<SyncResult> {
    let (source, spec, client) = (tenant.source, &tenant.spec, tenant.client.clone());
    let backend = match &source.backend_options {
        Some(options) => Some(open_backend(config, source, options, &sinks).await?),
        None => None,
    };

    let sync_time = Utc::now().trunc_subsecs(6);
    let tenant_id = client.tenant_id().to_string();
    tracing::info!(
        source = %source.name,
        tables = selected.len(),
        tenant = %tenant_id,
        "sync started"
    );
    let (tx, rx) = mpsc::channel(CHANNEL_PAGES);
    let scheduler = Arc::new(Scheduler::new(
        client,
        selected,
        SyncOptions {
            deterministic_cq_id: source.deterministic_cq_id,
            state: backend.as_ref().map(|b| b.state.clone()),
            log_lookback: (spec.log_lookback_days > 0)
                .then(|| chrono::Duration::days(spec.log_lookback_days.into())),
            log_overlap: chrono::Duration::from_std(spec.log_overlap).unwrap_or_default(),
            child_refresh: chrono::Duration::from_std(spec.child_refresh_interval)
                .unwrap_or_else(|_| chrono::Duration::hours(24)),
        },
        tx,
    ));
    let runs = scheduler.runs();
    let bars = report::Progress::start(runs.clone(), progress);
    let watched = sinks.clone();
    let writer = tokio::spawn(write_all(
        rx,
        sinks,
        Scope {
            source_name: source.name.clone(),
            tenant_id: tenant_id.clone(),
            sync_time,
        },
        backend.map(|b| (b.destination, b.table_name)),
    ));
    scheduler.run().await;
    let written = writer.await.context("the writer task panicked")?;
    bars.finish().await;
    log_outcomes(&runs);
    let heading = if several {
        format!("tenant {tenant_id} (source {:?}):\n", source.name)
    } else {
        String::new()
    };
    eprintln!("\n{heading}{}", report::summary(&runs));
    written?;

    let mut result = SyncResult::default();
    for run in &runs {
        match run.outcome() {
            Some(Outcome::Failed(_) | Outcome::Partial(_)) => result.errors += 1,
            Some(Outcome::Skipped(_)) if run.explicit => result.errors += 1,
            Some(Outcome::Skipped(_)) => result.warnings += 1,
            _ => {}
        }
    }
    result.warnings += record_changes(config, source, &tenant_id, sync_time, &runs, &watched).await;
    Ok(result)
}

/// Appends the changes of the watched facts (`posture::watch`) to the change log of each
/// SQLite or PostgreSQL destination of the tenant, from the tables this run synced completely.
/// A failure is a warning, not an error: the snapshot stays as it was, so the next sync reports
/// the change, later.
async fn record_changes(
    config: &Config,
    source: &SourceConfig,
    tenant_id: &str,
    sync_time: DateTime<Utc>,
    runs: &[Arc<TableRun>],
    dests: &[Shared],
) -> usize {
    let complete: std::collections::HashSet<&str> = runs
        .iter()
        .filter(|r| matches!(r.outcome(), Some(Outcome::Complete)))
        .map(|r| r.table.name)
        .collect();
    let complete = |t: &str| complete.contains(t);
    if !crate::posture::controls::WATCHED
        .iter()
        .any(|w| w.tables.iter().all(|t| complete(t)))
    {
        return 0;
    }
    let mut warnings = 0;
    for (name, shared) in source.destinations.iter().zip(dests) {
        let Some(dest) = config.destinations.iter().find(|d| &d.name == name) else {
            continue;
        };
        let Some(conn) = dest.spec.get("connection_string").and_then(|v| v.as_str()) else {
            continue;
        };
        // Held so that no other tenant writes to this destination meanwhile.
        let _writes = shared.lock().await;
        let recorded = async {
            let db = match dest.kind {
                // The file the sink wrote, named as the sink names it.
                DestinationKind::Sqlite => {
                    crate::posture::Db::sqlite_writable(std::path::Path::new(conn))?
                }
                DestinationKind::Postgres => crate::posture::Db::postgres(conn).await?,
                DestinationKind::File => return Ok(None),
            };
            crate::posture::watch::record(&db, tenant_id, sync_time, &complete)
                .await
                .map(Some)
        }
        .await;
        match recorded {
            Ok(Some(stats)) => tracing::info!(
                destination = %dest.name,
                tenant = tenant_id,
                kinds = stats.kinds,
                facts = stats.facts,
                added = stats.added,
                removed = stats.removed,
                baselines = stats.baselines,
                millis = stats.millis,
                "change log updated"
            ),
            Ok(None) => {}
            Err(e) => {
                let e: anyhow::Error = e;
                tracing::warn!(
                    destination = %dest.name,
                    tenant = tenant_id,
                    "the change log (entrasync_changes) was not updated; the next sync will record these changes: {e:#}"
                );
                warnings += 1;
            }
        }
    }
    warnings
}

fn log_outcomes(runs: &[Arc<TableRun>]) {
    for run in runs {
        let rows = run.rows.load(std::sync::atomic::Ordering::Relaxed);
        match run.outcome() {
            Some(Outcome::Skipped(why)) => {
                tracing::warn!(table = run.table.name, "table skipped: {why}")
            }
            Some(Outcome::Failed(why) | Outcome::Partial(why)) => {
                tracing::error!(table = run.table.name, rows, "table failed: {why}")
            }
            _ => tracing::info!(table = run.table.name, rows, "table done"),
        }
    }
}

/// Where incremental state lives: a table in one of the source's destinations.
struct Backend {
    destination: usize,
    table_name: String,
    state: std::collections::HashMap<String, String>,
}

/// Resolves `backend_options.connection` (`@@plugins.<destination>.connection`, as CloudQuery
/// writes it) to one of this source's destinations and reads the state table from it.
async fn open_backend(
    config: &Config,
    source: &SourceConfig,
    options: &crate::config::BackendOptions,
    sinks: &[Shared],
) -> anyhow::Result<Backend> {
    let name = options
        .connection
        .strip_prefix("@@plugins.")
        .and_then(|rest| rest.strip_suffix(".connection"))
        .ok_or_else(|| {
            anyhow!(
                "{}: source {:?}: backend_options.connection must be \"@@plugins.<destination name>.connection\" for entrasync sync (got {:?})",
                source.file.display(),
                source.name,
                options.connection
            )
        })?;
    let destination = source
        .destinations
        .iter()
        .position(|d| d == name)
        .ok_or_else(|| {
            let known: Vec<&str> = config.destinations.iter().map(|d| d.name.as_str()).collect();
            anyhow!(
                "{}: source {:?}: backend_options.connection names destination {name:?}, which is not one of this source's destinations ({})",
                source.file.display(),
                source.name,
                known.join(", ")
            )
        })?;
    let state = sinks[destination]
        .lock()
        .await
        .sink
        .read_state(&options.table_name)
        .await
        .with_context(|| {
            format!(
                "reading state table {} from destination {name:?}",
                options.table_name
            )
        })?;
    tracing::info!(table = %options.table_name, destination = name, keys = state.len(), "incremental state read");
    Ok(Backend {
        destination,
        table_name: options.table_name.clone(),
        state,
    })
}

/// A sink with the destination's settings that the writer needs.
struct Destination {
    name: String,
    sink: Box<dyn Sink>,
    write_mode: WriteMode,
}

async fn open_sink(dest: &DestinationConfig) -> anyhow::Result<Destination> {
    let write_mode = match dest.write_mode {
        WriteMode::OverwriteDeleteStale => entrasync_sinks::WriteMode::OverwriteDeleteStale,
        WriteMode::Overwrite => entrasync_sinks::WriteMode::Overwrite,
        WriteMode::Append => entrasync_sinks::WriteMode::Append,
    };
    let migrate_mode = match dest.migrate_mode {
        MigrateMode::Safe => entrasync_sinks::MigrateMode::Safe,
        MigrateMode::Forced => entrasync_sinks::MigrateMode::Forced,
    };
    // Older CloudQuery configs put the batch sizes beside the spec rather than in it.
    let mut spec = dest.spec.clone();
    if let serde_json::Value::Object(map) = &mut spec {
        for (key, value) in [
            ("batch_size", dest.batch_size),
            ("batch_size_bytes", dest.batch_size_bytes),
        ] {
            if let Some(n) = value {
                map.entry(key).or_insert(n.into());
            }
        }
    }
    // The sinks' errors name the server without its password.
    let path = match dest.kind {
        DestinationKind::Sqlite => "cloudquery/sqlite",
        DestinationKind::Postgres => "cloudquery/postgresql",
        DestinationKind::File => "cloudquery/file",
    };
    let sink = entrasync_sinks::destination::open(path, &spec, write_mode, migrate_mode)
        .await
        .with_context(|| format!("{}: destination {:?}", dest.file.display(), dest.name))?;
    Ok(Destination {
        name: dest.name.clone(),
        sink,
        write_mode: dest.write_mode,
    })
}

/// What one tenant's rows are marked with, and what its delete-stale is limited to.
struct Scope {
    source_name: String,
    /// The tenant's GUID.
    tenant_id: String,
    sync_time: DateTime<Utc>,
}

/// Drains the scheduler's messages into every destination, then makes the writes durable.
///
/// A state entry covers rows written to every destination, so it is stored (in the backend's
/// destination) only after each destination that received rows since the last flush has
/// flushed them. Destinations are shared with other tenants' writers: each message holds a
/// destination only while it is written.
async fn write_all(
    mut rx: mpsc::Receiver<SyncMessage>,
    dests: Vec<Shared>,
    scope: Scope,
    // The destination (by index) and table that keep the incremental state.
    backend: Option<(usize, String)>,
) -> anyhow::Result<()> {
    // Destinations written to since their last flush.
    let mut unflushed = vec![false; dests.len()];
    while let Some(message) = rx.recv().await {
        if let SyncMessage::State { key, value } = &message {
            let Some((index, state_table)) = &backend else {
                continue;
            };
            for (dest, unflushed) in dests.iter().zip(&mut unflushed) {
                if std::mem::take(unflushed) {
                    let mut dest = dest.lock().await;
                    dest.sink
                        .flush()
                        .await
                        .with_context(|| format!("destination {:?}: flushing", dest.name))?;
                }
            }
            let mut dest = dests[*index].lock().await;
            let entry = std::collections::HashMap::from([(key.clone(), value.clone())]);
            dest.sink
                .write_state(state_table, &entry)
                .await
                .with_context(|| {
                    format!(
                        "destination {:?}: writing state to {state_table}",
                        dest.name
                    )
                })?;
            continue;
        }
        for (dest, unflushed) in dests.iter().zip(&mut unflushed) {
            let mut dest = dest.lock().await;
            let dest = &mut *dest;
            let ctx = |what: &str| format!("destination {:?}: {what}", dest.name);
            match &message {
                SyncMessage::MigrateTable(schema) => {
                    let table = cq::table_name(schema).unwrap_or_default().to_string();
                    dest.sink
                        .migrate(Arc::new(cq::with_sync_columns(schema)))
                        .await
                        .with_context(|| ctx(&format!("migrating {table}")))?;
                }
                SyncMessage::Insert(batch) => {
                    let batch = cq::add_sync_columns(batch, &scope.source_name, scope.sync_time)?;
                    *unflushed = true;
                    dest.sink
                        .write(batch)
                        .await
                        .with_context(|| ctx("writing rows"))?;
                }
                SyncMessage::DeleteRecord { table, keys } => {
                    let keys = delete_keys(keys)?;
                    *unflushed = true;
                    dest.sink
                        .delete_rows(table, keys, &relations_of(table))
                        .await
                        .with_context(|| ctx(&format!("deleting a removed row of {table}")))?;
                }
                SyncMessage::State { .. } => unreachable!("handled above"),
                SyncMessage::TableDone { table, replaced } => {
                    dest.sink
                        .table_done(table)
                        .await
                        .with_context(|| ctx(&format!("finishing {table}")))?;
                    if *replaced && dest.write_mode == WriteMode::OverwriteDeleteStale {
                        // `delete_stale` writes this table's buffered rows before it deletes
                        // what they replace; only this tenant's rows are candidates, as other
                        // tenants of the same source may not have synced this table yet.
                        let deleted = dest
                            .sink
                            .delete_stale(
                                table,
                                &scope.source_name,
                                Some(&scope.tenant_id),
                                scope.sync_time,
                            )
                            .await
                            .with_context(|| ctx(&format!("deleting stale rows of {table}")))?;
                        if deleted > 0 {
                            tracing::info!(table, deleted, destination = %dest.name, tenant = %scope.tenant_id, "stale rows deleted");
                        }
                    }
                }
            }
        }
    }
    for dest in &dests {
        let mut dest = dest.lock().await;
        dest.sink
            .flush()
            .await
            .with_context(|| format!("destination {:?}: flushing", dest.name))?;
    }
    Ok(())
}

/// A one-row key batch for `Sink::delete_rows`: one utf8 column per key column.
fn delete_keys(keys: &[(String, String)]) -> anyhow::Result<RecordBatch> {
    let fields: Vec<_> = keys
        .iter()
        .map(|(name, _)| cq::field(name, ColumnKind::Utf8, true, true))
        .collect();
    let columns: Vec<ArrayRef> = keys
        .iter()
        .map(|(_, value)| Arc::new(StringArray::from(vec![value.as_str()])) as ArrayRef)
        .collect();
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// The child tables of `table`, transitively, parents first: what a deletion cascades to.
pub fn relations_of(table: &str) -> Vec<entrasync_sinks::TableRelation> {
    let all = tables::all();
    let mut out: Vec<entrasync_sinks::TableRelation> = Vec::new();
    let mut parents = vec![table.to_string()];
    while let Some(parent) = parents.pop() {
        for child in all.iter().filter(|t| t.parent() == Some(parent.as_str())) {
            out.push(entrasync_sinks::TableRelation::new(
                child.name,
                parent.clone(),
            ));
            parents.push(child.name.to_string());
        }
    }
    out
}

/// The quick start's built-in tenant: fake-graph started in-process, its URLs and app put into
/// the spec in place of a real tenant's.
pub(crate) mod simulator {
    use crate::config::EntraSpec;
    #[cfg(feature = "simulator")]
    use crate::config::Secret;

    #[cfg(feature = "simulator")]
    pub type Running = Option<fake_graph::Server>;
    #[cfg(not(feature = "simulator"))]
    pub type Running = Option<()>;

    pub async fn resolve(spec: &EntraSpec) -> anyhow::Result<(EntraSpec, Running)> {
        let Some(sim) = &spec.simulator else {
            return Ok((spec.clone(), None));
        };
        #[cfg(feature = "simulator")]
        {
            let profile = match sim.profile.as_str() {
                "tiny" => fake_graph::Profile::Tiny,
                "small" => fake_graph::Profile::Small,
                "large" => fake_graph::Profile::Large,
                other => anyhow::bail!(
                    "spec.simulator.profile: unknown profile {other:?}; use tiny, small or large"
                ),
            };
            let server = fake_graph::start(fake_graph::Config::new(profile, sim.seed)).await?;
            let info = &server.info;
            let mut resolved = spec.clone();
            resolved.tenant_id = Some(info.tenant_id.clone());
            resolved.client_id = Some(info.client_id.clone());
            resolved.client_secret = Some(Secret::new(info.client_secret.clone()));
            resolved.client_certificate_path = None;
            resolved.graph_url = info.graph_url.parse()?;
            resolved.login_url = info.login_url.parse()?;
            tracing::info!(
                profile = %sim.profile,
                seed = sim.seed,
                tenant = %info.tenant_id,
                "syncing a simulated tenant (fake-graph), not a real one"
            );
            Ok((resolved, Some(server)))
        }
        #[cfg(not(feature = "simulator"))]
        {
            let _ = sim;
            anyhow::bail!(
                "spec.simulator needs entrasync built with the `simulator` feature (on by default)"
            )
        }
    }
}
