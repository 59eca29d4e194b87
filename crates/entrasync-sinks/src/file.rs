//! File sink (`path: cloudquery/file`): one file per table and sync, in Parquet, JSON lines or
//! CSV.
//!
//! - `path` is a template: `{{TABLE}}` (table name), `{{TABLE_HYPHEN}}` (`_` → `-`), `{{UUID}}`
//!   (a new random UUID per file), `{{FORMAT}}` (`parquet`, `json` or `csv`, plus `.gz` when
//!   gzip-compressed), and `{{YEAR}} {{MONTH}} {{DAY}} {{HOUR}} {{MINUTE}}` (UTC, when the file is
//!   opened). Parent directories are created. A path without `{{TABLE}}` (or `{{TABLE_HYPHEN}}`)
//!   names a directory: `<path>/{{TABLE}}.{{FORMAT}}`, as CloudQuery's file destination does.
//! - A table's file is opened at its first row and closed by [`Sink::table_done`] or `flush`;
//!   every row of the table in between goes to that one file, and memory stays bounded (a 1 MiB
//!   write buffer per open file; Parquet encodes row groups of at most 100,000 rows or about
//!   32 MiB). While open, a file is written under a temporary name (`<final name>.tmp`) and
//!   renamed to its final name when closed (after an fsync), so a reader never sees half a file;
//!   the temporary files of a sink dropped without closing them are removed.
//! - Appending: with `{{UUID}}` in the path every file is new. Without it, a file that already
//!   exists — from an earlier sync, or from earlier in this sync when the table is written again
//!   after a `flush` — is appended to, as CloudQuery's file destination does with `no_rotate`:
//!   JSON lines gain lines; CSV gains rows (the header is not repeated, and a file whose header
//!   names other columns is an error rather than a mixed file); a gzip file gains a gzip member
//!   (`gzip -d`, `zcat` and every gzip library read all members); a Parquet file gains row groups
//!   (its row groups are copied, still encoded, ahead of the new ones; a file with other columns
//!   is an error). The existing file is copied into the temporary file first, so an append costs
//!   the file's size in disk I/O, never in memory, and the old file stays whole until the new
//!   one replaces it.
//! - Parquet keeps the Arrow schema, its `cq:` metadata and the extension types (uuid as
//!   fixed_size_binary(16), json as binary), snappy-compressed.
//! - JSON lines: one object per row; uuid as canonical text, timestamps RFC 3339 (µs, `Z`), lists
//!   as arrays, json columns embedded as JSON.
//! - CSV: a header row, then RFC 4180 quoting; lists and json columns as JSON text, null as an
//!   empty field.
//! - `compression: gzip` applies to JSON and CSV (Parquet compresses internally).
//! - Files are append-only: `delete_stale` deletes nothing (returns 0). `delete_rows` (Graph's
//!   `@removed` in an incremental sync, CloudQuery's `DeleteRecord`) deletes nothing either: it
//!   appends one row per deleted key to the table's deletions file, the file of the table
//!   `<table>_deletions` (e.g. `out/entraid_users_deletions.json` for `out/{{TABLE}}.json`),
//!   with the columns `_cq_deleted_at` (when the deletion was written, timestamp µs UTC) and the
//!   table's primary-key columns (`tenant_id`, `id`, …; any other key column after them). A
//!   deletion row deletes the rows whose columns equal its non-null key values: a null key
//!   column matches every value (e.g. `entraid_group_members` with `group_id` null and `id` set:
//!   every membership of that removed object). Child rows of a deleted row (`_cq_parent_id`
//!   equal to its `_cq_id`) are deleted too, but are not listed. The state table is not
//!   supported (CloudQuery's file destination has none either).
//! - [`read_rows`] reads any file this sink wrote back, as JSON objects.
//! - The blocking file I/O runs on tokio's blocking pool (`spawn_blocking`).

use crate::cq::{self, ColumnKind};
use crate::values::{self, Column};
use crate::{Result, Sink, SinkError, TableRelation};
use arrow_array::{ArrayRef, RecordBatch, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, FieldRef, IntervalUnit, Schema, SchemaRef};
use chrono::{DateTime, Datelike, Timelike, Utc};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnWriter, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::basic::Compression;
use parquet::column::writer::ColumnCloseResult;
use parquet::file::metadata::{PageIndexPolicy, ParquetMetaDataReader};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The suffix that names a table's deletions: the rows deleted from `entraid_users` are listed in
/// the file of the table `entraid_users_deletions`.
pub const DELETIONS_SUFFIX: &str = "_deletions";

/// The column of a deletions file that says when the deletion was written.
pub const DELETED_AT: &str = "_cq_deleted_at";

