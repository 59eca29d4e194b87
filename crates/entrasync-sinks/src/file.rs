//! File sink (`path: cloudquery/file`): one file per table and flush, in Parquet, JSON lines or
//! CSV.
//!
//! - `path` is a template: `{{TABLE}}` (table name), `{{TABLE_HYPHEN}}` (`_` → `-`), `{{UUID}}`
//!   (a new random UUID per file), `{{FORMAT}}` (`parquet`, `json` or `csv`, plus `.gz` when
//!   gzip-compressed), and `{{YEAR}} {{MONTH}} {{DAY}} {{HOUR}} {{MINUTE}}` (UTC, when the file is
//!   opened). Parent directories are created.
//! - A file is written under a temporary name (`<final name>.tmp`) and renamed to its final
//!   name when complete, i.e. at `flush` (which closes every open file: writes after a flush go
//!   to new files, so use `{{UUID}}` when a table is written across flushes) or when a table's
//!   schema changes. Temporary files of a sink dropped without `flush` are removed.
//! - Parquet keeps the Arrow schema, its `cq:` metadata and the extension types (uuid as
//!   fixed_size_binary(16), json as binary), snappy-compressed, one row group per 100k rows.
//! - JSON lines: one object per row; uuid as canonical text, timestamps RFC 3339 (µs, `Z`), lists
//!   as arrays, json columns embedded as JSON.
//! - CSV: a header row, then RFC 4180 quoting; lists and json columns as JSON text, null as an
//!   empty field.
//! - `compression: gzip` applies to JSON and CSV (Parquet compresses internally).
//! - Files are append-only: `delete_stale` deletes nothing (returns 0); `delete_rows` and the
//!   state table are not supported (CloudQuery's file destination supports only append).
//! - The blocking file I/O runs on tokio's blocking pool (`spawn_blocking`).

use crate::values::{self, Column};
use crate::{Result, Sink, SinkError};
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use chrono::{DateTime, Datelike, Timelike, Utc};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileFormat {
    #[default]
    Parquet,
    /// JSON lines.
    Json,
    Csv,
}

impl FileFormat {
    /// Parses CloudQuery's spelling (`parquet`, `json`, `csv`).
    pub fn parse(s: &str) -> Option<FileFormat> {
        match s {
            "parquet" => Some(FileFormat::Parquet),
            "json" => Some(FileFormat::Json),
            "csv" => Some(FileFormat::Csv),
            _ => None,
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Json => "json",
            FileFormat::Csv => "csv",
        }
    }
}

/// Compression of JSON and CSV files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FileCompression {
    #[default]
    None,
    Gzip,
}

impl FileCompression {
    /// Parses CloudQuery's spelling (`""`, `gzip`).
    pub fn parse(s: &str) -> Option<FileCompression> {
        match s {
            "" | "none" => Some(FileCompression::None),
            "gzip" => Some(FileCompression::Gzip),
            _ => None,
        }
    }
}

/// Options of the file sink (CloudQuery's file destination spec).
#[derive(Debug, Clone)]
pub struct FileOptions {
    /// Path template, e.g. `out/{{TABLE}}/{{UUID}}.{{FORMAT}}`.
    pub path: String,
    pub format: FileFormat,
    pub compression: FileCompression,
}

/// A sink writing each table to files.
pub struct FileSink {
    options: FileOptions,
    open: HashMap<String, OpenFile>,
}

enum Output {
    Plain(BufWriter<File>),
    Gzip(flate2::write::GzEncoder<BufWriter<File>>),
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Output::Plain(w) => w.write(buf),
            Output::Gzip(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::Plain(w) => w.flush(),
            Output::Gzip(w) => w.flush(),
        }
    }
}

impl Output {
    fn finish(self) -> std::io::Result<()> {
        let mut inner = match self {
            Output::Plain(w) => w,
            Output::Gzip(w) => w.finish()?,
        };
        inner.flush()?;
        inner.get_ref().sync_all()
    }
}

enum Writer {
    Parquet(Box<ArrowWriter<File>>),
    Lines(Output),
}

struct OpenFile {
    writer: Writer,
    schema: SchemaRef,
    tmp: PathBuf,
    path: PathBuf,
}

