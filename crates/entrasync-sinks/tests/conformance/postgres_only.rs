//! PostgreSQL-only behaviour: TLS modes, secrets in errors, batching.

use crate::data::{self, Row};
use crate::harness;
use entrasync_sinks::postgres::{PostgresOptions, PostgresSink};
use entrasync_sinks::{MigrateMode, Sink, WriteMode};
use std::collections::HashMap;

fn with_param(url: &str, param: &str) -> String {
    if url.contains('?') {
        format!("{url}&{param}")
    } else {
        format!("{url}?{param}")
    }
}

async fn connect(url: &str) -> Result<PostgresSink, String> {
    PostgresSink::connect(url, PostgresOptions::default())
        .await
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn sslmodes_disable_prefer_require_connect() {
    // Fails with how to get PostgreSQL when there is none.
    harness::pg_client().await;
    let url = harness::pg_url();
    for mode in ["disable", "allow", "prefer", "require"] {
        let mut sink = connect(&with_param(&url, &format!("sslmode={mode}")))
            .await
            .unwrap_or_else(|e| panic!("sslmode={mode}: {e}"));
        sink.flush().await.unwrap();
    }
}

#[tokio::test]
async fn sslmode_verify_full_checks_the_certificate() {
    // Fails with how to get PostgreSQL when there is none.
    harness::pg_client().await;
    let url = harness::pg_url();
    // The test server's certificate is self-signed (or TLS is off): verification must fail,
    // and say why, unless the server's CA is given explicitly.
    let err = connect(&with_param(&url, "sslmode=verify-full"))
        .await
        .err();
    if let Some(err) = err {
        eprintln!("verify-full: {err}");
        assert!(err.contains("connecting to PostgreSQL"), "{err}");
    }
    let err = connect(&with_param(
        &url,
        "sslmode=verify-ca&sslrootcert=/nonexistent/ca.pem",
    ))
    .await
    .err()
    .expect("a missing root file is an error");
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
    let err = connect(&with_param(&url, "sslmode=sometimes"))
        .await
        .err()
        .unwrap();
    assert!(err.contains("invalid sslmode"), "{err}");
}

#[tokio::test]
async fn errors_never_show_the_password() {
    for conn in [
        "postgres://postgres:Sup3rSecret@127.0.0.1:1/test?sslmode=disable",
        "host=127.0.0.1 port=1 user=postgres password=Sup3rSecret dbname=test sslmode=disable",
        "host=127.0.0.1 port=1 user=postgres password='Sup3rSecret' connect_timeout=bogus",
        "postgres://postgres:Sup3rSecret@127.0.0.1:5432/no_such_database_here?sslmode=disable",
    ] {
        let err = connect(conn).await.err().expect("must fail");
        assert!(!err.contains("Sup3rSecret"), "{err}");
        assert!(err.contains("xxxxx"), "{err}");
    }
}

#[tokio::test]
async fn batches_are_buffered_until_batch_size_and_state_flushes_rows_first() {
    let h = harness::postgres("batching").await;
    let t = h.table("batched");
    let state = h.table("state");
    let schema = data::schema(&t, data::full_fields());
    let options = PostgresOptions {
        batch_size: 5,
        ..PostgresOptions::default()
    };
    let mut sink = PostgresSink::connect(&harness::pg_url(), options)
        .await
        .unwrap();
    sink.migrate(schema.clone()).await.unwrap();
    let rows: Vec<Row> = (0..7).map(|i| Row::full(&format!("r{i}"))).collect();
    sink.write(data::full_batch(&schema, &rows[..3]))
        .await
        .unwrap();
    assert_eq!(
        h.rows(&t, &schema).await.len(),
        0,
        "3 < batch_size rows stay buffered"
    );
    sink.write(data::full_batch(&schema, &rows[3..6]))
        .await
        .unwrap();
    assert_eq!(
        h.rows(&t, &schema).await.len(),
        6,
        "reaching batch_size writes"
    );
    sink.write(data::full_batch(&schema, &rows[6..]))
        .await
        .unwrap();
    sink.write_state(&state, &HashMap::from([("k".to_string(), "v".to_string())]))
        .await
        .unwrap();
    assert_eq!(
        h.rows(&t, &schema).await.len(),
        7,
        "write_state flushes rows first"
    );
    // batch_size_bytes triggers as well.
    let options = PostgresOptions {
        batch_size_bytes: 1,
        ..PostgresOptions::default()
    };
    let mut sink = PostgresSink::connect(&harness::pg_url(), options)
        .await
        .unwrap();
    let more = vec![Row::full("bytes")];
    sink.write(data::full_batch(&schema, &more)).await.unwrap();
    assert_eq!(h.rows(&t, &schema).await.len(), 8);
    h.cleanup().await;
}

#[tokio::test]
async fn type_change_is_refused_with_the_column_named() {
    let h = harness::postgres("retype_pg").await;
    let t = h.table("retype");
    let mut sink = h.sink(WriteMode::Overwrite, MigrateMode::Safe).await;
    h.exec(&format!(
        "CREATE TABLE \"{t}\" (\"id\" text PRIMARY KEY, \"n\" integer)"
    ))
    .await;
    let schema = data::schema(
        &t,
        vec![
            entrasync_sinks::cq::field("id", entrasync_sinks::cq::ColumnKind::Utf8, true, true),
            entrasync_sinks::cq::field("n", entrasync_sinks::cq::ColumnKind::Int64, false, false),
        ],
    );
    let err = sink.migrate(schema).await.unwrap_err().to_string();
    assert!(
        err.contains("\"n\" is integer") && err.contains("bigint"),
        "{err}"
    );
    h.cleanup().await;
}

/// PostgreSQL cannot hold U+0000: a NUL in text, in a list item or escaped in JSON is an error
/// naming the table, column and row, and nothing of the failed flush is stored; an escaped
/// backslash before `u0000` is plain text and is stored as sent.
#[tokio::test]
async fn nul_characters_are_refused_naming_table_column_and_row() {
    let h = harness::postgres("nul").await;
    let t = h.table("nul");
    let schema = data::schema(&t, data::full_fields());
    let mut sink = h.sink(WriteMode::Overwrite, MigrateMode::Safe).await;
    sink.migrate(schema.clone()).await.unwrap();
    let mut in_name = Row::full("b");
    in_name.name = Some("nul\0here".into());
    let mut in_list = Row::full("b");
    in_list.tags = Some(vec![Some("ok"), Some("x\0")]);
    let mut in_json = Row::full("b");
    in_json.props = Some(r#"{"s":"x\u0000y"}"#);
    for (row, column, what) in [
        (in_name, "name", "NUL at byte 3"),
        (in_list, "tags", "NUL at byte 1"),
        (in_json, "props", "escaped NUL (\\u0000) in JSON at byte 7"),
    ] {
        sink.write(data::full_batch(&schema, &[Row::full("a"), row]))
            .await
            .unwrap();
        let err = sink.flush().await.unwrap_err().to_string();
        assert!(
            err.contains(&format!(
                "table {t}: column {column:?} row 1 of the batch: {what}"
            )) && err.contains("remove it at the source"),
            "{err}"
        );
        assert_eq!(h.rows(&t, &schema).await, Vec::<harness::JsonRow>::new());
    }
    let mut escaped_backslash = Row::full("a");
    escaped_backslash.props = Some(r#"{"s":"x\\u0000y"}"#);
    sink.write(data::full_batch(&schema, &[escaped_backslash]))
        .await
        .unwrap();
    sink.flush().await.unwrap();
    assert_eq!(
        h.rows(&t, &schema).await[0]["props"],
        serde_json::json!({"s": "x\\u0000y"})
    );
    h.cleanup().await;
}
