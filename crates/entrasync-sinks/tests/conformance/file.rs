//! The file sink: every format reads back the rows written, files appear only when complete.

use crate::data::{self, Row};
use entrasync_sinks::Sink;
use entrasync_sinks::file::{FileCompression, FileFormat, FileOptions, FileSink};
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
