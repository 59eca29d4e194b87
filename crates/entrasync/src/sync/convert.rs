//! Graph JSON objects → one Arrow record batch per page, typed by the table's columns.

use crate::tables::{Column, Table};
use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, FixedSizeBinaryBuilder, Float64Builder, Int64Builder,
    ListBuilder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Schema, SchemaRef};
use entrasync_sinks::cq::{self, ColumnKind};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// The Arrow schema of a table, with every `cq:` key CloudQuery's SDK writes. Built once per
/// table and shared: every batch of a table points at it (a schema of its own per batch cost
/// tens of MB with thousands of small per-parent batches in flight).
pub fn schema(table: &Table) -> SchemaRef {
    static SCHEMAS: std::sync::OnceLock<std::sync::Mutex<HashMap<&'static str, SchemaRef>>> =
        std::sync::OnceLock::new();
    let mut schemas = SCHEMAS
        .get_or_init(Default::default)
        .lock()
        .expect("not poisoned");
    schemas
        .entry(table.name)
        .or_insert_with(|| build_schema(table))
        .clone()
}

fn build_schema(table: &Table) -> SchemaRef {
    let fields: Vec<_> = table
        .columns()
        .iter()
        .map(|c| cq::field(&c.name, c.kind, c.primary_key, c.not_null))
        .collect();
    let mut meta = HashMap::from([
        (cq::META_TABLE_NAME.to_string(), table.name.to_string()),
        (
            cq::META_TABLE_DESCRIPTION.to_string(),
            table.description.to_string(),
        ),
        (cq::META_TABLE_TITLE.to_string(), title(table.name)),
        (cq::META_CONSTRAINT_NAME.to_string(), String::new()),
        (
            cq::META_TABLE_PERMISSIONS.to_string(),
            serde_json::to_string(table.permissions).expect("strings serialize"),
        ),
    ]);
    if table.incremental != crate::tables::Incremental::None {
        meta.insert(cq::META_TABLE_INCREMENTAL.to_string(), "true".into());
    }
    if let Some(parent) = table.parent() {
        meta.insert(cq::META_TABLE_DEPENDS_ON.to_string(), parent.to_string());
    }
    Arc::new(Schema::new_with_metadata(fields, meta))
}

