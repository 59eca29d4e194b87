//! Log tables (sign-ins, audits, risk detections): entries newer than a timestamp cursor. History
//! is kept; the cursor restarts `log_overlap` early for entries Graph indexes late, and the
//! overlap is de-duplicated by id.

use super::delta::dedupe_by_id;
use super::{Link, Read, Scheduler, SyncMessage, TableRun, list_query, state_key};
use crate::graph::GraphError;
use crate::tables::Source;
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

impl Scheduler {
    /// Entries newer than `since`, largest pages Graph allows; the newest timestamp seen
    /// becomes the cursor.
    pub(super) async fn read_log(
        &self,
        run: &Arc<TableRun>,
        property: &'static str,
        since: Option<DateTime<Utc>>,
    ) -> Result<(), GraphError> {
        run.full.store(false, Relaxed);
        let Source::List { path } = run.table.source else {
            return Ok(());
        };
        let filter = since.map(|t| format!("{property} ge {}", t.format("%Y-%m-%dT%H:%M:%SZ")));
        let mut url = self
            .client
            .url(&list_query(run.table, path, filter.as_deref()));
        let mut newest: Option<String> = None;
        let mut chain = self.client.chain();
        loop {
            let (objects, next) = self.page(&url, &run.traffic).await?;
            for o in &objects {
                if let Some(t) = o.get(property).and_then(Value::as_str)
                    && newest.as_deref().is_none_or(|n| later(t, n))
                {
                    newest = Some(t.to_string());
                }
            }
            let objects = dedupe_by_id(objects);
            self.emit(run, &objects, &[], &mut Vec::new(), Read::Listing)
                .await?;
            run.flush(&self.tx).await?;
            match next {
                Link::Next(next) => {
                    chain.follow(&next)?;
                    url = next;
                }
                _ => break,
            }
        }
        if self.incremental() {
            let previous = self.table_state(run.table).cloned();
            let cursor = match (newest, previous) {
                (Some(n), Some(p)) if !later(&n, &p) => Some(p),
                (Some(n), _) => Some(n),
                (None, p) => p,
            };
            if let Some(cursor) = cursor {
                *run.pending_state.lock().expect("not poisoned") = Some(SyncMessage::State {
                    key: state_key(run.table.name, self.client.tenant_id()),
                    value: cursor,
                });
            }
        }
        Ok(())
    }
}

/// RFC 3339 timestamps compared as instants.
pub(super) fn later(a: &str, b: &str) -> bool {
    match (
        super::convert::parse_timestamp(a),
        super::convert::parse_timestamp(b),
    ) {
        (Some(a), Some(b)) => a > b,
        _ => a > b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_compares_instants() {
        assert!(later(
            "2024-01-02T00:00:00Z",
            "2024-01-01T23:59:59.9999999Z"
        ));
        assert!(!later(
            "2024-01-01T00:00:00Z",
            "2024-01-01T00:00:00.0000000Z"
        ));
    }
}