impl FileSink {
    /// A file sink; nothing is created until the first rows arrive.
    pub fn new(options: FileOptions) -> Result<Self> {
        if options.format == FileFormat::Parquet && options.compression != FileCompression::None {
            return Err(SinkError::Other(
                "compression applies to json and csv files only; parquet files are compressed internally".into(),
            ));
        }
        if options.path.is_empty() {
            return Err(SinkError::Other(
                "the file sink needs a path template".into(),
            ));
        }
        Ok(FileSink {
            options,
            open: HashMap::new(),
        })
    }

    /// Renders the path template for `table`.
    pub fn render_path(&self, table: &str, now: DateTime<Utc>) -> PathBuf {
        let mut format = self.options.format.extension().to_string();
        if self.options.compression == FileCompression::Gzip {
            format.push_str(".gz");
        }
        let p = self
            .options
            .path
            .replace("{{TABLE}}", table)
            .replace("{{TABLE_HYPHEN}}", &table.replace('_', "-"))
            .replace("{{UUID}}", &uuid::Uuid::new_v4().to_string())
            .replace("{{FORMAT}}", &format)
            .replace("{{YEAR}}", &format!("{:04}", now.year()))
            .replace("{{MONTH}}", &format!("{:02}", now.month()))
            .replace("{{DAY}}", &format!("{:02}", now.day()))
            .replace("{{HOUR}}", &format!("{:02}", now.hour()))
            .replace("{{MINUTE}}", &format!("{:02}", now.minute()));
        PathBuf::from(p)
    }

    fn open_file(&self, table: &str, schema: SchemaRef) -> Result<OpenFile> {
        let path = self.render_path(table, Utc::now());
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(SinkError::io(format!(
                "creating directory {}",
                dir.display()
            )))?;
        }
        let file =
            File::create(&tmp).map_err(SinkError::io(format!("creating {}", tmp.display())))?;
        let mut writer = match self.options.format {
            FileFormat::Parquet => {
                let props = WriterProperties::builder()
                    .set_compression(Compression::SNAPPY)
                    .set_max_row_group_row_count(Some(100_000))
                    .build();
                let w = ArrowWriter::try_new(file, schema.clone(), Some(props)).map_err(|e| {
                    SinkError::Other(format!("opening parquet file {}: {e}", tmp.display()))
                })?;
                Writer::Parquet(Box::new(w))
            }
            FileFormat::Json | FileFormat::Csv => {
                let buffered = BufWriter::with_capacity(1 << 20, file);
                let out = match self.options.compression {
                    FileCompression::None => Output::Plain(buffered),
                    FileCompression::Gzip => Output::Gzip(flate2::write::GzEncoder::new(
                        buffered,
                        flate2::Compression::fast(),
                    )),
                };
                Writer::Lines(out)
            }
        };
        if self.options.format == FileFormat::Csv {
            let header: Vec<String> = schema
                .fields()
                .iter()
                .map(|f| csv_field(f.name()))
                .collect();
            if let Writer::Lines(out) = &mut writer {
                writeln!(out, "{}", header.join(","))
                    .map_err(SinkError::io(format!("writing {}", tmp.display())))?;
            }
        }
        Ok(OpenFile {
            writer,
            schema,
            tmp,
            path,
        })
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

impl OpenFile {
    fn write(&mut self, table: &str, batch: &RecordBatch, format: FileFormat) -> Result<()> {
        let ctx = || format!("writing {}", self.tmp.display());
        match &mut self.writer {
            Writer::Parquet(w) => w
                .write(batch)
                .map_err(|e| SinkError::Other(format!("{}: {e}", ctx()))),
            Writer::Lines(out) => {
                let arrays = values::normalize(table, batch)?;
                let columns: Vec<Column<'_>> =
                    arrays.iter().map(|(k, a)| Column::new(*k, a)).collect();
                let schema = batch.schema();
                let names: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
                let mut line = String::new();
                for row in 0..batch.num_rows() {
                    line.clear();
                    if format == FileFormat::Json {
                        let mut obj = serde_json::Map::with_capacity(columns.len());
                        for (name, col) in names.iter().zip(&columns) {
                            obj.insert((*name).clone(), col.json_value(row));
                        }
                        line.push_str(&serde_json::Value::Object(obj).to_string());
                    } else {
                        for (j, col) in columns.iter().enumerate() {
                            if j > 0 {
                                line.push(',');
                            }
                            if let Some(t) = col.text(row) {
                                line.push_str(&csv_field(&t));
                            }
                        }
                    }
                    line.push('\n');
                    out.write_all(line.as_bytes())
                        .map_err(SinkError::io(ctx()))?;
                }
                Ok(())
            }
        }
    }

