//! The conformance cases. Each takes a harness and checks one behaviour of the Sink contract.

use crate::data::{self, Row, T1, T2};
use crate::harness::{Harness, JsonRow, sort_rows};
use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::Schema;
use entrasync_sinks::cq::{self, ColumnKind};
use entrasync_sinks::{MigrateMode, TableRelation, WriteMode};
use std::collections::HashMap;
use std::sync::Arc;

fn expected(rows: &[Row]) -> Vec<JsonRow> {
    let mut v: Vec<JsonRow> = rows.iter().map(data::expected).collect();
    sort_rows(&mut v);
    v
}

fn dt(micros: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(micros).unwrap()
}

fn keys_batch(table: &str, columns: &[(&str, Vec<&str>)]) -> RecordBatch {
    let fields: Vec<_> = columns
        .iter()
        .map(|(n, _)| cq::field(n, ColumnKind::Utf8, true, true))
        .collect();
    let arrays: Vec<ArrayRef> = columns
        .iter()
        .map(|(_, v)| Arc::new(StringArray::from(v.clone())) as ArrayRef)
        .collect();
    RecordBatch::try_new(data::schema(table, fields), arrays).unwrap()
}

pub async fn all_kinds_roundtrip_with_nulls(h: &dyn Harness) {
    let t = h.table("kinds");
    let schema = data::schema(&t, data::full_fields());
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Safe)
        .await;
    sink.migrate(schema.clone()).await.unwrap();
    let mut unicode = Row::full("ü-ñ 𝄞");
    unicode.name = Some("línea\nnueva 'quoted' \"dq\" \\ back".into());
    unicode.tags = Some(vec![]);
    unicode.score = Some(-0.000123);
    unicode.created = Some(-1);
    let rows = vec![Row::full("a"), Row::new("b-all-null"), unicode];
    sink.write(data::full_batch(&schema, &rows)).await.unwrap();
    sink.flush().await.unwrap();
    assert_eq!(h.rows(&t, &schema).await, expected(&rows), "{}", h.name());
}

pub async fn upsert_by_primary_key(h: &dyn Harness) {
    let t = h.table("upsert");
    let schema = data::schema(&t, data::full_fields());
    let mut sink = h.sink(WriteMode::Overwrite, MigrateMode::Safe).await;
    sink.migrate(schema.clone()).await.unwrap();
    let first = vec![Row::full("a"), Row::full("b")];
    sink.write(data::full_batch(&schema, &first)).await.unwrap();
    let mut changed = Row::new("a");
    changed.name = Some("changed".into());
    changed.sync_time = T2;
    let mut other_tenant = Row::full("a");
    other_tenant.tenant = "t2";
    // Another row, so another _cq_id (entrasync's covers the whole key, tenant included).
    other_tenant.cq_id = data::uuid_for("t2/a");
    sink.write(data::full_batch(
        &schema,
        &[changed.clone(), other_tenant.clone()],
    ))
    .await
    .unwrap();
    sink.flush().await.unwrap();
    let want = expected(&[changed, first[1].clone(), other_tenant]);
    assert_eq!(h.rows(&t, &schema).await, want);
}

pub async fn duplicate_keys_in_one_batch_last_wins(h: &dyn Harness) {
    let t = h.table("dups");
    let schema = data::schema(&t, data::full_fields());
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Safe)
        .await;
    sink.migrate(schema.clone()).await.unwrap();
    let mut a2 = Row::full("a");
    a2.name = Some("second".into());
    let rows = vec![Row::full("a"), Row::full("b"), a2.clone()];
    sink.write(data::full_batch(&schema, &rows)).await.unwrap();
    sink.flush().await.unwrap();
    assert_eq!(h.rows(&t, &schema).await, expected(&[a2, Row::full("b")]));
}