/// Rows per Parquet row group, at most.
const ROW_GROUP_ROWS: usize = 100_000;
/// Buffered bytes of a Parquet row group (the encoder's estimate) that close it early.
const ROW_GROUP_BYTES: usize = 32 << 20;
/// Buffered bytes of the row groups of every open Parquet file together: over it, the largest
/// group is written out (56 tables each filling its own group held ~375 MB on `large`; 48 MiB
/// for all held 140 MB, 16 MiB 116 MB, in the same time).
const PARQUET_BUFFER_BYTES: usize = 16 << 20;

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
    /// Open files by table name (a deletions file under `<table>_deletions`).
    open: HashMap<String, OpenFile>,
    /// The primary-key columns of each migrated table: the columns of its deletions file.
    primary_keys: HashMap<String, Vec<FieldRef>>,
    /// `PARQUET_BUFFER_BYTES` (smaller in tests).
    parquet_budget: usize,
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
    fn new(file: File, compression: FileCompression) -> Output {
        let buffered = BufWriter::with_capacity(1 << 20, file);
        match compression {
            FileCompression::None => Output::Plain(buffered),
            FileCompression::Gzip => Output::Gzip(flate2::write::GzEncoder::new(
                buffered,
                flate2::Compression::fast(),
            )),
        }
    }

    fn finish(self) -> std::io::Result<()> {
        let mut inner = match self {
            Output::Plain(w) => w,
            Output::Gzip(w) => w.finish()?,
        };
        inner.flush()?;
        inner.get_ref().sync_all()
    }
}

/// A Parquet file written row group by row group: the row groups of the file it appends to are
/// copied first (still encoded), then the new rows are encoded into row groups of at most
/// [`ROW_GROUP_ROWS`] rows.
struct ParquetFile {
    writer: SerializedFileWriter<File>,
    factory: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    /// The column writers of the row group being filled, and its rows.
    group: Option<(Vec<ArrowColumnWriter>, usize)>,
    groups: usize,
}

fn parquet_err(what: &Path) -> impl Fn(parquet::errors::ParquetError) -> SinkError + '_ {
    move |e| SinkError::Other(format!("writing {}: {e}", what.display()))
}

impl ParquetFile {
    fn create(tmp: &Path, schema: SchemaRef, append_to: Option<&Path>) -> Result<ParquetFile> {
        let file =
            File::create(tmp).map_err(SinkError::io(format!("creating {}", tmp.display())))?;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        // ArrowWriter derives the Parquet schema and embeds the Arrow one; the lower-level
        // writer it hands over can splice in encoded row groups.
        let (mut writer, factory) = ArrowWriter::try_new(file, schema.clone(), Some(props))
            .and_then(ArrowWriter::into_serialized_writer)
            .map_err(parquet_err(tmp))?;
        let mut groups = 0;
        if let Some(old) = append_to {
            groups = copy_row_groups(old, &mut writer)?;
        }
        Ok(ParquetFile {
            writer,
            factory,
            schema,
            group: None,
            groups,
        })
    }

    fn write(&mut self, batch: &RecordBatch, tmp: &Path) -> Result<()> {
        let err = parquet_err(tmp);
        let mut offset = 0;
        while offset < batch.num_rows() {
            let (writers, rows) = match &mut self.group {
                Some(group) => group,
                None => self.group.insert((
                    self.factory
                        .create_column_writers(self.groups)
                        .map_err(&err)?,
                    0,
                )),
            };
            let take = (batch.num_rows() - offset).min(ROW_GROUP_ROWS - *rows);
            let slice = batch.slice(offset, take);
            let mut leaves = writers.iter_mut();
            for (field, column) in self.schema.fields().iter().zip(slice.columns()) {
                for leaf in compute_leaves(field, column).map_err(&err)? {
                    let writer = leaves.next().ok_or_else(|| {
                        SinkError::Other(format!(
                            "writing {}: the batch has more columns than the file",
                            tmp.display()
                        ))
                    })?;
                    writer.write(&leaf).map_err(&err)?;
                }
            }
            *rows += take;
            offset += take;
            let buffered: usize = writers.iter().map(|w| w.memory_size()).sum();
            if *rows >= ROW_GROUP_ROWS || buffered >= ROW_GROUP_BYTES {
                self.close_group(tmp)?;
            }
        }
        Ok(())
    }

    /// Bytes the row group being filled holds (the encoder's estimate).
    fn buffered(&self) -> usize {
        self.group.as_ref().map_or(0, |(writers, _)| {
            writers.iter().map(|w| w.memory_size()).sum()
        })
    }

    fn close_group(&mut self, tmp: &Path) -> Result<()> {
        let err = parquet_err(tmp);
        let Some((writers, _)) = self.group.take() else {
            return Ok(());
        };
        let mut group = self.writer.next_row_group().map_err(&err)?;
        for writer in writers {
            writer
                .close()
                .and_then(|chunk| chunk.append_to_row_group(&mut group))
                .map_err(&err)?;
        }
        group.close().map_err(&err)?;
        self.groups += 1;
        Ok(())
    }

