//! Stale rows of incremental tables under the CloudQuery CLI.
//!
//! With a state backend the CLI sends no delete-stale for incremental tables and their
//! descendants, yet the scheduler sometimes re-reads such a table whole (`TableDone.replaced`:
//! a first or expired delta, child tables re-read for every parent). Standalone, delete-stale
//! removes what that read did not return; under the CLI the source must say it with
//! delete-record messages. So the source keeps, in the state backend, the primary keys of the
//! rows it has emitted for each such table (a superset of the rows the destination holds: a
//! delete of an absent row is harmless), and when a table was replaced it deletes the keys of
//! the previous set that this sync did not emit.
//!
//! The keys are stored compactly (without `tenant_id`, tab- and newline-separated) in chunks of
//! at most `CHUNK_BYTES` (`<table>|<tenant>|rows|<n>`, with the count in `<table>|<tenant>|rows`),
//! so that no single state value, nor any message to the backend, grows with the tenant. Log
//! tables, whose history is kept, are not tracked.

use crate::sync::convert;
use crate::tables::{self, Selected};
use arrow_array::{Array, RecordBatch, StringArray};
use entrasync_proto::plugin::v3 as pb;
use entrasync_sinks::cq;
use std::collections::{BTreeSet, HashMap};

type Key = Vec<String>;

/// What a finished table produces: delete-records of its stale rows, and the state entries
/// that store its keys from now on.
pub type Finished = (Vec<pb::sync::MessageDeleteRecord>, Vec<(String, String)>);

pub struct StaleRows {
    tenant: String,
    /// Table → its primary-key columns, for the tables the CLI will not delete-stale.
    tracked: HashMap<&'static str, Vec<String>>,
    previous: HashMap<&'static str, BTreeSet<Key>>,
    /// Chunks each table's keys took in the state read at the start.
    previous_chunks: HashMap<&'static str, usize>,
    seen: HashMap<&'static str, BTreeSet<Key>>,
}

/// The state key holding the number of chunks of a table's emitted keys.
pub fn state_key(table: &str, tenant: &str) -> String {
    format!("{table}|{tenant}|rows")
}

/// The state key of one chunk of a table's emitted keys.
fn chunk_key(table: &str, tenant: &str, n: usize) -> String {
    format!("{table}|{tenant}|rows|{n}")
}

/// The most bytes of keys one state value holds.
const CHUNK_BYTES: usize = 256 * 1024;

/// Reads the keys stored for a table: chunks (`chunks:<n>`), or the JSON list of older versions.
fn read_keys(table: &str, tenant: &str, state: &HashMap<String, String>) -> BTreeSet<Key> {
    let Some(head) = state.get(&state_key(table, tenant)) else {
        return BTreeSet::new();
    };
    let Some(n) = head
        .strip_prefix("chunks:")
        .and_then(|n| n.parse::<usize>().ok())
    else {
        // Keys written by an older version: a JSON list of full keys, tenant included.
        let full: BTreeSet<Key> = serde_json::from_str(head).unwrap_or_default();
        return full
            .into_iter()
            .map(|k| k.into_iter().skip(1).collect())
            .collect();
    };
    (0..n)
        .filter_map(|i| state.get(&chunk_key(table, tenant, i)))
        .flat_map(|chunk| chunk.lines())
        .filter(|line| !line.is_empty())
        .map(|line| line.split('\t').map(str::to_string).collect())
        .collect()
}