/// `entraid_group_members` → `Entraid Group Members`.
fn title(name: &str) -> String {
    name.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What entrasync fills in itself for each row.
pub struct RowContext<'a> {
    pub tenant_id: &'a str,
    /// The parent's id (child tables) and the parent's `_cq_id`.
    pub parent: Option<(&'a str, uuid::Uuid)>,
}

/// Converts Graph objects into a batch. Returns the batch and each row's `_cq_id`, so children
/// can point at their parent. Values of the wrong JSON type become null rather than failing the
/// page: Graph's documented types and its real payloads do not always agree.
pub fn to_batch(
    table: &Table,
    schema: &SchemaRef,
    objects: &[Value],
    ctx: &RowContext<'_>,
    deterministic_cq_id: bool,
) -> Result<(RecordBatch, Vec<uuid::Uuid>), arrow_schema::ArrowError> {
    let columns = table.columns();
    let ids: Vec<uuid::Uuid> = objects
        .iter()
        .map(|o| cq_id(table, &columns, o, ctx, deterministic_cq_id))
        .collect();
    let arrays: Vec<ArrayRef> = columns
        .iter()
        .map(|col| build_column(col, objects, ctx, &ids))
        .collect();
    Ok((RecordBatch::try_new(schema.clone(), arrays)?, ids))
}

fn build_column(
    col: &Column,
    objects: &[Value],
    ctx: &RowContext<'_>,
    ids: &[uuid::Uuid],
) -> ArrayRef {
    let n = objects.len();
    match col.name.as_str() {
        cq::CQ_ID => {
            let mut b = FixedSizeBinaryBuilder::with_capacity(n, 16);
            for id in ids {
                b.append_value(id.as_bytes()).expect("16 bytes");
            }
            return Arc::new(b.finish());
        }
        cq::CQ_PARENT_ID => {
            let mut b = FixedSizeBinaryBuilder::with_capacity(n, 16);
            for _ in 0..n {
                match ctx.parent {
                    Some((_, pid)) => b.append_value(pid.as_bytes()).expect("16 bytes"),
                    None => b.append_null(),
                }
            }
            return Arc::new(b.finish());
        }
        _ => {}
    }
    let Some(graph) = col.graph else {
        // tenant_id or the parent key: the same for every row of the page.
        let value = if col.name == "tenant_id" {
            ctx.tenant_id
        } else {
            ctx.parent.map(|(id, _)| id).unwrap_or_default()
        };
        let mut b = StringBuilder::with_capacity(n, n * value.len());
        for _ in 0..n {
            b.append_value(value);
        }
        return Arc::new(b.finish());
    };
    let values = objects
        .iter()
        .map(|o| o.get(graph).filter(|v| !v.is_null()));
    match col.kind {
        ColumnKind::Utf8 => {
            // Sized to the rows: a default builder reserves room for 1,024 values, which a
            // one-row batch of a per-parent read keeps until it is written.
            let bytes = values
                .clone()
                .map(|v| v.and_then(Value::as_str).map_or(0, str::len))
                .sum();
            let mut b = StringBuilder::with_capacity(n, bytes);
            for v in values {
                match v {
                    Some(Value::String(s)) => b.append_value(s),
                    // Numbers or objects in a string column keep their JSON text.
                    Some(other) => b.append_value(other.to_string()),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        ColumnKind::Bool => {
            let mut b = BooleanBuilder::with_capacity(n);
            for v in values {
                b.append_option(v.and_then(Value::as_bool));
            }
            Arc::new(b.finish())
        }
        ColumnKind::Int64 => {
            let mut b = Int64Builder::with_capacity(n);
            for v in values {
                b.append_option(v.and_then(|v| {
                    v.as_i64()
                        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                }));
            }
            Arc::new(b.finish())
        }
        ColumnKind::Float64 => {
            let mut b = Float64Builder::with_capacity(n);
            for v in values {
                b.append_option(v.and_then(Value::as_f64));
            }
            Arc::new(b.finish())
        }
        ColumnKind::Timestamp => {
            let mut b = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
            for v in values {
                b.append_option(v.and_then(Value::as_str).and_then(parse_timestamp));
            }
            Arc::new(b.finish())
        }
        ColumnKind::Utf8List => {
            let (items, bytes) = values
                .clone()
                .filter_map(|v| v.and_then(Value::as_array))
                .flatten()
                .fold((0, 0), |(n, bytes), item| {
                    (n + 1, bytes + item.as_str().map_or(0, str::len))
                });
            let mut b = ListBuilder::with_capacity(StringBuilder::with_capacity(items, bytes), n);
            for v in values {
                match v {
                    Some(Value::Array(items)) => {
                        for item in items {
                            match item {
                                Value::String(s) => b.values().append_value(s),
                                Value::Null => b.values().append_null(),
                                other => b.values().append_value(other.to_string()),
                            }
                        }
                        b.append(true);
                    }
                    _ => b.append(false),
                }
            }
            Arc::new(b.finish())
        }
        ColumnKind::Json => {
            let texts: Vec<Option<String>> = values.map(|v| v.map(Value::to_string)).collect();
            let bytes = texts.iter().flatten().map(String::len).sum();
            let mut b = BinaryBuilder::with_capacity(n, bytes);
            for text in texts {
                b.append_option(text);
            }
            Arc::new(b.finish())
        }
        ColumnKind::Uuid => {
            let mut b = FixedSizeBinaryBuilder::with_capacity(n, 16);
            for v in values {
                match v
                    .and_then(Value::as_str)
                    .and_then(|s| uuid::Uuid::parse_str(s).ok())
                {
                    Some(u) => b.append_value(u.as_bytes()).expect("16 bytes"),
                    None => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
    }
}

/// Graph timestamps: RFC 3339 with 0–7 fractional digits, normally `Z`, sometimes an offset.
pub fn parse_timestamp(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_micros())
        .or_else(|| {
            // Some payloads omit the zone; Graph means UTC.
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc().timestamp_micros())
        })
}

/// The deterministic `_cq_id` of a top-level row, from its id alone: what its children point at
/// when the row itself is not re-emitted.
pub fn row_id(table: &Table, tenant_id: &str, id: &str) -> uuid::Uuid {
    let ctx = RowContext {
        tenant_id,
        parent: None,
    };
    cq_id(
        table,
        &table.columns(),
        &serde_json::json!({ "id": id }),
        &ctx,
        true,
    )
}

/// CloudQuery's `_cq_id`: random, or with `deterministic_cq_id` a v5-style SHA-1 hash (nil
/// namespace) of the SHA-256 over the sorted primary-key columns' names and values.
fn cq_id(
    table: &Table,
    columns: &[Column],
    object: &Value,
    ctx: &RowContext<'_>,
    deterministic: bool,
) -> uuid::Uuid {
    if !deterministic {
        return uuid::Uuid::new_v4();
    }
    use sha2::{Digest, Sha256};
    let mut keys: Vec<(&str, String)> = columns
        .iter()
        .filter(|c| c.primary_key)
        .map(|c| {
            let value = match (c.graph, c.name.as_str()) {
                (Some(g), _) => match object.get(g) {
                    Some(Value::String(s)) => s.clone(),
                    Some(Value::Null) | None => "(null)".to_string(),
                    Some(v) => v.to_string(),
                },
                (None, "tenant_id") => ctx.tenant_id.to_string(),
                (None, _) => ctx.parent.map(|(id, _)| id.to_string()).unwrap_or_default(),
            };
            (c.name.as_str(), value)
        })
        .collect();
    keys.sort_by(|a, b| a.0.cmp(b.0));
    let mut hasher = Sha256::new();
    for (name, value) in keys {
        hasher.update(name.as_bytes());
        hasher.update(value.as_bytes());
    }
    let _ = table;
    uuid::Uuid::new_v5(&uuid::Uuid::nil(), &hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_with_seven_digits_and_offsets() {
        assert_eq!(
            parse_timestamp("2020-03-13T19:15:41.6195833Z"),
            Some(1_584_126_941_619_583)
        );
        assert_eq!(
            parse_timestamp("2020-03-13T11:15:41-08:00"),
            Some(1_584_126_941_000_000)
        );
        assert_eq!(
            parse_timestamp("2020-03-13T19:15:41"),
            Some(1_584_126_941_000_000)
        );
        assert_eq!(parse_timestamp("not a time"), None);
    }

    /// A random JSON value of any type and odd content: what a hostile or buggy server might put
    /// in any property.
    fn hostile_value(rng: &mut rand::rngs::StdRng, depth: u32) -> Value {
        use rand::Rng;
        use serde_json::json;
        let strings = [
            "",
            "2020-03-13T19:15:41.6195833Z",
            "9999-99-99T99:99:99Z",
            "-262144-01-01T00:00:00Z",
            "+275760-09-13T00:00:00Z",
            "\u{0}\u{1b}[31m",
            "\u{202e}\u{fffd}\u{10ffff}",
            "1e309",
            "NaN",
        ];
        match rng.random_range(0..10) {
            0 => Value::Null,
            1 => json!(rng.random::<bool>()),
            2 => json!(rng.random::<i64>()),
            3 => json!(rng.random::<u64>()),
            4 => json!(rng.random::<f64>() * 1e300),
            5 => json!(strings[rng.random_range(0..strings.len())]),
            6 => json!("x".repeat(rng.random_range(0..5_000))),
            7 if depth < 3 => Value::Array(
                (0..rng.random_range(0..4))
                    .map(|_| hostile_value(rng, depth + 1))
                    .collect(),
            ),
            8 if depth < 3 => {
                let mut map = serde_json::Map::new();
                for i in 0..rng.random_range(0..4) {
                    map.insert(format!("k{i}"), hostile_value(rng, depth + 1));
                }
                Value::Object(map)
            }
            _ => json!(rng.random_range(-1e6..1e6)),
        }
    }

    /// Property test of the page decoder: every table, pages of objects whose every property has
    /// a random type and content. 59 tables × 40 pages × 1–8 objects ≈ 10,600 objects; each
    /// page must convert (wrong types become null) without a panic, one row per object.
    #[test]
    fn hostile_pages_convert_without_panic() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(9);
        let mut objects_seen = 0;
        for table in crate::tables::all() {
            let schema = schema(table);
            let columns = table.columns();
            for page in 0..40 {
                let objects: Vec<Value> = (0..rng.random_range(1..=8))
                    .map(|i| {
                        let mut map = serde_json::Map::new();
                        for col in &columns {
                            let Some(graph) = col.graph else { continue };
                            let value = if col.primary_key {
                                Value::String(format!("key-{page}-{i}"))
                            } else {
                                hostile_value(&mut rng, 0)
                            };
                            map.insert(graph.to_string(), value);
                        }
                        map.insert("@odata.type".into(), hostile_value(&mut rng, 0));
                        Value::Object(map)
                    })
                    .collect();
                let ctx = RowContext {
                    tenant_id: "t",
                    parent: Some(("p", uuid::Uuid::nil())),
                };
                let deterministic = page % 2 == 0;
                let (batch, ids) = to_batch(table, &schema, &objects, &ctx, deterministic)
                    .unwrap_or_else(|e| panic!("{}: {e}", table.name));
                assert_eq!(batch.num_rows(), objects.len(), "{}", table.name);
                assert_eq!(ids.len(), objects.len());
                objects_seen += objects.len();
            }
        }
        assert!(objects_seen > 5_000, "{objects_seen}");
    }
}
