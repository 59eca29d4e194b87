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

use crate::sync::convert;
use crate::tables::{self, Selected};
use arrow_array::{Array, RecordBatch, StringArray};
use entrasync_proto::plugin::v3 as pb;
use entrasync_sinks::cq;
use std::collections::{BTreeSet, HashMap};

type Key = Vec<String>;

pub struct StaleRows {
    tenant: String,
    /// Table → its primary-key columns, for the tables the CLI will not delete-stale.
    tracked: HashMap<&'static str, Vec<String>>,
    previous: HashMap<&'static str, BTreeSet<Key>>,
    seen: HashMap<&'static str, BTreeSet<Key>>,
}

/// The state key holding a table's emitted keys.
pub fn state_key(table: &str, tenant: &str) -> String {
    format!("{table}|{tenant}|rows")
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
            let previous: BTreeSet<Key> = state
                .get(&state_key(name, tenant))
                .and_then(|v| serde_json::from_str(v).ok())
                .unwrap_or_default();
            me.previous.insert(name, previous);
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
            seen.insert(columns.iter().map(|c| c.value(row).to_string()).collect());
        }
    }

    /// At the end of a table: the delete-records of its stale rows (when it was replaced), and
    /// the state entry with its keys from now on.
    pub fn finish(
        &mut self,
        table: &str,
        replaced: bool,
    ) -> anyhow::Result<Option<(Vec<pb::sync::MessageDeleteRecord>, String, String)>> {
        let Some((&name, pk)) = self.tracked.get_key_value(table) else {
            return Ok(None);
        };
        let seen = self.seen.remove(name).unwrap_or_default();
        let previous = self.previous.remove(name).unwrap_or_default();
        let mut deletes = Vec::new();
        let keys = if replaced {
            for stale in previous.difference(&seen) {
                let keys: Vec<(String, String)> =
                    pk.iter().cloned().zip(stale.iter().cloned()).collect();
                deletes.push(super::source::delete_record(name, &keys)?);
            }
            seen
        } else {
            previous.union(&seen).cloned().collect()
        };
        let value = serde_json::to_string(&keys)?;
        Ok(Some((deletes, state_key(name, &self.tenant), value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn incremental_tables_and_their_descendants_are_tracked() {
        assert!(cli_skips_delete_stale("entraid_users"));
        assert!(cli_skips_delete_stale("entraid_application_owners"));
        assert!(!cli_skips_delete_stale("entraid_domains"));
    }
}
