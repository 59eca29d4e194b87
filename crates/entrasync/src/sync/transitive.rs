//! `entraid_group_transitive_members`: every member of every group through nested groups.
//!
//! A full sync computes it from the direct memberships it reads anyway: no Graph calls of its
//! own, nested groups of any depth, cycles safe. An incremental sync updates it from the
//! membership changes only: the groups whose members changed and every group that contains
//! them (`/groups/{id}/transitiveMemberOf`) get their transitive members re-read from Graph
//! (`/groups/{id}/transitiveMembers`) and replaced. A closure whose last update did not
//! complete is rebuilt in full, with one full round of groups.

use super::{Outcome, Scheduler, SyncMessage, TableRun, children::Refresh};
use super::{convert, state_key};
use crate::graph::{GraphError, Traffic};
use crate::tables::{self, Source};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

/// Whether a table's objects can be soft-deleted and restored with their relationships
/// (users), so that a restore must read them back.
pub fn restorable(table: &tables::Table) -> bool {
    table.resource == "user" && table.incremental == tables::Incremental::Delta
}
/// State entry (per tenant) of users soft-deleted in the last 30 days and restores to finish.
pub const SOFT_DELETED: &str = "soft_deleted_users";
/// Graph keeps soft-deleted objects restorable this long.
const RESTORE_WINDOW: chrono::Duration = chrono::Duration::days(30);

pub type SharedMemberships = Arc<std::sync::Mutex<Memberships>>;

/// Users soft-deleted (id → when seen) and restored users whose memberships are still to read.
#[derive(Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SoftDeleted {
    #[serde(default)]
    pub deleted: BTreeMap<String, DateTime<Utc>>,
    #[serde(default)]
    pub restore: Vec<String>,
}

impl SoftDeleted {
    pub fn parse(value: &str) -> SoftDeleted {
        serde_json::from_str(value).unwrap_or_default()
    }

    /// The value to store: entries older than Graph's restore window are dropped.
    pub fn format(&self, now: DateTime<Utc>) -> String {
        let kept = SoftDeleted {
            deleted: self
                .deleted
                .iter()
                .filter(|(_, at)| now - **at < RESTORE_WINDOW)
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            restore: self.restore.clone(),
        };
        serde_json::to_string(&kept).expect("serializes")
    }
}

const GROUP_TYPE: &str = "#microsoft.graph.group";
/// Rows of the computed table per message: a group with 100,000 transitive members is sent in
/// pieces, as Graph would have paged it.
const CLOSURE_ROWS_PER_BATCH: usize = 5000;
/// Direct memberships collected during the sync, compactly: every id is stored once and
/// referred to by its index, and a member Graph gave only as `@odata.type` and `id` (as
/// `members@delta` does) is kept as its type, not as a JSON object. Memory grows with the
/// directory (~80 bytes per object, by the layout below), not with the membership count (4 bytes each).
#[derive(Default)]
pub struct Memberships {
    ids: Ids,
    /// `@odata.type` values, each once.
    types: Interner,
    /// group → direct members, in the order Graph listed them.
    edges: HashMap<u32, Vec<u32>>,
    /// member → what Graph returned for it.
    members: HashMap<u32, Member>,
    /// group → the group row's `_cq_id`.
    group_cq_ids: HashMap<u32, uuid::Uuid>,
    /// Groups whose member lists are final (`complete`), for closures sent during the sync.
    complete: HashSet<u32>,
    /// Groups whose closure went out.
    emitted: HashSet<u32>,
    /// An incomplete group → the groups whose closure waits for it.
    waiting: HashMap<u32, Vec<u32>>,
}

/// A member as Graph returned it.
enum Member {
    /// Only `@odata.type` (interned) and `id`.
    Reference(u32),
    /// Anything richer, kept whole.
    Object(Box<Value>),
}

/// Strings stored once, each with a dense index.
#[derive(Default)]
struct Interner {
    index: HashMap<Arc<str>, u32>,
    strings: Vec<Arc<str>>,
}

impl Interner {
    fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.index.get(s) {
            return i;
        }
        let i = u32::try_from(self.strings.len()).expect("fewer than 4 billion objects");
        let s: Arc<str> = Arc::from(s);
        self.strings.push(s.clone());
        self.index.insert(s, i);
        i
    }

    fn name(&self, i: u32) -> &str {
        &self.strings[i as usize]
    }
}

