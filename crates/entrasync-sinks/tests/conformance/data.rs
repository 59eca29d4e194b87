//! Test tables and rows, built as the entrasync crate builds them: `cq::field` columns and a
//! schema with `cq:table_name`.

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, FixedSizeBinaryArray, Float64Array, Int64Array,
    RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{Field, Schema, SchemaRef};
use entrasync_sinks::cq::{self, ColumnKind};
use std::collections::HashMap;
use std::sync::Arc;

pub fn schema(table: &str, fields: Vec<Field>) -> SchemaRef {
    Arc::new(Schema::new_with_metadata(
        fields,
        HashMap::from([(cq::META_TABLE_NAME.to_string(), table.to_string())]),
    ))
}

/// Every column kind: `_cq_*` columns, a composite key (tenant_id, id), and one nullable column
/// of each kind.
pub fn full_fields() -> Vec<Field> {
    vec![
        cq::sync_time_field(),
        cq::source_name_field(),
        cq::field(cq::CQ_ID, ColumnKind::Uuid, false, true),
        cq::field(cq::CQ_PARENT_ID, ColumnKind::Uuid, false, false),
        cq::field("tenant_id", ColumnKind::Utf8, true, true),
        cq::field("id", ColumnKind::Utf8, true, true),
        cq::field("name", ColumnKind::Utf8, false, false),
        cq::field("enabled", ColumnKind::Bool, false, false),
        cq::field("count", ColumnKind::Int64, false, false),
        cq::field("score", ColumnKind::Float64, false, false),
        cq::field("created", ColumnKind::Timestamp, false, false),
        cq::field("tags", ColumnKind::Utf8List, false, false),
        cq::field("props", ColumnKind::Json, false, false),
        cq::field("ref", ColumnKind::Uuid, false, false),
    ]
}

/// One row of the full table. `None` is null.
#[derive(Clone, Default)]
pub struct Row {
    pub sync_time: i64,
    pub source: &'static str,
    pub cq_id: u128,
    pub parent: Option<u128>,
    pub tenant: &'static str,
    pub id: String,
    pub name: Option<String>,
    pub enabled: Option<bool>,
    pub count: Option<i64>,
    pub score: Option<f64>,
    pub created: Option<i64>,
    pub tags: Option<Vec<Option<&'static str>>>,
    pub props: Option<&'static str>,
    pub reference: Option<u128>,
}

impl Row {
    pub fn new(id: &str) -> Row {
        Row {
            sync_time: T1,
            source: "entraid",
            cq_id: uuid_for(id),
            tenant: "t1",
            id: id.to_string(),
            ..Row::default()
        }
    }

    pub fn full(id: &str) -> Row {
        Row {
            name: Some(format!("name {id}")),
            enabled: Some(true),
            count: Some(-42),
            score: Some(1.5),
            created: Some(1_700_000_000_123_456),
            tags: Some(vec![Some("a"), None, Some("c \"quoted\"")]),
            props: Some(r#"{"k":[1,2,{"n":null}],"s":"x"}"#),
            reference: Some(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef),
            ..Row::new(id)
        }
    }
}

pub const T1: i64 = 1_700_000_000_000_000;
pub const T2: i64 = 1_700_000_100_000_000;

pub fn uuid_for(id: &str) -> u128 {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, id.as_bytes()).as_u128()
}

pub fn uuid_text(v: u128) -> String {
    uuid::Uuid::from_u128(v).hyphenated().to_string()
}

fn uuids(values: impl Iterator<Item = Option<u128>>) -> ArrayRef {
    let v: Vec<Option<[u8; 16]>> = values.map(|u| u.map(|u| u.to_be_bytes())).collect();
    Arc::new(
        FixedSizeBinaryArray::try_from_sparse_iter_with_size(v.iter().map(|o| o.as_ref()), 16)
            .unwrap(),
    )
}

pub fn full_batch(schema: &SchemaRef, rows: &[Row]) -> RecordBatch {
    let mut tags = ListBuilder::new(StringBuilder::new());
    for r in rows {
        match &r.tags {
            Some(items) => {
                for i in items {
                    tags.values().append_option(*i);
                }
                tags.append(true);
            }
            None => tags.append(false),
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(
            TimestampMicrosecondArray::from(rows.iter().map(|r| r.sync_time).collect::<Vec<_>>())
                .with_timezone("UTC"),
        ),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.source).collect::<Vec<_>>(),
        )),
        uuids(rows.iter().map(|r| Some(r.cq_id))),
        uuids(rows.iter().map(|r| r.parent)),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.tenant).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
        )),
        Arc::new(StringArray::from(
            rows.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
        )),
        Arc::new(BooleanArray::from(
            rows.iter().map(|r| r.enabled).collect::<Vec<_>>(),
        )),
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r.count).collect::<Vec<_>>(),
        )),
        Arc::new(Float64Array::from(
            rows.iter().map(|r| r.score).collect::<Vec<_>>(),
        )),
        Arc::new(
            TimestampMicrosecondArray::from(rows.iter().map(|r| r.created).collect::<Vec<_>>())
                .with_timezone("UTC"),
        ),
        Arc::new(tags.finish()),
        Arc::new(BinaryArray::from(
            rows.iter()
                .map(|r| r.props.map(str::as_bytes))
                .collect::<Vec<_>>(),
        )),
        uuids(rows.iter().map(|r| r.reference)),
    ];
    RecordBatch::try_new(schema.clone(), columns).unwrap()
}

/// The JSON a harness must read back for `row` (timestamps normalized to µs and `Z`).
pub fn expected(row: &Row) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::{Value, json};
    let ts = |t: i64| entrasync_sinks::values::format_timestamp(t);
    let v = json!({
        "_cq_sync_time": ts(row.sync_time),
        "_cq_source_name": row.source,
        "_cq_id": uuid_text(row.cq_id),
        "_cq_parent_id": row.parent.map(uuid_text),
        "tenant_id": row.tenant,
        "id": row.id,
        "name": row.name,
        "enabled": row.enabled,
        "count": row.count,
        "score": row.score,
        "created": row.created.map(ts),
        "tags": row.tags,
        "props": row.props.map(|p| serde_json::from_str::<Value>(p).unwrap()),
        "ref": row.reference.map(uuid_text),
    });
    match v {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}
