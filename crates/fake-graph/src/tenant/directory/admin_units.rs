//! Administrative units with their members, and the Helpdesk Administrators scoped to them.

use serde_json::{Value, json};

use super::{Gen, ROLE_TEMPLATES, opaque_id};
use crate::fill::{CITIES, Obj};
use crate::tenant::Item;

/// Generator of `administrativeUnits` and `scopedMembers`.
pub fn generate(g: &mut Gen) {
    let dense = g.dense;
    let mut au_ids = Vec::new();
    for i in 0..g.counts.admin_units {
        let mut o = g.f.resource("administrativeUnit");
        let (city, ..) = CITIES[i % CITIES.len()];
        o.insert("displayName".into(), json!(format!("{city} Office")));
        o.insert(
            "description".into(),
            json!(format!("Users and groups of the {city} office")),
        );
        o.insert(
            "visibility".into(),
            if i % 2 == 0 || dense {
                json!("HiddenMembership")
            } else {
                Value::Null
            },
        );
        o.insert(
            "membershipType".into(),
            json!(if i % 3 == 2 { "Dynamic" } else { "Assigned" }),
        );
        o.insert(
            "membershipRule".into(),
            json!(format!("user.city -eq \"{city}\"")),
        );
        o.insert("membershipRuleProcessingState".into(), json!("On"));
        o.insert("isMemberManagementRestricted".into(), json!(false));
        let id = g.f.uuid();
        g.t.kinds.insert(id.clone(), "administrativeUnits");
        let mut members: Vec<String> = (0..g.f.range(2, 8)).map(|_| g.random_user()).collect();
        members.sort();
        members.dedup();
        if !g.group_ids.is_empty() {
            members.push(g.group_ids[i % g.group_ids.len()].clone());
        }
        let mut item = Item::new(id.clone(), o);
        item.rels.insert("members", members);
        g.t.coll_mut("administrativeUnits").push(item);
        au_ids.push(id);
    }
    // scoped role members: a Helpdesk Administrator scoped to each AU
    if let Some(role) = g.t.colls["directoryRoles"]
        .items
        .values()
        .find(|r| r.str("roleTemplateId") == Some(ROLE_TEMPLATES[2].0))
    {
        let role_id = role.id.clone();
        for au in &au_ids {
            let u = &g.users[g.f.range(0, g.users.len() as u64) as usize];
            let mut o = Obj::new();
            o.insert("administrativeUnitId".into(), json!(au));
            o.insert("roleId".into(), json!(role_id));
            o.insert(
                "roleMemberInfo".into(),
                json!({"displayName": u.1, "id": u.0}),
            );
            let mut item = Item::new(opaque_id(&mut g.f), o);
            item.parent = Some(role_id.clone());
            g.t.coll_mut("scopedMembers").push(item);
        }
    }
    g.au_ids = au_ids;
}