pub async fn migrate_adds_new_columns(h: &dyn Harness) {
    let t = h.table("newcol");
    let mut fields = data::full_fields();
    let extra = fields.pop().unwrap(); // "ref" arrives later
    let narrow = data::schema(&t, fields.clone());
    let wide = data::schema(&t, data::full_fields());
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Safe)
        .await;
    sink.migrate(narrow.clone()).await.unwrap();
    let old = data::full_batch(&wide, &[Row::full("old")]);
    let old = old.project(&(0..fields.len()).collect::<Vec<_>>()).unwrap();
    let old = RecordBatch::try_new(narrow.clone(), old.columns().to_vec()).unwrap();
    sink.write(old).await.unwrap();
    sink.flush().await.unwrap();
    assert_eq!(extra.name(), "ref");
    // A new sink (a new run) with the new schema.
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Safe)
        .await;
    sink.migrate(wide.clone()).await.unwrap();
    sink.write(data::full_batch(&wide, &[Row::full("new")]))
        .await
        .unwrap();
    sink.flush().await.unwrap();
    let mut old_row = Row::full("old");
    old_row.reference = None;
    assert_eq!(
        h.rows(&t, &wide).await,
        expected(&[Row::full("new"), old_row])
    );
}

pub async fn migrate_is_idempotent(h: &dyn Harness) {
    let t = h.table("idem");
    let schema = data::schema(&t, data::full_fields());
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Safe)
        .await;
    sink.migrate(schema.clone()).await.unwrap();
    sink.write(data::full_batch(&schema, &[Row::full("a")]))
        .await
        .unwrap();
    sink.flush().await.unwrap();
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Safe)
        .await;
    sink.migrate(schema.clone()).await.unwrap();
    sink.migrate(schema.clone()).await.unwrap();
    sink.flush().await.unwrap();
    assert_eq!(h.rows(&t, &schema).await, expected(&[Row::full("a")]));
}

pub async fn migrate_refuses_type_change_unless_forced(h: &dyn Harness) {
    let t = h.table("retype");
    let v1 = data::schema(
        &t,
        vec![
            cq::field("id", ColumnKind::Utf8, true, true),
            cq::field("n", ColumnKind::Utf8, false, false),
        ],
    );
    let v2 = data::schema(
        &t,
        vec![
            cq::field("id", ColumnKind::Utf8, true, true),
            cq::field("n", ColumnKind::Int64, false, false),
        ],
    );
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Safe)
        .await;
    sink.migrate(v1.clone()).await.unwrap();
    let batch = RecordBatch::try_new(
        v1.clone(),
        vec![
            Arc::new(StringArray::from(vec!["a"])),
            Arc::new(StringArray::from(vec!["x"])),
        ],
    )
    .unwrap();
    sink.write(batch).await.unwrap();
    sink.flush().await.unwrap();
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Safe)
        .await;
    let err = sink.migrate(v2.clone()).await.unwrap_err().to_string();
    assert!(
        err.contains("forced") && err.contains("\"n\""),
        "{}: {err}",
        h.name()
    );
    assert_eq!(
        h.rows(&t, &v1).await.len(),
        1,
        "safe mode must keep the rows"
    );
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Forced)
        .await;
    sink.migrate(v2.clone()).await.unwrap();
    let batch = RecordBatch::try_new(
        v2.clone(),
        vec![
            Arc::new(StringArray::from(vec!["b"])),
            Arc::new(arrow_array::Int64Array::from(vec![7])),
        ],
    )
    .unwrap();
    sink.write(batch).await.unwrap();
    sink.flush().await.unwrap();
    let rows = h.rows(&t, &v2).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["n"], serde_json::json!(7));
}

pub async fn delete_stale_removes_only_old_rows_of_the_source(h: &dyn Harness) {
    let t = h.table("stale");
    let schema = data::schema(&t, data::full_fields());
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Safe)
        .await;
    sink.migrate(schema.clone()).await.unwrap();
    let old = Row::full("old");
    let mut other_source = Row::full("other");
    other_source.source = "another";
    let mut fresh = Row::full("fresh");
    fresh.sync_time = T2;
    let mut refreshed = Row::full("refreshed");
    sink.write(data::full_batch(
        &schema,
        &[old, other_source.clone(), refreshed.clone()],
    ))
    .await
    .unwrap();
    refreshed.sync_time = T2;
    sink.write(data::full_batch(
        &schema,
        &[fresh.clone(), refreshed.clone()],
    ))
    .await
    .unwrap();
    let deleted = sink
        .delete_stale(&t, "entraid", None, dt(T2))
        .await
        .unwrap();
    sink.flush().await.unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(
        h.rows(&t, &schema).await,
        expected(&[fresh, other_source, refreshed])
    );
    // Nothing older than T1: nothing to delete.
    assert_eq!(
        sink.delete_stale(&t, "entraid", None, dt(T1))
            .await
            .unwrap(),
        0
    );
}

