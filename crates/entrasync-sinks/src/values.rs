//! Reading Arrow columns the way every sink needs them: each column is resolved to its [`Kind`]
//! (the core [`ColumnKind`]s entrasync's own tables use, plus every other type of the CloudQuery
//! type system), cast to the kind's canonical storage type when a producer used a compatible one
//! (LargeUtf8, Int32, timestamps in other units, …) — refusing, with the row named, any cast
//! that would change a value — and read cell by cell.

use crate::cq::{self, ColumnKind};
use crate::{Result, SinkError};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Decimal128Type, DurationMicrosecondType, Float64Type, Int64Type,
    IntervalMonthDayNanoType, Time64MicrosecondType, TimestampMicrosecondType, UInt64Type,
};
use arrow_array::{
    Array, ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array,
    DurationMicrosecondArray, FixedSizeBinaryArray, Float64Array, Int64Array,
    IntervalMonthDayNanoArray, ListArray, RecordBatch, StringArray, Time64MicrosecondArray,
    TimestampMicrosecondArray, UInt64Array,
};
use arrow_schema::{DataType, Field, IntervalUnit, TimeUnit};
use serde_json::Value;

pub const INET_EXTENSION: &str = "inet";
pub const MAC_EXTENSION: &str = "mac";

/// How a sink stores a column: the core kinds plus every other type CloudQuery sources send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Utf8,
    Bool,
    /// Every signed width and uint8/16/32 (widened losslessly).
    Int64,
    UInt64,
    /// float16/32/64 (widened losslessly).
    Float64,
    /// decimal128(precision, scale).
    Decimal(u8, i8),
    Timestamp,
    Date,
    Time,
    Duration,
    Interval,
    Binary,
    Utf8List,
    Json,
    Uuid,
    Inet,
    Mac,
    /// Lists (other than of strings), large and fixed-size lists, structs and maps: kept as sent
    /// and stored as JSON where the database has no native form.
    Nested,
}

impl From<ColumnKind> for Kind {
    fn from(k: ColumnKind) -> Kind {
        match k {
            ColumnKind::Utf8 => Kind::Utf8,
            ColumnKind::Bool => Kind::Bool,
            ColumnKind::Int64 => Kind::Int64,
            ColumnKind::Float64 => Kind::Float64,
            ColumnKind::Timestamp => Kind::Timestamp,
            ColumnKind::Utf8List => Kind::Utf8List,
            ColumnKind::Json => Kind::Json,
            ColumnKind::Uuid => Kind::Uuid,
        }
    }
}

impl Kind {
    /// The canonical Arrow storage type (`None` for [`Kind::Nested`], kept as sent).
    pub fn data_type(self) -> Option<DataType> {
        Some(match self {
            Kind::Utf8 => DataType::Utf8,
            Kind::Bool => DataType::Boolean,
            Kind::Int64 => DataType::Int64,
            Kind::UInt64 => DataType::UInt64,
            Kind::Float64 => DataType::Float64,
            Kind::Decimal(p, s) => DataType::Decimal128(p, s),
            Kind::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Kind::Date => DataType::Date32,
            Kind::Time => DataType::Time64(TimeUnit::Microsecond),
            Kind::Duration => DataType::Duration(TimeUnit::Microsecond),
            Kind::Interval => DataType::Interval(IntervalUnit::MonthDayNano),
            Kind::Binary | Kind::Json | Kind::Inet | Kind::Mac => DataType::Binary,
            Kind::Utf8List => ColumnKind::Utf8List.data_type(),
            Kind::Uuid => DataType::FixedSizeBinary(16),
            Kind::Nested => return None,
        })
    }

    /// The core kind, for kinds entrasync's own tables use.
    pub fn core(self) -> Option<ColumnKind> {
        Some(match self {
            Kind::Utf8 => ColumnKind::Utf8,
            Kind::Bool => ColumnKind::Bool,
            Kind::Int64 => ColumnKind::Int64,
            Kind::Float64 => ColumnKind::Float64,
            Kind::Timestamp => ColumnKind::Timestamp,
            Kind::Utf8List => ColumnKind::Utf8List,
            Kind::Json => ColumnKind::Json,
            Kind::Uuid => ColumnKind::Uuid,
            _ => return None,
        })
    }
}

