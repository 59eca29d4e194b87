//! The directory audit log as a change feed for relationships that Graph's delta does not track
//! (owners of applications and service principals, app role assignments, registered owners of
//! devices, federated identity credentials, …). Each child table names the activities that
//! change it (`Table::audit_activities`, Microsoft's audit activity reference); an event names
//! the objects it touched in `targetResources` (with their `type`) and in modified properties
//! such as `Application.ObjectID`.
//!
//! The cursor restarts `log_overlap` early, as Microsoft documents that events reach the log
//! minutes (rarely hours) after they happen. A feed older than the log's retention, or one the
//! app may not read (no `AuditLog.Read.All`), is unavailable: the tables that rely on it are
//! then re-read in full.

use super::{Link, Scheduler, list_query};
use crate::graph::{GraphError, Traffic};
use crate::tables::{self, Table};
use chrono::{DateTime, Utc};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

/// Directory audits are kept 7 days on tenants without a premium licence (30 with one).
const RETENTION: chrono::Duration = chrono::Duration::days(7);

/// The state key of the feed's cursor.
pub(super) fn state_key(tenant: &str) -> String {
    format!("changefeed|{tenant}")
}

/// The objects each relevant activity touched since the cursor, by activity.
#[derive(Debug, Default)]
pub(super) struct Feed {
    /// activity → (audit type, object id)
    touched: HashMap<String, HashSet<(String, String)>>,
}

impl Feed {
    /// Ids of objects of `object_type` (`Application`, `ServicePrincipal`, …) touched by any of
    /// `activities`.
    pub fn objects(&self, activities: &[&str], object_type: &str) -> HashSet<String> {
        activities
            .iter()
            .filter_map(|a| self.touched.get(*a))
            .flatten()
            .filter(|(t, _)| t.eq_ignore_ascii_case(object_type))
            .map(|(_, id)| id.clone())
            .collect()
    }

    /// Adds one audit event, if it is one of `wanted`.
    fn add(&mut self, event: &Value, wanted: &HashSet<&str>) {
        let Some(activity) = event.get("activityDisplayName").and_then(Value::as_str) else {
            return;
        };
        if !wanted.contains(activity) {
            return;
        }
        let touched = self.touched.entry(activity.to_string()).or_default();
        for target in event["targetResources"].as_array().into_iter().flatten() {
            if let (Some(kind), Some(id)) = (target["type"].as_str(), target["id"].as_str()) {
                touched.insert((kind.to_string(), id.to_string()));
            }
            for property in target["modifiedProperties"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let Some(kind) = property["displayName"]
                    .as_str()
                    .and_then(|n| n.strip_suffix(".ObjectID"))
                else {
                    continue;
                };
                for side in ["newValue", "oldValue"] {
                    if let Some(id) = property[side]
                        .as_str()
                        .map(unquote)
                        .filter(|s| !s.is_empty())
                    {
                        touched.insert((kind.to_string(), id.to_string()));
                    }
                }
            }
        }
    }
}

/// Modified-property values are JSON-encoded: `"\"id\""`.
fn unquote(value: &str) -> &str {
    value.trim().trim_matches('"')
}

/// The audit log's `type` for objects of a parent table's resource.
pub(super) fn audit_type(parent: &Table) -> &'static str {
    match parent.resource {
        "group" => "Group",
        "application" => "Application",
        "servicePrincipal" => "ServicePrincipal",
        "device" => "Device",
        "directoryRole" => "Role",
        "administrativeUnit" => "AdministrativeUnit",
        "user" => "User",
        _ => "",
    }
}

impl Scheduler {
    /// Reads the feed from the stored cursor (minus the overlap) for the given activities.
    /// `Err` with the reason when it is unavailable.
    pub(super) async fn read_feed(&self, activities: &HashSet<&str>) -> Result<Feed, String> {
        let tenant = self.client.tenant_id();
        let Some(cursor) = self
            .state(&state_key(tenant))
            .and_then(|c| c.parse::<DateTime<Utc>>().ok())
        else {
            return Err("no audit log cursor yet".into());
        };
        if self.started - cursor > RETENTION {
            return Err(format!(
                "the last sync read the audit log at {cursor}, longer ago than Graph keeps it"
            ));
        }
        let since = cursor - self.options.log_overlap;
        let audits = tables::by_name("entraid_auditlogs_directoryaudits").expect("in the catalog");
        let tables::Source::List { path } = audits.source else {
            unreachable!("directory audits are a collection")
        };
        let filter = format!("activityDateTime ge {}", since.format("%Y-%m-%dT%H:%M:%SZ"));
        let mut url = self.client.url(&list_query(audits, path, Some(&filter)));
        let traffic = Traffic::default();
        let mut chain = self.client.chain();
        let mut feed = Feed::default();
        let mut events = 0u64;
        loop {
            let (objects, next) = self.page(&url, &traffic).await.map_err(|e: GraphError| {
                if e.is_permission_denied() {
                    format!("{e}; grant AuditLog.Read.All to read only what changed")
                } else {
                    e.to_string()
                }
            })?;
            events += objects.len() as u64;
            for event in &objects {
                feed.add(event, activities);
            }
            match next {
                Link::Next(next) => {
                    chain.follow(&next).map_err(|e| e.to_string())?;
                    url = next;
                }
                _ => break,
            }
        }
        tracing::info!(
            since = %since,
            events,
            requests = traffic.requests.load(std::sync::atomic::Ordering::Relaxed),
            "audit log read as a change feed"
        );
        Ok(feed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_name_their_objects_by_type_and_by_object_id_property() {
        let mut feed = Feed::default();
        let wanted: HashSet<&str> = [
            "Add owner to application",
            "Add app role assignment to service principal",
        ]
        .into_iter()
        .collect();
        feed.add(
            &json!({
                "activityDisplayName": "Add owner to application",
                "targetResources": [
                    {"id": "u1", "type": "User", "modifiedProperties": [
                        {"displayName": "Application.ObjectID", "oldValue": null, "newValue": "\"app1\""}
                    ]},
                    {"id": "app1", "type": "Application"}
                ]
            }),
            &wanted,
        );
        feed.add(
            &json!({
                "activityDisplayName": "Add app role assignment to service principal",
                "targetResources": [{"id": "res", "type": "ServicePrincipal", "modifiedProperties": [
                    {"displayName": "ServicePrincipal.ObjectID", "oldValue": null, "newValue": "\"principal\""}
                ]}]
            }),
            &wanted,
        );
        feed.add(
            &json!({"activityDisplayName": "Update user", "targetResources": [{"id": "u9", "type": "User"}]}),
            &wanted,
        );
        assert_eq!(
            feed.objects(&["Add owner to application"], "Application"),
            HashSet::from(["app1".to_string()])
        );
        let sps = feed.objects(
            &["Add app role assignment to service principal"],
            "ServicePrincipal",
        );
        assert_eq!(
            sps,
            HashSet::from(["res".to_string(), "principal".to_string()])
        );
        assert!(feed.objects(&["Update user"], "User").is_empty());
    }
}
