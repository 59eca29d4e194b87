//! Graph delta queries (graph-api.md §3): the first round reads every current object and stores
//! the delta link; later rounds apply only the changes — upserts, `@removed` deletions and
//! relationship changes carried as `members@delta` / `owners@delta`. An expired delta link
//! restarts as a first round.

use super::{Link, Read, Scheduler, SyncMessage, TableRun, state_key, transitive};
use crate::graph::GraphError;
use crate::tables::{Source, Table};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

impl Scheduler {
    /// One delta round: upserts, `@removed` deletions, relationship changes, and children re-read
    /// for the parents that changed. An expired delta link restarts as a first round.
    pub(super) async fn read_delta(
        &self,
        run: &Arc<TableRun>,
        mut url: String,
        mut initial: bool,
        children: &[Arc<TableRun>],
        jobs: &mut Vec<tokio::task::JoinHandle<()>>,
    ) -> Result<(), GraphError> {
        let Source::List { path } = run.table.source else {
            unreachable!("delta plans are made for collections only")
        };
        let mut chain = self.client.chain();
        // The last object of a page, held back: a large group's `members@delta` continues on
        // the next page, which repeats the group (graph-api.md §3), and the group must be
        // emitted (and its children read) once.
        let mut carried: Option<Value> = None;
        let mut fetched = self.page(&url, &run.traffic).await;
        // A round that starts as a first one stores every group whole: closures can go out.
        let streams_closure = initial;
        loop {
            run.full.store(initial, Relaxed);
            for child in children {
                let whole = initial
                    || (child.table.parent_delta.is_none()
                        && matches!(child.plan(), super::ChildPlan::Full));
                child.full.store(whole, Relaxed);
            }
            let (objects, link) = match fetched {
                Ok(page) => page,
                Err(e) if e.is_delta_expired() && !initial => {
                    tracing::warn!(
                        table = run.table.name,
                        "the stored delta link can no longer be used ({e}); syncing the table in full"
                    );
                    url = self.client.url(&self.delta_query(run.table, path));
                    initial = true;
                    carried = None;
                    self.resync_children(children);
                    fetched = self.page(&url, &run.traffic).await;
                    continue;
                }
                Err(e) => return Err(e),
            };
            let objects: Vec<Value> = carried.take().into_iter().chain(objects).collect();
            let (mut present, removed) = fold(objects);
            if matches!(link, Link::Next(_))
                && let Some(last) = present.pop()
            {
                carried = Some(last);
            }
            let started = std::time::Instant::now();
            let store = async {
                self.apply_removals(run, &removed, initial).await?;
                self.note_restored(run, &present, initial);
                let read = Read::Delta {
                    incremental: !initial,
                };
                self.emit(run, &present, children, jobs, read).await?;
                if streams_closure {
                    self.stream_closure(run, &present).await?;
                }
                Ok::<_, GraphError>(started.elapsed())
            };
            let next = match link {
                Link::Next(next) => next,
                last => {
                    store.await?;
                    self.after_round(run, path, initial, children, jobs).await?;
                    if let Link::Delta(delta) = last {
                        *run.pending_state.lock().expect("not poisoned") =
                            Some(SyncMessage::State {
                                key: state_key(run.table.name, self.client.tenant_id()),
                                value: delta,
                            });
                    }
                    return Ok(());
                }
            };
            // The chain's pages are one round trip each: the next one is on its way while this
            // one is stored.
            chain.follow(&next)?;
            let (storing, next_page) = tokio::join!(store, self.page(&next, &run.traffic));
            tracing::debug!(
                table = run.table.name,
                storing_ms = storing.as_ref().map_or(0, |d| d.as_millis() as u64),
                page_ms = started.elapsed().as_millis() as u64,
                "delta page"
            );
            storing?;
            fetched = next_page;
        }
    }

    /// A first round after an expired link re-reads every child, as a first sync does.
    fn resync_children(&self, children: &[Arc<TableRun>]) {
        for child in children {
            *child.plan.lock().expect("not poisoned") = super::ChildPlan::Full;
        }
    }

    /// After the last page: children not carried by the delta are brought up to date.
    async fn after_round(
        &self,
        run: &Arc<TableRun>,
        path: &str,
        initial: bool,
        children: &[Arc<TableRun>],
        jobs: &mut Vec<tokio::task::JoinHandle<()>>,
    ) -> Result<(), GraphError> {
        if initial {
            // Every parent was listed, and its children read with it.
            return Ok(());
        }
        self.update_children(run, path, children, jobs).await
    }

