//! Load-rate benchmark of the sinks, with `psql \copy` of the same rows as the PostgreSQL
//! baseline.
//!
//! ```text
//! cargo run -p entrasync-sinks --release --example sink_bench -- [rows] [batch_rows]
//! ```
//!
//! PostgreSQL at `ENTRASYNC_TEST_PG` (default `postgres://postgres@127.0.0.1:5432/test`);
//! `psql` must be on the PATH for the baseline. Rows look like `entraid_users` rows (16
//! columns, two lists and two json objects, ~700 bytes each).

use arrow_array::builder::{ListBuilder, StringBuilder};
use arrow_array::{
    ArrayRef, BinaryArray, BooleanArray, FixedSizeBinaryArray, Float64Array, Int64Array,
    RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{Schema, SchemaRef};
use entrasync_sinks::cq::{self, ColumnKind};
use entrasync_sinks::postgres::{PostgresOptions, PostgresSink};
use entrasync_sinks::sqlite::SqliteSink;
use entrasync_sinks::{Sink, WriteMode};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

fn schema(table: &str) -> SchemaRef {
    let f = cq::field;
    Arc::new(Schema::new_with_metadata(
        vec![
            cq::sync_time_field(),
            cq::source_name_field(),
            f(cq::CQ_ID, ColumnKind::Uuid, false, true),
            f("tenant_id", ColumnKind::Utf8, true, true),
            f("id", ColumnKind::Utf8, true, true),
            f("display_name", ColumnKind::Utf8, false, false),
            f("user_principal_name", ColumnKind::Utf8, false, false),
            f("mail", ColumnKind::Utf8, false, false),
            f("account_enabled", ColumnKind::Bool, false, false),
            f("created_date_time", ColumnKind::Timestamp, false, false),
            f("business_phones", ColumnKind::Utf8List, false, false),
            f("other_mails", ColumnKind::Utf8List, false, false),
            f("assigned_licenses", ColumnKind::Json, false, false),
            f(
                "on_premises_extension_attributes",
                ColumnKind::Json,
                false,
                false,
            ),
            f("sign_in_count", ColumnKind::Int64, false, false),
            f("risk_score", ColumnKind::Float64, false, false),
        ],
        HashMap::from([(cq::META_TABLE_NAME.to_string(), table.to_string())]),
    ))
}

fn batch(schema: &SchemaRef, start: usize, rows: usize, sync_time: i64) -> RecordBatch {
    let ids: Vec<String> = (start..start + rows)
        .map(|i| uuid::Uuid::from_u128(i as u128 * 0x9e37_79b9_7f4a_7c15).to_string())
        .collect();
    let mut phones = ListBuilder::new(StringBuilder::new());
    let mut mails = ListBuilder::new(StringBuilder::new());
    for i in start..start + rows {
        phones.values().append_value(format!("+1 555 {i:07}"));
        phones.values().append_value("+1 555 0100");
        phones.append(true);
        if i % 3 == 0 {
            mails.values().append_value(format!("alt{i}@example.org"));
        }
        mails.append(true);
    }
    let licenses: Vec<String> = (start..start + rows)
        .map(|i| {
            format!(
                r#"[{{"disabledPlans":[],"skuId":"{}"}}]"#,
                uuid::Uuid::from_u128(i as u128 % 7)
            )
        })
        .collect();
    let ext: Vec<String> = (start..start + rows)
        .map(|i| {
            let mut m = serde_json::Map::new();
            for k in 1..=15 {
                m.insert(
                    format!("extensionAttribute{k}"),
                    if k < 4 {
                        serde_json::json!(format!("value {i} {k}"))
                    } else {
                        serde_json::Value::Null
                    },
                );
            }
            serde_json::Value::Object(m).to_string()
        })
        .collect();
    let cq_ids: Vec<[u8; 16]> = ids
        .iter()
        .map(|s| *uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, s.as_bytes()).as_bytes())
        .collect();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMicrosecondArray::from(vec![sync_time; rows]).with_timezone("UTC")),
        Arc::new(StringArray::from(vec!["entraid"; rows])),
        Arc::new(FixedSizeBinaryArray::try_from_iter(cq_ids.iter()).unwrap()),
        Arc::new(StringArray::from(vec![
            "8c6f0a3e-0000-4000-8000-000000000001";
            rows
        ])),
        Arc::new(StringArray::from(ids.clone())),
        Arc::new(StringArray::from_iter_values(
            (start..start + rows).map(|i| format!("User Number {i}")),
        )),
        Arc::new(StringArray::from_iter_values(
            (start..start + rows).map(|i| format!("user{i}@contoso.onmicrosoft.com")),
        )),
        Arc::new(StringArray::from_iter(
            (start..start + rows).map(|i| (i % 5 != 0).then(|| format!("user{i}@contoso.com"))),
        )),
        Arc::new(BooleanArray::from_iter(
            (start..start + rows).map(|i| Some(i % 10 != 0)),
        )),
        Arc::new(
            TimestampMicrosecondArray::from_iter_values(
                (start..start + rows).map(|i| 1_600_000_000_000_000 + i as i64 * 1_000_003),
            )
            .with_timezone("UTC"),
        ),
        Arc::new(phones.finish()),
        Arc::new(mails.finish()),
        Arc::new(BinaryArray::from_iter_values(
            licenses.iter().map(|s| s.as_bytes()),
        )),
        Arc::new(BinaryArray::from_iter_values(
            ext.iter().map(|s| s.as_bytes()),
        )),
        Arc::new(Int64Array::from_iter_values(
            (start..start + rows).map(|i| (i * 7 % 1000) as i64),
        )),
        Arc::new(Float64Array::from_iter_values(
            (start..start + rows).map(|i| (i % 100) as f64 / 7.0),
        )),
    ];
    RecordBatch::try_new(schema.clone(), columns).unwrap()
}

