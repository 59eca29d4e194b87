//! The nested `spec` of each destination kind, checked when the config is loaded, with the line
//! and key of every mistake: a sink must never refuse its spec after another destination has
//! already created a file. The keys mirror `entrasync_sinks::destination::open`, which checks
//! them again when it opens the sink.

use super::DestinationKind;
use super::node::{De, LocError, Node, Value, ranged};
use serde::de::{self, IgnoredAny};
use serde::{Deserialize, Deserializer};

pub const MAX_BATCH_SIZE: u64 = 1_000_000;
pub const MAX_BATCH_SIZE_BYTES: u64 = 4 << 30;

pub(crate) fn batch_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    ranged(d, 1, MAX_BATCH_SIZE, "rows")
}

pub(crate) fn batch_size_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    ranged(d, 1, MAX_BATCH_SIZE_BYTES, "bytes")
}

pub(crate) fn non_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    if s.trim().is_empty() {
        return Err(de::Error::custom("must not be empty"));
    }
    Ok(s)
}

// The fields are checked here and read by the sink from the JSON spec.
#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SqliteSpec {
    #[serde(deserialize_with = "non_empty")]
    connection_string: String,
    #[serde(default, deserialize_with = "batch_size")]
    batch_size: Option<u64>,
    #[serde(default, deserialize_with = "batch_size_bytes")]
    batch_size_bytes: Option<u64>,
    #[serde(default)]
    batch_timeout: Option<IgnoredAny>,
    #[serde(default)]
    create_performance_indexes: Option<bool>,
}

#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PostgresSpec {
    #[serde(deserialize_with = "non_empty")]
    connection_string: String,
    #[serde(default, deserialize_with = "batch_size")]
    batch_size: Option<u64>,
    #[serde(default, deserialize_with = "batch_size_bytes")]
    batch_size_bytes: Option<u64>,
    #[serde(default)]
    batch_timeout: Option<IgnoredAny>,
    #[serde(default)]
    pgx_log_level: Option<String>,
    #[serde(default)]
    create_performance_indexes: Option<bool>,
}

#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Format {
    Parquet,
    Json,
    Csv,
}

#[derive(Deserialize, PartialEq)]
#[serde(rename_all = "lowercase")]
enum Compression {
    #[serde(rename = "")]
    Empty,
    None,
    Gzip,
}

#[allow(dead_code)]
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(deserialize_with = "non_empty")]
    path: String,
    format: Format,
    #[serde(default)]
    format_spec: Option<IgnoredAny>,
    #[serde(default)]
    compression: Option<Compression>,
    #[serde(default)]
    no_rotate: Option<bool>,
    #[serde(default, deserialize_with = "batch_size")]
    batch_size: Option<u64>,
    #[serde(default, deserialize_with = "batch_size_bytes")]
    batch_size_bytes: Option<u64>,
    #[serde(default)]
    batch_timeout: Option<IgnoredAny>,
}

/// Checks the nested `spec` of a destination of `kind`; `line` is the line of its `spec` key
/// (or of the destination, when the key is missing).
pub(crate) fn check(kind: DestinationKind, spec: &Node, line: u32) -> Result<(), LocError> {
    let empty = Node {
        line,
        value: Value::Map(Vec::new()),
    };
    let node = if spec.value == Value::Null {
        &empty
    } else {
        spec
    };
    let de = De::new(node, "spec", line);
    match kind {
        DestinationKind::Sqlite => {
            let spec = SqliteSpec::deserialize(de)?;
            check_sqlite_path(&spec.connection_string).map_err(|m| {
                LocError::new(
                    node.key_line("connection_string"),
                    "spec.connection_string",
                    m,
                )
            })
        }
        DestinationKind::Postgres => PostgresSpec::deserialize(de).map(|_| ()),
        DestinationKind::File => {
            let spec = FileSpec::deserialize(de)?;
            if spec.no_rotate == Some(true) && spec.path.contains("{{UUID}}") {
                // CloudQuery's file destination refuses this too.
                return Err(LocError::new(
                    node.key_line("path"),
                    "spec.path",
                    "must not contain {{UUID}} when spec.no_rotate is true (one file per table)",
                ));
            }
            if spec.format == Format::Parquet && spec.compression == Some(Compression::Gzip) {
                return Err(LocError::new(
                    node.key_line("compression"),
                    "spec.compression",
                    "compression applies to json and csv files only; parquet files are \
                     compressed internally",
                ));
            }
            Ok(())
        }
    }
}

/// The folder of a SQLite file must exist: opening the database would fail only after the
/// destinations before it have been created.
fn check_sqlite_path(conn: &str) -> Result<(), String> {
    if conn == ":memory:" || conn.starts_with("file:") {
        return Ok(());
    }
    let path = std::path::Path::new(conn);
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() && !dir.is_dir() => Err(format!(
            "the folder {} of the SQLite file does not exist; create it first",
            dir.display()
        )),
        _ => Ok(()),
    }
}
