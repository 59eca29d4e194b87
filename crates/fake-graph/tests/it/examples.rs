//! Shapes: our responses carry every property that Microsoft's published example responses show
//! (unless the example's property is not in the v1.0 schema at all, e.g. beta-only fields).

use std::path::Path;

use fake_graph::schema::Schema;
use serde_json::Value;

use crate::common::tiny;

/// Microsoft's published example responses, copied from the shared reference so that the test
/// runs from a checkout of this repository alone.
const EX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/graph-examples");

fn example(name: &str) -> Option<Value> {
    let p = Path::new(EX).join(name);
    let s = std::fs::read_to_string(p).ok()?;
    serde_json::from_str(&s).ok()
}

#[tokio::test]
async fn shapes_match_published_examples() {
    let t = tiny().await;
    let cases: &[(&str, &str, &str)] = &[
        ("user-delta-default-props.json", "/v1.0/users/delta", "user"),
        ("group-list.json", "/v1.0/groups", "group"),
        ("application-list.json", "/v1.0/applications", "application"),
        ("application-get.json", "/v1.0/applications", "application"),
        (
            "serviceprincipal-list.json",
            "/v1.0/servicePrincipals",
            "servicePrincipal",
        ),
        (
            "serviceprincipal-get.json",
            "/v1.0/servicePrincipals",
            "servicePrincipal",
        ),
        ("device-list.json", "/v1.0/devices", "device"),
        ("domain-list.json", "/v1.0/domains", "domain"),
        (
            "organization-list.json",
            "/v1.0/organization",
            "organization",
        ),
        (
            "subscribedsku-list.json",
            "/v1.0/subscribedSkus",
            "subscribedSku",
        ),
        (
            "directoryrole-list.json",
            "/v1.0/directoryRoles",
            "directoryRole",
        ),
        (
            "directoryroletemplate-list.json",
            "/v1.0/directoryRoleTemplates",
            "directoryRoleTemplate",
        ),
        (
            "administrativeunit-list.json",
            "/v1.0/directory/administrativeUnits",
            "administrativeUnit",
        ),
        ("signin-list.json", "/v1.0/auditLogs/signIns", "signIn"),
        (
            "directoryaudit-list.json",
            "/v1.0/auditLogs/directoryAudits",
            "directoryAudit",
        ),
        (
            "namedlocation-list.json",
            "/v1.0/identity/conditionalAccess/namedLocations",
            "ipNamedLocation",
        ),
        (
            "conditionalaccesspolicy-list.json",
            "/v1.0/identity/conditionalAccess/policies",
            "conditionalAccessPolicy",
        ),
        (
            "oauth2permissiongrant-list.json",
            "/v1.0/oauth2PermissionGrants",
            "oAuth2PermissionGrant",
        ),
        (
            "riskdetection-list.json",
            "/v1.0/identityProtection/riskDetections",
            "riskDetection",
        ),
        (
            "riskyuser-list.json",
            "/v1.0/identityProtection/riskyUsers",
            "riskyUser",
        ),
        (
            "manageddevice-list.json",
            "/v1.0/deviceManagement/managedDevices",
            "managedDevice",
        ),
        (
            "deviceconfiguration-list.json",
            "/v1.0/deviceManagement/deviceConfigurations",
            "deviceConfiguration",
        ),
        (
            "grouplifecyclepolicy-list.json",
            "/v1.0/groupLifecyclePolicies",
            "groupLifecyclePolicy",
        ),
        (
            "roleassignmentscheduleinstance-list-beta.json",
            "/beta/roleManagement/directory/roleAssignmentScheduleInstances",
            "unifiedRoleAssignmentScheduleInstance",
        ),
        (
            "roleeligibilityscheduleinstance-list-beta.json",
            "/beta/roleManagement/directory/roleEligibilityScheduleInstances",
            "unifiedRoleEligibilityScheduleInstance",
        ),
        (
            "roleassignmentschedule-list-beta.json",
            "/beta/roleManagement/directory/roleAssignmentSchedules",
            "unifiedRoleAssignmentSchedule",
        ),
        (
            "serviceprincipal-approleassignments-list.json",
            "/v1.0/servicePrincipals",
            "appRoleAssignment",
        ),
        (
            "authorizationpolicy-get.json",
            "/v1.0/policies/authorizationPolicy",
            "authorizationPolicy",
        ),
        (
            "identitysecuritydefaultsenforcementpolicy-get.json",
            "/v1.0/policies/identitySecurityDefaultsEnforcementPolicy",
            "identitySecurityDefaultsEnforcementPolicy",
        ),
    ];
    let schema = Schema::get();
    let mut checked = 0;
    for (file, path, resource) in cases {
        let Some(ex) = example(file) else { continue };
        let ex_obj = ex
            .get("value")
            .and_then(|v| v.get(0))
            .cloned()
            .unwrap_or(ex.clone());
        let mut path = path.to_string();
        if *resource == "appRoleAssignment" {
            // the sync app's service principal holds Graph app role assignments
            let sps = t
                .all("/v1.0/servicePrincipals?$select=id,displayName")
                .await;
            let sp = sps
                .iter()
                .find(|s| s["displayName"] == "entrasync")
                .unwrap();
            path = format!(
                "/v1.0/servicePrincipals/{}/appRoleAssignments",
                sp["id"].as_str().unwrap()
            );
        }
        let (s, _, ours) = t.get(&path).await;
        assert_eq!(s, 200, "{path}");
        let ours_obj = match ours.get("value") {
            Some(v) => v[0].clone(),
            None => ours.clone(),
        };
        // envelope
        if ex.get("@odata.context").is_some() {
            assert!(ours.get("@odata.context").is_some(), "{file}");
        }
        for k in ex_obj.as_object().unwrap().keys() {
            if k.starts_with('@') && k != "@odata.type" {
                continue;
            }
            let in_schema = k == "id" || k == "@odata.type" || schema.has_prop(resource, k);
            if in_schema && k != "@odata.type" {
                assert!(
                    ours_obj.get(k).is_some(),
                    "{file}: property {k} missing from {path}"
                );
            }
            if k == "@odata.type" && !matches!(*resource, "riskDetection") {
                assert!(ours_obj.get(k).is_some(), "{file}: @odata.type missing");
            }
            // same JSON kinds where both are non-null
            if let (Some(a), Some(b)) = (ex_obj.get(k), ours_obj.get(k))
                && !a.is_null()
                && !b.is_null()
            {
                assert_eq!(kind(a), kind(b), "{file}: {k} {a} vs {b}");
            }
        }
        checked += 1;
    }
    assert!(checked >= 25, "{checked}");
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}