    fn finish(self) -> Result<PathBuf> {
        let ctx = format!("finishing {}", self.tmp.display());
        match self.writer {
            Writer::Parquet(w) => {
                let file = w
                    .into_inner()
                    .map_err(|e| SinkError::Other(format!("{ctx}: {e}")))?;
                file.sync_all().map_err(SinkError::io(ctx.clone()))?;
            }
            Writer::Lines(out) => out.finish().map_err(SinkError::io(ctx.clone()))?,
        }
        std::fs::rename(&self.tmp, &self.path).map_err(SinkError::io(format!(
            "renaming {} to {}",
            self.tmp.display(),
            self.path.display()
        )))?;
        Ok(self.path)
    }
}

impl Drop for FileSink {
    fn drop(&mut self) {
        for (_, f) in self.open.drain() {
            let _ = std::fs::remove_file(&f.tmp);
        }
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| SinkError::Other(format!("file writer failed: {e}")))?
}

impl FileSink {
    /// Closes every open file and renames it to its final name; returns the final paths.
    pub async fn close_all(&mut self) -> Result<Vec<PathBuf>> {
        let open: Vec<OpenFile> = self.open.drain().map(|(_, f)| f).collect();
        blocking(move || open.into_iter().map(OpenFile::finish).collect()).await
    }
}

#[async_trait::async_trait]
impl Sink for FileSink {
    async fn migrate(&mut self, schema: SchemaRef) -> Result<()> {
        let table = values::table_of(&schema)?;
        for f in schema.fields() {
            values::column_kind(&table, f)?;
        }
        Ok(())
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let schema = batch.schema();
        let table = values::table_of(&schema)?;
        let mut current = self.open.remove(&table);
        let mut finished = None;
        if current
            .as_ref()
            .is_some_and(|f| f.schema.fields() != schema.fields())
        {
            finished = current.take();
        }
        let mut file = match current {
            Some(f) => f,
            None => self.open_file(&table, schema.clone())?,
        };
        let format = self.options.format;
        let (file, result) = tokio::task::spawn_blocking(move || {
            if let Some(Err(e)) = finished.map(OpenFile::finish) {
                return (file, Err(e));
            }
            let r = file.write(&table, &batch, format);
            (file, r)
        })
        .await
        .map_err(|e| SinkError::Other(format!("file writer failed: {e}")))?;
        let table = values::table_of(&schema)?;
        self.open.insert(table, file);
        result
    }

    async fn delete_stale(
        &mut self,
        _table: &str,
        _source_name: &str,
        _sync_time: DateTime<Utc>,
    ) -> Result<u64> {
        Ok(0)
    }

    async fn flush(&mut self) -> Result<()> {
        self.close_all().await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\"\n"), "\"say \"\"hi\"\"\n\"");
    }

    #[test]
    fn templates() {
        let sink = FileSink::new(FileOptions {
            path: "out/{{TABLE}}/{{TABLE_HYPHEN}}-{{YEAR}}{{MONTH}}{{DAY}}.{{FORMAT}}".into(),
            format: FileFormat::Json,
            compression: FileCompression::Gzip,
        })
        .unwrap();
        let now = DateTime::parse_from_rfc3339("2024-03-05T06:07:08Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            sink.render_path("entraid_users", now),
            PathBuf::from("out/entraid_users/entraid-users-20240305.json.gz")
        );
        assert!(
            FileSink::new(FileOptions {
                path: "x".into(),
                format: FileFormat::Parquet,
                compression: FileCompression::Gzip
            })
            .is_err()
        );
    }
}
