//! Devices with their registered owners and users.

use serde_json::{Value, json};

use super::Gen;
use crate::tenant::Item;

/// Generator of `devices`.
pub fn generate(g: &mut Gen) {
    let dense = g.dense;
    for i in 0..g.counts.devices {
        let mut o = g.f.resource("device");
        let (os, ver, name, trust) = match i % 4 {
            0 => (
                "Windows",
                "10.0.22631.3007",
                format!("DESKTOP-{:06X}", g.f.range(0, 0xFFFFFF)),
                "AzureAd",
            ),
            1 => ("iOS", "17.2.1", format!("iPhone {i}"), "Workplace"),
            2 => ("MacMDM", "14.2.1", format!("MacBook-{i}"), "Workplace"),
            _ => (
                "Windows",
                "10.0.19045.3930",
                format!("WS-{:05}", i),
                "ServerAd",
            ),
        };
        o.insert("accountEnabled".into(), json!(i % 17 != 16));
        o.insert("displayName".into(), json!(name));
        o.insert("deviceId".into(), json!(g.f.uuid()));
        o.insert("operatingSystem".into(), json!(os));
        o.insert("operatingSystemVersion".into(), json!(ver));
        o.insert("trustType".into(), json!(trust));
        o.insert("profileType".into(), json!("RegisteredDevice"));
        o.insert(
            "deviceOwnership".into(),
            json!(if i % 4 == 1 { "Personal" } else { "Company" }),
        );
        o.insert("approximateLastSignInDateTime".into(), json!(g.f.past(30)));
        o.insert("registrationDateTime".into(), json!(g.f.past(600)));
        o.insert(
            "manufacturer".into(),
            json!(*g.f.pick(&["Microsoft Corporation", "Dell Inc.", "Apple", "LENOVO"])),
        );
        o.insert(
            "model".into(),
            json!(*g.f.pick(&[
                "Surface Laptop 5",
                "Latitude 7440",
                "iPhone 15",
                "ThinkPad X1"
            ])),
        );
        o.insert("deviceVersion".into(), json!(2));
        o.insert(
            "alternativeSecurityIds".into(),
            json!([{"type": 2, "identityProvider": if dense { json!("login.microsoftonline.com") } else { Value::Null }, "key": g.f.b64(40)}]),
        );
        o.insert(
            "physicalIds".into(),
            json!([
                format!("[USER-GID]:{}:{}", g.f.uuid(), g.f.range(1, 9_999_999_999)),
                format!("[GID]:g:{}", g.f.range(1, 9_999_999_999))
            ]),
        );
        o.insert("systemLabels".into(), json!([]));
        let id = g.f.uuid();
        g.t.kinds.insert(id.clone(), "devices");
        let mut item = Item::new(id, o);
        let owner = g.users[i % g.users.len()].0.clone();
        item.rels.insert("registeredOwners", vec![owner.clone()]);
        item.rels.insert("registeredUsers", vec![owner]);
        g.t.coll_mut("devices").push(item);
    }
}
