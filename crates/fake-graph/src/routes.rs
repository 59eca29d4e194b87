//! The endpoints: what a Graph path fake-graph serves is (its kind), with its permission, licence,
//! throttle class, resource-unit cost and page sizes. Paths are relative to `/v1.0` or `/beta`; the
//! table itself is made of the resources' entries in `registry.rs`.

use crate::tenant::logs::LogKind;
use crate::throttle::Class;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lic {
    None,
    /// P1 or P2.
    P1,
    P2,
    Intune,
    /// PIM (P2), with PIM's own error code.
    Pim,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A collection of a tenant collection key.
    List(&'static str),
    /// One object `{id}` of a collection.
    Entity(&'static str),
    Delta(&'static str),
    /// directoryObject relationship of `{id}`: (parent collection, relationship).
    Rel(&'static str, &'static str),
    /// Transitive members of a group.
    Transitive,
    /// Groups, directory roles and administrative units `{id}` is a direct member of
    /// (`memberOf`), or, transitively, the groups that contain it (`transitiveMemberOf`).
    MemberOf {
        transitive: bool,
    },
    /// Objects whose relationship (of these collections) lists `{id}`: `ownedObjects` (owners of
    /// groups, applications, service principals), `ownedDevices` (registered owners of devices).
    Holders(&'static [&'static str], &'static str),
    /// Child objects owned by `{id}` (child collection); `by_resource` = appRoleAssignedTo.
    Child(&'static str, bool),
    /// `/groups/{id}/groupLifecyclePolicies`
    GroupLifecycle,
    Singleton(&'static str),
    Log(LogKind),
    /// PIM for groups (requires `$filter=groupId eq` or `principalId eq`).
    PimGroup(&'static str),
}

#[derive(Debug, Clone, Copy)]
pub struct Route {
    pub pattern: &'static str,
    pub kind: Kind,
    /// Any of these application permissions (a ReadWrite role implies Read).
    pub perms: &'static [&'static str],
    pub lic: Lic,
    pub class: Class,
    /// Identity RU base cost.
    pub cost: u32,
    /// (default, max) `$top`; max 0 = no paging (whole collection in one page).
    pub top: (usize, usize),
    /// `@odata.context` fragment after `$metadata#`.
    pub context: &'static str,
}

/// The route table, derived from the resource registry.
pub use crate::registry::ROUTES;

/// Every permission any route requires (granted to the default app).
pub fn all_permissions() -> Vec<String> {
    let mut v: Vec<String> = ROUTES
        .iter()
        .flat_map(|r| r.perms.iter().map(|p| p.to_string()))
        .collect();
    v.extend(
        crate::tenant::directory::GRAPH_PERMISSIONS
            .iter()
            .map(|(p, _)| p.to_string()),
    );
    v.sort();
    v.dedup();
    v
}

/// Match a path (segments after the version) against the table: (route, `{id}` value).
pub fn find(segs: &[&str]) -> Option<(&'static Route, Option<String>)> {
    // `/users/microsoft.graph.delta()` is the SDK spelling of `/users/delta`.
    let norm: Vec<String> = segs
        .iter()
        .map(|s| {
            let s = s.trim_end_matches("()");
            if s == "microsoft.graph.delta" {
                "delta".to_string()
            } else {
                s.to_string()
            }
        })
        .collect();
    'routes: for r in ROUTES.iter() {
        let pat: Vec<&str> = r.pattern.split('/').collect();
        if pat.len() != norm.len() {
            continue;
        }
        let mut id = None;
        for (p, s) in pat.iter().zip(&norm) {
            if *p == "{id}" {
                if s == "delta" {
                    continue 'routes;
                }
                id = Some(s.clone());
            } else if !p.eq_ignore_ascii_case(s) {
                continue 'routes;
            }
        }
        return Some((r, id));
    }
    None
}