    fn finish(mut self, tmp: &Path) -> Result<()> {
        self.close_group(tmp)?;
        let file = self.writer.into_inner().map_err(parquet_err(tmp))?;
        file.sync_all()
            .map_err(SinkError::io(format!("finishing {}", tmp.display())))
    }
}

/// Copies every row group of the Parquet file `path` into `writer`, still encoded; returns how
/// many. The file must have the writer's Parquet schema.
fn copy_row_groups(path: &Path, writer: &mut SerializedFileWriter<File>) -> Result<usize> {
    let input = File::open(path).map_err(SinkError::io(format!("opening {}", path.display())))?;
    let metadata = ParquetMetaDataReader::new()
        .with_page_index_policy(PageIndexPolicy::Optional)
        .parse_and_finish(&input)
        .map_err(|e| {
            SinkError::Other(format!(
                "cannot append to {}: it is not a readable Parquet file ({e}); move it away, or \
                 put {{{{UUID}}}} in the path to write new files",
                path.display()
            ))
        })?;
    if metadata.file_metadata().schema_descr().root_schema() != writer.schema_descr().root_schema()
    {
        return Err(SinkError::Other(format!(
            "cannot append to {}: its columns differ from the table's (written by another \
             version?); move it away, or put {{{{UUID}}}} in the path to write new files",
            path.display()
        )));
    }
    let err = |e: parquet::errors::ParquetError| {
        SinkError::Other(format!("copying the rows of {}: {e}", path.display()))
    };
    let page_index = metadata.page_index();
    for (group_index, group) in metadata.row_groups().iter().enumerate() {
        let mut out = writer.next_row_group().map_err(err)?;
        for (column_index, column) in group.columns().iter().enumerate() {
            let result = ColumnCloseResult {
                bytes_written: column.compressed_size() as u64,
                rows_written: group.num_rows() as u64,
                metadata: column.clone(),
                bloom_filter: None,
                column_index: page_index
                    .and_then(|pi| pi.column_index(group_index, column_index))
                    .cloned(),
                offset_index: page_index
                    .and_then(|pi| pi.offset_index(group_index, column_index))
                    .cloned(),
            };
            out.append_column(&input, result).map_err(err)?;
        }
        out.close().map_err(err)?;
    }
    Ok(metadata.num_row_groups())
}

enum Writer {
    Parquet(Box<ParquetFile>),
    Lines(Output),
}

struct OpenFile {
    writer: Writer,
    schema: SchemaRef,
    tmp: PathBuf,
    path: PathBuf,
}

/// The Arrow type parquet stores for `dt`, where parquet has no faithful form that every reader
/// understands: a month-day-nanosecond interval is written as the struct `{months: int32, days:
/// int32, nanoseconds: int64}`, a date64 as date32 (parquet's DATE; a date64 that is not
/// midnight is an error), a timestamp in seconds in milliseconds (parquet has no seconds unit;
/// other readers would see a bare int64). The same holds inside lists, structs and maps, at any
/// depth. `None`: stored as sent.
fn parquet_type(dt: &DataType) -> Option<DataType> {
    let field = |f: &FieldRef| -> Option<FieldRef> {
        parquet_type(f.data_type()).map(|dt| Arc::new(f.as_ref().clone().with_data_type(dt)))
    };
    match dt {
        DataType::Interval(IntervalUnit::MonthDayNano) => Some(DataType::Struct(
            vec![
                Field::new("months", DataType::Int32, false),
                Field::new("days", DataType::Int32, false),
                Field::new("nanoseconds", DataType::Int64, false),
            ]
            .into(),
        )),
        DataType::Date64 => Some(DataType::Date32),
        DataType::Timestamp(arrow_schema::TimeUnit::Second, tz) => Some(DataType::Timestamp(
            arrow_schema::TimeUnit::Millisecond,
            tz.clone(),
        )),
        DataType::List(f) => field(f).map(DataType::List),
        DataType::LargeList(f) => field(f).map(DataType::LargeList),
        DataType::FixedSizeList(f, n) => field(f).map(|f| DataType::FixedSizeList(f, *n)),
        DataType::Map(f, sorted) => field(f).map(|f| DataType::Map(f, *sorted)),
        DataType::Struct(fields) if fields.iter().any(|f| field(f).is_some()) => {
            Some(DataType::Struct(
                fields
                    .iter()
                    .map(|f| field(f).unwrap_or_else(|| f.clone()))
                    .collect(),
            ))
        }
        _ => None,
    }
}