/// Object ids, each stored once with a dense index. A GUID as Graph writes directory object ids
/// (lower-case, hyphenated) is kept as its 16 bytes: ~50 bytes an id by layout, where text took
/// ~110 (large into SQLite, with the idle-connection cap: peak RSS 111 -> 98 MB).
#[derive(Default)]
struct Ids {
    guids: HashMap<[u8; 16], u32>,
    others: HashMap<Arc<str>, u32>,
    by_index: Vec<Id>,
}

enum Id {
    Guid([u8; 16]),
    Other(Arc<str>),
}

/// The bytes of `s` when it is a GUID written exactly as it would be printed back.
fn canonical_guid(s: &str) -> Option<[u8; 16]> {
    let guid = uuid::Uuid::try_parse(s).ok()?;
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    (guid.hyphenated().encode_lower(&mut text) == s).then(|| *guid.as_bytes())
}

impl Ids {
    fn intern(&mut self, s: &str) -> u32 {
        // Parsed once: this runs for every membership of the tenant.
        let guid = canonical_guid(s);
        if let Some(i) = self.find(s, guid) {
            return i;
        }
        let i = u32::try_from(self.by_index.len()).expect("fewer than 4 billion objects");
        match guid {
            Some(guid) => {
                self.guids.insert(guid, i);
                self.by_index.push(Id::Guid(guid));
            }
            None => {
                let s: Arc<str> = Arc::from(s);
                self.others.insert(s.clone(), i);
                self.by_index.push(Id::Other(s));
            }
        }
        i
    }

    fn get(&self, s: &str) -> Option<u32> {
        self.find(s, canonical_guid(s))
    }

    fn find(&self, s: &str, guid: Option<[u8; 16]>) -> Option<u32> {
        match guid {
            Some(guid) => self.guids.get(&guid).copied(),
            None => self.others.get(s).copied(),
        }
    }

    fn name(&self, i: u32) -> String {
        match &self.by_index[i as usize] {
            Id::Guid(guid) => uuid::Uuid::from_bytes(*guid).hyphenated().to_string(),
            Id::Other(s) => s.to_string(),
        }
    }
}

impl Memberships {
    pub fn add_group(&mut self, group_id: &str, cq_id: uuid::Uuid) {
        let group = self.ids.intern(group_id);
        self.group_cq_ids.insert(group, cq_id);
    }

    pub fn add_members(&mut self, group_id: &str, members: &[Value]) {
        let group = self.ids.intern(group_id);
        for m in members {
            let Some(id) = m.get("id").and_then(Value::as_str) else {
                continue;
            };
            let member = self.ids.intern(id);
            self.edges.entry(group).or_default().push(member);
            if self.members.contains_key(&member) {
                continue;
            }
            let reference = m.as_object().and_then(|o| {
                let ty = o.get("@odata.type")?.as_str()?;
                (o.len() == 2).then_some(ty)
            });
            let kept = match reference {
                Some(ty) => Member::Reference(self.types.intern(ty)),
                None => Member::Object(Box::new(m.clone())),
            };
            self.members.insert(member, kept);
        }
    }

    /// The groups of the closure whose rows have not gone out yet, in no particular order.
    pub fn groups(&self) -> Vec<String> {
        self.group_cq_ids
            .keys()
            .filter(|g| !self.emitted.contains(g))
            .map(|&g| self.ids.name(g))
            .collect()
    }

    /// Records that these groups' member lists are final, and returns the groups whose closure
    /// is now final too (every group reachable from them complete), each once: their rows can
    /// go out while the rest of the directory is still being read.
    pub fn complete(&mut self, groups: &[&str]) -> Vec<String> {
        let mut queue: Vec<u32> = Vec::new();
        for group in groups {
            let Some(g) = self.ids.get(group) else {
                continue;
            };
            if self.complete.insert(g) {
                queue.push(g);
                queue.extend(self.waiting.remove(&g).unwrap_or_default());
            }
        }
        let mut ready = Vec::new();
        while let Some(g) = queue.pop() {
            if self.emitted.contains(&g) || !self.group_cq_ids.contains_key(&g) {
                continue;
            }
            match self.first_incomplete(g) {
                Some(blocker) => self.waiting.entry(blocker).or_default().push(g),
                None => {
                    self.emitted.insert(g);
                    ready.push(self.ids.name(g));
                }
            }
        }
        ready
    }

    /// A group this group's closure depends on (itself or one nested in it) whose member list
    /// is not final yet.
    fn first_incomplete(&self, group: u32) -> Option<u32> {
        if !self.complete.contains(&group) {
            return Some(group);
        }
        self.reachable(group)
            .into_iter()
            .find(|&m| self.is_group(m) && !self.complete.contains(&m))
    }