fn report(what: &str, rows: usize, started: Instant) -> f64 {
    let secs = started.elapsed().as_secs_f64();
    let rate = rows as f64 / secs;
    println!("{what:<52} {rows:>9} rows {secs:>8.3} s {rate:>12.0} rows/s");
    rate
}

async fn load(sink: &mut dyn Sink, schema: &SchemaRef, batches: &[RecordBatch]) {
    sink.migrate(schema.clone()).await.unwrap();
    for b in batches {
        sink.write(b.clone()).await.unwrap();
    }
    sink.flush().await.unwrap();
}

fn psql(url: &str, command: &str) -> bool {
    match std::process::Command::new("psql")
        .args([url, "-q", "-v", "ON_ERROR_STOP=1", "-c", command])
        .status()
    {
        Ok(s) => s.success(),
        Err(e) => {
            eprintln!("psql not runnable: {e}");
            false
        }
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let rows: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let per_batch: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let url = std::env::var("ENTRASYNC_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string());
    let tag = std::process::id();
    let t1 = 1_700_000_000_000_000;
    let make = |schema: &SchemaRef, time: i64| -> Vec<RecordBatch> {
        (0..rows)
            .step_by(per_batch)
            .map(|s| batch(schema, s, per_batch.min(rows - s), time))
            .collect()
    };
    println!("{rows} rows in batches of {per_batch}");

    // SQLite.
    let dir = tempfile::tempdir().unwrap();
    let s = schema("bench_users");
    let batches = make(&s, t1);
    let mut sqlite = SqliteSink::open(
        &dir.path().join("bench.db"),
        WriteMode::OverwriteDeleteStale,
    )
    .unwrap();
    let started = Instant::now();
    load(&mut sqlite, &s, &batches).await;
    report(
        "sqlite: insert (upsert statement, empty table)",
        rows,
        started,
    );
    let again = make(&s, t1 + 1);
    let started = Instant::now();
    load(&mut sqlite, &s, &again).await;
    report("sqlite: upsert over existing rows", rows, started);

    // PostgreSQL.
    let pg_table = format!("bench_users_{tag}");
    let s = schema(&pg_table);
    let batches = make(&s, t1);
    let mut pg = PostgresSink::connect(&url, PostgresOptions::default())
        .await
        .unwrap();
    let started = Instant::now();
    load(&mut pg, &s, &batches).await;
    let ours = report(
        "postgres: COPY binary -> staging -> upsert (empty)",
        rows,
        started,
    );
    let again = make(&s, t1 + 1);
    let started = Instant::now();
    load(&mut pg, &s, &again).await;
    report("postgres: upsert over existing rows", rows, started);
    let append_table = format!("bench_users_append_{tag}");
    let sa = schema(&append_table);
    let mut pga = PostgresSink::connect(
        &url,
        PostgresOptions {
            write_mode: WriteMode::Append,
            ..PostgresOptions::default()
        },
    )
    .await
    .unwrap();
    let batches = make(&sa, t1);
    let started = Instant::now();
    load(&mut pga, &sa, &batches).await;
    let append = report(
        "postgres: append (COPY binary into the table)",
        rows,
        started,
    );

    // Baseline: psql \copy of the same rows from a file into an empty table with the same key.
    let file = dir.path().join("rows.copy");
    let base_table = format!("bench_users_psql_{tag}");
    let f = file.display();
    let exported = psql(&url, &format!("\\copy \"{pg_table}\" TO '{f}'"))
        && psql(
            &url,
            &format!("CREATE TABLE \"{base_table}\" (LIKE \"{pg_table}\" INCLUDING ALL)"),
        );
    if exported {
        let started = Instant::now();
        if psql(&url, &format!("\\copy \"{base_table}\" FROM '{f}'")) {
            let base = report(
                "psql \\copy (text) from a file, same table shape",
                rows,
                started,
            );
            println!(
                "ratio upsert/psql = {:.2}, append/psql = {:.2}",
                ours / base,
                append / base
            );
        }
    }
    for t in [&pg_table, &append_table, &base_table] {
        psql(&url, &format!("DROP TABLE IF EXISTS \"{t}\""));
    }
}
