//! CloudQuery's Arrow conventions: schema and field metadata keys, extension types and the
//! `_cq_*` columns (see the plugin reference, §2.3 and §3).

use arrow_schema::{DataType, Field, Schema, TimeUnit};
use std::collections::HashMap;

pub const META_TABLE_NAME: &str = "cq:table_name";
pub const META_TABLE_DESCRIPTION: &str = "cq:table_description";
pub const META_TABLE_TITLE: &str = "cq:table_title";
pub const META_CONSTRAINT_NAME: &str = "cq:extension:constraint_name";
pub const META_TABLE_INCREMENTAL: &str = "cq:extension:incremental";
pub const META_TABLE_DEPENDS_ON: &str = "cq:table_depends_on";
pub const META_TABLE_PERMISSIONS: &str = "cq:table_permissions_needed";

pub const META_PRIMARY_KEY: &str = "cq:extension:primary_key";
pub const META_UNIQUE: &str = "cq:extension:unique";
pub const META_INCREMENTAL: &str = "cq:extension:incremental";
pub const META_PRIMARY_KEY_COMPONENT: &str = "cq:extension:primary_key_component";
pub const META_TYPE_SCHEMA: &str = "cq:extension:type_schema";

pub const EXTENSION_NAME: &str = "ARROW:extension:name";
pub const EXTENSION_METADATA: &str = "ARROW:extension:metadata";
pub const UUID_EXTENSION: &str = "uuid";
pub const UUID_EXTENSION_METADATA: &str = "uuid-serialized";
pub const JSON_EXTENSION: &str = "json";
pub const JSON_EXTENSION_METADATA: &str = "json-serialized";

pub const CQ_ID: &str = "_cq_id";
pub const CQ_PARENT_ID: &str = "_cq_parent_id";
pub const CQ_SYNC_TIME: &str = "_cq_sync_time";
pub const CQ_SOURCE_NAME: &str = "_cq_source_name";
/// The column naming a row's tenant, in every entrasync table: what scopes one tenant's deletes.
pub const TENANT_ID: &str = "tenant_id";

/// The logical type of a column, as CloudQuery names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Utf8,
    Bool,
    Int64,
    Float64,
    Timestamp,
    Utf8List,
    Json,
    Uuid,
}

impl ColumnKind {
    /// Reads the kind back from an Arrow field (extension metadata decides uuid and json).
    pub fn of(field: &Field) -> Option<ColumnKind> {
        match field.metadata().get(EXTENSION_NAME).map(String::as_str) {
            Some(UUID_EXTENSION) => return Some(ColumnKind::Uuid),
            Some(JSON_EXTENSION) => return Some(ColumnKind::Json),
            _ => {}
        }
        match field.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 => Some(ColumnKind::Utf8),
            DataType::Boolean => Some(ColumnKind::Bool),
            DataType::Int64 => Some(ColumnKind::Int64),
            DataType::Float64 => Some(ColumnKind::Float64),
            DataType::Timestamp(_, _) => Some(ColumnKind::Timestamp),
            DataType::List(item) if item.data_type() == &DataType::Utf8 => {
                Some(ColumnKind::Utf8List)
            }
            _ => None,
        }
    }

    /// The Arrow storage type of this kind.
    pub fn data_type(self) -> DataType {
        match self {
            ColumnKind::Utf8 => DataType::Utf8,
            ColumnKind::Bool => DataType::Boolean,
            ColumnKind::Int64 => DataType::Int64,
            ColumnKind::Float64 => DataType::Float64,
            ColumnKind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            ColumnKind::Utf8List => DataType::List(std::sync::Arc::new(Field::new(
                "item",
                DataType::Utf8,
                true,
            ))),
            ColumnKind::Json => DataType::Binary,
            ColumnKind::Uuid => DataType::FixedSizeBinary(16),
        }
    }

    /// CloudQuery's display name of the type (as in `tables.json`).
    pub fn display(self) -> &'static str {
        match self {
            ColumnKind::Utf8 => "utf8",
            ColumnKind::Bool => "bool",
            ColumnKind::Int64 => "int64",
            ColumnKind::Float64 => "float64",
            ColumnKind::Timestamp => "timestamp[us, tz=UTC]",
            ColumnKind::Utf8List => "list<item: utf8, nullable>",
            ColumnKind::Json => "json",
            ColumnKind::Uuid => "uuid",
        }
    }
}

/// Builds a field with every `cq:` key the Go SDK writes, and the extension metadata for uuid/json.
pub fn field(name: &str, kind: ColumnKind, primary_key: bool, not_null: bool) -> Field {
    let flag = |b: bool| if b { "true" } else { "false" }.to_string();
    let mut meta = HashMap::from([
        (META_PRIMARY_KEY.to_string(), flag(primary_key)),
        (META_UNIQUE.to_string(), flag(name == CQ_ID)),
        (META_INCREMENTAL.to_string(), flag(false)),
        (META_PRIMARY_KEY_COMPONENT.to_string(), flag(false)),
        (META_TYPE_SCHEMA.to_string(), String::new()),
    ]);
    match kind {
        ColumnKind::Uuid => {
            meta.insert(EXTENSION_NAME.into(), UUID_EXTENSION.into());
            meta.insert(EXTENSION_METADATA.into(), UUID_EXTENSION_METADATA.into());
        }
        ColumnKind::Json => {
            meta.insert(EXTENSION_NAME.into(), JSON_EXTENSION.into());
            meta.insert(EXTENSION_METADATA.into(), JSON_EXTENSION_METADATA.into());
        }
        _ => {}
    }
    Field::new(name, kind.data_type(), !(not_null || primary_key)).with_metadata(meta)
}

