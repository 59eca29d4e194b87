//! The file sink: every format reads back the rows written, files appear only when complete.

use crate::data::{self, Row};
use entrasync_sinks::Sink;
use entrasync_sinks::file::{FileCompression, FileFormat, FileOptions, FileSink, read_rows};
use std::io::Read;
use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn rows() -> Vec<Row> {
    vec![Row::full("a"), Row::new("b-null"), Row::full("c,\"q\"\n")]
}

async fn write_two_batches(
    dir: &Path,
    format: FileFormat,
    compression: FileCompression,
) -> Vec<PathBuf> {
    let path = format!(
        "{}/{{{{TABLE}}}}/{{{{UUID}}}}.{{{{FORMAT}}}}",
        dir.display()
    );
    let mut sink = FileSink::new(FileOptions {
        path,
        format,
        compression,
    })
    .unwrap();
    let schema = data::schema("entraid_users", data::full_fields());
    sink.migrate(schema.clone()).await.unwrap();
    let rows = rows();
    sink.write(data::full_batch(&schema, &rows[..1]))
        .await
        .unwrap();
    sink.write(data::full_batch(&schema, &rows[1..]))
        .await
        .unwrap();
    let pending = files(dir);
    assert_eq!(pending.len(), 1);
    assert!(
        pending[0].to_string_lossy().ends_with(".tmp"),
        "{pending:?}"
    );
    sink.flush().await.unwrap();
    let done = files(dir);
    assert_eq!(done.len(), 1);
    assert!(!done[0].to_string_lossy().ends_with(".tmp"));
    assert!(done[0].starts_with(dir.join("entraid_users")));
    done
}

fn read_text(path: &Path, gz: bool) -> String {
    let bytes = std::fs::read(path).unwrap();
    if gz {
        let mut s = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .unwrap();
        s
    } else {
        String::from_utf8(bytes).unwrap()
    }
}

