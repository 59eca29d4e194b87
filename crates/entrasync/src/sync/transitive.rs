//! `entraid_group_transitive_members`, computed from the direct memberships the sync reads
//! anyway: no Graph calls of its own, nested groups of any depth, cycles safe.

use serde_json::Value;
use std::collections::{HashMap, HashSet, VecDeque};

const GROUP_TYPE: &str = "#microsoft.graph.group";

/// Direct memberships collected during the sync. Member objects are kept once per member, not
/// once per membership, so memory grows with the directory, not with the membership count.
#[derive(Default)]
pub struct Memberships {
    /// group id → direct member ids, in the order Graph listed them.
    edges: HashMap<String, Vec<String>>,
    /// member id → the member object as Graph returned it.
    members: HashMap<String, Value>,
    /// group id → the group row's `_cq_id`.
    group_cq_ids: HashMap<String, uuid::Uuid>,
}

impl Memberships {
    pub fn add_group(&mut self, group_id: &str, cq_id: uuid::Uuid) {
        self.group_cq_ids.insert(group_id.to_string(), cq_id);
    }

    pub fn add_members(&mut self, group_id: &str, members: &[Value]) {
        let edges = self.edges.entry(group_id.to_string()).or_default();
        for m in members {
            let Some(id) = m.get("id").and_then(Value::as_str) else {
                continue;
            };
            edges.push(id.to_string());
            self.members
                .entry(id.to_string())
                .or_insert_with(|| m.clone());
        }
    }

    /// Every group's transitive members as objects ready for the computed table (the member's
    /// properties plus `groupId`), group by group, with the group's `_cq_id`.
    pub fn closure(&self) -> impl Iterator<Item = (&str, uuid::Uuid, Vec<Value>)> + '_ {
        self.group_cq_ids.iter().filter_map(move |(group, cq_id)| {
            let reachable = self.reachable(group);
            if reachable.is_empty() {
                return None;
            }
            let rows = reachable
                .into_iter()
                .filter_map(|id| {
                    let mut row = self.members.get(id)?.clone();
                    row.as_object_mut()?
                        .insert("groupId".into(), Value::String(group.clone()));
                    Some(row)
                })
                .collect();
            Some((group.as_str(), *cq_id, rows))
        })
    }

    /// Members reachable from `group` through nested groups, each once; `group` itself only when
    /// a cycle leads back to it (as Graph does not list a group as its own member, neither do we).
    fn reachable<'a>(&'a self, group: &'a str) -> Vec<&'a str> {
        let mut seen: HashSet<&str> = HashSet::new();
        let mut order = Vec::new();
        let mut queue: VecDeque<&str> = VecDeque::from([group]);
        while let Some(g) = queue.pop_front() {
            for member in self.edges.get(g).into_iter().flatten() {
                if member == group || !seen.insert(member) {
                    continue;
                }
                order.push(member.as_str());
                if self.is_group(member) {
                    queue.push_back(member);
                }
            }
        }
        order
    }

    fn is_group(&self, id: &str) -> bool {
        self.members
            .get(id)
            .and_then(|m| m.get("@odata.type"))
            .and_then(Value::as_str)
            == Some(GROUP_TYPE)
    }
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
        for (g, _, rows) in m.closure() {
            let mut ids: Vec<String> = rows
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect();
            ids.sort();
            assert!(rows.iter().all(|r| r["groupId"] == g));
            got.insert(g.to_string(), ids);
        }
        assert_eq!(got["a"], ["b", "c", "u1", "u2", "u3"]);
        assert_eq!(got["b"], ["a", "c", "u1", "u2", "u3"]);
        assert_eq!(got["c"], ["a", "b", "u1", "u2", "u3"]);
    }

    #[test]
    fn a_member_reached_twice_is_listed_once() {
        let mut m = Memberships::default();
        m.add_group("a", uuid::Uuid::new_v4());
        m.add_group("b", uuid::Uuid::new_v4());
        m.add_members("a", &[user("u1"), group("b")]);
        m.add_members("b", &[user("u1")]);
        let (_, _, rows) = m.closure().find(|(g, _, _)| *g == "a").unwrap();
        assert_eq!(rows.len(), 2);
    }
}