fn extension(field: &Field) -> Option<&str> {
    field.metadata().get(cq::EXTENSION_NAME).map(String::as_str)
}

/// The kind of a field: every Arrow type of the CloudQuery type system has one; other types
/// (dictionary, union, decimal256, …) are refused with the table and column named.
pub fn kind(table: &str, field: &Field) -> Result<Kind> {
    let refuse = |why: String| {
        SinkError::Schema(format!(
            "table {table}: column {:?} has Arrow type {}, {why}",
            field.name(),
            field.data_type()
        ))
    };
    match extension(field) {
        Some(cq::UUID_EXTENSION) => return Ok(Kind::Uuid),
        Some(cq::JSON_EXTENSION) => return Ok(Kind::Json),
        Some(INET_EXTENSION) => return Ok(Kind::Inet),
        Some(MAC_EXTENSION) => return Ok(Kind::Mac),
        _ => {}
    }
    Ok(match field.data_type() {
        DataType::Null | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => Kind::Utf8,
        DataType::Boolean => Kind::Bool,
        DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32 => Kind::Int64,
        DataType::UInt64 => Kind::UInt64,
        DataType::Float16 | DataType::Float32 | DataType::Float64 => Kind::Float64,
        DataType::Decimal128(p, s) => Kind::Decimal(*p, *s),
        DataType::Timestamp(_, _) => Kind::Timestamp,
        DataType::Date32 | DataType::Date64 => Kind::Date,
        DataType::Time32(_) | DataType::Time64(_) => Kind::Time,
        DataType::Duration(_) => Kind::Duration,
        DataType::Interval(_) => Kind::Interval,
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => Kind::Binary,
        DataType::List(item) | DataType::LargeList(item)
            if matches!(item.data_type(), DataType::Utf8 | DataType::LargeUtf8)
                && extension(item).is_none() =>
        {
            Kind::Utf8List
        }
        dt @ (DataType::List(_)
        | DataType::LargeList(_)
        | DataType::FixedSizeList(_, _)
        | DataType::Struct(_)
        | DataType::Map(_, _)) => {
            if let Some(bad) = unsupported_inside(dt) {
                return Err(refuse(format!("whose element type {bad} no sink maps")));
            }
            Kind::Nested
        }
        _ => return Err(refuse("which no sink maps".into())),
    })
}

/// The first type inside `dt` that [`json_cell`] cannot render, if any.
fn unsupported_inside(dt: &DataType) -> Option<DataType> {
    match dt {
        DataType::List(f) | DataType::LargeList(f) | DataType::FixedSizeList(f, _) => {
            unsupported_inside(f.data_type())
        }
        DataType::Map(f, _) => unsupported_inside(f.data_type()),
        DataType::Struct(fields) => fields
            .iter()
            .find_map(|f| unsupported_inside(f.data_type())),
        DataType::Null
        | DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64
        | DataType::Float16
        | DataType::Float32
        | DataType::Float64
        | DataType::Decimal128(_, _)
        | DataType::Utf8
        | DataType::LargeUtf8
        | DataType::Binary
        | DataType::LargeBinary
        | DataType::FixedSizeBinary(_)
        | DataType::Date32
        | DataType::Date64
        | DataType::Time32(_)
        | DataType::Time64(_)
        | DataType::Timestamp(_, _)
        | DataType::Duration(_)
        | DataType::Interval(_) => None,
        other => Some(other.clone()),
    }
}

