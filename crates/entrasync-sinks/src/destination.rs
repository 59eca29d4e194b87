//! Opening a sink from a CloudQuery destination spec: the destination's `path` picks the sink
//! and its nested `spec` (as JSON) configures it.
//!
//! | `path`                  | nested `spec` keys                                                        |
//! |-------------------------|---------------------------------------------------------------------------|
//! | `cloudquery/sqlite`     | `connection_string` (file path, required), `create_performance_indexes`; accepted and ignored: `batch_size`, `batch_size_bytes`, `batch_timeout` |
//! | `cloudquery/postgresql` | `connection_string` (required), `batch_size`, `batch_size_bytes`, `create_performance_indexes`; accepted and ignored: `batch_timeout`, `pgx_log_level` |
//!
//! `create_performance_indexes` (a boolean, default false) indexes `(_cq_source_name,
//! _cq_sync_time)` for `overwrite-delete-stale`, as CloudQuery's PostgreSQL destination does.
//! | `cloudquery/file`       | `path` (required), `format` (`parquet`, `json`, `csv`; required), `compression` (`""`, `gzip`), `no_rotate` (a boolean; `true` refuses a path with `{{UUID}}`, as CloudQuery does; one file per table and sync is the behaviour either way); accepted and ignored: `format_spec`, `batch_size`, `batch_size_bytes`, `batch_timeout` |
//!
//! Any other key is an error naming it.

use crate::WriteMode;
use crate::file::{FileCompression, FileFormat, FileOptions, FileSink};
use crate::postgres::{PostgresOptions, PostgresSink};
use crate::sqlite::SqliteSink;
use crate::{MigrateMode, Result, Sink, SinkError};
use serde_json::Value;
use std::path::Path;

/// The destination `path`s this crate implements.
pub const SUPPORTED_PATHS: [&str; 3] = [
    "cloudquery/sqlite",
    "cloudquery/postgresql",
    "cloudquery/file",
];

fn err(path: &str, message: String) -> SinkError {
    SinkError::Other(format!("destination {path}: {message}"))
}

fn check_keys(path: &str, spec: &serde_json::Map<String, Value>, known: &[&str]) -> Result<()> {
    for key in spec.keys() {
        if !known.contains(&key.as_str()) {
            return Err(err(
                path,
                format!("unknown spec key {key:?} (known: {})", known.join(", ")),
            ));
        }
    }
    Ok(())
}

fn string<'a>(
    path: &str,
    spec: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Result<Option<&'a str>> {
    match spec.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(err(
            path,
            format!("spec.{key} must be a string, not {other}"),
        )),
    }
}

fn required<'a>(
    path: &str,
    spec: &'a serde_json::Map<String, Value>,
    key: &str,
) -> Result<&'a str> {
    string(path, spec, key)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| err(path, format!("spec.{key} is required")))
}

fn count(path: &str, spec: &serde_json::Map<String, Value>, key: &str) -> Result<Option<usize>> {
    match spec.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|n| *n > 0)
            .map(|n| Some(n as usize))
            .ok_or_else(|| {
                err(
                    path,
                    format!("spec.{key} must be a positive integer, not {v}"),
                )
            }),
    }
}

fn flag(path: &str, spec: &serde_json::Map<String, Value>, key: &str) -> Result<bool> {
    match spec.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(err(
            path,
            format!("spec.{key} must be true or false, not {other}"),
        )),
    }
}