/// The state entries that store `keys`, replacing `previous_chunks` chunks.
fn write_keys(
    table: &str,
    tenant: &str,
    keys: &BTreeSet<Key>,
    previous_chunks: usize,
) -> Vec<(String, String)> {
    let mut chunks: Vec<String> = vec![String::new()];
    for key in keys {
        let line = key.join("\t");
        let last = chunks.last_mut().expect("one chunk at least");
        if !last.is_empty() && last.len() + line.len() + 1 > CHUNK_BYTES {
            chunks.push(String::new());
        }
        let last = chunks.last_mut().expect("one chunk at least");
        last.push_str(&line);
        last.push('\n');
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for i in chunks.len()..previous_chunks {
        // The state table keeps every key: a chunk no longer used is emptied.
        out.push((chunk_key(table, tenant, i), String::new()));
    }
    let n = chunks.len();
    for (i, chunk) in chunks.into_iter().enumerate() {
        out.push((chunk_key(table, tenant, i), chunk));
    }
    out.push((state_key(table, tenant), format!("chunks:{n}")));
    out
}

fn incremental(table: &str) -> bool {
    tables::by_name(table).is_some_and(|t| {
        convert::schema(t)
            .metadata()
            .get(cq::META_TABLE_INCREMENTAL)
            .map(String::as_str)
            == Some("true")
    })
}

/// Whether the CLI skips delete-stale for `table` when a backend is set: the table or one of
/// its ancestors is incremental.
pub fn cli_skips_delete_stale(mut table: &'static str) -> bool {
    loop {
        if incremental(table) {
            return true;
        }
        match tables::by_name(table).and_then(|t| t.parent()) {
            Some(parent) => table = parent,
            None => return false,
        }
    }
}

impl StaleRows {
    pub fn new(selected: &[Selected], tenant: &str, state: &HashMap<String, String>) -> StaleRows {
        let mut me = StaleRows {
            tenant: tenant.to_string(),
            tracked: HashMap::new(),
            previous: HashMap::new(),
            previous_chunks: HashMap::new(),
            seen: HashMap::new(),
        };
        for s in selected {
            let name = s.table.name;
            // Log tables are never replaced (their history is kept), so their keys are not
            // needed; keeping them would grow the state with every sign-in.
            let log = matches!(s.table.incremental, tables::Incremental::Cursor { .. });
            if log || !cli_skips_delete_stale(name) {
                continue;
            }
            me.tracked.insert(name, s.table.primary_key());
            let chunks = state
                .get(&state_key(name, tenant))
                .and_then(|h| h.strip_prefix("chunks:"))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            me.previous_chunks.insert(name, chunks);
            me.previous.insert(name, read_keys(name, tenant, state));
            me.seen.insert(name, BTreeSet::new());
        }
        me
    }

    /// Records the keys of an emitted batch.
    pub fn saw(&mut self, batch: &RecordBatch) {
        let schema = batch.schema();
        let Some(name) = cq::table_name(&schema) else {
            return;
        };
        let Some((&table, pk)) = self.tracked.get_key_value(name) else {
            return;
        };
        let columns: Option<Vec<&StringArray>> = pk
            .iter()
            .map(|c| {
                batch
                    .column_by_name(c)
                    .and_then(|a| a.as_any().downcast_ref::<StringArray>())
            })
            .collect();
        let Some(columns) = columns else {
            // Keys that are not text are not tracked; such a table keeps its stale rows.
            return;
        };
        let seen = self.seen.entry(table).or_default();
        for row in 0..batch.num_rows() {
            if columns.iter().any(|c| c.is_null(row)) {
                continue;
            }
            // `tenant_id` (the first key column) is the same for every key of the state entry.
            seen.insert(
                columns
                    .iter()
                    .skip(1)
                    .map(|c| c.value(row).to_string())
                    .collect(),
            );
        }
    }

    /// At the end of a table: the delete-records of its stale rows (when it was replaced), and
    /// the state entry with its keys from now on.
    pub fn finish(&mut self, table: &str, replaced: bool) -> anyhow::Result<Option<Finished>> {
        let Some((&name, pk)) = self.tracked.get_key_value(table) else {
            return Ok(None);
        };
        let seen = self.seen.remove(name).unwrap_or_default();
        let previous = self.previous.remove(name).unwrap_or_default();
        let mut deletes = Vec::new();
        let keys = if replaced {
            for stale in previous.difference(&seen) {
                let tenant = std::iter::once(self.tenant.clone());
                let keys: Vec<(String, String)> = pk
                    .iter()
                    .cloned()
                    .zip(tenant.chain(stale.iter().cloned()))
                    .collect();
                deletes.push(super::source::delete_record(name, &keys)?);
            }
            seen
        } else {
            previous.union(&seen).cloned().collect()
        };
        let chunks = self.previous_chunks.get(name).copied().unwrap_or(0);
        Ok(Some((
            deletes,
            write_keys(name, &self.tenant, &keys, chunks),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_through_bounded_chunks() {
        let keys: BTreeSet<Key> = (0..40_000)
            .map(|i| vec![format!("group-{i:08}"), uuid::Uuid::new_v4().to_string()])
            .collect();
        let entries = write_keys("entraid_group_owners", "t", &keys, 0);
        assert!(entries.len() > 8, "{} entries", entries.len());
        assert!(entries.iter().all(|(_, v)| v.len() <= CHUNK_BYTES));
        let state: HashMap<String, String> = entries.into_iter().collect();
        assert_eq!(read_keys("entraid_group_owners", "t", &state), keys);
        // Fewer keys later: the surplus chunks are emptied, and nothing old is read back.
        let few: BTreeSet<Key> = keys.iter().take(3).cloned().collect();
        let mut state = state;
        let chunks = state["entraid_group_owners|t|rows"]
            .strip_prefix("chunks:")
            .unwrap()
            .parse()
            .unwrap();
        state.extend(write_keys("entraid_group_owners", "t", &few, chunks));
        assert_eq!(read_keys("entraid_group_owners", "t", &state), few);
    }

    #[test]
    fn keys_of_older_versions_are_read() {
        let state = HashMap::from([(
            "entraid_users|t|rows".to_string(),
            r#"[["t","u1"],["t","u2"]]"#.to_string(),
        )]);
        let keys = read_keys("entraid_users", "t", &state);
        assert_eq!(
            keys,
            BTreeSet::from([vec!["u1".to_string()], vec!["u2".to_string()]])
        );
    }

    #[test]
    fn incremental_tables_and_their_descendants_are_tracked() {
        assert!(cli_skips_delete_stale("entraid_users"));
        assert!(cli_skips_delete_stale("entraid_application_owners"));
        assert!(!cli_skips_delete_stale("entraid_domains"));
    }
}