fn parquet_schema(schema: &SchemaRef) -> SchemaRef {
    if !schema
        .fields()
        .iter()
        .any(|f| parquet_type(f.data_type()).is_some())
    {
        return schema.clone();
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match parquet_type(f.data_type()) {
            Some(dt) => f.as_ref().clone().with_data_type(dt),
            None => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

fn parquet_batch(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = parquet_schema(&batch.schema());
    if Arc::ptr_eq(&schema, &batch.schema()) {
        return Ok(batch.clone());
    }
    let table = values::table_of(&schema).unwrap_or_default();
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(a, f)| to_parquet(&table, f.name(), a, f.data_type()))
        .collect::<std::result::Result<Vec<_>, arrow_schema::ArrowError>>()
        .map_err(|e| SinkError::Other(format!("converting for parquet: {e}")))?;
    RecordBatch::try_new(schema, columns)
        .map_err(|e| SinkError::Other(format!("converting for parquet: {e}")))
}

/// `a` converted to `to`, its [`parquet_type`], rebuilding lists, structs and maps around
/// converted children (offsets and null masks kept).
fn to_parquet(
    table: &str,
    column: &str,
    a: &arrow_array::ArrayRef,
    to: &DataType,
) -> std::result::Result<arrow_array::ArrayRef, arrow_schema::ArrowError> {
    use arrow_array::cast::AsArray;
    use arrow_array::types::IntervalMonthDayNanoType;
    use arrow_array::{
        Array, FixedSizeListArray, Int32Array, Int64Array, LargeListArray, ListArray, MapArray,
        StructArray,
    };
    if a.data_type() == to {
        return Ok(a.clone());
    }
    let child = |values: &arrow_array::ArrayRef, f: &FieldRef| {
        to_parquet(table, column, values, f.data_type())
    };
    Ok(match (a.data_type(), to) {
        (DataType::Interval(IntervalUnit::MonthDayNano), DataType::Struct(fields)) => {
            let v = a.as_primitive::<IntervalMonthDayNanoType>();
            let months = Int32Array::from_iter_values(v.values().iter().map(|x| x.months));
            let days = Int32Array::from_iter_values(v.values().iter().map(|x| x.days));
            let nanos = Int64Array::from_iter_values(v.values().iter().map(|x| x.nanoseconds));
            Arc::new(StructArray::try_new(
                fields.clone(),
                vec![Arc::new(months), Arc::new(days), Arc::new(nanos)],
                v.nulls().cloned(),
            )?)
        }
        (DataType::List(_), DataType::List(f)) => {
            let l = a.as_list::<i32>();
            Arc::new(ListArray::try_new(
                f.clone(),
                l.offsets().clone(),
                child(l.values(), f)?,
                l.nulls().cloned(),
            )?)
        }
        (DataType::LargeList(_), DataType::LargeList(f)) => {
            let l = a.as_list::<i64>();
            Arc::new(LargeListArray::try_new(
                f.clone(),
                l.offsets().clone(),
                child(l.values(), f)?,
                l.nulls().cloned(),
            )?)
        }
        (DataType::FixedSizeList(_, _), DataType::FixedSizeList(f, n)) => {
            let l = a.as_fixed_size_list();
            Arc::new(FixedSizeListArray::try_new(
                f.clone(),
                *n,
                child(l.values(), f)?,
                l.nulls().cloned(),
            )?)
        }
        (DataType::Struct(_), DataType::Struct(fields)) => {
            let s = a.as_struct();
            let columns = s
                .columns()
                .iter()
                .zip(fields)
                .map(|(c, f)| child(c, f))
                .collect::<std::result::Result<_, _>>()?;
            Arc::new(StructArray::try_new(
                fields.clone(),
                columns,
                s.nulls().cloned(),
            )?)
        }
        (DataType::Map(_, _), DataType::Map(f, sorted)) => {
            let m = a.as_map();
            let entries: arrow_array::ArrayRef = Arc::new(m.entries().clone());
            let entries = child(&entries, f)?;
            Arc::new(MapArray::try_new(
                f.clone(),
                m.offsets().clone(),
                entries.as_struct().clone(),
                m.nulls().cloned(),
                *sorted,
            )?)
        }
        // date64 → date32, timestamp[s] → timestamp[ms]: exact or an error naming the row.
        _ => values::exact_cast(table, column, a, to)
            .map_err(|e| arrow_schema::ArrowError::ComputeError(e.to_string()))?,
    })
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_header(schema: &Schema) -> String {
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| csv_field(f.name()))
        .collect();
    names.join(",")
}

/// The first line of a (possibly gzip-compressed) text file, without its line break.
fn first_line(path: &Path, gzip: bool) -> std::io::Result<String> {
    let file = File::open(path)?;
    let reader: Box<dyn Read> = if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut line = String::new();
    BufReader::new(reader).read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// Whether a file is missing or empty (nothing to append to). A directory is an error.
fn existing_len(path: &Path) -> Result<u64> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(SinkError::Other(format!(
            "{} is a directory, not a file the sink can write",
            path.display()
        ))),
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(SinkError::Io {
            context: format!("reading {}", path.display()),
            source: e,
        }),
    }
}

impl OpenFile {
    /// Opens the file of a table at `path` (its temporary file, that is), appending to what
    /// `path` already holds.
    fn open(path: PathBuf, schema: SchemaRef, options: &FileOptions) -> Result<OpenFile> {
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(SinkError::io(format!(
                "creating directory {}",
                dir.display()
            )))?;
        }
        let append = existing_len(&path)? > 0;
        let writer = Self::create(&path, &tmp, &schema, options, append).inspect_err(|_| {
            let _ = std::fs::remove_file(&tmp);
        })?;
        Ok(OpenFile {
            writer,
            schema,
            tmp,
            path,
        })
    }

    /// The writer of a new temporary file `tmp`, holding a copy of `path` when appending.
    fn create(
        path: &Path,
        tmp: &Path,
        schema: &SchemaRef,
        options: &FileOptions,
        append: bool,
    ) -> Result<Writer> {
        Ok(match options.format {
            FileFormat::Parquet => Writer::Parquet(Box::new(ParquetFile::create(
                tmp,
                parquet_schema(schema),
                append.then_some(path),
            )?)),
            FileFormat::Json | FileFormat::Csv => {
                let header = (options.format == FileFormat::Csv).then(|| csv_header(schema));
                let gzip = options.compression == FileCompression::Gzip;
                let file = if append {
                    if let Some(header) = &header {
                        let found = first_line(path, gzip)
                            .map_err(SinkError::io(format!("reading {}", path.display())))?;
                        if &found != header {
                            return Err(SinkError::Other(format!(
                                "cannot append to {}: its header names other columns than the \
                                 table's (written by another version?); move it away, or put \
                                 {{{{UUID}}}} in the path to write new files",
                                path.display()
                            )));
                        }
                    }
                    std::fs::copy(path, tmp).map_err(SinkError::io(format!(
                        "copying {} to {}",
                        path.display(),
                        tmp.display()
                    )))?;
                    let mut file = std::fs::OpenOptions::new()
                        .read(true)
                        .append(true)
                        .open(tmp)
                        .map_err(SinkError::io(format!("opening {}", tmp.display())))?;
                    if !gzip {
                        // A last line without its line break gets one before the new rows.
                        let mut last = [0u8];
                        file.seek(SeekFrom::End(-1))
                            .and_then(|_| file.read_exact(&mut last))
                            .map_err(SinkError::io(format!("reading {}", tmp.display())))?;
                        if last[0] != b'\n' {
                            file.write_all(b"\n")
                                .map_err(SinkError::io(format!("writing {}", tmp.display())))?;
                        }
                    }
                    file
                } else {
                    File::create(tmp)
                        .map_err(SinkError::io(format!("creating {}", tmp.display())))?
                };
                let mut out = Output::new(file, options.compression);
                if let (Some(header), false) = (header, append) {
                    writeln!(out, "{header}")
                        .map_err(SinkError::io(format!("writing {}", tmp.display())))?;
                }
                Writer::Lines(out)
            }
        })
    }

    fn buffered(&self) -> usize {
        match &self.writer {
            Writer::Parquet(w) => w.buffered(),
            Writer::Lines(_) => 0,
        }
    }

    /// Writes out the rows buffered for a Parquet row group.
    fn close_group(&mut self) -> Result<()> {
        match &mut self.writer {
            Writer::Parquet(w) => w.close_group(&self.tmp),
            Writer::Lines(_) => Ok(()),
        }
    }

    fn write(&mut self, table: &str, batch: &RecordBatch, format: FileFormat) -> Result<()> {
        match &mut self.writer {
            Writer::Parquet(w) => w.write(&parquet_batch(batch)?, &self.tmp),
            Writer::Lines(out) => {
                let ctx = || format!("writing {}", self.tmp.display());
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
                            let v = col
                                .try_json_value(row)
                                .map_err(|why| values::value_error(table, name, row, why))?;
                            obj.insert((*name).clone(), v);
                        }
                        line.push_str(&serde_json::Value::Object(obj).to_string());
                    } else {
                        for (j, col) in columns.iter().enumerate() {
                            if j > 0 {
                                line.push(',');
                            }
                            let t = col
                                .try_text(row)
                                .map_err(|why| values::value_error(table, names[j], row, why))?;
                            if let Some(t) = t {
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

    /// Completes the file, makes it durable and gives it its final name; on failure the
    /// temporary file is removed and the final one left as it was.
    fn finish(self) -> Result<PathBuf> {
        let result = match self.writer {
            Writer::Parquet(w) => w.finish(&self.tmp),
            Writer::Lines(out) => out
                .finish()
                .map_err(SinkError::io(format!("finishing {}", self.tmp.display()))),
        }
        .and_then(|()| {
            std::fs::rename(&self.tmp, &self.path).map_err(SinkError::io(format!(
                "renaming {} to {}",
                self.tmp.display(),
                self.path.display()
            )))
        });
        if let Err(e) = result {
            let _ = std::fs::remove_file(&self.tmp);
            return Err(e);
        }
        // The rename itself is durable once the directory is.
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(dir) = File::open(dir)
        {
            let _ = dir.sync_all();
        }
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
    /// A file sink; nothing is created until the first rows arrive.
    /// Writes out the largest Parquet row groups until the open files' groups fit the budget.
    async fn keep_within_budget(&mut self) -> Result<()> {
        while let Some(table) = self.largest_over_budget() {
            let mut file = self.open.remove(&table).expect("just listed");
            let (file, result) = tokio::task::spawn_blocking(move || {
                let r = file.close_group();
                (file, r)
            })
            .await
            .map_err(|e| SinkError::Other(format!("file writer failed: {e}")))?;
            self.open.insert(table, file);
            result?;
        }
        Ok(())
    }

    /// The table holding the largest row group, when all of them together exceed the budget.
    fn largest_over_budget(&self) -> Option<String> {
        let sizes = self.open.iter().map(|(table, f)| (f.buffered(), table));
        let total: usize = sizes.clone().map(|(size, _)| size).sum();
        (total > self.parquet_budget).then(|| sizes.max().map(|(_, t)| t.clone()))?
    }

    pub fn new(mut options: FileOptions) -> Result<Self> {
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
        if !options.path.contains("{{TABLE}}") && !options.path.contains("{{TABLE_HYPHEN}}") {
            // As CloudQuery's file destination: a path without the table is a directory.
            options.path = format!(
                "{}/{{{{TABLE}}}}.{{{{FORMAT}}}}",
                options.path.trim_end_matches('/')
            );
        }
        Ok(FileSink {
            options,
            open: HashMap::new(),
            primary_keys: HashMap::new(),
            parquet_budget: PARQUET_BUFFER_BYTES,
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

    /// Closes every open file and renames it to its final name; returns the final paths.
    pub async fn close_all(&mut self) -> Result<Vec<PathBuf>> {
        let open: Vec<OpenFile> = self.open.drain().map(|(_, f)| f).collect();
        blocking(move || finish_all(open)).await
    }
}

/// Finishes every file, even after one fails; returns the final paths or the first error.
fn finish_all(files: Vec<OpenFile>) -> Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    let mut first_error = None;
    for f in files {
        match f.finish() {
            Ok(p) => paths.push(p),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(paths),
    }
}

/// The rows to append to the deletions file of `table`: `_cq_deleted_at`, then every column of
/// `primary_key` (the table's, when known) — null where `keys` does not name it — then any other
/// column of `keys`. One table's deletions thus keep one set of columns, whichever key columns
/// each deletion names.
fn deletion_batch(
    table: &str,
    primary_key: &[FieldRef],
    keys: &RecordBatch,
) -> Result<RecordBatch> {
    let rows = keys.num_rows();
    let now = Utc::now().timestamp_micros();
    let key_schema = keys.schema();
    let mut fields = vec![Arc::new(cq::field(
        DELETED_AT,
        ColumnKind::Timestamp,
        false,
        false,
    ))];
    let mut columns: Vec<ArrayRef> = vec![Arc::new(
        TimestampMicrosecondArray::from(vec![now; rows]).with_timezone("UTC"),
    )];
    for field in primary_key {
        let column = match key_schema.index_of(field.name()) {
            Ok(i) => arrow_cast::cast(keys.column(i), field.data_type()).map_err(|e| {
                SinkError::Schema(format!(
                    "table {table}: deletion key {:?} cannot be read as {}: {e}",
                    field.name(),
                    field.data_type()
                ))
            })?,
            Err(_) => arrow_array::new_null_array(field.data_type(), rows),
        };
        fields.push(Arc::new(field.as_ref().clone().with_nullable(true)));
        columns.push(column);
    }
    for (field, column) in key_schema.fields().iter().zip(keys.columns()) {
        if !primary_key.iter().any(|k| k.name() == field.name()) {
            fields.push(field.clone());
            columns.push(column.clone());
        }
    }
    let schema = Schema::new_with_metadata(
        fields,
        HashMap::from([(
            cq::META_TABLE_NAME.to_string(),
            format!("{table}{DELETIONS_SUFFIX}"),
        )]),
    );
    RecordBatch::try_new(Arc::new(schema), columns)
        .map_err(|e| SinkError::Schema(format!("table {table}: deletion keys: {e}")))
}

#[async_trait::async_trait]
impl Sink for FileSink {
    async fn migrate(&mut self, schema: SchemaRef) -> Result<()> {
        let table = values::table_of(&schema)?;
        for f in schema.fields() {
            values::kind(&table, f)?;
        }
        let primary_key = schema
            .fields()
            .iter()
            .filter(|f| cq::is_primary_key(f))
            .cloned()
            .collect();
        self.primary_keys.insert(table, primary_key);
        Ok(())
    }

    async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let schema = batch.schema();
        let table = values::table_of(&schema)?;
        let mut current = self.open.remove(&table);
        // Rows with other columns close the file; the next one appends (or fails to) then.
        let finished = current.take_if(|f| f.schema.fields() != schema.fields());
        let path = match current {
            Some(_) => None,
            None => {
                let path = self.render_path(&table, Utc::now());
                if let Some((other, _)) = self.open.iter().find(|(_, f)| f.path == path) {
                    let e = SinkError::Other(format!(
                        "tables {other} and {table} would both write {}; put {{{{TABLE}}}} in the \
                         file destination's path",
                        path.display()
                    ));
                    if let Some(f) = finished {
                        self.open.insert(table, f);
                    }
                    return Err(e);
                }
                Some(path)
            }
        };
        let options = self.options.clone();
        let name = table.clone();
        let (file, result) = tokio::task::spawn_blocking(move || {
            if let Some(Err(e)) = finished.map(OpenFile::finish) {
                return (current, Err(e));
            }
            let mut file = match (current, path) {
                (Some(f), _) => f,
                (None, Some(path)) => match OpenFile::open(path, schema, &options) {
                    Ok(f) => f,
                    Err(e) => return (None, Err(e)),
                },
                (None, None) => unreachable!("a path is rendered for every new file"),
            };
            let r = file.write(&name, &batch, options.format);
            (Some(file), r)
        })
        .await
        .map_err(|e| SinkError::Other(format!("file writer failed: {e}")))?;
        if let Some(file) = file {
            self.open.insert(table, file);
        }
        result?;
        self.keep_within_budget().await
    }

    async fn delete_stale(
        &mut self,
        _table: &str,
        _source_name: &str,
        _tenant_id: Option<&str>,
        _sync_time: DateTime<Utc>,
    ) -> Result<u64> {
        Ok(0)
    }

    async fn flush(&mut self) -> Result<()> {
        self.close_all().await.map(|_| ())
    }

    /// Appends the keys to the deletions file of `table` (see the module documentation);
    /// deletes nothing, so returns 0.
    async fn delete_rows(
        &mut self,
        table: &str,
        keys: RecordBatch,
        _relations: &[TableRelation],
    ) -> Result<u64> {
        let primary_key = self.primary_keys.get(table).map_or(&[][..], Vec::as_slice);
        let batch = deletion_batch(table, primary_key, &keys)?;
        self.write(batch).await?;
        Ok(0)
    }

    /// Closes the table's file and its deletions file.
    async fn table_done(&mut self, table: &str) -> Result<()> {
        let files: Vec<OpenFile> = [table.to_string(), format!("{table}{DELETIONS_SUFFIX}")]
            .iter()
            .filter_map(|t| self.open.remove(t))
            .collect();
        if files.is_empty() {
            return Ok(());
        }
        blocking(move || finish_all(files).map(|_| ())).await
    }
}

/// Reads a file this sink wrote (its format from its name: `.parquet`, `.json`, `.csv`, each
/// optionally `.gz`) as one JSON object per row, in file order. Parquet and JSON values read as
/// the JSON lines sink writes them; CSV values read as strings, an empty field as null. The
/// whole file is loaded: meant for tests and small files.
pub fn read_rows(path: &Path) -> Result<Vec<serde_json::Map<String, serde_json::Value>>> {
    use serde_json::Value;
    let name = path.to_string_lossy();
    let (stem, gzip) = match name.strip_suffix(".gz") {
        Some(stem) => (stem, true),
        None => (name.as_ref(), false),
    };
    let ctx = || format!("reading {}", path.display());
    let text = || -> Result<String> {
        let file = File::open(path).map_err(SinkError::io(ctx()))?;
        let mut reader: Box<dyn Read> = if gzip {
            Box::new(flate2::read::MultiGzDecoder::new(file))
        } else {
            Box::new(file)
        };
        let mut s = String::new();
        reader
            .read_to_string(&mut s)
            .map_err(SinkError::io(ctx()))?;
        Ok(s)
    };
    if stem.ends_with(".json") {
        text()?
            .lines()
            .map(|line| match serde_json::from_str(line) {
                Ok(Value::Object(row)) => Ok(row),
                Ok(other) => Err(SinkError::Other(format!(
                    "{}: not an object: {other}",
                    ctx()
                ))),
                Err(e) => Err(SinkError::Other(format!("{}: {e}", ctx()))),
            })
            .collect()
    } else if stem.ends_with(".csv") {
        let mut records = parse_csv(&text()?).into_iter();
        let header: Vec<String> = records
            .next()
            .unwrap_or_default()
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect();
        records
            .map(|record| {
                if record.len() != header.len() {
                    return Err(SinkError::Other(format!(
                        "{}: a row has {} fields, the header {}",
                        ctx(),
                        record.len(),
                        header.len()
                    )));
                }
                Ok(header
                    .iter()
                    .cloned()
                    .zip(
                        record
                            .into_iter()
                            .map(|v| v.map_or(Value::Null, Value::String)),
                    )
                    .collect())
            })
            .collect()
    } else if stem.ends_with(".parquet") {
        let file = File::open(path).map_err(SinkError::io(ctx()))?;
        let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)
            .and_then(|b| b.build())
            .map_err(|e| SinkError::Other(format!("{}: {e}", ctx())))?;
        let mut rows = Vec::new();
        for batch in reader {
            let batch = batch.map_err(|e| SinkError::Other(format!("{}: {e}", ctx())))?;
            let arrays = values::normalize(&name, &batch)?;
            let columns: Vec<Column<'_>> = arrays.iter().map(|(k, a)| Column::new(*k, a)).collect();
            let schema = batch.schema();
            for row in 0..batch.num_rows() {
                rows.push(
                    schema
                        .fields()
                        .iter()
                        .zip(&columns)
                        .map(|(f, c)| (f.name().clone(), c.json_value(row)))
                        .collect(),
                );
            }
        }
        Ok(rows)
    } else {
        Err(SinkError::Other(format!(
            "{}: not a .parquet, .json or .csv file",
            ctx()
        )))
    }
}

/// RFC 4180 records; a field is `None` when empty and unquoted.
fn parse_csv(text: &str) -> Vec<Vec<Option<String>>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let (mut quoted, mut in_quotes) = (false, false);
    let mut chars = text.chars().peekable();
    let end_field = |record: &mut Vec<Option<String>>, field: &mut String, quoted: &mut bool| {
        let value = std::mem::take(field);
        record.push((!value.is_empty() || *quoted).then_some(value));
        *quoted = false;
    };
    while let Some(c) = chars.next() {
        match (c, in_quotes) {
            ('"', true) if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            ('"', true) => in_quotes = false,
            ('"', false) if field.is_empty() => (quoted, in_quotes) = (true, true),
            (',', false) => end_field(&mut record, &mut field, &mut quoted),
            ('\r', false) if chars.peek() == Some(&'\n') => {}
            ('\n', false) => {
                end_field(&mut record, &mut field, &mut quoted);
                records.push(std::mem::take(&mut record));
            }
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || quoted || !record.is_empty() {
        end_field(&mut record, &mut field, &mut quoted);
        records.push(record);
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn parquet_row_groups_of_all_tables_share_one_budget() {
        use arrow_array::StringArray;
        use arrow_schema::{DataType, Field, Schema};
        let dir = tempfile::tempdir().unwrap();
        let mut sink = FileSink::new(FileOptions {
            path: dir.path().display().to_string(),
            format: FileFormat::Parquet,
            compression: FileCompression::None,
        })
        .unwrap();
        sink.parquet_budget = 256 << 10;
        let tables = ["t_one", "t_two", "t_three"];
        let schemas: Vec<SchemaRef> = tables
            .iter()
            .map(|t| {
                Arc::new(Schema::new_with_metadata(
                    vec![Field::new("v", DataType::Utf8, true)],
                    HashMap::from([(cq::META_TABLE_NAME.to_string(), t.to_string())]),
                ))
            })
            .collect();
        for schema in &schemas {
            sink.migrate(schema.clone()).await.unwrap();
        }
        for round in 0..40 {
            for (t, schema) in schemas.iter().enumerate() {
                let values: Vec<String> = (0..500)
                    .map(|i| format!("{t}-{round}-{i}-{}", "x".repeat(40 + i % 7)))
                    .collect();
                let batch =
                    RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(values))])
                        .unwrap();
                sink.write(batch).await.unwrap();
                let held: usize = sink.open.values().map(OpenFile::buffered).sum();
                assert!(held <= sink.parquet_budget, "{held} bytes held");
            }
        }
        for table in tables {
            sink.table_done(table).await.unwrap();
            let path = dir.path().join(format!("{table}.parquet"));
            let rows = read_rows(&path).unwrap();
            assert_eq!(rows.len(), 40 * 500, "{table}: every row written once");
            let file = File::open(&path).unwrap();
            let groups = parquet::file::reader::FileReader::metadata(
                &parquet::file::serialized_reader::SerializedFileReader::new(file).unwrap(),
            )
            .num_row_groups();
            assert!(
                groups > 1,
                "{table}: row groups closed by the budget ({groups})"
            );
        }
    }

    #[test]
    fn csv_quoting() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\"\n"), "\"say \"\"hi\"\"\n\"");
    }

    #[test]
    fn csv_parsing_inverts_quoting() {
        let line = ["plain", "a,b", "say \"hi\"\n", ""]
            .map(csv_field)
            .join(",");
        let text = format!("h1,h2,h3,h4\r\n{line}\n\"\",x,,\n");
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            parse_csv(&text),
            vec![
                vec![s("h1"), s("h2"), s("h3"), s("h4")],
                vec![s("plain"), s("a,b"), s("say \"hi\"\n"), None],
                vec![s(""), s("x"), None, None],
            ]
        );
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
        // A path without the table is a directory, as in CloudQuery.
        let sink = FileSink::new(FileOptions {
            path: "out/".into(),
            format: FileFormat::Csv,
            compression: FileCompression::None,
        })
        .unwrap();
        assert_eq!(
            sink.render_path("entraid_users", now),
            PathBuf::from("out/entraid_users.csv")
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