    /// Deletes the rows of removed objects; remembers soft-deleted users for a later restore.
    async fn apply_removals(
        &self,
        run: &Arc<TableRun>,
        removed: &[Removed],
        initial: bool,
    ) -> Result<(), GraphError> {
        for gone in removed {
            let Some(id) = &gone.id else {
                // A removal we cannot apply: the round must not count as complete.
                run.skipped_objects.fetch_add(1, Relaxed);
                continue;
            };
            run.removed.fetch_add(1, Relaxed);
            self.send(SyncMessage::DeleteRecord {
                table: run.table.name,
                keys: self.keys(&[("id", id)]),
            })
            .await?;
            self.removed
                .lock()
                .expect("not poisoned")
                .push(id.to_string());
            if transitive::restorable(run.table) && !initial {
                let mut soft = self.soft_deleted.lock().expect("not poisoned");
                if gone.soft {
                    soft.deleted.insert(id.clone(), self.started);
                } else {
                    soft.deleted.remove(id);
                }
            }
        }
        Ok(())
    }

    /// A user that reappears after a soft delete was restored: Graph's delta does not report
    /// the memberships it regains, so they are read back at the end of the sync.
    fn note_restored(&self, run: &TableRun, present: &[Value], initial: bool) {
        if !transitive::restorable(run.table) || initial {
            return;
        }
        let mut soft = self.soft_deleted.lock().expect("not poisoned");
        if soft.deleted.is_empty() {
            return;
        }
        for object in present {
            if let Some(id) = object.get("id").and_then(Value::as_str)
                && soft.deleted.remove(id).is_some()
            {
                soft.restore.push(id.to_string());
            }
        }
    }

    /// `/{version}{path}/delta?$select=…`, with the relationships whose `@delta` annotation
    /// carries the rows of a selected child table (`members`, `owners`).
    pub(super) fn delta_query(&self, table: &Table, path: &str) -> String {
        let mut select: Vec<&str> = table.select();
        for child in self.children_of(table.name) {
            if let Some(relationship) = child.table.parent_delta {
                select.push(relationship);
            }
        }
        let mut url = format!("/{}{}/delta", table.version.segment(), path);
        if !select.is_empty() {
            url.push_str("?$select=");
            url.push_str(&select.join(","));
        }
        url
    }

    /// Rows of a child table carried in the parent's delta page: additions upserted, entries
    /// with `@removed` deleted, in the order Graph gave them.
    pub(super) async fn emit_related(
        &self,
        child: &Arc<TableRun>,
        parent_id: &str,
        parent_cq_id: uuid::Uuid,
        related: &[Value],
    ) -> Result<(), GraphError> {
        let parent_key = child.table.parent_key().unwrap_or("parent_id");
        let (present, removed) = fold(related.to_vec());
        if self.is_closure_input(child.table.name) && !(present.is_empty() && removed.is_empty()) {
            self.membership_changed
                .lock()
                .expect("not poisoned")
                .insert(parent_id.to_string());
        }
        for gone in &removed {
            if let Some(id) = &gone.id {
                child.removed.fetch_add(1, Relaxed);
                self.send(SyncMessage::DeleteRecord {
                    table: child.table.name,
                    keys: self.keys(&[(parent_key, parent_id), ("id", id)]),
                })
                .await?;
            } else {
                child.skipped_objects.fetch_add(1, Relaxed);
            }
        }
        if let Some(m) = &self.memberships
            && self.is_closure_input(child.table.name)
        {
            m.lock()
                .expect("not poisoned")
                .add_members(parent_id, &present);
        }
        if present.is_empty() {
            return Ok(());
        }
        let ctx = super::convert::RowContext {
            tenant_id: self.client.tenant_id(),
            parent: Some((parent_id, parent_cq_id)),
        };
        // A page carries a few rows for each of its groups: sent a thousand at a time.
        child
            .insert_batched(&self.tx, &present, &ctx, self.options.deterministic(), true)
            .await
            .map(|_| ())
    }
}

/// An `@removed` entry: the id (when Graph gave one) and whether the object can be restored.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Removed {
    pub id: Option<String>,
    /// `@removed.reason` is `changed`: soft-deleted, restorable for 30 days.
    pub soft: bool,
}

