//! Groups with their members (nested up to 3 levels) and owners; group settings and lifecycle
//! policies.

use rand::Rng;
use serde_json::{Value, json};

use super::Gen;
use crate::fill::{DEPARTMENTS, Obj};
use crate::tenant::Item;

/// Generator of `groups`.
pub fn generate(g: &mut Gen) {
    let dense = g.dense;
    let custom = g.custom.clone();
    let counts = g.counts;
    let mut group_ids = Vec::with_capacity(counts.groups);
    let mut levels = Vec::with_capacity(counts.groups);
    let mut role_assignable = Vec::new();
    for i in 0..counts.groups {
        let mut o = g.f.resource("group");
        let kind = if i == 0 { 1 } else { i % 5 }; // 0 security, 1 unified, 2 dynamic, 3 role-assignable, 4 mail-enabled security
        let dept = DEPARTMENTS[i % DEPARTMENTS.len()];
        let name = match kind {
            1 if i == 0 => "All Company".to_string(),
            1 => format!("{dept} Team {i}"),
            2 => format!("Dynamic {dept} {i}"),
            3 => format!("Privileged {dept} Admins {i}"),
            4 => format!("{dept} Distribution {i}"),
            _ => format!("SG-{dept}-{i}"),
        };
        let nick: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        o.insert("displayName".into(), json!(name));
        o.insert("description".into(), json!(format!("{name} ({dept})")));
        o.insert("mailNickname".into(), json!(nick));
        o.insert("createdDateTime".into(), json!(g.f.past(700)));
        o.insert("securityEnabled".into(), json!(kind != 1));
        o.insert("mailEnabled".into(), json!(kind == 1 || kind == 4));
        o.insert(
            "mail".into(),
            if kind == 1 || kind == 4 {
                json!(format!("{nick}@{custom}"))
            } else {
                Value::Null
            },
        );
        o.insert(
            "groupTypes".into(),
            match kind {
                1 => json!(["Unified"]),
                2 => json!(["DynamicMembership"]),
                _ => json!([]),
            },
        );
        o.insert("isAssignableToRole".into(), json!(kind == 3));
        if kind == 2 || dense {
            o.insert(
                "membershipRule".into(),
                json!(format!("user.department -eq \"{dept}\"")),
            );
            o.insert("membershipRuleProcessingState".into(), json!("On"));
        } else {
            o.remove("membershipRule");
            o.remove("membershipRuleProcessingState");
        }
        o.insert(
            "visibility".into(),
            json!(if kind == 1 { "Public" } else { "Private" }),
        );
        o.insert(
            "proxyAddresses".into(),
            if kind == 1 || kind == 4 {
                json!([format!("SMTP:{nick}@{custom}")])
            } else {
                json!([])
            },
        );
        o.insert(
            "resourceProvisioningOptions".into(),
            if kind == 1 {
                json!(["Team"])
            } else {
                json!([])
            },
        );
        o.insert(
            "resourceBehaviorOptions".into(),
            if kind == 1 {
                json!(["WelcomeEmailDisabled"])
            } else {
                json!([])
            },
        );
        o.insert(
            "securityIdentifier".into(),
            json!(format!(
                "S-1-12-1-{}-{}-{}-{}",
                g.f.range(1, 4_000_000_000),
                g.f.range(1, 4_000_000_000),
                g.f.range(1, 4_000_000_000),
                g.f.range(1, 4_000_000_000)
            )),
        );
        if kind != 1 && !dense {
            o.remove("expirationDateTime");
            o.remove("renewedDateTime");
        }
        let id = g.f.uuid();
        g.t.kinds.insert(id.clone(), "groups");
        let level = if i == 0 {
            0
        } else {
            match g.f.range(0, 100) {
                0..=84 => 0,
                85..=94 => 1,
                95..=98 => 2,
                _ => 3,
            }
        };
        levels.push(level);
        if kind == 3 {
            role_assignable.push(id.clone());
        }
        group_ids.push(id.clone());
        g.t.coll_mut("groups").push(Item::new(id, o));
    }
    // memberships: power-law sizes, nesting by level (a group only contains lower-level groups,
    // so nesting depth is at most 3).
    let users = &g.users;
    let max_size = (users.len() / 10).clamp(5, 5_000);
    for (gi, gid) in group_ids.iter().enumerate() {
        let size = if gi == 0 {
            users.len().min(5_000)
        } else {
            let u: f64 = g.f.rng.random::<f64>().max(1e-6);
            ((2.5 / u.powf(0.9)) as usize)
                .clamp(1, max_size)
                .min(users.len())
        };
        let mut members: Vec<String> = Vec::with_capacity(size + 2);
        if gi == 0 {
            members.extend(users.iter().take(size).map(|u| u.0.clone()));
        } else {
            let start = g.f.range(0, users.len() as u64) as usize;
            let step = 1 + g.f.range(0, 7) as usize;
            for k in 0..size {
                members.push(users[(start + k * step) % users.len()].0.clone());
            }
            members.sort();
            members.dedup();
        }
        let lvl = levels[gi];
        if lvl > 0 {
            let lower: Vec<usize> = (0..group_ids.len())
                .filter(|&j| levels[j] == lvl - 1 && j != 0)
                .take(50)
                .collect();
            for _ in 0..g.f.range(1, 3) {
                if lower.is_empty() {
                    break;
                }
                let j = lower[g.f.range(0, lower.len() as u64) as usize];
                if !members.contains(&group_ids[j]) {
                    members.push(group_ids[j].clone());
                }
            }
        }
        let n_owners = if gi % 7 == 6 {
            0
        } else {
            g.f.range(1, 3) as usize
        };
        let owners: Vec<String> = (0..n_owners)
            .map(|_| users[g.f.range(0, users.len() as u64) as usize].0.clone())
            .collect();
        let group = g.t.coll_mut("groups").get_mut(gid).unwrap();
        group.rels.insert("members", members);
        group.rels.insert("owners", owners);
    }
    g.group_ids = group_ids;
    g.role_assignable = role_assignable;
}

/// Generator of `groupSettings` and `groupLifecyclePolicies`.
pub fn settings(g: &mut Gen) {
    let custom = g.custom.clone();
    {
        let mut o = Obj::new();
        o.insert("displayName".into(), json!("Group.Unified"));
        o.insert(
            "templateId".into(),
            json!("62375ab9-6b52-47ed-826b-58e47e0e304b"),
        );
        o.insert(
            "values".into(),
            json!([{"name": "EnableGroupCreation", "value": "true"}, {"name": "GroupCreationAllowedGroupId", "value": g.group_ids.first().cloned().unwrap_or_default()},
                   {"name": "UsageGuidelinesUrl", "value": format!("https://intranet.{custom}/groups")}, {"name": "EnableMIPLabels", "value": "false"}]),
        );
        g.t.coll_mut("groupSettings").push(Item::new(g.f.uuid(), o));
        let mut p = Obj::new();
        p.insert(
            "alternateNotificationEmails".into(),
            json!(format!("admin@{custom}")),
        );
        p.insert("groupLifetimeInDays".into(), json!(180));
        p.insert("managedGroupTypes".into(), json!("Selected"));
        g.t.coll_mut("groupLifecyclePolicies")
            .push(Item::new(g.f.uuid(), p));
    }
}
