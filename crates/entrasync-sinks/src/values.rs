//! Reading Arrow columns the way every sink needs them: each column is resolved to its
//! [`ColumnKind`], cast to the kind's canonical storage type when a producer used a compatible
//! one (LargeUtf8, Int32, timestamps in other units, …), and read cell by cell.

use crate::cq::{self, ColumnKind};
use crate::{Result, SinkError};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, FixedSizeBinaryArray, Float64Array, Int64Array,
    ListArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, TimeUnit};

/// The kind of a field, accepting the storage types a sink can widen losslessly (or nearly:
/// `uint64` above `i64::MAX` becomes null) on top of [`ColumnKind::of`].
pub fn column_kind(table: &str, field: &Field) -> Result<ColumnKind> {
    if let Some(kind) = ColumnKind::of(field) {
        return Ok(kind);
    }
    match field.data_type() {
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => Ok(ColumnKind::Int64),
        DataType::Float16 | DataType::Float32 => Ok(ColumnKind::Float64),
        DataType::Utf8View => Ok(ColumnKind::Utf8),
        DataType::LargeList(item) if item.data_type() == &DataType::Utf8 => {
            Ok(ColumnKind::Utf8List)
        }
        other => Err(SinkError::Schema(format!(
            "table {table}: column {:?} has Arrow type {other}, which no sink maps \
             (supported: utf8, bool, int64, float64, timestamp, list<utf8>, json, uuid)",
            field.name()
        ))),
    }
}

fn needs_cast(kind: ColumnKind, dt: &DataType) -> bool {
    match kind {
        ColumnKind::Utf8List => {
            !matches!(dt, DataType::List(item) if item.data_type() == &DataType::Utf8)
        }
        ColumnKind::Timestamp => !matches!(dt, DataType::Timestamp(TimeUnit::Microsecond, _)),
        _ => dt != &kind.data_type(),
    }
}

/// The table name of a batch or schema, or an error saying it is missing.
pub fn table_of(schema: &arrow_schema::Schema) -> Result<String> {
    cq::table_name(schema)
        .map(str::to_string)
        .ok_or_else(|| SinkError::Schema(format!("schema has no {} metadata", cq::META_TABLE_NAME)))
}

/// Kinds and canonical arrays of every column of `batch`.
pub fn normalize(table: &str, batch: &RecordBatch) -> Result<Vec<(ColumnKind, ArrayRef)>> {
    let schema = batch.schema();
    schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, array)| {
            let kind = column_kind(table, field)?;
            let array = if needs_cast(kind, array.data_type()) {
                arrow_cast::cast(array, &kind.data_type()).map_err(|e| {
                    SinkError::Schema(format!(
                        "table {table}: column {:?} of type {} cannot be read as {}: {e}",
                        field.name(),
                        array.data_type(),
                        kind.display()
                    ))
                })?
            } else {
                array.clone()
            };
            Ok((kind, array))
        })
        .collect()
}