/// Folds a delta page (or a `*@delta` list) into its net effect, in Graph's order: the last
/// word on an id wins, so an id listed and then `@removed` is removed, and one removed and then
/// listed again is present. Repeated objects merge (a large group's `members@delta` is split
/// across repetitions of the group). Each id ends in at most one of the two lists.
pub(super) fn fold(objects: Vec<Value>) -> (Vec<Value>, Vec<Removed>) {
    enum Net {
        Present(Value),
        Removed(Removed),
    }
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut net: Vec<Option<Net>> = Vec::with_capacity(objects.len());
    let mut anonymous_removals = Vec::new();
    for o in objects {
        let id = o.get("id").and_then(Value::as_str).map(str::to_string);
        let removal = o.get("@removed").map(|r| Removed {
            id: id.clone(),
            soft: r.get("reason").and_then(Value::as_str) == Some("changed"),
        });
        let Some(id) = id else {
            match removal {
                Some(r) => anonymous_removals.push(r),
                // Kept, so that the table counts it as an object without a key.
                None => net.push(Some(Net::Present(o))),
            }
            continue;
        };
        let previous = index.get(&id).and_then(|&i| net[i].take());
        let next = match (previous, removal) {
            (_, Some(r)) => Net::Removed(r),
            (Some(Net::Present(mut earlier)), None) => {
                merge_into(&mut earlier, o);
                Net::Present(earlier)
            }
            (_, None) => Net::Present(o),
        };
        index.insert(id, net.len());
        net.push(Some(next));
    }
    let mut present = Vec::new();
    let mut removed = anonymous_removals;
    for entry in net.into_iter().flatten() {
        match entry {
            Net::Present(v) => present.push(v),
            Net::Removed(r) => removed.push(r),
        }
    }
    (present, removed)
}

/// Keeps the last occurrence of each id, merged with earlier ones: Graph may repeat an object
/// within a response, and one batch must not upsert a key twice.
pub(super) fn dedupe_by_id(objects: Vec<Value>) -> Vec<Value> {
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut out: Vec<Value> = Vec::with_capacity(objects.len());
    for o in objects {
        match o.get("id").and_then(Value::as_str).map(str::to_string) {
            Some(id) => match index.get(&id) {
                Some(&i) => merge_into(&mut out[i], o),
                None => {
                    index.insert(id, out.len());
                    out.push(o);
                }
            },
            None => out.push(o),
        }
    }
    out
}

/// Later properties win; `*@delta` arrays are concatenated.
fn merge_into(target: &mut Value, newer: Value) {
    let (Some(t), Value::Object(n)) = (target.as_object_mut(), newer) else {
        return;
    };
    for (k, v) in n {
        match (t.get_mut(&k), v) {
            (Some(Value::Array(existing)), Value::Array(more)) if k.ends_with("@delta") => {
                existing.extend(more)
            }
            (_, v) => {
                t.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn split_member_deltas_merge_by_group() {
        let (present, removed) = fold(vec![
            json!({"id": "g", "displayName": "A", "members@delta": [{"id": "u1"}]}),
            json!({"id": "x"}),
            json!({"id": "g", "members@delta": [{"id": "u2"}]}),
        ]);
        assert!(removed.is_empty());
        assert_eq!(present.len(), 2);
        let g = present.iter().find(|o| o["id"] == "g").unwrap();
        assert_eq!(g["displayName"], "A");
        assert_eq!(g["members@delta"], json!([{"id": "u1"}, {"id": "u2"}]));
    }

    #[test]
    fn the_last_word_on_an_id_wins() {
        let (present, removed) = fold(vec![
            json!({"id": "a", "displayName": "A"}),
            json!({"id": "a", "@removed": {"reason": "changed"}}),
            json!({"id": "b", "@removed": {"reason": "deleted"}}),
            json!({"id": "b", "displayName": "B again"}),
            json!({"@removed": {"reason": "deleted"}}),
        ]);
        assert_eq!(present, vec![json!({"id": "b", "displayName": "B again"})]);
        assert_eq!(
            removed,
            vec![
                Removed {
                    id: None,
                    soft: false
                },
                Removed {
                    id: Some("a".into()),
                    soft: true
                },
            ]
        );
    }

    #[test]
    fn dedupe_keeps_one_row_per_id() {
        let out = dedupe_by_id(vec![
            json!({"id": "a", "x": 1}),
            json!({"id": "a", "x": 2}),
            json!({"x": 3}),
        ]);
        assert_eq!(out, vec![json!({"id": "a", "x": 2}), json!({"x": 3})]);
    }
}