/// One source syncing several tenants: a tenant's delete-stale leaves the other tenants' rows,
/// however old, in place.
pub async fn delete_stale_of_a_tenant_keeps_other_tenants(h: &dyn Harness) {
    let t = h.table("stale_tenant");
    let schema = data::schema(&t, data::full_fields());
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Safe)
        .await;
    sink.migrate(schema.clone()).await.unwrap();
    let old = Row::full("old");
    let mut other_tenant = Row::full("other");
    other_tenant.tenant = "t2";
    // A tenant id that would match everything if it reached SQL unquoted.
    let mut hostile_tenant = Row::full("hostile");
    hostile_tenant.tenant = "' OR '1'='1";
    let mut fresh = Row::full("fresh");
    fresh.sync_time = T2;
    sink.write(data::full_batch(
        &schema,
        &[
            old,
            other_tenant.clone(),
            hostile_tenant.clone(),
            fresh.clone(),
        ],
    ))
    .await
    .unwrap();
    let deleted = sink
        .delete_stale(&t, "entraid", Some("t1"), dt(T2))
        .await
        .unwrap();
    sink.flush().await.unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(
        h.rows(&t, &schema).await,
        expected(&[fresh.clone(), other_tenant.clone(), hostile_tenant.clone()])
    );
    let deleted = sink
        .delete_stale(&t, "entraid", Some("' OR '1'='1"), dt(T2))
        .await
        .unwrap();
    sink.flush().await.unwrap();
    assert_eq!(deleted, 1);
    assert_eq!(h.rows(&t, &schema).await, expected(&[fresh, other_tenant]));
}

pub async fn delete_rows_by_key_cascades_to_children(h: &dyn Harness) {
    let parent = h.table("parent");
    let child = h.table("child");
    let grandchild = h.table("grandchild");
    let ps = data::schema(&parent, data::full_fields());
    let cs = data::schema(&child, data::full_fields());
    let gs = data::schema(&grandchild, data::full_fields());
    let mut sink = h.sink(WriteMode::Overwrite, MigrateMode::Safe).await;
    for s in [&ps, &cs, &gs] {
        sink.migrate(s.clone()).await.unwrap();
    }
    let (p1, p2) = (Row::full("p1"), Row::full("p2"));
    let child_of = |id: &str, p: &Row| Row {
        parent: Some(p.cq_id),
        ..Row::full(id)
    };
    let c1 = child_of("c1", &p1);
    let c2 = child_of("c2", &p1);
    let c3 = child_of("c3", &p2);
    let g1 = child_of("g1", &c1);
    let g3 = child_of("g3", &c3);
    sink.write(data::full_batch(&ps, &[p1.clone(), p2.clone()]))
        .await
        .unwrap();
    sink.write(data::full_batch(&cs, &[c1, c2, c3.clone()]))
        .await
        .unwrap();
    sink.write(data::full_batch(&gs, &[g1, g3.clone()]))
        .await
        .unwrap();
    let relations = vec![
        TableRelation::new(&child, &parent),
        TableRelation::new(&grandchild, &child),
    ];
    let keys = keys_batch(
        &parent,
        &[("tenant_id", vec!["t1", "t1"]), ("id", vec!["p1", "nope"])],
    );
    let n = sink.delete_rows(&parent, keys, &relations).await.unwrap();
    sink.flush().await.unwrap();
    assert_eq!(n, 1);
    assert_eq!(h.rows(&parent, &ps).await, expected(&[p2]));
    assert_eq!(h.rows(&child, &cs).await, expected(&[c3]));
    assert_eq!(h.rows(&grandchild, &gs).await, expected(&[g3]));
}

pub async fn delete_rows_with_composite_keys(h: &dyn Harness) {
    let t = h.table("members");
    let schema = data::schema(&t, data::full_fields());
    let mut sink = h.sink(WriteMode::Overwrite, MigrateMode::Safe).await;
    sink.migrate(schema.clone()).await.unwrap();
    let mut b_t2 = Row::full("b");
    b_t2.tenant = "t2";
    b_t2.cq_id = data::uuid_for("t2/b");
    let rows = vec![Row::full("a"), Row::full("b"), b_t2.clone(), Row::full("c")];
    sink.write(data::full_batch(&schema, &rows)).await.unwrap();
    let keys = keys_batch(
        &t,
        &[("tenant_id", vec!["t1", "t1"]), ("id", vec!["b", "c"])],
    );
    assert_eq!(sink.delete_rows(&t, keys, &[]).await.unwrap(), 2);
    // Deleting by a non-key column works as well (CloudQuery predicates name any column).
    let keys = keys_batch(&t, &[("name", vec!["name a"])]);
    assert_eq!(sink.delete_rows(&t, keys, &[]).await.unwrap(), 1);
    sink.flush().await.unwrap();
    assert_eq!(h.rows(&t, &schema).await, expected(&[b_t2]));
}

