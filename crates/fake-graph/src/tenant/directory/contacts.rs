//! Organisational contacts.

use serde_json::json;

use super::Gen;
use crate::fill::{FIRST, LAST};
use crate::tenant::Item;

/// Generator of `contacts`.
pub fn generate(g: &mut Gen) {
    for i in 0..g.counts.contacts {
        let mut o = g.f.resource("orgContact");
        let first = FIRST[(i * 7) % FIRST.len()];
        let last = LAST[(i * 3) % LAST.len()];
        o.insert(
            "displayName".into(),
            json!(format!("{first} {last} (Partner)")),
        );
        o.insert("givenName".into(), json!(first));
        o.insert("surname".into(), json!(last));
        let mail = format!(
            "{}.{}@partner{}.example.com",
            first.to_lowercase(),
            last.to_lowercase(),
            i % 5
        );
        o.insert("mail".into(), json!(mail));
        o.insert("mailNickname".into(), json!(format!("{first}{last}{i}")));
        o.insert("proxyAddresses".into(), json!([format!("SMTP:{mail}")]));
        let id = g.f.uuid();
        g.t.kinds.insert(id.clone(), "contacts");
        g.t.coll_mut("contacts").push(Item::new(id, o));
    }
}