/// The table name a schema carries in `cq:table_name`.
pub fn table_name(schema: &Schema) -> Option<&str> {
    schema.metadata().get(META_TABLE_NAME).map(String::as_str)
}

/// Whether a field is part of the primary key (only the literal "true" counts, as in the Go SDK).
pub fn is_primary_key(field: &Field) -> bool {
    field.metadata().get(META_PRIMARY_KEY).map(String::as_str) == Some("true")
}

/// `_cq_sync_time` as the CloudQuery CLI adds it (timestamp µs UTC, nullable).
pub fn sync_time_field() -> Field {
    field(CQ_SYNC_TIME, ColumnKind::Timestamp, false, false)
}

/// `_cq_source_name` as the CloudQuery CLI adds it (utf8, nullable).
pub fn source_name_field() -> Field {
    field(CQ_SOURCE_NAME, ColumnKind::Utf8, false, false)
}

/// `schema` with `_cq_sync_time` and `_cq_source_name` in front, each only if absent, as the
/// CloudQuery CLI transforms every migrated schema. Schema metadata is kept.
pub fn with_sync_columns(schema: &Schema) -> Schema {
    let mut fields: Vec<arrow_schema::FieldRef> = Vec::new();
    if schema.field_with_name(CQ_SYNC_TIME).is_err() {
        fields.push(std::sync::Arc::new(sync_time_field()));
    }
    if schema.field_with_name(CQ_SOURCE_NAME).is_err() {
        fields.push(std::sync::Arc::new(source_name_field()));
    }
    fields.extend(schema.fields().iter().cloned());
    Schema::new_with_metadata(fields, schema.metadata().clone())
}

/// `batch` with `_cq_sync_time` = `sync_time` and `_cq_source_name` = `source_name` in front
/// (each only if absent), matching [`with_sync_columns`], as the CloudQuery CLI does per record.
pub fn add_sync_columns(
    batch: &arrow_array::RecordBatch,
    source_name: &str,
    sync_time: chrono::DateTime<chrono::Utc>,
) -> Result<arrow_array::RecordBatch, arrow_schema::ArrowError> {
    use arrow_array::{ArrayRef, StringArray, TimestampMicrosecondArray};
    let schema = batch.schema();
    let rows = batch.num_rows();
    let mut columns: Vec<ArrayRef> = Vec::new();
    if schema.field_with_name(CQ_SYNC_TIME).is_err() {
        let micros = sync_time.timestamp_micros();
        columns.push(std::sync::Arc::new(
            TimestampMicrosecondArray::from(vec![micros; rows]).with_timezone("UTC"),
        ));
    }
    if schema.field_with_name(CQ_SOURCE_NAME).is_err() {
        columns.push(std::sync::Arc::new(StringArray::from(vec![
            source_name;
            rows
        ])));
    }
    columns.extend(batch.columns().iter().cloned());
    arrow_array::RecordBatch::try_new(std::sync::Arc::new(with_sync_columns(&schema)), columns)
}

/// The Arrow schema of CloudQuery's state table: `key` (utf8, primary key), `value` (utf8),
/// `version` (uint64), no `_cq_*` columns. The schema carries every key the Go SDK always
/// writes (`cq:table_description`, `cq:table_title`, `cq:extension:constraint_name`, empty):
/// destinations built on other SDKs read them unconditionally (the Python SDK fails with
/// `'NoneType' object has no attribute 'decode'` without them).
pub fn state_schema(table_name: &str) -> Schema {
    let key = field("key", ColumnKind::Utf8, true, false);
    let value = field("value", ColumnKind::Utf8, false, false);
    let mut version = field("version", ColumnKind::Int64, false, false);
    version = version.with_data_type(DataType::UInt64);
    Schema::new_with_metadata(
        vec![key, value, version],
        HashMap::from([
            (META_TABLE_NAME.to_string(), table_name.to_string()),
            (META_TABLE_DESCRIPTION.to_string(), String::new()),
            (META_TABLE_TITLE.to_string(), String::new()),
            (META_CONSTRAINT_NAME.to_string(), String::new()),
        ]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_schema_carries_the_metadata_every_sdk_writes() {
        let s = state_schema("cq_state_x");
        let m = s.metadata();
        assert_eq!(m[META_TABLE_NAME], "cq_state_x");
        for key in [
            META_TABLE_DESCRIPTION,
            META_TABLE_TITLE,
            META_CONSTRAINT_NAME,
        ] {
            assert_eq!(m.get(key).map(String::as_str), Some(""), "{key}");
        }
        assert!(is_primary_key(s.field_with_name("key").unwrap()));
        assert_eq!(
            s.field_with_name("version").unwrap().data_type(),
            &DataType::UInt64
        );
    }
}