async fn json_lines(compression: FileCompression) {
    let dir = tempfile::tempdir().unwrap();
    let gz = compression == FileCompression::Gzip;
    let done = write_two_batches(dir.path(), FileFormat::Json, compression).await;
    assert!(
        done[0]
            .to_string_lossy()
            .ends_with(if gz { ".json.gz" } else { ".json" })
    );
    let text = read_text(&done[0], gz);
    let got: Vec<serde_json::Map<String, serde_json::Value>> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let want: Vec<_> = rows().iter().map(data::expected).collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn json_lines_plain() {
    json_lines(FileCompression::None).await;
}

#[tokio::test]
async fn json_lines_gzip() {
    json_lines(FileCompression::Gzip).await;
}

#[tokio::test]
async fn csv_with_nested_columns_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let done = write_two_batches(dir.path(), FileFormat::Csv, FileCompression::None).await;
    let text = read_text(&done[0], false);
    let mut lines = text.lines();
    assert_eq!(
        lines.next().unwrap(),
        "_cq_sync_time,_cq_source_name,_cq_id,_cq_parent_id,tenant_id,id,name,enabled,count,score,created,tags,props,ref"
    );
    let a = lines.next().unwrap();
    assert!(a.starts_with("2023-11-14T22:13:20.000000Z,entraid,"), "{a}");
    assert!(
        a.contains(",t1,a,name a,true,-42,1.5,2023-11-14T22:13:20.123456Z,"),
        "{a}"
    );
    assert!(a.contains(r#","[""a"",null,""c \""quoted\""""]","#), "{a}");
    assert!(
        a.contains(r#","{""k"":[1,2,{""n"":null}],""s"":""x""}","#),
        "{a}"
    );
    assert!(a.ends_with(",01234567-89ab-cdef-0123-456789abcdef"), "{a}");
    let b = lines.next().unwrap();
    assert!(b.ends_with(",t1,b-null,,,,,,,,"), "{b}");
    // The quoted id spans two physical lines.
    assert!(text.contains("\"c,\"\"q\"\"\n\""));
}

#[tokio::test]
async fn parquet_keeps_schema_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let done = write_two_batches(dir.path(), FileFormat::Parquet, FileCompression::None).await;
    let file = std::fs::File::open(&done[0]).unwrap();
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let file_schema = builder.schema().clone();
    let batches: Vec<_> = builder.build().unwrap().map(Result::unwrap).collect();
    let schema = data::schema("entraid_users", data::full_fields());
    let got = arrow_select_concat(&batches);
    let want = data::full_batch(&schema, &rows());
    assert_eq!(file_schema.metadata(), schema.metadata());
    for (g, w) in file_schema.fields().iter().zip(schema.fields()) {
        assert_eq!(g.name(), w.name());
        assert_eq!(g.metadata(), w.metadata(), "{}", g.name());
    }
    assert_eq!(got.columns(), want.columns());
}

fn arrow_select_concat(batches: &[arrow_array::RecordBatch]) -> arrow_array::RecordBatch {
    // Rows of both written batches, in order.
    let schema = batches[0].schema();
    let columns = (0..schema.fields().len())
        .map(|i| {
            let arrays: Vec<&dyn arrow_array::Array> =
                batches.iter().map(|b| b.column(i).as_ref()).collect();
            arrow_select::concat::concat(&arrays).unwrap()
        })
        .collect();
    arrow_array::RecordBatch::try_new(schema, columns).unwrap()
}

#[tokio::test]
async fn each_flush_makes_new_files_and_drop_removes_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    let path = format!(
        "{}/{{{{TABLE}}}}-{{{{UUID}}}}.{{{{FORMAT}}}}",
        dir.path().display()
    );
    let schema = data::schema("t", data::full_fields());
    {
        let mut sink = FileSink::new(FileOptions {
            path: path.clone(),
            format: FileFormat::Json,
            compression: FileCompression::None,
        })
        .unwrap();
        sink.write(data::full_batch(&schema, &rows()))
            .await
            .unwrap();
        sink.flush().await.unwrap();
        sink.write(data::full_batch(&schema, &rows()))
            .await
            .unwrap();
        sink.flush().await.unwrap();
        assert_eq!(files(dir.path()).len(), 2);
        sink.write(data::full_batch(&schema, &rows()))
            .await
            .unwrap();
        assert_eq!(files(dir.path()).len(), 3);
    }
    let left = files(dir.path());
    assert_eq!(
        left.len(),
        2,
        "the unflushed temporary file is removed: {left:?}"
    );
    assert!(left.iter().all(|p| p.extension().unwrap() == "json"));
}

// --- One file per table: appends within a sync and across syncs, deletions ---

const FORMATS: [(FileFormat, FileCompression, &str); 5] = [
    (FileFormat::Json, FileCompression::None, "json"),
    (FileFormat::Json, FileCompression::Gzip, "json.gz"),
    (FileFormat::Csv, FileCompression::None, "csv"),
    (FileFormat::Csv, FileCompression::Gzip, "csv.gz"),
    (FileFormat::Parquet, FileCompression::None, "parquet"),
];

fn table_sink(dir: &Path, format: FileFormat, compression: FileCompression) -> FileSink {
    FileSink::new(FileOptions {
        path: format!("{}/{{{{TABLE}}}}.{{{{FORMAT}}}}", dir.display()),
        format,
        compression,
    })
    .unwrap()
}

fn ids(path: &Path) -> Vec<String> {
    read_rows(path)
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn one_file_per_table_keeps_every_row_across_flushes_and_syncs() {
    for (format, compression, ext) in FORMATS {
        let dir = tempfile::tempdir().unwrap();
        let schema = data::schema("entraid_users", data::full_fields());
        let rows = rows();
        let file = dir.path().join(format!("entraid_users.{ext}"));
        {
            // One sync: a flush between pages (a state entry), then the table ends, then rows
            // arrive again (a late deletion or re-read) and the sync ends.
            let mut sink = table_sink(dir.path(), format, compression);
            sink.migrate(schema.clone()).await.unwrap();
            sink.write(data::full_batch(&schema, &rows[..1]))
                .await
                .unwrap();
            sink.flush().await.unwrap();
            sink.write(data::full_batch(&schema, &rows[1..]))
                .await
                .unwrap();
            sink.table_done("entraid_users").await.unwrap();
            assert_eq!(files(dir.path()), vec![file.clone()], "{ext}");
            sink.write(data::full_batch(&schema, &rows)).await.unwrap();
            sink.flush().await.unwrap();
        }
        // The next sync appends, as CloudQuery's file destination does.
        let mut sink = table_sink(dir.path(), format, compression);
        sink.write(data::full_batch(&schema, &rows)).await.unwrap();
        sink.flush().await.unwrap();
        assert_eq!(files(dir.path()), vec![file.clone()], "{ext}");
        let want: Vec<String> = std::iter::repeat_n(&rows, 3)
            .flatten()
            .map(|r| r.id.clone())
            .collect();
        assert_eq!(ids(&file), want, "{ext}");
        if format != FileFormat::Csv {
            let expected: Vec<_> = std::iter::repeat_n(&rows, 3)
                .flatten()
                .map(data::expected)
                .collect();
            assert_eq!(read_rows(&file).unwrap(), expected, "{ext}");
        }
        if format == FileFormat::Csv && compression == FileCompression::None {
            let text = std::fs::read_to_string(&file).unwrap();
            assert_eq!(text.matches("_cq_sync_time").count(), 1, "one header");
        }
    }
}

#[tokio::test]
async fn a_failed_append_leaves_the_old_file_whole() {
    for (format, compression, ext) in FORMATS {
        let dir = tempfile::tempdir().unwrap();
        let schema = data::schema("entraid_users", data::full_fields());
        let file = dir.path().join(format!("entraid_users.{ext}"));
        let mut sink = table_sink(dir.path(), format, compression);
        sink.write(data::full_batch(&schema, &rows()))
            .await
            .unwrap();
        sink.flush().await.unwrap();
        let before = std::fs::read(&file).unwrap();
        {
            // A sync that dies before its flush.
            let mut sink = table_sink(dir.path(), format, compression);
            sink.write(data::full_batch(&schema, &rows()))
                .await
                .unwrap();
            assert_eq!(files(dir.path()).len(), 2, "{ext}: the temporary file");
        }
        assert_eq!(files(dir.path()), vec![file.clone()], "{ext}");
        assert_eq!(std::fs::read(&file).unwrap(), before, "{ext}");
        assert_eq!(ids(&file).len(), 3, "{ext}");
    }
}

#[tokio::test]
async fn appending_other_columns_to_csv_or_parquet_is_refused() {
    for (format, compression, ext) in FORMATS {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(format!("entraid_users.{ext}"));
        let full = data::schema("entraid_users", data::full_fields());
        let mut sink = table_sink(dir.path(), format, compression);
        sink.write(data::full_batch(&full, &rows())).await.unwrap();
        sink.flush().await.unwrap();
        let before = std::fs::read(&file).unwrap();
        // The same table with one column fewer (an older or newer catalog).
        let mut fields = data::full_fields();
        fields.pop();
        let narrow = data::schema("entraid_users", fields);
        let batch = data::full_batch(&full, &rows());
        let batch = arrow_array::RecordBatch::try_new(
            narrow,
            batch.columns()[..batch.num_columns() - 1].to_vec(),
        )
        .unwrap();
        let mut sink = table_sink(dir.path(), format, compression);
        let result = sink.write(batch).await;
        if format == FileFormat::Json {
            // JSON lines carry their column names: nothing to refuse.
            result.unwrap();
            sink.flush().await.unwrap();
            assert_eq!(ids(&file).len(), 6);
            continue;
        }
        let e = result.unwrap_err().to_string();
        assert!(
            e.contains("cannot append to") && e.contains("{{UUID}}"),
            "{ext}: {e}"
        );
        drop(sink);
        assert_eq!(std::fs::read(&file).unwrap(), before, "{ext}");
        assert_eq!(files(dir.path()), vec![file], "{ext}");
    }
}

#[tokio::test]
async fn parquet_row_groups_are_bounded_and_copied_on_append() {
    use arrow_array::{ArrayRef, Int64Array, StringArray};
    use entrasync_sinks::cq::{self, ColumnKind};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let schema = data::schema(
        "t",
        vec![
            cq::field("id", ColumnKind::Utf8, true, true),
            cq::field("n", ColumnKind::Int64, false, false),
        ],
    );
    let batch = |from: i64, to: i64| {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(
                (from..to).map(|i| format!("id{i}")).collect::<Vec<_>>(),
            )),
            Arc::new(Int64Array::from((from..to).collect::<Vec<_>>())),
        ];
        arrow_array::RecordBatch::try_new(schema.clone(), columns).unwrap()
    };
    let mut sink = table_sink(dir.path(), FileFormat::Parquet, FileCompression::None);
    for start in (0..100_010).step_by(10_001) {
        sink.write(batch(start, (start + 10_001).min(100_010)))
            .await
            .unwrap();
    }
    sink.flush().await.unwrap();
    let mut sink = table_sink(dir.path(), FileFormat::Parquet, FileCompression::None);
    sink.write(batch(100_010, 100_015)).await.unwrap();
    sink.flush().await.unwrap();
    let file = dir.path().join("t.parquet");
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(&file).unwrap(),
    )
    .unwrap();
    let groups: Vec<i64> = reader
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows())
        .collect();
    assert_eq!(groups, vec![100_000, 10, 5]);
    let rows = read_rows(&file).unwrap();
    assert_eq!(rows.len(), 100_015);
    assert!(
        rows.iter()
            .enumerate()
            .all(|(i, r)| r["n"] == serde_json::json!(i as i64))
    );
}

