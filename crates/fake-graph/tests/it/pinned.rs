//! Pins what a tenant serves for a given seed: a digest of the route table and of every object of
//! every endpoint, and of a batch of mutations. A refactoring of the generators, the route table or
//! the mutations must leave these digests unchanged; a deliberate change of the served data updates
//! them (the failure prints the new value).

use chrono::{DateTime, Utc};
use fake_graph::routes::{Kind, ROUTES};
use fake_graph::{Config, Profile};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{self, T};

/// The data's anchor time: fixed, so that timestamps derived from it are too.
fn anchor() -> DateTime<Utc> {
    "2026-01-15T12:00:00Z".parse().unwrap()
}

/// The served part of a response: its objects (a collection) or the object without its
/// `@odata.context` (which names the server's port); other statuses by status and error code.
fn served(status: u16, body: &Value) -> String {
    if status != 200 {
        return format!("{status} {}", common::err_code(body));
    }
    match body.get("value") {
        Some(v) => v.to_string(),
        None => {
            let mut b = body.clone();
            if let Some(o) = b.as_object_mut() {
                o.retain(|k, _| !k.starts_with("@odata.context"));
            }
            b.to_string()
        }
    }
}

/// Every page of a path (values, status and error code), following nextLinks.
async fn pages(t: &T, path: &str, h: &mut Sha256) {
    let mut next = Some(path.to_string());
    while let Some(p) = next {
        let (s, _, b) = t.get(&p).await;
        h.update(format!("{s}:{}\n", served(s, &b)));
        next = (s == 200)
            .then(|| b["@odata.nextLink"].as_str().map(str::to_string))
            .flatten();
    }
}

async fn ids(t: &T, path: &str) -> Vec<String> {
    t.all(&format!("/v1.0/{path}?$select=id"))
        .await
        .iter()
        .filter_map(|v| v["id"].as_str().map(str::to_string))
        .collect()
}

/// Digest of the route table and of everything served under `/v1.0`; `per_parent` bounds the
/// objects whose `{id}` endpoints are walked.
async fn served_digest(t: &T, per_parent: usize) -> String {
    let mut h = Sha256::new();
    let mut routes: Vec<_> = ROUTES.iter().collect();
    routes.sort_by_key(|r| r.pattern);
    for r in &routes {
        h.update(format!(
            "{}|{:?}|{:?}|{:?}|{}|{:?}|{}\n",
            r.pattern, r.perms, r.lic, r.class, r.cost, r.top, r.context
        ));
    }
    for r in &routes {
        h.update(format!("# {}\n", r.pattern));
        if let Some((parent, _)) = r.pattern.split_once("/{id}") {
            let mut parents = ids(t, parent).await;
            parents.truncate(per_parent);
            for id in parents {
                let path = format!("/v1.0/{}", r.pattern.replace("{id}", &id));
                pages(t, &path, &mut h).await;
            }
        } else if matches!(r.kind, Kind::PimGroup(_)) {
            pages(t, &format!("/v1.0/{}", r.pattern), &mut h).await;
            for g in ids(t, "groups").await {
                let path = format!("/v1.0/{}?$filter=groupId eq '{g}'", r.pattern);
                pages(t, &path, &mut h).await;
            }
        } else {
            pages(t, &format!("/v1.0/{}", r.pattern), &mut h).await;
        }
    }
    format!("{:x}", h.finalize())
}

/// Digest of a mutation batch: what it changed, and the ids every collection serves afterwards
/// (mutations stamp wall-clock times, so the objects' properties are not pinned).
async fn mutation_digest(t: &T) -> String {
    let opts = fake_graph::mutate::Options {
        seed: 7,
        count: Some(300),
        ..Default::default()
    };
    let s = t.server.mutate_with(&opts).unwrap();
    let mut h = Sha256::new();
    h.update(format!(
        "{} {} {} {:?}\n",
        s.applied, s.version, s.audit_events, s.operations
    ));
    for c in &s.changes {
        h.update(format!("{c:?}\n"));
    }
    let mut routes: Vec<_> = ROUTES
        .iter()
        .filter(|r| matches!(r.kind, Kind::List(_)))
        .collect();
    routes.sort_by_key(|r| r.pattern);
    for r in routes {
        h.update(format!("# {}: {:?}\n", r.pattern, ids(t, r.pattern).await));
    }
    format!("{:x}", h.finalize())
}

fn config(profile: Profile, seed: u64) -> Config {
    let mut c = Config::new(profile, seed);
    c.now = Some(anchor());
    c
}

#[tokio::test]
async fn tiny_tenant_serves_the_pinned_objects() {
    let t = common::start(config(Profile::Tiny, 1)).await;
    let served = served_digest(&t, usize::MAX).await;
    let mutated = mutation_digest(&t).await;
    assert_eq!(
        (served.as_str(), mutated.as_str()),
        (
            "a187211d2b3aefaa9eddded33137dd80b1821418222f1eb218578180e32c292d",
            "e3f6fff38004c8416938a7e4522ea5ca350aea9978bb0ad27f3c8c55f5387117"
        ),
        "the tiny tenant (seed 1) serves other data than pinned"
    );
}

#[tokio::test]
async fn small_tenant_serves_the_pinned_objects() {
    let t = common::start(config(Profile::Small, 3)).await;
    let served = served_digest(&t, 5).await;
    let mutated = mutation_digest(&t).await;
    assert_eq!(
        (served.as_str(), mutated.as_str()),
        (
            "f422114db88ca292448378dd73d3d30c1f9c67444d964567183225aa9a27876b",
            "4875e0faf523b7b1a9116ed7941513579330fd54799330cc4b94b99146ff3fc5"
        ),
        "the small tenant (seed 3) serves other data than pinned"
    );
}