/// The core kind of a field (what entrasync's own tables and the `Read` path use; uint64 reads
/// as int64); other kinds are refused.
pub fn column_kind(table: &str, field: &Field) -> Result<ColumnKind> {
    let k = kind(table, field)?;
    // uint64 reads back as int64 (a value above i64::MAX is then an error, not a null).
    let k = if k == Kind::UInt64 { Kind::Int64 } else { k };
    k.core().ok_or_else(|| {
        SinkError::Schema(format!(
            "table {table}: column {:?} has Arrow type {}, which can be written but not read \
             back (reading supports strings, booleans, integers and floats of every width, \
             timestamps of every unit, lists of strings, json and uuid)",
            field.name(),
            field.data_type()
        ))
    })
}

fn needs_cast(kind: Kind, dt: &DataType) -> bool {
    match kind {
        Kind::Nested => false,
        Kind::Utf8List => {
            !matches!(dt, DataType::List(item) if item.data_type() == &DataType::Utf8)
        }
        Kind::Timestamp => !matches!(dt, DataType::Timestamp(TimeUnit::Microsecond, _)),
        _ => Some(dt) != kind.data_type().as_ref(),
    }
}

/// Whether a cast from `dt` can drop information that a cast back would reveal (sub-microsecond
/// digits, a date64 that is not midnight).
fn may_lose(dt: &DataType) -> bool {
    matches!(
        dt,
        DataType::Timestamp(TimeUnit::Nanosecond, _)
            | DataType::Time64(TimeUnit::Nanosecond)
            | DataType::Duration(TimeUnit::Nanosecond)
            | DataType::Interval(IntervalUnit::MonthDayNano)
            | DataType::Date64
    )
}

/// The table name of a batch or schema, or an error saying it is missing.
pub fn table_of(schema: &arrow_schema::Schema) -> Result<String> {
    cq::table_name(schema)
        .map(str::to_string)
        .ok_or_else(|| SinkError::Schema(format!("schema has no {} metadata", cq::META_TABLE_NAME)))
}

/// An error for a value that cannot be stored exactly, naming table, column and row.
pub fn value_error(
    table: &str,
    column: &str,
    row: usize,
    why: impl std::fmt::Display,
) -> SinkError {
    SinkError::Schema(format!(
        "table {table}: column {column:?} row {row} of the batch: {why}"
    ))
}

/// `array` cast to `to` exactly: an overflow or a value the cast would change is an error
/// naming the first such row.
pub(crate) fn exact_cast(
    table: &str,
    name: &str,
    array: &ArrayRef,
    to: &DataType,
) -> Result<ArrayRef> {
    let opts = arrow_cast::CastOptions {
        safe: false,
        ..Default::default()
    };
    let from = array.data_type();
    let round_trips = |a: &ArrayRef| -> std::result::Result<ArrayRef, String> {
        let out = arrow_cast::cast_with_options(a, to, &opts).map_err(|e| e.to_string())?;
        if may_lose(from) {
            let back =
                arrow_cast::cast_with_options(&out, from, &opts).map_err(|e| e.to_string())?;
            if back.to_data() != a.to_data() {
                return Err(format!("the value cannot be stored exactly as {to}"));
            }
        }
        Ok(out)
    };
    match round_trips(array) {
        Ok(out) => Ok(out),
        Err(whole) => {
            for row in 0..array.len() {
                if let Err(e) = round_trips(&array.slice(row, 1)) {
                    return Err(value_error(
                        table,
                        name,
                        row,
                        format!("{from} cannot be stored exactly as {to}: {e}"),
                    ));
                }
            }
            Err(SinkError::Schema(format!(
                "table {table}: column {name:?} of type {from} cannot be read as {to}: {whole}"
            )))
        }
    }
}