    /// One group's transitive members as objects ready for the computed table (the member's
    /// properties plus `groupId`), with the group's `_cq_id`; `None` when it has none.
    pub fn closure_of(&self, group: &str) -> Option<(uuid::Uuid, Vec<Value>)> {
        let index = self.ids.get(group)?;
        let cq_id = *self.group_cq_ids.get(&index)?;
        let rows: Vec<Value> = self
            .reachable(index)
            .into_iter()
            .filter_map(|member| {
                let mut row = match self.members.get(&member)? {
                    Member::Reference(ty) => serde_json::json!({
                        "@odata.type": self.types.name(*ty),
                        "id": self.ids.name(member),
                    }),
                    Member::Object(object) => (**object).clone(),
                };
                row.as_object_mut()?
                    .insert("groupId".into(), Value::String(group.to_string()));
                Some(row)
            })
            .collect();
        (!rows.is_empty()).then_some((cq_id, rows))
    }

    /// Members reachable from `group` through nested groups, each once; `group` itself only when
    /// a cycle leads back to it (as Graph does not list a group as its own member, neither do we).
    fn reachable(&self, group: u32) -> Vec<u32> {
        let mut seen: HashSet<u32> = HashSet::new();
        let mut order = Vec::new();
        let mut queue: VecDeque<u32> = VecDeque::from([group]);
        while let Some(g) = queue.pop_front() {
            for &member in self.edges.get(&g).into_iter().flatten() {
                if member == group || !seen.insert(member) {
                    continue;
                }
                order.push(member);
                if self.is_group(member) {
                    queue.push_back(member);
                }
            }
        }
        order
    }

    fn is_group(&self, member: u32) -> bool {
        let ty = match self.members.get(&member) {
            Some(Member::Reference(ty)) => self.types.name(*ty),
            Some(Member::Object(object)) => object
                .get("@odata.type")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            None => return false,
        };
        ty == GROUP_TYPE
    }
}

impl Scheduler {
    /// Whether the closure is rebuilt from every membership in this sync (a full sync, or an
    /// incremental one whose previous closure update did not complete).
    pub(super) fn rebuilds_closure(&self) -> bool {
        let Some(run) = self
            .runs
            .iter()
            .find(|r| matches!(r.table.source, Source::Computed { .. }))
        else {
            return false;
        };
        if !self.incremental() {
            return true;
        }
        let Some((parent, _)) = self.closure else {
            return false;
        };
        let groups = tables::by_name(parent).expect("in the catalog");
        let marker = self.state(&Refresh::key(run.table.name, self.client.tenant_id()));
        self.table_state(groups).is_none() || marker.is_none_or(|m| m.is_empty())
    }

    /// Emits a computed table once its inputs are complete; fails it otherwise, since a partial
    /// closure would silently under-report access.
    pub(super) async fn compute(&self, run: &Arc<TableRun>, parent: &str, from: &str) {
        let complete = |name: &str| {
            self.run_of(name)
                .is_some_and(|r| r.outcome() == Some(Outcome::Complete))
        };
        if !complete(parent) || !complete(from) {
            run.fail(Outcome::Failed(format!(
                "computed from {parent} and {from}, which did not sync completely"
            )));
            return;
        }
        let result = match &self.memberships {
            Some(memberships) => self.emit_closure(run, memberships).await,
            None => {
                run.full.store(false, Relaxed);
                self.update_closure(run).await
            }
        };
        match result {
            Ok(()) => run.complete(),
            Err(e) => run.fail(Outcome::Failed(e.to_string())),
        }
    }

    /// In a first round of the groups' delta, once a page's groups are stored their member
    /// lists are final (a group split over pages is stored once, whole): the closures that
    /// depend only on such groups go out now, so that the closure is not all written after the
    /// last page.
    pub(super) async fn stream_closure(
        &self,
        groups: &TableRun,
        present: &[Value],
    ) -> Result<(), GraphError> {
        let (Some(memberships), Some((parent, from))) = (&self.memberships, self.closure) else {
            return Ok(());
        };
        let carried = tables::by_name(from).is_some_and(|t| t.parent_delta.is_some());
        let Some(run) = self
            .runs
            .iter()
            .find(|r| matches!(r.table.source, Source::Computed { .. }))
        else {
            return Ok(());
        };
        if groups.table.name != parent || !carried || self.run_of(from).is_none() {
            return Ok(());
        }
        let ids: Vec<&str> = present
            .iter()
            .filter_map(|o| o.get("id").and_then(Value::as_str))
            .collect();
        let ready = memberships.lock().expect("not poisoned").complete(&ids);
        if !ready.is_empty() {
            run.start();
        }
        self.emit_closures(run, memberships, ready).await
    }