pub async fn state_roundtrip(h: &dyn Harness) {
    let t = h.table("cq_state_entraid");
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Safe)
        .await;
    assert!(sink.read_state(&t).await.unwrap().is_empty());
    let first = HashMap::from([
        (
            "entraid_users|t1".to_string(),
            "https://graph/delta?token=1".to_string(),
        ),
        ("entraid_groups|t1".to_string(), "g1".to_string()),
    ]);
    sink.write_state(&t, &first).await.unwrap();
    sink.write_state(
        &t,
        &HashMap::from([("entraid_users|t1".to_string(), "u2 ' \" ;".to_string())]),
    )
    .await
    .unwrap();
    sink.flush().await.unwrap();
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Safe)
        .await;
    let state = sink.read_state(&t).await.unwrap();
    assert_eq!(state.len(), 2);
    assert_eq!(state["entraid_users|t1"], "u2 ' \" ;");
    assert_eq!(state["entraid_groups|t1"], "g1");
    let schema = cq::state_schema(&t);
    let rows = h.rows(&t, &schema).await;
    let versions: Vec<_> = rows
        .iter()
        .map(|r| (r["key"].clone(), r["version"].clone()))
        .collect();
    assert_eq!(
        versions,
        vec![
            (serde_json::json!("entraid_groups|t1"), serde_json::json!(1)),
            (serde_json::json!("entraid_users|t1"), serde_json::json!(2)),
        ]
    );
}

pub async fn state_reads_highest_version(h: &dyn Harness) {
    // A state table written by an append-only destination: no primary key, duplicate keys.
    let t = h.table("cq_state_append");
    h.exec(&format!(
        "CREATE TABLE \"{t}\" (\"key\" TEXT, \"value\" TEXT, \"version\" BIGINT); \
         INSERT INTO \"{t}\" VALUES ('k', 'old', 1), ('k', 'new', 3), ('k', 'mid', 2), ('j', 'x', 1);"
    ))
    .await;
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Safe)
        .await;
    let state = sink.read_state(&t).await.unwrap();
    assert_eq!(state["k"], "new");
    assert_eq!(state["j"], "x");
    sink.write_state(
        &t,
        &HashMap::from([("k".to_string(), "newest".to_string())]),
    )
    .await
    .unwrap();
    assert_eq!(sink.read_state(&t).await.unwrap()["k"], "newest");
    // A two-column state table (older SDKs) reads too.
    let t2 = h.table("cq_state_kv");
    h.exec(&format!(
        "CREATE TABLE \"{t2}\" (\"key\" TEXT PRIMARY KEY, \"value\" TEXT); INSERT INTO \"{t2}\" VALUES ('a', 'b');"
    ))
    .await;
    assert_eq!(sink.read_state(&t2).await.unwrap()["a"], "b");
    sink.write_state(&t2, &HashMap::from([("a".to_string(), "c".to_string())]))
        .await
        .unwrap();
    assert_eq!(sink.read_state(&t2).await.unwrap()["a"], "c");
}

pub async fn append_mode_keeps_duplicates(h: &dyn Harness) {
    let t = h.table("append");
    let schema = data::schema(&t, data::full_fields());
    let mut sink = h.sink(WriteMode::Append, MigrateMode::Safe).await;
    sink.migrate(schema.clone()).await.unwrap();
    let rows = vec![Row::full("a"), Row::full("a")];
    sink.write(data::full_batch(&schema, &rows)).await.unwrap();
    sink.write(data::full_batch(&schema, &rows[..1]))
        .await
        .unwrap();
    sink.flush().await.unwrap();
    assert_eq!(
        h.rows(&t, &schema).await,
        expected(&[Row::full("a"), Row::full("a"), Row::full("a")])
    );
}

pub async fn empty_batch_is_a_no_op(h: &dyn Harness) {
    let t = h.table("empty");
    let schema = data::schema(&t, data::full_fields());
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Safe)
        .await;
    sink.migrate(schema.clone()).await.unwrap();
    sink.write(RecordBatch::new_empty(schema.clone()))
        .await
        .unwrap();
    sink.flush().await.unwrap();
    assert!(h.rows(&t, &schema).await.is_empty());
}