/// A typed view of one canonical column.
pub enum Column<'a> {
    Utf8(&'a StringArray),
    Bool(&'a BooleanArray),
    Int64(&'a Int64Array),
    Float64(&'a Float64Array),
    Timestamp(&'a TimestampMicrosecondArray),
    Utf8List(&'a ListArray),
    Json(&'a BinaryArray),
    Uuid(&'a FixedSizeBinaryArray),
}

impl<'a> Column<'a> {
    pub fn new(kind: ColumnKind, array: &'a ArrayRef) -> Column<'a> {
        match kind {
            ColumnKind::Utf8 => Column::Utf8(array.as_string::<i32>()),
            ColumnKind::Bool => Column::Bool(array.as_boolean()),
            ColumnKind::Int64 => Column::Int64(array.as_primitive::<Int64Type>()),
            ColumnKind::Float64 => Column::Float64(array.as_primitive::<Float64Type>()),
            ColumnKind::Timestamp => {
                Column::Timestamp(array.as_primitive::<TimestampMicrosecondType>())
            }
            ColumnKind::Utf8List => Column::Utf8List(array.as_list::<i32>()),
            ColumnKind::Json => Column::Json(array.as_binary::<i32>()),
            ColumnKind::Uuid => Column::Uuid(array.as_fixed_size_binary()),
        }
    }

    pub fn is_null(&self, i: usize) -> bool {
        match self {
            Column::Utf8(a) => a.is_null(i),
            Column::Bool(a) => a.is_null(i),
            Column::Int64(a) => a.is_null(i),
            Column::Float64(a) => a.is_null(i),
            Column::Timestamp(a) => a.is_null(i),
            Column::Utf8List(a) => a.is_null(i),
            Column::Json(a) => a.is_null(i),
            Column::Uuid(a) => a.is_null(i),
        }
    }

    /// The cell as a JSON value (null for null): what the JSON-lines file format writes.
    pub fn json_value(&self, i: usize) -> serde_json::Value {
        use serde_json::Value;
        if self.is_null(i) {
            return Value::Null;
        }
        match self {
            Column::Utf8(a) => Value::String(a.value(i).to_string()),
            Column::Bool(a) => Value::Bool(a.value(i)),
            Column::Int64(a) => Value::from(a.value(i)),
            Column::Float64(a) => Value::from(a.value(i)),
            Column::Timestamp(a) => Value::String(format_timestamp(a.value(i))),
            Column::Utf8List(a) => list_values(a, i)
                .into_iter()
                .map(|s| s.map_or(Value::Null, |s| Value::String(s.to_string())))
                .collect(),
            Column::Json(a) => serde_json::from_slice(a.value(i))
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(a.value(i)).into())),
            Column::Uuid(a) => Value::String(uuid_string(a.value(i))),
        }
    }

    /// The cell as text (None for null): timestamps RFC 3339, lists and json as JSON text.
    pub fn text(&self, i: usize) -> Option<String> {
        if self.is_null(i) {
            return None;
        }
        Some(match self {
            Column::Utf8(a) => a.value(i).to_string(),
            Column::Bool(a) => a.value(i).to_string(),
            Column::Int64(a) => a.value(i).to_string(),
            Column::Float64(a) => a.value(i).to_string(),
            Column::Timestamp(a) => format_timestamp(a.value(i)),
            Column::Utf8List(a) => list_json(a, i),
            Column::Json(a) => String::from_utf8_lossy(a.value(i)).into_owned(),
            Column::Uuid(a) => uuid_string(a.value(i)),
        })
    }
}

/// The strings of list cell `i` (the cell itself must not be null).
pub fn list_values(list: &ListArray, i: usize) -> Vec<Option<&str>> {
    let offsets = list.value_offsets();
    let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
    let values = list.values().as_string::<i32>();
    (start..end)
        .map(|j| (!values.is_null(j)).then(|| values.value(j)))
        .collect()
}

/// List cell `i` as a JSON array text.
pub fn list_json(list: &ListArray, i: usize) -> String {
    serde_json::to_string(&list_values(list, i)).unwrap_or_else(|_| "[]".into())
}

/// Microseconds since the epoch as RFC 3339 with exactly six fractional digits and `Z`
/// (fixed width, so the text sorts as the instant does).
pub fn format_timestamp(micros: i64) -> String {
    use chrono::{Datelike, Timelike};
    match chrono::DateTime::from_timestamp_micros(micros) {
        Some(t) if (0..=9999).contains(&t.year()) => format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.timestamp_subsec_micros()
        ),
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
        None => micros.to_string(),
    }
}

/// The canonical hyphenated lower-case form of 16 UUID bytes.
pub fn uuid_string(bytes: &[u8]) -> String {
    match uuid::Uuid::from_slice(bytes) {
        Ok(u) => u.hyphenated().to_string(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Quotes an SQL identifier (`"` doubled), for SQLite and PostgreSQL alike.
/// `"name" TYPE [NOT NULL]` for each column, in the SQL dialect `sql_type` names.
pub fn column_defs(
    columns: &[(String, ColumnKind, bool)],
    sql_type: fn(ColumnKind) -> &'static str,
) -> Vec<String> {
    columns
        .iter()
        .map(|(name, kind, nullable)| {
            let null = if *nullable { "" } else { " NOT NULL" };
            format!("{} {}{null}", quote_ident(name), sql_type(*kind))
        })
        .collect()
}

pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `schema` with every field's storage type replaced by its kind's canonical type (metadata
/// kept): the schema of batches that sinks read back.
pub fn canonical_schema(schema: &arrow_schema::Schema) -> Result<arrow_schema::SchemaRef> {
    let table = table_of(schema).unwrap_or_default();
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| {
            Ok(f.as_ref()
                .clone()
                .with_data_type(column_kind(&table, f)?.data_type()))
        })
        .collect::<Result<_>>()?;
    Ok(std::sync::Arc::new(
        arrow_schema::Schema::new_with_metadata(fields, schema.metadata().clone()),
    ))
}

/// Builds a batch of `schema` (see [`canonical_schema`]) from rows of JSON cells, in the forms
/// [`Column::json_value`] produces: strings, booleans, numbers, RFC 3339 timestamps, arrays of
/// strings for lists, any JSON for json columns, canonical text for uuids. Lists and json may
/// also arrive as JSON text (how SQLite stores them).
pub fn batch_from_json_rows(
    schema: &arrow_schema::SchemaRef,
    rows: &[Vec<serde_json::Value>],
) -> Result<RecordBatch> {
    use arrow_array::builder::{
        BinaryBuilder, BooleanBuilder, FixedSizeBinaryBuilder, Float64Builder, Int64Builder,
        ListBuilder, StringBuilder, TimestampMicrosecondBuilder,
    };
    use serde_json::Value;
    let table = table_of(schema).unwrap_or_default();
    let bad = |col: &str, v: &Value, what: &str| {
        SinkError::Other(format!(
            "reading {table}: column {col:?} holds {v}, which is not {what}"
        ))
    };
    let parse_text = |v: &Value| -> Value {
        match v {
            Value::String(s) => serde_json::from_str(s).unwrap_or_else(|_| v.clone()),
            other => other.clone(),
        }
    };
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for (j, field) in schema.fields().iter().enumerate() {
        let name = field.name().as_str();
        let kind = column_kind(&table, field)?;
        let cells = rows.iter().map(|r| r.get(j).unwrap_or(&Value::Null));
        let array: ArrayRef = match kind {
            ColumnKind::Utf8 => {
                let mut b = StringBuilder::new();
                for v in cells {
                    match v {
                        Value::Null => b.append_null(),
                        Value::String(s) => b.append_value(s),
                        other => b.append_value(other.to_string()),
                    }
                }
                std::sync::Arc::new(b.finish())
            }
            ColumnKind::Bool => {
                let mut b = BooleanBuilder::new();
                for v in cells {
                    match v {
                        Value::Null => b.append_null(),
                        Value::Bool(x) => b.append_value(*x),
                        Value::Number(n) => b.append_value(n.as_i64() != Some(0)),
                        other => return Err(bad(name, other, "a boolean")),
                    }
                }
                std::sync::Arc::new(b.finish())
            }
            ColumnKind::Int64 => {
                let mut b = Int64Builder::new();
                for v in cells {
                    match v {
                        Value::Null => b.append_null(),
                        other => b.append_value(
                            other
                                .as_i64()
                                .ok_or_else(|| bad(name, other, "an integer"))?,
                        ),
                    }
                }
                std::sync::Arc::new(b.finish())
            }
            ColumnKind::Float64 => {
                let mut b = Float64Builder::new();
                for v in cells {
                    match v {
                        Value::Null => b.append_null(),
                        other => b.append_value(
                            other.as_f64().ok_or_else(|| bad(name, other, "a number"))?,
                        ),
                    }
                }
                std::sync::Arc::new(b.finish())
            }
            ColumnKind::Timestamp => {
                let mut b = TimestampMicrosecondBuilder::new().with_timezone("UTC");
                for v in cells {
                    match v {
                        Value::Null => b.append_null(),
                        Value::String(s) => b.append_value(
                            chrono::DateTime::parse_from_rfc3339(s)
                                .map_err(|_| bad(name, v, "an RFC 3339 timestamp"))?
                                .timestamp_micros(),
                        ),
                        other => return Err(bad(name, other, "an RFC 3339 timestamp")),
                    }
                }
                std::sync::Arc::new(b.finish())
            }
            ColumnKind::Utf8List => {
                let mut b = ListBuilder::new(StringBuilder::new());
                for v in cells {
                    match parse_text(v) {
                        Value::Null => b.append(false),
                        Value::Array(items) => {
                            for item in items {
                                match item {
                                    Value::Null => b.values().append_null(),
                                    Value::String(s) => b.values().append_value(s),
                                    other => b.values().append_value(other.to_string()),
                                }
                            }
                            b.append(true);
                        }
                        other => return Err(bad(name, &other, "a list of strings")),
                    }
                }
                std::sync::Arc::new(b.finish())
            }
            ColumnKind::Json => {
                let mut b = BinaryBuilder::new();
                for v in cells {
                    match v {
                        Value::Null => b.append_null(),
                        other => b.append_value(other.to_string()),
                    }
                }
                std::sync::Arc::new(b.finish())
            }
            ColumnKind::Uuid => {
                let mut b = FixedSizeBinaryBuilder::new(16);
                for v in cells {
                    match v {
                        Value::Null => b.append_null(),
                        Value::String(s) => {
                            let u = uuid::Uuid::parse_str(s).map_err(|_| bad(name, v, "a uuid"))?;
                            b.append_value(u.as_bytes())
                                .map_err(|e| SinkError::Other(e.to_string()))?;
                        }
                        other => return Err(bad(name, other, "a uuid")),
                    }
                }
                std::sync::Arc::new(b.finish())
            }
        };
        columns.push(array);
    }
    RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &arrow_array::RecordBatchOptions::new().with_row_count(Some(rows.len())),
    )
    .map_err(|e| SinkError::Other(format!("reading {table}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_fixed_width_rfc3339() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            format_timestamp(1_700_000_000_123_456),
            "2023-11-14T22:13:20.123456Z"
        );
        assert_eq!(format_timestamp(-1), "1969-12-31T23:59:59.999999Z");
        assert_eq!(
            format_timestamp(-62_135_596_800_000_000),
            "0001-01-01T00:00:00.000000Z"
        );
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("users"), "\"users\"");
    }
}