#[tokio::test]
async fn deletions_are_appended_to_the_tables_deletions_file() {
    use arrow_array::{ArrayRef, StringArray};
    use entrasync_sinks::cq::{self, ColumnKind};
    use entrasync_sinks::file::{DELETED_AT, DELETIONS_SUFFIX};
    use std::sync::Arc;
    // Keys as the scheduler sends them: utf8 columns, some of the table's key columns.
    let keys = |columns: &[(&str, Vec<&str>)]| {
        let fields = columns
            .iter()
            .map(|(n, _)| cq::field(n, ColumnKind::Utf8, true, true))
            .collect();
        let arrays: Vec<ArrayRef> = columns
            .iter()
            .map(|(_, v)| Arc::new(StringArray::from(v.clone())) as ArrayRef)
            .collect();
        arrow_array::RecordBatch::try_new(data::schema("entraid_users", fields), arrays).unwrap()
    };
    let relations = [entrasync_sinks::TableRelation::new(
        "entraid_user_x",
        "entraid_users",
    )];
    for (format, compression, ext) in FORMATS {
        let dir = tempfile::tempdir().unwrap();
        let before = chrono::Utc::now();
        let schema = data::schema("entraid_users", data::full_fields());
        let mut sink = table_sink(dir.path(), format, compression);
        sink.migrate(schema.clone()).await.unwrap();
        sink.write(data::full_batch(&schema, &rows()))
            .await
            .unwrap();
        let n = sink
            .delete_rows(
                "entraid_users",
                keys(&[("tenant_id", vec!["t1", "t1"]), ("id", vec!["u1", "u2"])]),
                &relations,
            )
            .await
            .unwrap();
        assert_eq!(n, 0, "nothing is deleted from a file");
        sink.table_done("entraid_users").await.unwrap();
        // The next sync; this deletion names only some key columns, in another order.
        let mut sink = table_sink(dir.path(), format, compression);
        sink.migrate(schema.clone()).await.unwrap();
        sink.delete_rows("entraid_users", keys(&[("id", vec!["u3"])]), &relations)
            .await
            .unwrap();
        sink.flush().await.unwrap();
        let deletions = dir
            .path()
            .join(format!("entraid_users{DELETIONS_SUFFIX}.{ext}"));
        assert_eq!(
            files(dir.path()),
            vec![
                dir.path().join(format!("entraid_users.{ext}")),
                deletions.clone(),
            ],
            "{ext}"
        );
        let rows = read_rows(&deletions).unwrap();
        for row in &rows {
            // `_cq_deleted_at`, then the table's primary key, in the table's order.
            let columns: Vec<&str> = row.keys().map(String::as_str).collect();
            if format != FileFormat::Json {
                assert_eq!(columns, vec![DELETED_AT, "tenant_id", "id"], "{ext}");
            } else {
                assert_eq!(columns.len(), 3, "{ext}: {columns:?}");
            }
            let at =
                chrono::DateTime::parse_from_rfc3339(row[DELETED_AT].as_str().unwrap()).unwrap();
            assert!(at >= before - chrono::Duration::seconds(1), "{ext}: {at}");
        }
        assert_eq!(ids(&deletions), vec!["u1", "u2", "u3"], "{ext}");
        let tenants: Vec<serde_json::Value> = rows.iter().map(|r| r["tenant_id"].clone()).collect();
        assert_eq!(
            tenants,
            vec![
                serde_json::json!("t1"),
                serde_json::json!("t1"),
                serde_json::Value::Null
            ],
            "{ext}: a key column a deletion does not name is null (any value)"
        );
    }
}

#[tokio::test]
async fn two_tables_on_one_file_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = FileSink::new(FileOptions {
        path: format!("{}/{{{{TABLE_HYPHEN}}}}.json", dir.path().display()),
        format: FileFormat::Json,
        compression: FileCompression::None,
    })
    .unwrap();
    let a = data::schema("a_b", data::full_fields());
    let b = data::schema("a-b", data::full_fields());
    sink.write(data::full_batch(&a, &rows())).await.unwrap();
    let e = sink
        .write(data::full_batch(&b, &rows()))
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("would both write"), "{e}");
    sink.flush().await.unwrap();
    assert_eq!(ids(&dir.path().join("a-b.json")).len(), 3);
}