pub async fn missing_table_name_is_an_error(h: &dyn Harness) {
    let schema = Arc::new(Schema::new(vec![cq::field(
        "id",
        ColumnKind::Utf8,
        true,
        true,
    )]));
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Safe)
        .await;
    let err = sink.migrate(schema).await.unwrap_err().to_string();
    assert!(err.contains("cq:table_name"), "{err}");
}

pub async fn hostile_identifiers_are_quoted(h: &dyn Harness) {
    let t = h.table("we\"ird; DROP TABLE x; --");
    let schema = data::schema(
        &t,
        vec![
            cq::field("id", ColumnKind::Utf8, true, true),
            cq::field("select", ColumnKind::Utf8, false, false),
            cq::field("col \"q\"", ColumnKind::Int64, false, false),
        ],
    );
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Safe)
        .await;
    sink.migrate(schema.clone()).await.unwrap();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["'); DROP TABLE x; --"])),
            Arc::new(StringArray::from(vec!["v"])),
            Arc::new(arrow_array::Int64Array::from(vec![1])),
        ],
    )
    .unwrap();
    sink.write(batch.clone()).await.unwrap();
    sink.write(batch).await.unwrap();
    sink.flush().await.unwrap();
    let rows = h.rows(&t, &schema).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["id"], serde_json::json!("'); DROP TABLE x; --"));
}

pub async fn many_rows_in_many_batches(h: &dyn Harness) {
    let t = h.table("many");
    let schema = data::schema(&t, data::full_fields());
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Safe)
        .await;
    sink.migrate(schema.clone()).await.unwrap();
    let rows: Vec<Row> = (0..3000).map(|i| Row::full(&format!("u{i:05}"))).collect();
    for chunk in rows.chunks(700) {
        sink.write(data::full_batch(&schema, chunk)).await.unwrap();
    }
    // Rewriting everything at T2 and deleting stale keeps all of them.
    let again: Vec<Row> = rows
        .iter()
        .map(|r| Row {
            sync_time: T2,
            ..r.clone()
        })
        .collect();
    for chunk in again.chunks(1000) {
        sink.write(data::full_batch(&schema, chunk)).await.unwrap();
    }
    assert_eq!(
        sink.delete_stale(&t, "entraid", None, dt(T2))
            .await
            .unwrap(),
        0
    );
    sink.flush().await.unwrap();
    assert_eq!(h.rows(&t, &schema).await, expected(&again));
}

pub async fn sync_columns_helper_matches_the_cli(h: &dyn Harness) {
    let t = h.table("synccols");
    let source_fields: Vec<_> = data::full_fields().into_iter().skip(2).collect();
    let source_schema = data::schema(&t, source_fields);
    let schema = Arc::new(cq::with_sync_columns(&source_schema));
    assert_eq!(
        schema.as_ref(),
        data::schema(&t, data::full_fields()).as_ref()
    );
    let full = data::full_batch(&schema, &[Row::full("a")]);
    let source_batch =
        RecordBatch::try_new(source_schema.clone(), full.columns()[2..].to_vec()).unwrap();
    let batch = cq::add_sync_columns(&source_batch, "entraid", dt(T1)).unwrap();
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Safe)
        .await;
    sink.migrate(schema.clone()).await.unwrap();
    sink.write(batch).await.unwrap();
    sink.flush().await.unwrap();
    assert_eq!(h.rows(&t, &schema).await, expected(&[Row::full("a")]));
}

pub async fn delete_many_rows(h: &dyn Harness) {
    let t = h.table("delmany");
    let schema = data::schema(&t, data::full_fields());
    let mut sink = h.sink(WriteMode::Overwrite, MigrateMode::Safe).await;
    sink.migrate(schema.clone()).await.unwrap();
    let rows: Vec<Row> = (0..1000).map(|i| Row::new(&format!("r{i:04}"))).collect();
    sink.write(data::full_batch(&schema, &rows)).await.unwrap();
    let ids: Vec<String> = (0..1000)
        .filter(|i| i % 5 != 0)
        .map(|i| format!("r{i:04}"))
        .collect();
    let keys = keys_batch(
        &t,
        &[
            ("tenant_id", vec!["t1"; ids.len()]),
            ("id", ids.iter().map(String::as_str).collect()),
        ],
    );
    assert_eq!(sink.delete_rows(&t, keys, &[]).await.unwrap(), 800);
    sink.flush().await.unwrap();
    let left: Vec<Row> = rows.into_iter().step_by(5).collect();
    assert_eq!(h.rows(&t, &schema).await, expected(&left));
}