/// Opens the sink of destination `path` configured by its nested `spec` (null or an object).
pub async fn open(
    path: &str,
    spec: &Value,
    write_mode: WriteMode,
    migrate_mode: MigrateMode,
) -> Result<Box<dyn Sink>> {
    let empty = serde_json::Map::new();
    let spec = match spec {
        Value::Null => &empty,
        Value::Object(m) => m,
        other => return Err(err(path, format!("spec must be a mapping, not {other}"))),
    };
    match path {
        "cloudquery/sqlite" => {
            check_keys(
                path,
                spec,
                &[
                    "connection_string",
                    "batch_size",
                    "batch_size_bytes",
                    "batch_timeout",
                    "create_performance_indexes",
                ],
            )?;
            let file = required(path, spec, "connection_string")?;
            let sink = SqliteSink::open(Path::new(file), write_mode)?
                .with_migrate_mode(migrate_mode)
                .with_performance_indexes(flag(path, spec, "create_performance_indexes")?);
            Ok(Box::new(sink))
        }
        "cloudquery/postgresql" => {
            check_keys(
                path,
                spec,
                &[
                    "connection_string",
                    "batch_size",
                    "batch_size_bytes",
                    "batch_timeout",
                    "pgx_log_level",
                    "create_performance_indexes",
                ],
            )?;
            let conn = required(path, spec, "connection_string")?;
            let mut options = PostgresOptions {
                write_mode,
                migrate_mode,
                performance_indexes: flag(path, spec, "create_performance_indexes")?,
                ..PostgresOptions::default()
            };
            if let Some(n) = count(path, spec, "batch_size")? {
                options.batch_size = n;
            }
            if let Some(n) = count(path, spec, "batch_size_bytes")? {
                options.batch_size_bytes = n;
            }
            Ok(Box::new(PostgresSink::connect(conn, options).await?))
        }
        "cloudquery/file" => {
            check_keys(
                path,
                spec,
                &[
                    "path",
                    "format",
                    "format_spec",
                    "compression",
                    "no_rotate",
                    "batch_size",
                    "batch_size_bytes",
                    "batch_timeout",
                ],
            )?;
            let template = required(path, spec, "path")?;
            let no_rotate = match spec.get("no_rotate") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(other) => {
                    return Err(err(
                        path,
                        format!("spec.no_rotate must be true or false, not {other}"),
                    ));
                }
            };
            if no_rotate && template.contains("{{UUID}}") {
                // CloudQuery's file destination refuses this too.
                return Err(err(
                    path,
                    "spec.path must not contain {{UUID}} when spec.no_rotate is true (one file \
                     per table)"
                        .into(),
                ));
            }
            let format = required(path, spec, "format")?;
            let format = FileFormat::parse(format).ok_or_else(|| {
                err(
                    path,
                    format!("spec.format {format:?} is not one of parquet, json, csv"),
                )
            })?;
            let compression = string(path, spec, "compression")?.unwrap_or("");
            let compression = FileCompression::parse(compression).ok_or_else(|| {
                err(
                    path,
                    format!("spec.compression {compression:?} is not \"\" or gzip"),
                )
            })?;
            let options = FileOptions {
                path: template.to_string(),
                format,
                compression,
            };
            Ok(Box::new(FileSink::new(options)?))
        }
        other => Err(err(
            other,
            format!("not supported (supported: {})", SUPPORTED_PATHS.join(", ")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn specs_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("x.db");
        let ok = open(
            "cloudquery/sqlite",
            &json!({"connection_string": db.to_str().unwrap()}),
            WriteMode::default(),
            MigrateMode::default(),
        )
        .await;
        assert!(ok.is_ok());
        let e = |r: Result<Box<dyn Sink>>| r.err().unwrap().to_string();
        let msg = e(open(
            "cloudquery/sqlite",
            &json!({"conection_string": "x"}),
            WriteMode::default(),
            MigrateMode::default(),
        )
        .await);
        assert!(
            msg.contains("unknown spec key \"conection_string\""),
            "{msg}"
        );
        let msg = e(open(
            "cloudquery/sqlite",
            &json!({}),
            WriteMode::default(),
            MigrateMode::default(),
        )
        .await);
        assert!(msg.contains("spec.connection_string is required"), "{msg}");
        // create_performance_indexes reaches the sink: the table gets the delete-stale index.
        let mut sink = open(
            "cloudquery/sqlite",
            &json!({"connection_string": db.to_str().unwrap(), "create_performance_indexes": true}),
            WriteMode::default(),
            MigrateMode::default(),
        )
        .await
        .unwrap();
        let schema = crate::cq::with_sync_columns(&crate::cq::state_schema("perf"));
        sink.migrate(std::sync::Arc::new(schema)).await.unwrap();
        let index: String = rusqlite::Connection::open(&db)
            .unwrap()
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'perf_cqpi'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(
            index.contains("(\"_cq_source_name\", \"_cq_sync_time\")"),
            "{index}"
        );
        let msg = e(open(
            "cloudquery/postgresql",
            &json!({"connection_string": "x", "create_performance_indexes": "yes"}),
            WriteMode::default(),
            MigrateMode::default(),
        )
        .await);
        assert!(
            msg.contains("spec.create_performance_indexes must be true or false"),
            "{msg}"
        );
        let msg = e(open(
            "cloudquery/file",
            &json!({"path": "x", "format": "xml"}),
            WriteMode::default(),
            MigrateMode::default(),
        )
        .await);
        assert!(msg.contains("\"xml\""), "{msg}");
        let msg = e(open(
            "cloudquery/postgresql",
            &json!({"connection_string": "x", "batch_size": -1}),
            WriteMode::default(),
            MigrateMode::default(),
        )
        .await);
        assert!(
            msg.contains("batch_size must be a positive integer"),
            "{msg}"
        );
        let msg = e(open(
            "cloudquery/bigquery",
            &Value::Null,
            WriteMode::default(),
            MigrateMode::default(),
        )
        .await);
        assert!(msg.contains("not supported"), "{msg}");
        assert!(
            open("cloudquery/file", &json!({"path": dir.path().join("{{TABLE}}.{{FORMAT}}").to_str().unwrap(), "format": "json", "compression": "gzip", "no_rotate": true}), WriteMode::Append, MigrateMode::default())
                .await
                .is_ok()
        );
        let msg = e(open(
            "cloudquery/file",
            &json!({"path": "out/{{TABLE}}/{{UUID}}.json", "format": "json", "no_rotate": true}),
            WriteMode::default(),
            MigrateMode::default(),
        )
        .await);
        assert!(msg.contains("must not contain {{UUID}}"), "{msg}");
        let msg = e(open(
            "cloudquery/file",
            &json!({"path": "out/{{TABLE}}.json", "format": "json", "no_rotate": "yes"}),
            WriteMode::default(),
            MigrateMode::default(),
        )
        .await);
        assert!(msg.contains("no_rotate must be true or false"), "{msg}");
    }
}