/// Kinds and canonical arrays of every column of `batch`.
pub fn normalize(table: &str, batch: &RecordBatch) -> Result<Vec<(Kind, ArrayRef)>> {
    let schema = batch.schema();
    schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, array)| {
            let kind = kind(table, field)?;
            let target = match (kind, array.data_type()) {
                // Same instants, no time-zone conversion: only the unit changes (the zone is a
                // label; a cast to "UTC" would need a time-zone database for nothing).
                (Kind::Timestamp, DataType::Timestamp(_, tz)) => {
                    Some(DataType::Timestamp(TimeUnit::Microsecond, tz.clone()))
                }
                _ => kind.data_type(),
            };
            let array = match target {
                Some(to) if needs_cast(kind, array.data_type()) => {
                    exact_cast(table, field.name(), array, &to)?
                }
                _ => array.clone(),
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
    UInt64(&'a UInt64Array),
    Float64(&'a Float64Array),
    Decimal(&'a Decimal128Array, i8),
    Timestamp(&'a TimestampMicrosecondArray),
    Date(&'a Date32Array),
    Time(&'a Time64MicrosecondArray),
    Duration(&'a DurationMicrosecondArray),
    Interval(&'a IntervalMonthDayNanoArray),
    Binary(&'a BinaryArray),
    Utf8List(&'a ListArray),
    Json(&'a BinaryArray),
    Uuid(&'a FixedSizeBinaryArray),
    Inet(&'a BinaryArray),
    Mac(&'a BinaryArray),
    Nested(&'a ArrayRef),
}

impl<'a> Column<'a> {
    pub fn new(kind: impl Into<Kind>, array: &'a ArrayRef) -> Column<'a> {
        match kind.into() {
            Kind::Utf8 => Column::Utf8(array.as_string::<i32>()),
            Kind::Bool => Column::Bool(array.as_boolean()),
            Kind::Int64 => Column::Int64(array.as_primitive::<Int64Type>()),
            Kind::UInt64 => Column::UInt64(array.as_primitive::<UInt64Type>()),
            Kind::Float64 => Column::Float64(array.as_primitive::<Float64Type>()),
            Kind::Decimal(_, s) => Column::Decimal(array.as_primitive::<Decimal128Type>(), s),
            Kind::Timestamp => Column::Timestamp(array.as_primitive::<TimestampMicrosecondType>()),
            Kind::Date => Column::Date(array.as_primitive::<Date32Type>()),
            Kind::Time => Column::Time(array.as_primitive::<Time64MicrosecondType>()),
            Kind::Duration => Column::Duration(array.as_primitive::<DurationMicrosecondType>()),
            Kind::Interval => Column::Interval(array.as_primitive::<IntervalMonthDayNanoType>()),
            Kind::Binary => Column::Binary(array.as_binary::<i32>()),
            Kind::Utf8List => Column::Utf8List(array.as_list::<i32>()),
            Kind::Json => Column::Json(array.as_binary::<i32>()),
            Kind::Uuid => Column::Uuid(array.as_fixed_size_binary()),
            Kind::Inet => Column::Inet(array.as_binary::<i32>()),
            Kind::Mac => Column::Mac(array.as_binary::<i32>()),
            Kind::Nested => Column::Nested(array),
        }
    }

    fn array(&self) -> &dyn Array {
        match self {
            Column::Utf8(a) => *a,
            Column::Bool(a) => *a,
            Column::Int64(a) => *a,
            Column::UInt64(a) => *a,
            Column::Float64(a) => *a,
            Column::Decimal(a, _) => *a,
            Column::Timestamp(a) => *a,
            Column::Date(a) => *a,
            Column::Time(a) => *a,
            Column::Duration(a) => *a,
            Column::Interval(a) => *a,
            Column::Binary(a) | Column::Json(a) | Column::Inet(a) | Column::Mac(a) => *a,
            Column::Utf8List(a) => *a,
            Column::Uuid(a) => *a,
            Column::Nested(a) => a.as_ref(),
        }
    }

    pub fn is_null(&self, i: usize) -> bool {
        self.array().is_null(i)
    }

    /// The cell as a JSON value (null for null): what the JSON-lines file format writes. See
    /// [`Column::try_json_value`]; a cell that has no JSON form becomes null here.
    pub fn json_value(&self, i: usize) -> Value {
        self.try_json_value(i).unwrap_or(Value::Null)
    }

    /// The cell as a JSON value, or why it has none: integers as numbers, non-finite floats as
    /// the strings `NaN`, `Infinity`, `-Infinity`, decimals as exact decimal strings,
    /// timestamps/dates/times as RFC 3339 text, durations as integer microseconds, intervals as
    /// `{"months","days","nanoseconds"}`, binary as base64, MAC addresses as `aa:bb:…`, lists as
    /// arrays, structs as objects, maps as arrays of `{"key","value"}`.
    pub fn try_json_value(&self, i: usize) -> std::result::Result<Value, String> {
        if self.is_null(i) {
            return Ok(Value::Null);
        }
        Ok(match self {
            Column::Utf8(a) => Value::String(a.value(i).to_string()),
            Column::Bool(a) => Value::Bool(a.value(i)),
            Column::Int64(a) => Value::from(a.value(i)),
            Column::UInt64(a) => Value::from(a.value(i)),
            Column::Float64(a) => float_json(a.value(i)),
            Column::Decimal(a, s) => Value::String(format_decimal(a.value(i), *s)),
            Column::Timestamp(a) => Value::String(format_timestamp(a.value(i))),
            Column::Date(a) => Value::String(format_date(a.value(i))?),
            Column::Time(a) => Value::String(format_time(a.value(i) as i128 * 1000, 6)?),
            Column::Duration(a) => Value::from(a.value(i)),
            Column::Interval(a) => interval_json(a.value(i)),
            Column::Binary(a) => Value::String(base64(a.value(i))),
            Column::Utf8List(a) => list_values(a, i)
                .into_iter()
                .map(|s| s.map_or(Value::Null, |s| Value::String(s.to_string())))
                .collect(),
            Column::Json(a) => json_bytes(a.value(i))?,
            Column::Uuid(a) => Value::String(uuid_string(a.value(i))),
            Column::Inet(a) => Value::String(inet_text(a.value(i))?),
            Column::Mac(a) => Value::String(mac_text(a.value(i))),
            Column::Nested(a) => json_cell(None, a.as_ref(), i)?,
        })
    }

    /// The cell as text (None for null): timestamps RFC 3339, lists and json as JSON text.
    pub fn text(&self, i: usize) -> Option<String> {
        self.try_text(i).unwrap_or(None)
    }

    /// The cell as text (None for null), or why it has none: what CSV and SQLite TEXT columns
    /// hold. Lists, structs, maps, json and intervals are JSON text; other kinds as
    /// [`Column::try_json_value`] renders them, without quotes.
    pub fn try_text(&self, i: usize) -> std::result::Result<Option<String>, String> {
        if self.is_null(i) {
            return Ok(None);
        }
        Ok(Some(match self {
            Column::Utf8(a) => a.value(i).to_string(),
            Column::Bool(a) => a.value(i).to_string(),
            Column::Int64(a) => a.value(i).to_string(),
            Column::UInt64(a) => a.value(i).to_string(),
            Column::Float64(a) => float_text(a.value(i)),
            Column::Utf8List(a) => list_json(a, i),
            Column::Json(a) => String::from_utf8(a.value(i).to_vec())
                .map_err(|_| "json value is not UTF-8".to_string())?,
            other => match other.try_json_value(i)? {
                Value::String(s) => s,
                v => v.to_string(),
            },
        }))
    }
}

fn float_text(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity" } else { "-Infinity" }.into()
    } else if x == 0.0 || (1e-7..1e16).contains(&x.abs()) {
        x.to_string()
    } else {
        // Shortest round-trip form with an exponent, not 300 digits.
        Value::from(x).to_string()
    }
}

fn float_json(x: f64) -> Value {
    if x.is_finite() {
        Value::from(x)
    } else {
        Value::String(float_text(x))
    }
}

fn json_bytes(b: &[u8]) -> std::result::Result<Value, String> {
    serde_json::from_slice(b).map_err(|e| format!("json value is not valid JSON: {e}"))
}

/// Standard base64 with padding (what Go's encoding/json writes for `[]byte`).
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An `i128` with `scale` as exact decimal text (`-12.3400`, `1200` for a negative scale).
pub fn format_decimal(v: i128, scale: i8) -> String {
    if scale <= 0 {
        let mut s = v.to_string();
        if v != 0 {
            s.extend(std::iter::repeat_n('0', (-scale) as usize));
        }
        return s;
    }
    let scale = scale as usize;
    let digits = v.unsigned_abs().to_string();
    let digits = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = digits.split_at(digits.len() - scale);
    format!("{}{int}.{frac}", if v < 0 { "-" } else { "" })
}

/// Days since the epoch as `YYYY-MM-DD`.
pub fn format_date(days: i32) -> std::result::Result<String, String> {
    chrono::NaiveDate::from_ymd_opt(1970, 1, 1)
        .and_then(|d| d.checked_add_signed(chrono::TimeDelta::days(days as i64)))
        .map(|d| d.format("%Y-%m-%d").to_string())
        .ok_or_else(|| format!("date {days} days from 1970-01-01 is out of range"))
}

/// Nanoseconds since midnight as `HH:MM:SS.fff…` with `digits` fractional digits.
pub fn format_time(nanos: i128, digits: usize) -> std::result::Result<String, String> {
    if !(0..86_400_000_000_000).contains(&nanos) {
        return Err(format!("time {nanos} ns is not within a day"));
    }
    let secs = nanos / 1_000_000_000;
    let frac = nanos % 1_000_000_000;
    let mut s = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if digits > 0 {
        let f = format!("{frac:09}");
        s.push('.');
        s.push_str(&f[..digits]);
    }
    Ok(s)
}

/// An interval as `{"months": m, "days": d, "nanoseconds": n}` (Arrow's month-day-nano).
pub fn interval_json(v: arrow_buffer::IntervalMonthDayNano) -> Value {
    serde_json::json!({"months": v.months, "days": v.days, "nanoseconds": v.nanoseconds})
}

/// The address text an `inet` value carries (`10.0.0.1/32`).
pub fn inet_text(b: &[u8]) -> std::result::Result<String, String> {
    std::str::from_utf8(b)
        .map(str::to_string)
        .map_err(|_| "inet value is not UTF-8 text".to_string())
}

/// Hardware-address bytes as lower-case `aa:bb:cc:dd:ee:ff` (Go's `net.HardwareAddr`).
pub fn mac_text(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn unit_digits(unit: &TimeUnit) -> (i128, usize) {
    match unit {
        TimeUnit::Second => (1_000_000_000, 0),
        TimeUnit::Millisecond => (1_000_000, 3),
        TimeUnit::Microsecond => (1_000, 6),
        TimeUnit::Nanosecond => (1, 9),
    }
}

/// Cell `i` of any supported array (see [`kind`]) as JSON, in the forms of
/// [`Column::try_json_value`]; `field` carries the extension metadata of the array, if any.
pub fn json_cell(
    field: Option<&Field>,
    array: &dyn Array,
    i: usize,
) -> std::result::Result<Value, String> {
    use arrow_array::types::*;
    if array.is_null(i) {
        return Ok(Value::Null);
    }
    let ext = field.and_then(extension);
    match (ext, array.data_type()) {
        (Some(cq::UUID_EXTENSION), DataType::FixedSizeBinary(16)) => {
            return Ok(Value::String(uuid_string(
                array.as_fixed_size_binary().value(i),
            )));
        }
        (Some(cq::JSON_EXTENSION | INET_EXTENSION | MAC_EXTENSION), _) => {
            let bytes: &[u8] = match array.data_type() {
                DataType::Binary => array.as_binary::<i32>().value(i),
                DataType::LargeBinary => array.as_binary::<i64>().value(i),
                DataType::Utf8 => array.as_string::<i32>().value(i).as_bytes(),
                DataType::LargeUtf8 => array.as_string::<i64>().value(i).as_bytes(),
                other => return Err(format!("extension {ext:?} with storage {other}")),
            };
            return match ext {
                Some(cq::JSON_EXTENSION) => json_bytes(bytes),
                Some(INET_EXTENSION) => inet_text(bytes).map(Value::String),
                _ => Ok(Value::String(mac_text(bytes))),
            };
        }
        _ => {}
    }
    let micros = |v: i128, unit: &TimeUnit| -> std::result::Result<i64, String> {
        let (ns, _) = unit_digits(unit);
        let n = v * ns;
        if n % 1000 != 0 {
            return Err(format!(
                "{v} {unit:?} is not a whole number of microseconds"
            ));
        }
        i64::try_from(n / 1000).map_err(|_| format!("{v} {unit:?} overflows microseconds"))
    };
    Ok(match array.data_type() {
        DataType::Null => Value::Null,
        DataType::Boolean => Value::Bool(array.as_boolean().value(i)),
        DataType::Int8 => Value::from(array.as_primitive::<Int8Type>().value(i)),
        DataType::Int16 => Value::from(array.as_primitive::<Int16Type>().value(i)),
        DataType::Int32 => Value::from(array.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => Value::from(array.as_primitive::<Int64Type>().value(i)),
        DataType::UInt8 => Value::from(array.as_primitive::<UInt8Type>().value(i)),
        DataType::UInt16 => Value::from(array.as_primitive::<UInt16Type>().value(i)),
        DataType::UInt32 => Value::from(array.as_primitive::<UInt32Type>().value(i)),
        DataType::UInt64 => Value::from(array.as_primitive::<UInt64Type>().value(i)),
        DataType::Float16 => float_json(array.as_primitive::<Float16Type>().value(i).to_f64()),
        DataType::Float32 => float_json(array.as_primitive::<Float32Type>().value(i) as f64),
        DataType::Float64 => float_json(array.as_primitive::<Float64Type>().value(i)),
        DataType::Decimal128(_, s) => Value::String(format_decimal(
            array.as_primitive::<Decimal128Type>().value(i),
            *s,
        )),
        DataType::Utf8 => Value::String(array.as_string::<i32>().value(i).into()),
        DataType::LargeUtf8 => Value::String(array.as_string::<i64>().value(i).into()),
        DataType::Binary => Value::String(base64(array.as_binary::<i32>().value(i))),
        DataType::LargeBinary => Value::String(base64(array.as_binary::<i64>().value(i))),
        DataType::FixedSizeBinary(_) => {
            Value::String(base64(array.as_fixed_size_binary().value(i)))
        }
        DataType::Date32 => {
            Value::String(format_date(array.as_primitive::<Date32Type>().value(i))?)
        }
        DataType::Date64 => {
            let ms = array.as_primitive::<Date64Type>().value(i);
            if ms % 86_400_000 != 0 {
                return Err(format!("date64 {ms} is not a whole day"));
            }
            Value::String(format_date((ms / 86_400_000) as i32)?)
        }
        DataType::Time32(u) => {
            let v = match u {
                TimeUnit::Second => array.as_primitive::<Time32SecondType>().value(i),
                _ => array.as_primitive::<Time32MillisecondType>().value(i),
            };
            let (ns, digits) = unit_digits(u);
            Value::String(format_time(v as i128 * ns, digits)?)
        }
        DataType::Time64(u) => {
            let v = match u {
                TimeUnit::Microsecond => array.as_primitive::<Time64MicrosecondType>().value(i),
                _ => array.as_primitive::<Time64NanosecondType>().value(i),
            };
            let (ns, digits) = unit_digits(u);
            Value::String(format_time(v as i128 * ns, digits)?)
        }
        DataType::Timestamp(u, _) => {
            let v = match u {
                TimeUnit::Second => array.as_primitive::<TimestampSecondType>().value(i),
                TimeUnit::Millisecond => array.as_primitive::<TimestampMillisecondType>().value(i),
                TimeUnit::Microsecond => array.as_primitive::<TimestampMicrosecondType>().value(i),
                TimeUnit::Nanosecond => array.as_primitive::<TimestampNanosecondType>().value(i),
            };
            if *u == TimeUnit::Nanosecond && v % 1000 != 0 {
                let t = chrono::DateTime::from_timestamp_nanos(v);
                Value::String(t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string())
            } else {
                Value::String(format_timestamp(micros(v as i128, u)?))
            }
        }
        DataType::Duration(u) => {
            let v = match u {
                TimeUnit::Second => array.as_primitive::<DurationSecondType>().value(i),
                TimeUnit::Millisecond => array.as_primitive::<DurationMillisecondType>().value(i),
                TimeUnit::Microsecond => array.as_primitive::<DurationMicrosecondType>().value(i),
                TimeUnit::Nanosecond => array.as_primitive::<DurationNanosecondType>().value(i),
            };
            Value::from(micros(v as i128, u)?)
        }
        DataType::Interval(u) => match u {
            IntervalUnit::MonthDayNano => {
                interval_json(array.as_primitive::<IntervalMonthDayNanoType>().value(i))
            }
            IntervalUnit::DayTime => {
                let v = array.as_primitive::<IntervalDayTimeType>().value(i);
                serde_json::json!({"months": 0, "days": v.days,
                    "nanoseconds": v.milliseconds as i64 * 1_000_000})
            }
            IntervalUnit::YearMonth => {
                let v = array.as_primitive::<IntervalYearMonthType>().value(i);
                serde_json::json!({"months": v, "days": 0, "nanoseconds": 0})
            }
        },
        DataType::List(f) => {
            let a = array.as_list::<i32>().value(i);
            list_json_cell(f, a.as_ref())?
        }
        DataType::LargeList(f) => {
            let a = array.as_list::<i64>().value(i);
            list_json_cell(f, a.as_ref())?
        }
        DataType::FixedSizeList(f, _) => {
            let a = array.as_fixed_size_list().value(i);
            list_json_cell(f, a.as_ref())?
        }
        DataType::Struct(fields) => {
            let s = array.as_struct();
            let mut obj = serde_json::Map::new();
            for (f, c) in fields.iter().zip(s.columns()) {
                obj.insert(f.name().clone(), json_cell(Some(f), c.as_ref(), i)?);
            }
            Value::Object(obj)
        }
        DataType::Map(entries, _) => {
            let m = array.as_map();
            let DataType::Struct(kv) = entries.data_type() else {
                return Err("map entries are not a struct".into());
            };
            let offsets = m.value_offsets();
            let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
            let mut out = Vec::with_capacity(end - start);
            for j in start..end {
                out.push(serde_json::json!({
                    "key": json_cell(Some(&kv[0]), m.keys().as_ref(), j)?,
                    "value": json_cell(Some(&kv[1]), m.values().as_ref(), j)?,
                }));
            }
            Value::Array(out)
        }
        other => return Err(format!("Arrow type {other} has no JSON form")),
    })
}

fn list_json_cell(item: &Field, values: &dyn Array) -> std::result::Result<Value, String> {
    (0..values.len())
        .map(|j| json_cell(Some(item), values, j))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map(Value::Array)
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
    columns: &[(String, Kind, bool)],
    sql_type: impl Fn(Kind) -> String,
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

/// Builds a batch typed exactly as `schema` says (every integer and float width, timestamp unit
/// and zone, large strings and lists, as written) from rows of JSON cells: read as the canonical
/// kinds ([`batch_from_json_rows`]), then cast exactly to each field's type, a value that does
/// not fit being an error naming its row. The destination's `Read`.
pub fn batch_as_sent(
    schema: &arrow_schema::SchemaRef,
    rows: &[Vec<serde_json::Value>],
) -> Result<RecordBatch> {
    let table = table_of(schema).unwrap_or_default();
    let canonical = batch_from_json_rows(&canonical_schema(schema)?, rows)?;
    let columns = canonical
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(a, f)| match a.data_type() == f.data_type() {
            true => Ok(a.clone()),
            false => exact_cast(&table, f.name(), a, f.data_type()),
        })
        .collect::<Result<Vec<_>>>()?;
    RecordBatch::try_new_with_options(
        schema.clone(),
        columns,
        &arrow_array::RecordBatchOptions::new().with_row_count(Some(rows.len())),
    )
    .map_err(|e| SinkError::Other(format!("reading {table}: {e}")))
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