    async fn emit_closure(
        &self,
        run: &Arc<TableRun>,
        memberships: &SharedMemberships,
    ) -> Result<(), GraphError> {
        let groups = memberships.lock().expect("not poisoned").groups();
        self.emit_closures(run, memberships, groups).await?;
        run.flush(&self.tx).await
    }

    /// Group by group, so that memory holds one group's closure at a time, never the table;
    /// small closures are sent together (one transaction each in SQLite).
    async fn emit_closures(
        &self,
        run: &TableRun,
        memberships: &SharedMemberships,
        groups: Vec<String>,
    ) -> Result<(), GraphError> {
        for group in groups {
            let Some((cq_id, rows)) = memberships.lock().expect("not poisoned").closure_of(&group)
            else {
                continue;
            };
            let ctx = convert::RowContext {
                tenant_id: self.client.tenant_id(),
                parent: Some((&group, cq_id)),
            };
            for rows in rows.chunks(CLOSURE_ROWS_PER_BATCH) {
                run.insert_batched(&self.tx, rows, &ctx, self.options.deterministic(), true)
                    .await?;
            }
        }
        Ok(())
    }

    /// Re-reads the transitive members of the groups whose memberships changed and of every
    /// group that contains one of them.
    async fn update_closure(&self, run: &Arc<TableRun>) -> Result<(), GraphError> {
        let changed: Vec<String> = self
            .membership_changed
            .lock()
            .expect("not poisoned")
            .iter()
            .cloned()
            .collect();
        let mut affected: HashSet<String> = changed.iter().cloned().collect();
        for group in &changed {
            let url = self.client.url(&format!(
                "/v1.0/groups/{group}/transitiveMemberOf?$select=id&$top=999"
            ));
            for container in self.read_all(&url, &run.traffic).await? {
                if container.get("@odata.type").and_then(Value::as_str) == Some(GROUP_TYPE)
                    && let Some(id) = container.get("id").and_then(Value::as_str)
                {
                    affected.insert(id.to_string());
                }
            }
        }
        let groups =
            tables::by_name(run.table.parent().expect("a parent")).expect("in the catalog");
        let select: Vec<&str> = run
            .table
            .select()
            .into_iter()
            .filter(|p| *p != "groupId")
            .collect();
        for group in affected {
            let url = self.client.url(&format!(
                "/v1.0/groups/{group}/transitiveMembers?$select={}&$top=999",
                select.join(",")
            ));
            let members = match self.read_all(&url, &run.traffic).await {
                Ok(members) => members,
                // The group is gone: its rows went with it.
                Err(e) if e.status() == Some(404) => Vec::new(),
                Err(e) => return Err(e),
            };
            self.send(SyncMessage::DeleteRecord {
                table: run.table.name,
                keys: self.keys(&[("group_id", &group)]),
            })
            .await?;
            let rows: Vec<Value> = members
                .into_iter()
                .filter(|m| m.get("id").and_then(Value::as_str) != Some(group.as_str()))
                .map(|mut m| {
                    if let Some(o) = m.as_object_mut() {
                        o.insert("groupId".into(), Value::String(group.clone()));
                    }
                    m
                })
                .collect();
            if rows.is_empty() {
                continue;
            }
            let cq_id = convert::row_id(groups, self.client.tenant_id(), &group);
            let ctx = convert::RowContext {
                tenant_id: self.client.tenant_id(),
                parent: Some((&group, cq_id)),
            };
            for page in rows.chunks(999) {
                run.insert(&self.tx, page, &ctx, self.options.deterministic())
                    .await?;
            }
        }
        Ok(())
    }

    /// Every object of a collection, all pages.
    pub(super) async fn read_all(
        &self,
        url: &str,
        traffic: &Traffic,
    ) -> Result<Vec<Value>, GraphError> {
        let mut out = Vec::new();
        let mut url = url.to_string();
        let mut chain = self.client.chain();
        loop {
            let page = self.client.get_page(&url, traffic).await?;
            out.extend(page.objects);
            match page.next {
                Some(next) => {
                    chain.follow(&next)?;
                    url = next;
                }
                None => return Ok(out),
            }
        }
    }
}

