//! The in-memory tenant: ordered collections of objects with a change log (for delta), singletons,
//! and lazily generated log streams (sign-ins, directory audits) so that a million sign-ins cost no
//! memory.

pub mod directory;
pub mod logs;
pub mod policy;
pub mod profile;

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use serde_json::Value;

pub use crate::fill::Obj;
pub use logs::LogStore;
pub use profile::{Counts, Profile};

/// One stored object. `data` is sparse: a property that is absent is served as `null`.
#[derive(Debug, Clone)]
pub struct Item {
    pub id: String,
    pub data: Obj,
    /// Relationship lists (members, owners, registeredOwners, ...): ids of other objects.
    pub rels: BTreeMap<&'static str, Vec<String>>,
    /// For child collections (appRoleAssignments, federatedIdentityCredentials, ...): owner id.
    pub parent: Option<String>,
}

impl Item {
    pub fn new(id: String, data: Obj) -> Self {
        Item {
            id,
            data,
            rels: BTreeMap::new(),
            parent: None,
        }
    }
    pub fn str(&self, k: &str) -> Option<&str> {
        self.data.get(k).and_then(Value::as_str)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovedReason {
    /// Soft-deleted, restorable (`@removed.reason = changed`).
    Changed,
    /// Permanently deleted.
    Deleted,
}

impl RemovedReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RemovedReason::Changed => "changed",
            RemovedReason::Deleted => "deleted",
        }
    }
}

/// One entry of a collection's change log; delta rounds read the entries after their token.
#[derive(Debug, Clone)]
pub struct Change {
    pub version: u64,
    pub id: String,
    /// Changed properties; empty for creations/removals (whole object).
    pub props: Vec<String>,
    pub created: bool,
    pub removed: Option<RemovedReason>,
    pub restored: bool,
    /// Relationship changes: (relationship, member id, added?)
    pub links: Vec<(&'static str, String, bool)>,
}

#[derive(Debug)]
pub struct Collection {
    /// Schema resource name (`user`, `group`, ...).
    pub resource: &'static str,
    pub items: BTreeMap<u64, Item>,
    pub by_id: HashMap<String, u64>,
    pub next_seq: u64,
    /// Soft-deleted objects (restorable) and tombstones of hard-deleted ones.
    pub removed: HashMap<String, (RemovedReason, Option<Item>)>,
    pub changes: Vec<Change>,
    /// parent id -> seqs of children, for child collections.
    pub by_parent: HashMap<String, Vec<u64>>,
    /// `resourceId` -> seqs of the items granting it (app role assignments, served per
    /// resource by `appRoleAssignedTo`); `resourceId` never changes once created.
    pub by_resource: HashMap<String, Vec<u64>>,
}

impl Collection {
    pub fn new(resource: &'static str) -> Self {
        Collection {
            resource,
            items: BTreeMap::new(),
            by_id: HashMap::new(),
            next_seq: 1,
            removed: HashMap::new(),
            changes: Vec::new(),
            by_parent: HashMap::new(),
            by_resource: HashMap::new(),
        }
    }

    pub fn push(&mut self, item: Item) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_id.insert(item.id.clone(), seq);
        if let Some(p) = &item.parent {
            self.by_parent.entry(p.clone()).or_default().push(seq);
        }
        if let Some(r) = item.str("resourceId") {
            self.by_resource.entry(r.to_string()).or_default().push(seq);
        }
        self.items.insert(seq, item);
        seq
    }

    pub fn get(&self, id: &str) -> Option<&Item> {
        self.by_id.get(id).and_then(|s| self.items.get(s))
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut Item> {
        let s = *self.by_id.get(id)?;
        self.items.get_mut(&s)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Remove an object: soft (kept for restore) or hard.
    pub fn remove(&mut self, id: &str, reason: RemovedReason, version: u64) -> Option<Item> {
        let seq = self.by_id.remove(id)?;
        let item = self.items.remove(&seq)?;
        if let Some(p) = &item.parent
            && let Some(v) = self.by_parent.get_mut(p)
        {
            v.retain(|s| *s != seq);
        }
        if let Some(r) = item.str("resourceId")
            && let Some(v) = self.by_resource.get_mut(r)
        {
            v.retain(|s| *s != seq);
        }
        let keep = if reason == RemovedReason::Changed {
            Some(item.clone())
        } else {
            None
        };
        self.removed.insert(id.to_string(), (reason, keep));
        self.log(Change {
            version,
            id: id.to_string(),
            removed: Some(reason),
            ..Change::empty()
        });
        Some(item)
    }

    pub fn log(&mut self, c: Change) {
        self.changes.push(c);
    }

    /// Items whose `resourceId` is `resource`, in insertion order.
    pub fn granting(&self, resource: &str) -> Vec<&Item> {
        self.at(self.by_resource.get(resource))
    }

    /// Children of a parent, in insertion order.
    pub fn children(&self, parent: &str) -> Vec<&Item> {
        self.at(self.by_parent.get(parent))
    }

    /// The live items of an index entry, in its order.
    fn at(&self, seqs: Option<&Vec<u64>>) -> Vec<&Item> {
        seqs.into_iter()
            .flatten()
            .filter_map(|s| self.items.get(s))
            .collect()
    }
}

impl Change {
    pub fn empty() -> Self {
        Change {
            version: 0,
            id: String::new(),
            props: vec![],
            created: false,
            removed: None,
            restored: false,
            links: vec![],
        }
    }
}

/// The whole simulated tenant.
pub struct Tenant {
    pub id: String,
    pub domain: String,
    pub org_name: String,
    pub now: DateTime<Utc>,
    pub seed: u64,
    /// Monotonic change counter; delta tokens carry the version they were issued at.
    pub version: u64,
    pub colls: HashMap<&'static str, Collection>,
    pub singletons: HashMap<&'static str, Obj>,
    pub signins: LogStore,
    pub audits: LogStore,
    /// id -> collection key, to resolve directoryObject references (members, owners).
    pub kinds: HashMap<String, &'static str>,
    /// appId of the first-party Microsoft Graph service principal's app roles by permission name.
    pub graph_roles: BTreeMap<String, String>,
    pub user_count_at_start: usize,
}

impl Tenant {
    pub fn coll(&self, key: &str) -> &Collection {
        self.colls
            .get(key)
            .unwrap_or_else(|| panic!("no collection {key}"))
    }
    pub fn coll_mut(&mut self, key: &str) -> &mut Collection {
        self.colls
            .get_mut(key)
            .unwrap_or_else(|| panic!("no collection {key}"))
    }
    pub fn bump(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    /// Look up any directory object by id: (collection key, item).
    pub fn dir_object(&self, id: &str) -> Option<(&'static str, &Item)> {
        let k = *self.kinds.get(id)?;
        self.colls.get(k)?.get(id).map(|i| (k, i))
    }

    /// `@odata.type` of an object of a collection.
    pub fn odata_type(&self, key: &str, item: &Item) -> String {
        if let Some(t) = item.str("@odata.type") {
            return t.to_string();
        }
        format!("#microsoft.graph.{}", self.coll(key).resource)
    }

    /// Approximate object count (for stats and the benchmark).
    pub fn object_count(&self) -> u64 {
        self.colls.values().map(|c| c.len() as u64).sum::<u64>()
            + self.signins.total()
            + self.audits.total()
    }
}
