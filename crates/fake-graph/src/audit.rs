//! The directory audit events that mutations write, so that a client can use
//! `/auditLogs/directoryAudits` as a change feed for what delta does not track. Each event is a full
//! directoryAudit resource with Microsoft's activity names (its audit activity reference) and the
//! `targetResources` shapes its published and observed records have:
//!
//! - a relationship change ("Add member to group", "Add owner to application", "Add registered owner
//!   to device", …): `targetResources[0]` is the member or owner, whose `modifiedProperties` name the
//!   holder as `<Type>.ObjectID` (JSON-quoted id in `newValue`, or `oldValue` for a removal), and
//!   `targetResources[1]` is the holder itself;
//! - an app role assignment ("Add app role assignment to service principal", "… grant to user",
//!   "… to group"): `targetResources[0]` is the resource service principal, whose
//!   `modifiedProperties` carry `AppRole.*`, `AppRoleAssignment.*` and the principal as
//!   `ServicePrincipal.ObjectID` / `User.ObjectID` / `Group.ObjectID`;
//! - an object change ("Add user", "Update application", "Remove service principal", …):
//!   `targetResources[0]` is the object, with the changed properties.
//!
//! Events are appended to the audit log stream at the wall-clock time of the mutation (never before
//! the newest entry, so the stream stays ordered).

use chrono::{DateTime, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::fill::{Filler, Obj};
use crate::tenant::{Item, Tenant};

/// The `type` Microsoft gives a target resource of a collection (its registry entry's `audit_type`).
pub fn type_name(coll: &str) -> &'static str {
    crate::registry::get(coll).map_or("Other", |r| r.audit_type)
}

/// A JSON-quoted string, as `modifiedProperties` values are (`"\"abc\""`).
pub fn q(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

fn prop(name: &str, old: Option<String>, new: Option<String>) -> Value {
    json!({"displayName": name, "oldValue": old, "newValue": new})
}

/// `(oldValue, newValue)` for a value that is added (`new`) or removed (`old`).
fn side(add: bool, v: String) -> (Option<String>, Option<String>) {
    if add {
        (None, Some(v))
    } else {
        (Some(v), None)
    }
}

fn link_prop(name: &str, add: bool, v: String) -> Value {
    let (o, n) = side(add, v);
    prop(name, o, n)
}

/// A live or soft-deleted object (deleted objects are still named in the events about them).
pub fn find<'t>(t: &'t Tenant, id: &str) -> Option<(&'static str, &'t Item)> {
    let coll = *t.kinds.get(id)?;
    let c = t.colls.get(coll)?;
    c.get(id)
        .or_else(|| c.removed.get(id).and_then(|(_, i)| i.as_ref()))
        .map(|i| (coll, i))
}

fn group_type(item: &Item) -> &'static str {
    let unified = item
        .data
        .get("groupTypes")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|v| v == "Unified"));
    if unified { "unifiedGroups" } else { "azureAD" }
}

/// A targetResource for an object (no modified properties yet).
pub fn target(coll: &str, item: &Item) -> Value {
    json!({
        "id": item.id,
        "displayName": item.data.get("displayName").cloned().unwrap_or(Value::Null),
        "type": type_name(coll),
        "userPrincipalName": if coll == "users" { item.data.get("userPrincipalName").cloned().unwrap_or(Value::Null) } else { Value::Null },
        "groupType": if coll == "groups" { json!(group_type(item)) } else { Value::Null },
        "modifiedProperties": [],
    })
}

fn target_id(t: &Tenant, id: &str) -> Value {
    match find(t, id) {
        Some((coll, item)) => target(coll, item),
        None => json!({"id": id, "displayName": null, "type": "Other", "userPrincipalName": null,
                       "groupType": null, "modifiedProperties": []}),
    }
}

fn str_of(item: &Item, k: &str) -> String {
    item.str(k).unwrap_or("").to_string()
}

/// Writes the events of one mutation batch: ids, correlation ids and initiators come from their own
/// random stream (seeded from the batch's seed), so the mutations themselves do not depend on them.
pub struct Writer {
    f: Filler,
    /// Events written so far.
    pub written: usize,
}

impl Writer {
    pub fn new(seed: u64, domain: &str) -> Self {
        Writer {
            f: Filler {
                rng: ChaCha8Rng::seed_from_u64(seed ^ 0xA0D1_7E57),
                now: Utc::now(),
                domain: domain.to_string(),
                density: 1.0,
            },
            written: 0,
        }
    }

