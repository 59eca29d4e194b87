//! The source role: entrasync's scheduler behind CloudQuery's `Sync`, `GetTables` and
//! `TestConnection`.

use super::ipc;
use super::metrics::Exporter;
use super::state_client::StateClient;
use crate::config::{EntraSpec, SourceConfig};
use crate::graph::GraphClient;
use crate::standalone::{relations_of, simulator};
use crate::sync::{Outcome, Scheduler, SyncMessage, SyncOptions, TableRun};
use crate::tables::{self, Selected};
use arrow_array::{RecordBatch, StringArray};
use arrow_schema::{Field, Schema, SchemaRef};
use entrasync_proto::plugin::v3 as pb;
use entrasync_sinks::cq;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::mpsc;
use tonic::Status;

/// Reads the source spec; CloudQuery sends `null` for an empty or missing spec.
pub fn parse_spec(bytes: &[u8]) -> Result<EntraSpec, String> {
    let value: serde_json::Value = if bytes.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_slice(bytes).map_err(|e| format!("the spec is not JSON: {e}"))?
    };
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    EntraSpec::from_value(value, &text, 1).map_err(|(_, message)| message)
}

/// CloudQuery's selection with the SDK's wording for patterns that match nothing.
pub fn select(
    patterns: &[String],
    skip: &[String],
    skip_dependent_tables: bool,
) -> Result<Vec<Selected>, String> {
    let catalog = tables::all();
    for (what, list) in [("tables", patterns), ("skip_tables", skip)] {
        for p in list {
            if tables::select(&catalog, std::slice::from_ref(p), &[], true).is_err() {
                return Err(format!("{what} include a pattern {p} with no matches"));
            }
        }
    }
    tables::select(&catalog, patterns, skip, skip_dependent_tables).map_err(|e| e.to_string())
}

/// `GetTables`: the selected tables, parents before children, as Arrow IPC schemas.
pub fn get_tables(request: pb::get_tables::Request) -> Result<pb::get_tables::Response, Status> {
    let selected = select(
        &request.tables,
        &request.skip_tables,
        request.skip_dependent_tables,
    )
    .map_err(|e| Status::internal(format!("failed to get tables: {e}")))?;
    let tables = selected
        .iter()
        .map(|s| ipc::schema_to_bytes(&crate::sync::convert::schema(s.table)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Status::internal(format!("failed to get tables: {e}")))?;
    Ok(pb::get_tables::Response { tables })
}

/// Shard `num` of `total` (1-based, as `cloudquery sync --shard 1/2`): the top-level tables are
/// split into `total` contiguous chunks; each table goes with its parent's shard, so every table
/// is synced by exactly one shard.
pub fn shard_tables(selected: &[Selected], num: i32, total: i32) -> Vec<Selected> {
    let roots: Vec<&str> = selected
        .iter()
        .filter(|s| s.table.parent().is_none())
        .map(|s| s.table.name)
        .collect();
    let total = total.max(1) as usize;
    let chunk = roots.len().div_ceil(total).max(1);
    let index = (num.max(1) as usize - 1).min(total - 1);
    let mine: Vec<&str> = roots
        .iter()
        .skip(index * chunk)
        .take(chunk)
        .copied()
        .collect();
    let root_of = |mut name: &'static str| {
        while let Some(parent) = tables::by_name(name).and_then(|t| t.parent()) {
            name = parent;
        }
        name
    };
    selected
        .iter()
        .filter(|s| mine.contains(&root_of(s.table.name)))
        .copied()
        .collect()
}