pub async fn narrower_arrow_types_are_widened(h: &dyn Harness) {
    use arrow_array::{Float32Array, Int32Array, LargeStringArray, UInt64Array};
    use arrow_schema::{DataType, Field};
    let t = h.table("widen");
    let key = cq::field("id", ColumnKind::Utf8, true, true).with_data_type(DataType::LargeUtf8);
    let schema = data::schema(
        &t,
        vec![
            key,
            Field::new("small", DataType::Int32, true),
            Field::new("big", DataType::UInt64, true),
            Field::new("ratio", DataType::Float32, true),
        ],
    );
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(LargeStringArray::from(vec!["a", "b"])),
            Arc::new(Int32Array::from(vec![Some(-5), None])),
            Arc::new(UInt64Array::from(vec![Some(7), Some(i64::MAX as u64)])),
            Arc::new(Float32Array::from(vec![Some(0.5), None])),
        ],
    )
    .unwrap();
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Safe)
        .await;
    sink.migrate(schema.clone()).await.unwrap();
    sink.write(batch).await.unwrap();
    sink.flush().await.unwrap();
    let rows = h.rows(&t, &schema).await;
    assert_eq!(
        serde_json::Value::Array(rows.into_iter().map(serde_json::Value::Object).collect()),
        serde_json::json!([
            {"id": "a", "small": -5, "big": 7, "ratio": 0.5},
            {"id": "b", "small": null, "big": i64::MAX, "ratio": null},
        ])
    );
}

pub async fn state_table_written_through_migrate_and_write(h: &dyn Harness) {
    // How a CloudQuery state client writes: migrate the state schema, insert (key, value, version).
    use arrow_array::UInt64Array;
    let t = h.table("cq_state_plugin");
    let schema = Arc::new(cq::state_schema(&t));
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Safe)
        .await;
    sink.migrate(schema.clone()).await.unwrap();
    for (value, version) in [("v1", 1u64), ("v2", 2)] {
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(vec!["k"])),
                Arc::new(StringArray::from(vec![value])),
                Arc::new(UInt64Array::from(vec![version])),
            ],
        )
        .unwrap();
        sink.write(batch).await.unwrap();
    }
    sink.flush().await.unwrap();
    assert_eq!(sink.read_state(&t).await.unwrap()["k"], "v2");
    sink.write_state(&t, &HashMap::from([("k".to_string(), "v3".to_string())]))
        .await
        .unwrap();
    let rows = h.rows(&t, &schema).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["value"], serde_json::json!("v3"));
    assert_eq!(rows[0]["version"], serde_json::json!(3));
}

pub async fn read_returns_what_was_written(h: &dyn Harness) {
    let t = h.table("readback");
    let schema = data::schema(&t, data::full_fields());
    let mut sink = h
        .sink(WriteMode::OverwriteDeleteStale, MigrateMode::Safe)
        .await;
    sink.migrate(schema.clone()).await.unwrap();
    let rows: Vec<Row> = (0..25)
        .map(|i| {
            if i % 2 == 0 {
                Row::full(&format!("r{i:02}"))
            } else {
                Row::new(&format!("r{i:02}"))
            }
        })
        .collect();
    sink.write(data::full_batch(&schema, &rows)).await.unwrap();
    let batches = sink.read(schema.clone()).await.unwrap();
    let mut got: Vec<JsonRow> = Vec::new();
    for b in &batches {
        assert_eq!(b.schema().fields(), schema.fields());
        let arrays = entrasync_sinks::values::normalize(&t, b).unwrap();
        let cols: Vec<_> = arrays
            .iter()
            .map(|(k, a)| entrasync_sinks::values::Column::new(*k, a))
            .collect();
        for r in 0..b.num_rows() {
            let mut m = JsonRow::new();
            for (f, c) in schema.fields().iter().zip(&cols) {
                m.insert(f.name().clone(), c.json_value(r));
            }
            got.push(m);
        }
    }
    sort_rows(&mut got);
    assert_eq!(got, expected(&rows));
}