/// Keys of the state entry of soft-deleted users in a tenant.
pub fn soft_deleted_key(tenant: &str) -> String {
    state_key(SOFT_DELETED, tenant)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(id: &str) -> Value {
        json!({"@odata.type": "#microsoft.graph.user", "id": id})
    }
    fn group(id: &str) -> Value {
        json!({"@odata.type": GROUP_TYPE, "id": id})
    }

    #[test]
    fn nested_groups_and_cycles() {
        let mut m = Memberships::default();
        for g in ["a", "b", "c"] {
            m.add_group(g, uuid::Uuid::new_v4());
        }
        // a ⊃ {u1, b}; b ⊃ {u2, c}; c ⊃ {u3, a} (a cycle back to a).
        m.add_members("a", &[user("u1"), group("b")]);
        m.add_members("b", &[user("u2"), group("c")]);
        m.add_members("c", &[user("u3"), group("a")]);
        let mut got: HashMap<String, Vec<String>> = HashMap::new();
        for g in m.groups() {
            let (_, rows) = m.closure_of(&g).unwrap();
            let mut ids: Vec<String> = rows
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect();
            ids.sort();
            assert!(rows.iter().all(|r| r["groupId"] == g));
            got.insert(g, ids);
        }
        assert_eq!(got["a"], ["b", "c", "u1", "u2", "u3"]);
        assert_eq!(got["b"], ["a", "c", "u1", "u2", "u3"]);
        assert_eq!(got["c"], ["a", "b", "u1", "u2", "u3"]);
    }

    #[test]
    fn members_come_back_as_graph_gave_them() {
        let mut m = Memberships::default();
        m.add_group("a", uuid::Uuid::new_v4());
        let rich =
            json!({"@odata.type": "#microsoft.graph.user", "id": "u2", "displayName": "Two"});
        m.add_members("a", &[user("u1"), rich.clone()]);
        let (_, rows) = m.closure_of("a").unwrap();
        let mut u1 = user("u1");
        u1["groupId"] = json!("a");
        let mut u2 = rich;
        u2["groupId"] = json!("a");
        assert_eq!(rows, [u1, u2]);
    }

    #[test]
    fn a_closure_is_ready_once_every_group_it_reaches_is_complete() {
        let mut m = Memberships::default();
        for g in ["a", "b", "c", "d", "x", "y"] {
            m.add_group(g, uuid::Uuid::new_v4());
        }
        // a ⊃ {u1, b}; b ⊃ {u2}; c ⊃ {u3}; d ⊃ {e}, a group never listed; x ⊃ y ⊃ x.
        m.add_members("a", &[user("u1"), group("b")]);
        m.add_members("b", &[user("u2")]);
        m.add_members("c", &[user("u3")]);
        m.add_members("d", &[group("e")]);
        m.add_members("x", &[group("y")]);
        m.add_members("y", &[group("x")]);
        let sorted = |mut v: Vec<String>| {
            v.sort();
            v
        };
        assert!(m.complete(&["a"]).is_empty(), "a waits for b");
        assert_eq!(sorted(m.complete(&["b", "c"])), ["a", "b", "c"]);
        assert!(m.complete(&["d"]).is_empty(), "e never completes");
        assert!(m.complete(&["x"]).is_empty(), "x waits for y");
        assert_eq!(sorted(m.complete(&["y", "b"])), ["x", "y"]);
        // What is left for the end of the sync: d alone; nothing goes out twice.
        assert_eq!(m.groups(), ["d"]);
        assert!(m.complete(&["a", "b", "c", "x", "y"]).is_empty());
    }

    #[test]
    fn a_member_reached_twice_is_listed_once() {
        let mut m = Memberships::default();
        m.add_group("a", uuid::Uuid::new_v4());
        m.add_group("b", uuid::Uuid::new_v4());
        m.add_members("a", &[user("u1"), group("b")]);
        m.add_members("b", &[user("u1")]);
        let (_, rows) = m.closure_of("a").unwrap();
        assert_eq!(rows.len(), 2);
    }

    #[test]
    fn ids_come_back_exactly_as_graph_wrote_them() {
        let guid = "0f4bd0f7-f044-4fa7-8006-21d66cc9014f";
        let upper = guid.to_uppercase();
        let braced = format!("{{{guid}}}");
        let member = "9a5d5b52-61a1-4d8e-b0d3-7c0b6e1a2f3c";
        let mut m = Memberships::default();
        m.add_group(guid, uuid::Uuid::new_v4());
        let members = [
            user(&upper),
            user(&braced),
            user("not-a-guid"),
            user(member),
        ];
        m.add_members(guid, &members);
        let (_, rows) = m.closure_of(guid).unwrap();
        let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
        // Only the canonical form is stored as bytes; the others are distinct ids, as text.
        assert_eq!(ids, [upper.as_str(), braced.as_str(), "not-a-guid", member]);
        assert!(rows.iter().all(|r| r["groupId"] == guid));
        assert_eq!(m.groups(), [guid]);
    }
}