/// Go SDK's `CqIDAsPK`: with `deterministic_cq_id`, `_cq_id` becomes the only primary key.
pub fn cq_id_as_pk(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            let mut meta = f.metadata().clone();
            let pk = f.name() == cq::CQ_ID;
            meta.insert(cq::META_PRIMARY_KEY.to_string(), pk.to_string());
            f.as_ref().clone().with_metadata(meta)
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

type Responses = mpsc::Receiver<Result<pb::sync::Response, Status>>;

fn internal(e: impl std::fmt::Display) -> Status {
    Status::internal(format!("failed to sync records: {e}"))
}

/// `Sync`: sets everything up (state backend, sign-in) before answering, so setup failures are
/// the RPC's error; then streams the scheduler's messages. With `metrics`, the per-table
/// metrics are posted while the sync runs and when the scheduler ends, before the stream ends:
/// the CLI closes its receiver once the stream is over.
pub async fn sync(
    spec: EntraSpec,
    request: pb::sync::Request,
    metrics: Option<Arc<Exporter>>,
) -> Result<Responses, Status> {
    let selected = select(
        &request.tables,
        &request.skip_tables,
        request.skip_dependent_tables,
    )
    .map_err(internal)?;
    let mut state = match &request.backend {
        Some(b) if !b.table_name.is_empty() && !b.connection.is_empty() => Some(
            StateClient::connect(&b.connection, &b.table_name)
                .await
                .map_err(|e| internal(format!("{e:#}")))?,
        ),
        Some(b) if !b.table_name.is_empty() || !b.connection.is_empty() => {
            return Err(internal(
                "backend_options must contain both connection and table_name",
            ));
        }
        _ => None,
    };
    let selected = match &request.shard {
        Some(shard) if shard.total > 1 => {
            let picked = shard_tables(&selected, shard.num, shard.total);
            tracing::info!(
                num = shard.num,
                total = shard.total,
                tables = picked.len(),
                "syncing one shard"
            );
            picked
        }
        _ => selected,
    };
    let (spec, simulator) = simulator::resolve(&spec)
        .await
        .map_err(|e| internal(format!("{e:#}")))?;
    let client = GraphClient::new(&spec).map_err(internal)?;
    // Bad credentials fail the sync at once and clearly, not table by table.
    client.sign_in().await.map_err(|e| {
        internal(format!(
            "cannot sign in to tenant {}: {e}",
            client.tenant_id()
        ))
    })?;
    tracing::info!(
        tables = selected.len(),
        tenant = client.tenant_id(),
        incremental = state.is_some(),
        "sync started"
    );
    let mut stale = state
        .as_ref()
        .map(|st| super::stale::StaleRows::new(&selected, client.tenant_id(), &st.values()));
    let (out, responses) = mpsc::channel(16);
    let (tx, mut rx) = mpsc::channel(16);
    let options = SyncOptions {
        deterministic_cq_id: request.deterministic_cq_id,
        state: state.as_ref().map(StateClient::values),
        log_lookback: (spec.log_lookback_days > 0)
            .then(|| chrono::Duration::days(spec.log_lookback_days.into())),
        log_overlap: chrono::Duration::from_std(spec.log_overlap).unwrap_or_default(),
        child_refresh: chrono::Duration::from_std(spec.child_refresh_interval)
            .unwrap_or_else(|_| chrono::Duration::hours(24)),
    };
    let tenant = client.tenant_id().to_string();
    let scheduler = Arc::new(Scheduler::new(client, &selected, options, tx));
    let runs = scheduler.runs();
    let progress = metrics.map(|m| m.start(runs.clone(), tenant));
    let deterministic = request.deterministic_cq_id;
    let with_errors = request.with_error_messages;
    tokio::spawn(async move {
        let _simulator = simulator;
        let scheduler = tokio::spawn(scheduler.run());
        // Migrated schemas by table, reused for every insert of the table.
        let mut schemas: HashMap<String, SchemaRef> = HashMap::new();
        let mut failed = false;
        while let Some(message) = rx.recv().await {
            let mut outgoing = Vec::new();
            if let Some(stale) = &mut stale {
                match &message {
                    SyncMessage::Insert(batch) => stale.saw(batch),
                    SyncMessage::TableDone { table, replaced } => {
                        match stale.finish(table, *replaced) {
                            Ok(Some((deletes, entries))) => {
                                if !deletes.is_empty() {
                                    tracing::info!(
                                        table,
                                        rows = deletes.len(),
                                        "deleting stale rows"
                                    );
                                }
                                outgoing.extend(
                                    deletes
                                        .into_iter()
                                        .map(pb::sync::response::Message::DeleteRecord),
                                );
                                if let Some(state) = &mut state {
                                    for (key, value) in entries {
                                        state.set(&key, &value);
                                    }
                                }
                            }
                            Ok(None) => {}
                            Err(e) => {
                                let _ = out.send(Err(internal(e))).await;
                                scheduler.abort();
                                return;
                            }
                        }
                    }
                    _ => {}
                }
            }
            match convert(message, deterministic, &mut schemas, &mut state, &runs) {
                Ok(Some(message)) => outgoing.push(message),
                Ok(None) => {}
                Err(e) => {
                    let _ = out.send(Err(internal(e))).await;
                    scheduler.abort();
                    return;
                }
            };
            for response in outgoing {
                if let pb::sync::response::Message::Error(_) = &response {
                    failed = true;
                    if !with_errors {
                        continue;
                    }
                }
                if out
                    .send(Ok(pb::sync::Response {
                        message: Some(response),
                    }))
                    .await
                    .is_err()
                {
                    // The CLI went away: stop reading Graph.
                    scheduler.abort();
                    return;
                }
            }
        }
        let _ = scheduler.await;
        log_outcomes(&runs);
        if let Some(progress) = progress {
            progress.finish().await;
        }
        if let Some(state) = &mut state {
            // Written after every row of the sync was handed to the CLI.
            match state.flush().await {
                Ok(n) => tracing::info!(keys = n, failed_tables = failed, "state saved"),
                Err(e) => {
                    let _ = out.send(Err(internal(format!("{e:#}")))).await;
                }
            }
        }
    });
    Ok(responses)
}

fn convert(
    message: SyncMessage,
    deterministic: bool,
    schemas: &mut HashMap<String, SchemaRef>,
    state: &mut Option<StateClient>,
    runs: &[Arc<TableRun>],
) -> anyhow::Result<Option<pb::sync::response::Message>> {
    use pb::sync::response::Message;
    Ok(Some(match message {
        SyncMessage::MigrateTable(schema) => {
            let schema = if deterministic {
                cq_id_as_pk(&schema)
            } else {
                schema
            };
            let name = cq::table_name(&schema).unwrap_or_default().to_string();
            let bytes = ipc::schema_to_bytes(&schema)?;
            schemas.insert(name, schema);
            Message::MigrateTable(pb::sync::MessageMigrateTable { table: bytes })
        }
        // The Go reader needs a batch in every insert; an empty one carries nothing.
        SyncMessage::Insert(batch) if batch.num_rows() == 0 => return Ok(None),
        SyncMessage::Insert(batch) => {
            let batch = match cq::table_name(&batch.schema()).and_then(|n| schemas.get(n)) {
                Some(schema) if deterministic => {
                    RecordBatch::try_new(schema.clone(), batch.columns().to_vec())?
                }
                _ => batch,
            };
            Message::Insert(pb::sync::MessageInsert {
                record: ipc::record_to_bytes(&batch)?,
            })
        }
        SyncMessage::DeleteRecord { table, keys } => {
            Message::DeleteRecord(delete_record(table, &keys)?)
        }
        SyncMessage::State { key, value } => {
            if let Some(state) = state {
                state.set(&key, &value);
            }
            return Ok(None);
        }
        // A table that could not be read completely is reported; its rows so far stand.
        SyncMessage::TableDone { table, .. } => {
            let run = runs.iter().find(|r| r.table.name == table);
            match run.and_then(|r| r.outcome()) {
                Some(Outcome::Failed(why) | Outcome::Partial(why)) => {
                    Message::Error(pb::sync::MessageError {
                        table_name: table.to_string(),
                        error: why,
                    })
                }
                _ => return Ok(None),
            }
        }
    }))
}

/// A delete of the rows whose `keys` columns all equal the given values (one AND group of EQ
/// predicates), cascading to child tables through `_cq_parent_id`.
pub fn delete_record(
    table: &str,
    keys: &[(String, String)],
) -> anyhow::Result<pb::sync::MessageDeleteRecord> {
    let predicate = |column: &str, value: &str| -> anyhow::Result<pb::Predicate> {
        // Key columns (tenant_id, id, parent keys) are all utf8.
        let schema = Arc::new(Schema::new(vec![Field::new(
            column,
            arrow_schema::DataType::Utf8,
            true,
        )]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(vec![value]))])?;
        Ok(pb::Predicate {
            operator: pb::predicate::Operator::Eq as i32,
            column: column.to_string(),
            record: ipc::record_to_bytes(&batch)?,
        })
    };
    Ok(pb::sync::MessageDeleteRecord {
        table_name: table.to_string(),
        where_clause: vec![pb::PredicatesGroup {
            grouping_type: pb::predicates_group::GroupingType::And as i32,
            predicates: keys
                .iter()
                .map(|(column, value)| predicate(column, value))
                .collect::<anyhow::Result<_>>()?,
        }],
        table_relations: relations_of(table)
            .into_iter()
            .map(|r| pb::TableRelation {
                table_name: r.table_name,
                parent_table: r.parent_table,
            })
            .collect(),
    })
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

/// `TestConnection`: the checks of `entrasync test-connection`; a failure says what to fix.
pub async fn test_connection(spec_bytes: &[u8]) -> pb::test_connection::Response {
    let fail = |code: &str, description: String| pb::test_connection::Response {
        success: false,
        failure_code: code.to_string(),
        failure_description: description,
    };
    let spec = match parse_spec(spec_bytes) {
        Ok(spec) => spec,
        Err(e) => return fail("INVALID_SPEC", e),
    };
    let source = SourceConfig {
        name: "entraid".into(),
        path: "cloudquery/entraid".into(),
        registry: "local".into(),
        version: None,
        tables: vec!["*".into()],
        skip_tables: Vec::new(),
        skip_dependent_tables: true,
        destinations: Vec::new(),
        backend_options: None,
        deterministic_cq_id: false,
        spec,
        tenants: Vec::new(),
        file: "spec".into(),
    };
    match crate::check::test_connection(&source).await {
        Ok(report) => {
            for line in report.render().lines().filter(|l| !l.is_empty()) {
                tracing::info!("{line}");
            }
            pb::test_connection::Response {
                success: true,
                failure_code: String::new(),
                failure_description: String::new(),
            }
        }
        Err(e) => {
            let code = match e.downcast_ref::<crate::graph::GraphError>() {
                Some(crate::graph::GraphError::Auth { .. }) => "INVALID_CREDENTIALS",
                Some(crate::graph::GraphError::Transport(_)) => "CONNECTION_FAILED",
                Some(crate::graph::GraphError::Setup(_)) => "INVALID_SPEC",
                _ => "UNKNOWN",
            };
            fail(code, format!("{e:#}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_table_once_with_children_beside_parents() {
        let all = select(&["*".to_string()], &[], false).unwrap();
        let mut seen: Vec<&str> = Vec::new();
        for num in 1..=3 {
            let shard = shard_tables(&all, num, 3);
            assert!(!shard.is_empty());
            for s in &shard {
                if let Some(parent) = s.table.parent() {
                    assert!(
                        shard.iter().any(|p| p.table.name == parent),
                        "{}",
                        s.table.name
                    );
                }
            }
            seen.extend(shard.iter().map(|s| s.table.name));
        }
        seen.sort();
        let mut want: Vec<&str> = all.iter().map(|s| s.table.name).collect();
        want.sort();
        assert_eq!(seen, want);
    }

    #[test]
    fn pattern_errors_use_the_sdk_wording() {
        assert_eq!(
            select(&["entraid_nope*".to_string()], &[], true).unwrap_err(),
            "tables include a pattern entraid_nope* with no matches"
        );
        assert_eq!(
            select(&["*".to_string()], &["nope".to_string()], true).unwrap_err(),
            "skip_tables include a pattern nope with no matches"
        );
    }

    #[test]
    fn null_spec_is_an_empty_spec() {
        assert!(parse_spec(b"null").is_ok());
        assert!(parse_spec(b"").is_ok());
        assert!(parse_spec(b"{\"nope\": 1}").unwrap_err().contains("nope"));
    }

    #[test]
    fn deterministic_ids_make_cq_id_the_only_key() {
        let schema = crate::sync::convert::schema(tables::by_name("entraid_users").unwrap());
        let pk: Vec<String> = cq_id_as_pk(&schema)
            .fields()
            .iter()
            .filter(|f| cq::is_primary_key(f))
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(pk, ["_cq_id"]);
    }
}