    fn initiator(&mut self, t: &Tenant) -> Value {
        let ctx = &t.audits.ctx;
        if (self.f.chance(0.5) || ctx.users.is_empty()) && !ctx.apps.is_empty() {
            let (app_id, name, sp) = &ctx.apps[self.f.range(0, ctx.apps.len() as u64) as usize];
            json!({"app": {"appId": app_id, "displayName": name, "servicePrincipalId": sp,
                           "servicePrincipalName": null}, "user": null})
        } else if !ctx.users.is_empty() {
            let (id, _, upn) = &ctx.users[self.f.range(0, ctx.users.len() as u64) as usize];
            let ip = self.f.ip();
            json!({"user": {"id": id, "displayName": null, "userPrincipalName": upn, "ipAddress": ip},
                   "app": null})
        } else {
            json!({"app": null, "user": null})
        }
    }

    /// Append one event to the tenant's audit log; returns its id.
    pub fn write(
        &mut self,
        t: &mut Tenant,
        activity: &str,
        category: &str,
        operation: &str,
        targets: Vec<Value>,
        details: Vec<(&str, String)>,
    ) -> String {
        let ts_ms = t.audits.next_ts_ms(Utc::now().timestamp_millis());
        let at = DateTime::<Utc>::from_timestamp_millis(ts_ms).unwrap_or_else(Utc::now);
        let correlation = self.f.uuid();
        let suffix: String = (0..5)
            .map(|_| *self.f.pick(&b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"[..]) as char)
            .collect();
        let id = format!(
            "Directory_{correlation}_{suffix}_{}",
            self.f.range(10_000_000, 99_999_999)
        );
        let initiated = self.initiator(t);
        let mut additional: Vec<Value> = details
            .into_iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        additional.push(
            json!({"key": "User-Agent", "value": "Microsoft Azure Graph Client Library 1.0"}),
        );
        let mut o = Obj::new();
        o.insert("id".into(), json!(id));
        o.insert("category".into(), json!(category));
        o.insert("correlationId".into(), json!(correlation));
        o.insert("result".into(), json!("success"));
        o.insert("resultReason".into(), json!(""));
        o.insert("activityDisplayName".into(), json!(activity));
        o.insert(
            "activityDateTime".into(),
            json!(crate::tenant::logs::log_ts(at.timestamp_millis())),
        );
        o.insert("loggedByService".into(), json!("Core Directory"));
        o.insert("operationType".into(), json!(operation));
        o.insert("initiatedBy".into(), initiated);
        o.insert("targetResources".into(), Value::Array(targets));
        o.insert("additionalDetails".into(), Value::Array(additional));
        t.audits.push(ts_ms, o);
        self.written += 1;
        id
    }

    /// A relationship change of `holder` (`rel` = members, owners, registeredOwners,
    /// registeredUsers). Returns false for relationships Microsoft does not audit here.
    pub fn link(
        &mut self,
        t: &mut Tenant,
        holder_coll: &str,
        holder: &str,
        rel: &str,
        member: &str,
        add: bool,
    ) -> bool {
        let (add_name, remove_name, category, prefix) = match (holder_coll, rel) {
            ("groups", "members") => (
                "Add member to group",
                "Remove member from group",
                "GroupManagement",
                "Group",
            ),
            ("groups", "owners") => (
                "Add owner to group",
                "Remove owner from group",
                "GroupManagement",
                "Group",
            ),
            ("applications", "owners") => (
                "Add owner to application",
                "Remove owner from application",
                "ApplicationManagement",
                "Application",
            ),
            ("servicePrincipals", "owners") => (
                "Add owner to service principal",
                "Remove owner from service principal",
                "ApplicationManagement",
                "ServicePrincipal",
            ),
            ("devices", "registeredOwners") => (
                "Add registered owner to device",
                "Remove registered owner from device",
                "Device",
                "Device",
            ),
            ("devices", "registeredUsers") => (
                "Add registered users to device",
                "Remove registered users from device",
                "Device",
                "Device",
            ),
            _ => return false,
        };
        let Some((_, h)) = find(t, holder) else {
            return false;
        };
        let mut props = vec![link_prop(&format!("{prefix}.ObjectID"), add, q(holder))];
        match holder_coll {
            "groups" => {
                props.push(link_prop(
                    "Group.DisplayName",
                    add,
                    q(&str_of(h, "displayName")),
                ));
            }
            "applications" | "servicePrincipals" => {
                props.push(link_prop(
                    &format!("{prefix}.AppId"),
                    add,
                    q(&str_of(h, "appId")),
                ));
                props.push(link_prop(
                    &format!("{prefix}.DisplayName"),
                    add,
                    q(&str_of(h, "displayName")),
                ));
            }
            _ => {
                props.push(link_prop(
                    "Device.DisplayName",
                    add,
                    q(&str_of(h, "displayName")),
                ));
                props.push(link_prop("Device.DeviceId", add, q(&str_of(h, "deviceId"))));
            }
        }
        let mut first = target_id(t, member);
        first["modifiedProperties"] = Value::Array(props);
        let second = target(holder_coll, h);
        let details = if holder_coll == "devices" {
            vec![("DeviceId", str_of(h, "deviceId"))]
        } else {
            vec![]
        };
        self.write(
            t,
            if add { add_name } else { remove_name },
            category,
            if add { "Assign" } else { "Unassign" },
            vec![first, second],
            details,
        );
        true
    }

    /// An app role assignment added or removed: principal a service principal, user or group.
    pub fn app_role(&mut self, t: &mut Tenant, assignment: &Item, add: bool) {
        let principal = str_of(assignment, "principalId");
        let resource = str_of(assignment, "resourceId");
        let role_id = str_of(assignment, "appRoleId");
        let (add_name, remove_name, category, prefix) =
            match assignment.str("principalType").unwrap_or("") {
                "ServicePrincipal" => (
                    "Add app role assignment to service principal",
                    "Remove app role assignment from service principal",
                    "ApplicationManagement",
                    "ServicePrincipal",
                ),
                "Group" => (
                    "Add app role assignment to group",
                    "Remove app role assignment from group",
                    "GroupManagement",
                    "Group",
                ),
                _ => (
                    "Add app role assignment grant to user",
                    "Remove app role assignment from user",
                    "UserManagement",
                    "User",
                ),
            };
        let mut res_target = target_id(t, &resource);
        let role = find(t, &resource).and_then(|(_, sp)| {
            sp.data
                .get("appRoles")
                .and_then(Value::as_array)
                .and_then(|a| a.iter().find(|r| r["id"] == role_id.as_str()))
                .cloned()
        });
        let role_str = |k: &str| {
            role.as_ref()
                .and_then(|r| r.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let created = str_of(assignment, "createdDateTime");
        let mut props = vec![
            link_prop("AppRole.Id", add, q(&role_id)),
            link_prop("AppRole.Value", add, q(&role_str("value"))),
            link_prop("AppRole.DisplayName", add, q(&role_str("displayName"))),
            link_prop("AppRoleAssignment.CreatedDateTime", add, q(&created)),
            link_prop("AppRoleAssignment.LastModifiedDateTime", add, q(&created)),
            link_prop(&format!("{prefix}.ObjectID"), add, q(&principal)),
        ];
        let p = find(t, &principal).map(|(_, i)| i);
        let pstr = |k: &str| p.map(|i| str_of(i, k)).unwrap_or_default();
        match prefix {
            "ServicePrincipal" => {
                props.push(link_prop(
                    "ServicePrincipal.DisplayName",
                    add,
                    q(&pstr("displayName")),
                ));
                props.push(link_prop("ServicePrincipal.AppId", add, q(&pstr("appId"))));
                props.push(link_prop("ServicePrincipal.Name", add, q(&pstr("appId"))));
            }
            "Group" => {
                props.push(link_prop("Group.DisplayName", add, q(&pstr("displayName"))));
            }
            _ => {
                props.push(link_prop("User.UPN", add, q(&pstr("userPrincipalName"))));
                let puid = format!(
                    "1003{:012X}",
                    principal
                        .bytes()
                        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(b as u64))
                        & 0xFFFF_FFFF_FFFF
                );
                props.push(link_prop("User.PUID", add, q(&puid)));
            }
        }
        res_target["modifiedProperties"] = Value::Array(props);
        self.write(
            t,
            if add { add_name } else { remove_name },
            category,
            if add { "Assign" } else { "Unassign" },
            vec![res_target],
            vec![],
        );
    }

    /// A federated identity credential added to or removed from an application: an "Update
    /// application" whose modified property `FederatedIdentityCredentials` holds the lists before
    /// and after.
    pub fn federated_credentials(
        &mut self,
        t: &mut Tenant,
        app: &str,
        before: &[Obj],
        after: &[Obj],
    ) {
        let list = |xs: &[Obj]| {
            Value::Array(
                xs.iter()
                    .map(|i| {
                        json!({"Name": i.get("name"), "Issuer": i.get("issuer"),
                               "Subject": i.get("subject"), "Audiences": i.get("audiences"),
                               "Description": i.get("description")})
                    })
                    .collect(),
            )
            .to_string()
        };
        let (old, new) = (list(before), list(after));
        self.object(
            t,
            "applications",
            app,
            Change::Update(vec![(
                "FederatedIdentityCredentials".into(),
                Some(old),
                Some(new),
            )]),
        );
    }

    /// An object created, updated, deleted or restored.
    pub fn object(&mut self, t: &mut Tenant, coll: &str, id: &str, change: Change) {
        let Some((noun, category)) = crate::registry::get(coll).and_then(|r| r.audit_event) else {
            return;
        };
        let Some((_, item)) = find(t, id) else {
            return;
        };
        let mut tr = target(coll, item);
        let (activity, operation, props) = match change {
            Change::Add => {
                let mut props = Vec::new();
                let mut names = Vec::new();
                for k in CREATED_PROPS {
                    if let Some(v) = item.data.get(*k).filter(|v| !v.is_null()) {
                        let name = pascal(k);
                        props.push(prop(&name, Some("[]".into()), Some(format!("[{v}]"))));
                        names.push(name);
                    }
                }
                props.push(prop(
                    "Included Updated Properties",
                    None,
                    Some(q(&names.join(", "))),
                ));
                (format!("Add {noun}"), "Add", props)
            }
            Change::Update(changed) => {
                let mut props = Vec::new();
                let mut names = Vec::new();
                for (name, old, new) in changed {
                    props.push(prop(&name, old, new));
                    names.push(name);
                }
                props.push(prop(
                    "Included Updated Properties",
                    None,
                    Some(q(&names.join(", "))),
                ));
                (format!("Update {noun}"), "Update", props)
            }
            Change::Delete { hard } => {
                let activity = match (coll, hard) {
                    ("users", true) => "Hard Delete user".to_string(),
                    ("servicePrincipals", _) => "Remove service principal".to_string(),
                    _ => format!("Delete {noun}"),
                };
                if coll == "users" {
                    // Entra prefixes a deleted user's UPN with its object id (without dashes)
                    let upn = format!(
                        "{}{}",
                        id.replace('-', ""),
                        str_of(item, "userPrincipalName")
                    );
                    tr["userPrincipalName"] = json!(upn);
                }
                (activity, "Delete", vec![])
            }
            Change::Restore => (format!("Restore {noun}"), "Restore", vec![]),
        };
        tr["modifiedProperties"] = Value::Array(props);
        let details = match coll {
            "users" => vec![(
                "UserType",
                item.str("userType").unwrap_or("Member").to_string(),
            )],
            "devices" => vec![("DeviceId", str_of(item, "deviceId"))],
            "applications" | "servicePrincipals" => vec![("AppId", str_of(item, "appId"))],
            _ => vec![],
        };
        self.write(t, &activity, category, operation, vec![tr], details);
    }
}

/// What happened to an object.
pub enum Change {
    Add,
    /// (Microsoft's property name, old value, new value), values JSON-encoded.
    Update(Vec<(String, Option<String>, Option<String>)>),
    Delete {
        hard: bool,
    },
    Restore,
}

/// Properties listed in an "Add …" event when the object has them.
const CREATED_PROPS: &[&str] = &[
    "accountEnabled",
    "displayName",
    "userPrincipalName",
    "userType",
    "mailNickname",
    "securityEnabled",
    "mailEnabled",
    "appId",
    "deviceId",
    "operatingSystem",
];

/// Graph property name → the PascalCase name audit records use (`jobTitle` → `JobTitle`).
pub fn pascal(name: &str) -> String {
    let mut c = name.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => String::new(),
    }
}

/// An update's modified property: old and new values as audit records encode them (`[value]`).
pub fn updated(
    name: &str,
    old: Option<&Value>,
    new: &Value,
) -> (String, Option<String>, Option<String>) {
    let enc = |v: Option<&Value>| match v {
        None | Some(Value::Null) => "[]".to_string(),
        Some(v) => format!("[{v}]"),
    };
    (pascal(name), Some(enc(old)), Some(enc(Some(new))))
}
