//! The conformance suite: the same cases run against every database sink (SQLite always;
//! PostgreSQL against `ENTRASYNC_TEST_PG`, default `postgres://postgres@127.0.0.1:5432/test`),
//! plus the file sink's own tests. Every test that needs PostgreSQL has `postgres` in its name
//! (`postgres::*`, `postgres_only::*`): `-- --skip postgres` leaves them out.

mod cases;
mod data;
mod file;
mod harness;
mod postgres_only;

macro_rules! conformance {
    ($module:ident, $make:path) => {
        mod $module {
            use super::*;
            conformance!(@cases $make;
                all_kinds_roundtrip_with_nulls,
                upsert_by_primary_key,
                duplicate_keys_in_one_batch_last_wins,
                migrate_adds_new_columns,
                migrate_is_idempotent,
                migrate_refuses_type_change_unless_forced,
                delete_stale_removes_only_old_rows_of_the_source,
                delete_stale_of_a_tenant_keeps_other_tenants,
                delete_rows_by_key_cascades_to_children,
                delete_rows_with_composite_keys,
                delete_many_rows,
                state_roundtrip,
                state_reads_highest_version,
                append_mode_keeps_duplicates,
                empty_batch_is_a_no_op,
                missing_table_name_is_an_error,
                hostile_identifiers_are_quoted,
                many_rows_in_many_batches,
                sync_columns_helper_matches_the_cli,
                narrower_arrow_types_are_widened,
                read_returns_what_was_written,
                state_table_written_through_migrate_and_write,
            );
        }
    };
    (@cases $make:path; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let h = $make(stringify!($case)).await;
                cases::$case(&*h).await;
                h.cleanup().await;
            }
        )*
    };
}

conformance!(sqlite, harness::sqlite);
conformance!(postgres, harness::postgres);
