//! Generation of role management and PIM, policies, identity protection, reports and Intune.

use chrono::Duration;
use serde_json::{Value, json};

use super::directory::{ROLE_TEMPLATES, opaque_id};
use super::{Counts, Item, Tenant};
use crate::Licences;
use crate::fill::{Filler, Obj, ts};

/// Generator of everything this module makes, with what the directory's generators produced.
pub fn generate_rest(g: &mut super::directory::Gen) {
    generate(
        &mut g.t,
        &mut g.f,
        &g.counts,
        g.lic,
        &g.users,
        &g.role_members,
        &g.role_assignable,
        &g.apps_ctx,
        &g.au_ids,
    );
}

#[allow(clippy::too_many_arguments)]
fn generate(
    t: &mut Tenant,
    f: &mut Filler,
    counts: &Counts,
    lic: Licences,
    users: &[(String, String, String)],
    role_members: &[(String, String, String)],
    role_assignable: &[String],
    apps: &[(String, String, String)],
    _aus: &[String],
) {
    let dense = f.density >= 1.0;
    let now = f.now;
    let _ = lic;
    // ---- role definitions (built-ins: id = template id) and assignments
    for (tid, name, desc) in ROLE_TEMPLATES {
        let mut o = Obj::new();
        o.insert("description".into(), json!(desc));
        o.insert("displayName".into(), json!(name));
        o.insert("isBuiltIn".into(), json!(true));
        o.insert("isEnabled".into(), json!(true));
        o.insert("resourceScopes".into(), json!(["/"]));
        o.insert(
            "rolePermissions".into(),
            json!([{"allowedResourceActions": ["microsoft.directory/users/standard/read", "microsoft.directory/groups/standard/read"],
                    "condition": if dense { json!("@Resource[dirSec:TargetObject] Exists") } else { Value::Null },
                    "excludedResourceActions": []}]),
        );
        o.insert("templateId".into(), json!(tid));
        o.insert("version".into(), json!("1"));
        t.coll_mut("roleDefinitions")
            .push(Item::new(tid.to_string(), o));
    }
    {
        // one custom role
        let mut o = f.resource("unifiedRoleDefinition");
        let id = f.uuid();
        o.insert("displayName".into(), json!("Custom Application Reader"));
        o.insert("isBuiltIn".into(), json!(false));
        o.insert("isEnabled".into(), json!(true));
        o.insert("templateId".into(), json!(id));
        o.insert("resourceScopes".into(), json!(["/"]));
        o.insert("version".into(), json!("2"));
        o.insert(
            "rolePermissions".into(),
            json!([{"allowedResourceActions": ["microsoft.directory/applications/standard/read"], "condition": null, "excludedResourceActions": []}]),
        );
        t.coll_mut("roleDefinitions").push(Item::new(id, o));
    }
    for (k, (tid, principal, _role_obj)) in role_members.iter().enumerate() {
        // unifiedRoleAssignment ids are opaque, not GUIDs
        let ra_id = opaque_id(f);
        let mut o = Obj::new();
        o.insert(
            "appScopeId".into(),
            if dense && k == 0 {
                json!("/")
            } else {
                Value::Null
            },
        );
        o.insert(
            "condition".into(),
            if dense && k == 0 {
                json!("@Resource[dirSec:TargetObject] Exists")
            } else {
                Value::Null
            },
        );
        o.insert("directoryScopeId".into(), json!("/"));
        o.insert("principalId".into(), json!(principal));
        o.insert("principalOrganizationId".into(), json!(t.id));
        o.insert("roleDefinitionId".into(), json!(tid));
        t.coll_mut("roleAssignments")
            .push(Item::new(ra_id.clone(), o));
        // PIM: every active assignment has a schedule and an instance
        let start = f.past(200);
        let permanent = k % 3 != 1;
        let end = if permanent {
            Value::Null
        } else {
            json!(f.future(180))
        };
        let sched_id = format!("{ra_id}-1");
        let mut s = Obj::new();
        let (app_scope, directory_scope) = pim_scope(dense && k == 0);
        s.insert("appScopeId".into(), app_scope);
        s.insert("createdDateTime".into(), json!(start));
        s.insert("createdUsing".into(), json!(ra_id));
        s.insert("directoryScopeId".into(), directory_scope);
        s.insert("modifiedDateTime".into(), json!(start));
        s.insert("principalId".into(), json!(principal));
        s.insert("roleDefinitionId".into(), json!(tid));
        s.insert("status".into(), json!("Provisioned"));
        s.insert(
            "assignmentType".into(),
            json!(if k % 4 == 3 { "Activated" } else { "Assigned" }),
        );
        s.insert("memberType".into(), json!("Direct"));
        s.insert(
            "scheduleInfo".into(),
            json!({"startDateTime": start, "recurrence": if dense { json!({"pattern": {"dayOfMonth": 0, "daysOfWeek": [], "firstDayOfWeek": "sunday", "index": "first", "interval": 0, "month": 0, "type": "daily"}, "range": {"endDate": "0001-01-01", "numberOfOccurrences": 0, "recurrenceTimeZone": null, "startDate": "0001-01-01", "type": "noEnd"}}) } else { Value::Null },
                   "expiration": {"type": if permanent { "noExpiration" } else { "afterDateTime" }, "endDateTime": end, "duration": null}}),
        );
        t.coll_mut("roleAssignmentSchedules")
            .push(Item::new(sched_id.clone(), s));
        let mut inst = Obj::new();
        let (app_scope, directory_scope) = pim_scope(dense && k == 0);
        inst.insert("appScopeId".into(), app_scope);
        inst.insert("directoryScopeId".into(), directory_scope);
        inst.insert("principalId".into(), json!(principal));
        inst.insert("roleDefinitionId".into(), json!(tid));
        inst.insert(
            "assignmentType".into(),
            json!(if k % 4 == 3 { "Activated" } else { "Assigned" }),
        );
        inst.insert("endDateTime".into(), end.clone());
        inst.insert("memberType".into(), json!("Direct"));
        inst.insert("roleAssignmentOriginId".into(), json!(ra_id));
        inst.insert("roleAssignmentScheduleId".into(), json!(sched_id));
        inst.insert("startDateTime".into(), json!(start));
        t.coll_mut("roleAssignmentScheduleInstances")
            .push(Item::new(ra_id.clone(), inst));
        let mut req = f.resource("unifiedRoleAssignmentScheduleRequest");
        req.insert("action".into(), json!("adminAssign"));
        req.insert("principalId".into(), json!(principal));
        req.insert("roleDefinitionId".into(), json!(tid));
        req.insert("directoryScopeId".into(), json!("/"));
        req.insert("status".into(), json!("Provisioned"));
        req.insert("targetScheduleId".into(), json!(sched_id));
        req.insert("isValidationOnly".into(), json!(false));
        req.insert("justification".into(), json!("Assigned during onboarding"));
        req.insert("createdDateTime".into(), json!(start));
        req.insert("completedDateTime".into(), json!(start));
        req.insert(
            "createdBy".into(),
            json!({"user": {"id": users[0].0, "displayName": users[0].1}, "application": null, "device": null}),
        );
        if dense {
            req.insert(
                "createdBy".into(),
                json!({"user": {"id": users[0].0, "displayName": users[0].1}, "application": {"id": apps[0].0, "displayName": apps[0].1}, "device": {"id": f.uuid(), "displayName": "DESKTOP-ADMIN"}}),
            );
        }
        req.insert(
            "scheduleInfo".into(),
            json!({"startDateTime": start, "recurrence": null, "expiration": {"type": if permanent { "noExpiration" } else { "afterDateTime" }, "endDateTime": end, "duration": null}}),
        );
        t.coll_mut("roleAssignmentScheduleRequests")
            .push(Item::new(f.uuid(), req));
    }
    // eligibility: some users eligible for some roles
    let n_elig = (users.len() / 20).clamp(3, 2000);
    for k in 0..n_elig {
        let (tid, ..) = ROLE_TEMPLATES[k % ROLE_TEMPLATES.len()];
        let principal = &users[(k * 13 + 1) % users.len()].0;
        let id = opaque_id(f);
        let start = f.past(100);
        let end = f.future(365);
        let mut s = Obj::new();
        let (app_scope, directory_scope) = pim_scope(dense && k == 0);
        s.insert("appScopeId".into(), app_scope);
        s.insert("createdDateTime".into(), json!(start));
        s.insert("createdUsing".into(), json!(id));
        s.insert("directoryScopeId".into(), directory_scope);
        s.insert("modifiedDateTime".into(), json!(start));
        s.insert("principalId".into(), json!(principal));
        s.insert("roleDefinitionId".into(), json!(tid));
        s.insert("status".into(), json!("Provisioned"));
        s.insert("memberType".into(), json!("Direct"));
        s.insert(
            "scheduleInfo".into(),
            json!({"startDateTime": start, "recurrence": null, "expiration": {"type": "afterDateTime", "endDateTime": end, "duration": null}}),
        );
        t.coll_mut("roleEligibilitySchedules")
            .push(Item::new(format!("{id}-e"), s));
        let mut inst = Obj::new();
        let (app_scope, directory_scope) = pim_scope(dense && k == 0);
        inst.insert("appScopeId".into(), app_scope);
        inst.insert("directoryScopeId".into(), directory_scope);
        inst.insert("principalId".into(), json!(principal));
        inst.insert("roleDefinitionId".into(), json!(tid));
        inst.insert("endDateTime".into(), json!(end));
        inst.insert("memberType".into(), json!("Direct"));
        inst.insert("roleEligibilityScheduleId".into(), json!(format!("{id}-e")));
        inst.insert("startDateTime".into(), json!(start));
        t.coll_mut("roleEligibilityScheduleInstances")
            .push(Item::new(id.clone(), inst));
        let mut req = f.resource("unifiedRoleEligibilityScheduleRequest");
        req.insert("action".into(), json!("adminAssign"));
        req.insert("principalId".into(), json!(principal));
        req.insert("roleDefinitionId".into(), json!(tid));
        req.insert("directoryScopeId".into(), json!("/"));
        req.insert("status".into(), json!("Provisioned"));
        req.insert("targetScheduleId".into(), json!(format!("{id}-e")));
        req.insert("isValidationOnly".into(), json!(false));
        req.insert("createdBy".into(), json!({"user": {"id": users[0].0, "displayName": users[0].1}, "application": null, "device": null}));
        req.insert(
            "scheduleInfo".into(),
            json!({"startDateTime": start, "recurrence": null, "expiration": {"type": "afterDateTime", "endDateTime": end, "duration": null}}),
        );
        t.coll_mut("roleEligibilityScheduleRequests")
            .push(Item::new(f.uuid(), req));
    }
    // PIM for groups: on role-assignable groups
    for (k, gid) in role_assignable.iter().enumerate() {
        for j in 0..2 {
            let principal = &users[(k * 5 + j) % users.len()].0;
            let start = f.past(90);
            let mut a = Obj::new();
            a.insert(
                "accessId".into(),
                json!(if j == 0 { "member" } else { "owner" }),
            );
            a.insert(
                "assignmentScheduleId".into(),
                json!(format!(
                    "{}_{}_{}",
                    gid,
                    if j == 0 { "member" } else { "owner" },
                    f.uuid()
                )),
            );
            a.insert(
                "assignmentType".into(),
                json!(if j == 0 { "assigned" } else { "activated" }),
            );
            a.insert(
                "endDateTime".into(),
                if j == 0 && !dense {
                    Value::Null
                } else {
                    json!(f.future(30))
                },
            );
            a.insert("groupId".into(), json!(gid));
            a.insert("memberType".into(), json!("direct"));
            a.insert("principalId".into(), json!(principal));
            a.insert("startDateTime".into(), json!(start));
            t.coll_mut("pimGroupAssignmentInstances")
                .push(Item::new(opaque_id(f), a));
            let mut e = Obj::new();
            e.insert(
                "accessId".into(),
                json!(if j == 0 { "member" } else { "owner" }),
            );
            e.insert(
                "eligibilityScheduleId".into(),
                json!(format!(
                    "{}_{}_{}",
                    gid,
                    if j == 0 { "member" } else { "owner" },
                    f.uuid()
                )),
            );
            e.insert("endDateTime".into(), json!(f.future(365)));
            e.insert("groupId".into(), json!(gid));
            e.insert("memberType".into(), json!("direct"));
            e.insert(
                "principalId".into(),
                json!(users[(k * 5 + j + 2) % users.len()].0),
            );
            e.insert("startDateTime".into(), json!(start));
            t.coll_mut("pimGroupEligibilityInstances")
                .push(Item::new(opaque_id(f), e));
        }
    }

    // ---- named locations and conditional access
    let mut loc_ids = Vec::new();
    for k in 0..4.max(counts.ca_policies / 5) {
        let id = f.uuid();
        let mut o = Obj::new();
        let created = f.past(500);
        if k % 2 == 0 {
            o.insert(
                "@odata.type".into(),
                json!("#microsoft.graph.ipNamedLocation"),
            );
            o.insert("displayName".into(), json!(format!("Office network {k}")));
            o.insert("createdDateTime".into(), json!(created));
            o.insert("modifiedDateTime".into(), json!(created));
            o.insert("isTrusted".into(), json!(k == 0));
            o.insert(
                "ipRanges".into(),
                json!([{"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": format!("{}/24", f.ip())},
                       {"@odata.type": "#microsoft.graph.iPv6CidrRange", "cidrAddress": "2001:0:9d38:90d6:0:0:0:0/63"}]),
            );
        } else {
            o.insert(
                "@odata.type".into(),
                json!("#microsoft.graph.countryNamedLocation"),
            );
            o.insert(
                "displayName".into(),
                json!(format!("Allowed countries {k}")),
            );
            o.insert("createdDateTime".into(), json!(created));
            o.insert("modifiedDateTime".into(), json!(created));
            o.insert("countriesAndRegions".into(), json!(["US", "CA", "GB"]));
            o.insert("countryLookupMethod".into(), json!("clientIpAddress"));
            o.insert("includeUnknownCountriesAndRegions".into(), json!(false));
        }
        loc_ids.push(id.clone());
        t.coll_mut("namedLocations").push(Item::new(id, o));
    }
    let group_ids: Vec<String> = t
        .coll("groups")
        .items
        .values()
        .take(5)
        .map(|g| g.id.clone())
        .collect();
    for k in 0..counts.ca_policies {
        let mut o = f.resource("conditionalAccessPolicy");
        let names = [
            "Require MFA for admins",
            "Block legacy authentication",
            "Require compliant device",
            "Require MFA for guests",
            "Sign-in risk policy",
            "Session lifetime",
        ];
        o.insert(
            "displayName".into(),
            json!(format!("{} {k}", names[k % names.len()])),
        );
        o.insert(
            "state".into(),
            json!(["enabled", "disabled", "enabledForReportingButNotEnforced"][k % 3]),
        );
        o.insert("createdDateTime".into(), json!(f.past(600)));
        o.insert("modifiedDateTime".into(), json!(f.past(60)));
        o.insert(
            "templateId".into(),
            if dense || k % 4 == 0 {
                json!(f.uuid())
            } else {
                Value::Null
            },
        );
        o.insert(
            "conditions".into(),
            json!({
                "users": {"includeUsers": if k % 2 == 0 { json!(["All"]) } else { json!([users[0].0]) }, "excludeUsers": [users[users.len() - 1].0],
                          "includeGroups": group_ids.iter().take(1).collect::<Vec<_>>(), "excludeGroups": [], "includeRoles": [ROLE_TEMPLATES[0].0], "excludeRoles": [],
                          "includeGuestsOrExternalUsers": if dense { json!({"guestOrExternalUserTypes": "b2bCollaborationGuest", "externalTenants": {"@odata.type": "#microsoft.graph.conditionalAccessAllExternalTenants", "membershipKind": "all"}}) } else { Value::Null },
                          "excludeGuestsOrExternalUsers": null},
                "applications": {"includeApplications": ["All"], "excludeApplications": [], "includeUserActions": [], "includeAuthenticationContextClassReferences": [], "applicationFilter": null},
                "clientAppTypes": if k % 6 == 1 { json!(["exchangeActiveSync", "other"]) } else { json!(["all"]) },
                "platforms": if dense || k % 3 == 0 { json!({"includePlatforms": ["all"], "excludePlatforms": ["iOS"]}) } else { Value::Null },
                "locations": {"includeLocations": ["All"], "excludeLocations": loc_ids.iter().take(1).collect::<Vec<_>>()},
                "devices": null,
                "signInRiskLevels": if k % 6 == 4 { json!(["high", "medium"]) } else { json!([]) },
                "userRiskLevels": [],
                "servicePrincipalRiskLevels": [],
                "clientApplications": null,
                "authenticationFlows": null,
                "insiderRiskLevels": null
            }),
        );
        o.insert(
            "grantControls".into(),
            json!({"operator": "OR", "builtInControls": if k % 6 == 1 { json!(["block"]) } else { json!(["mfa"]) }, "customAuthenticationFactors": [], "termsOfUse": [],
                   "authenticationStrength": null}),
        );
        o.insert(
            "sessionControls".into(),
            if k % 6 == 5 || dense {
                json!({"applicationEnforcedRestrictions": null, "cloudAppSecurity": null, "disableResilienceDefaults": false,
                       "persistentBrowser": {"isEnabled": true, "mode": "never"},
                       "signInFrequency": {"authenticationType": "primaryAndSecondaryAuthentication", "frequencyInterval": "timeBased", "isEnabled": true, "type": "hours", "value": 8},
                       "secureSignInSession": null})
            } else {
                Value::Null
            },
        );
        o.remove("deletedDateTime");
        t.coll_mut("conditionalAccessPolicies")
            .push(Item::new(f.uuid(), o));
    }

    // ---- policy singletons
    let mut s = f.resource("authorizationPolicy");
    s.insert("displayName".into(), json!("Authorization Policy"));
    s.insert(
        "description".into(),
        json!("Used to manage authorization related settings across the company."),
    );
    s.insert("allowInvitesFrom".into(), json!("everyone"));
    s.insert(
        "guestUserRoleId".into(),
        json!("10dae51f-b6af-4016-8d66-8c2a99b929b3"),
    );
    s.insert(
        "defaultUserRolePermissions".into(),
        json!({"allowedToCreateApps": true, "allowedToCreateSecurityGroups": true, "allowedToCreateTenants": true,
               "allowedToReadBitlockerKeysForOwnedDevice": true, "allowedToReadOtherUsers": true,
               "permissionGrantPoliciesAssigned": ["ManagePermissionGrantsForSelf.microsoft-user-default-legacy"]}),
    );
    s.insert("id".into(), json!("authorizationPolicy"));
    s.remove("deletedDateTime");
    t.singletons.insert("authorizationPolicy", s);
    let mut s = Obj::new();
    s.insert("id".into(), json!("00000000-0000-0000-0000-000000000005"));
    s.insert("description".into(), json!("Security defaults is a set of basic identity security mechanisms recommended by Microsoft. When enabled, these recommendations will be automatically enforced in your organization. Administrators and users will be better protected from common identity related attacks."));
    s.insert("displayName".into(), json!("Security Defaults"));
    s.insert("isEnabled".into(), json!(counts.ca_policies == 0));
    t.singletons
        .insert("identitySecurityDefaultsEnforcementPolicy", s);
    let mut s = f.resource("authenticationMethodsPolicy");
    s.insert("id".into(), json!("authenticationMethodsPolicy"));
    s.insert("displayName".into(), json!("Authentication Methods Policy"));
    s.insert("description".into(), json!("The tenant-wide policy that controls which authentication methods are allowed in the tenant, authentication method registration requirements, and self-service password reset settings"));
    s.insert("policyVersion".into(), json!("1.5"));
    s.insert("policyMigrationState".into(), json!("migrationInProgress"));
    s.insert("reconfirmationInDays".into(), json!(180));
    s.insert(
        "registrationEnforcement".into(),
        json!({"authenticationMethodsRegistrationCampaign": {"snoozeDurationInDays": 1, "state": "default"}}),
    );
    t.singletons.insert("authenticationMethodsPolicy", s);
    let mut s = Obj::new();
    s.insert("id".into(), json!("policy"));
    s.insert("isEnabled".into(), json!(true));
    s.insert("notifyReviewers".into(), json!(true));
    s.insert("remindersEnabled".into(), json!(true));
    s.insert("requestDurationInDays".into(), json!(30));
    s.insert(
        "reviewers".into(),
        json!([{"query": format!("/users/{}", users[0].0), "queryType": "MicrosoftGraph", "queryRoot": null},
               {"query": format!("/beta/roleManagement/directory/roleAssignments?$filter=roleDefinitionId eq '{}'", ROLE_TEMPLATES[0].0), "queryType": "MicrosoftGraph", "queryRoot": null}]),
    );
    s.insert("version".into(), json!(2));
    t.singletons.insert("adminConsentRequestPolicy", s);
    let mut s = Obj::new();
    s.insert("id".into(), json!("crossTenantAccessPolicy"));
    s.insert("displayName".into(), json!("CrossTenantAccessPolicy"));
    s.insert(
        "description".into(),
        json!("Cross tenant access policy of the organization"),
    );
    s.insert("allowedCloudEndpoints".into(), json!([]));
    t.singletons.insert("crossTenantAccessPolicy", s);
    for k in 0..3 {
        let mut o = f.resource("crossTenantAccessPolicyConfigurationPartner");
        o.insert("tenantId".into(), json!(f.uuid()));
        o.insert("isServiceProvider".into(), json!(k == 0));
        o.insert("isInMultiTenantOrganization".into(), json!(k == 1));
        o.insert("inboundTrust".into(), json!({"isMfaAccepted": true, "isCompliantDeviceAccepted": k == 0, "isHybridAzureADJoinedDeviceAccepted": false}));
        let id = o["tenantId"].as_str().unwrap().to_string();
        t.coll_mut("crossTenantPartners").push(Item::new(id, o));
    }
    for k in 0..2 {
        let mut o = Obj::new();
        o.insert(
            "description".into(),
            json!(format!("Token lifetime policy {k}")),
        );
        o.insert(
            "displayName".into(),
            json!(format!("Contoso token lifetime {k}")),
        );
        o.insert(
            "definition".into(),
            json!([format!("{{\"TokenLifetimePolicy\":{{\"Version\":1,\"AccessTokenLifetime\":\"{:02}:00:00\"}}}}", 8 + k * 4)]),
        );
        o.insert("isOrganizationDefault".into(), json!(k == 0));
        t.coll_mut("tokenLifetimePolicies")
            .push(Item::new(f.uuid(), o));
    }
    for (id, name, desc) in [
        (
            "microsoft-all-application-permissions",
            "All application permissions, for any client app",
            "Includes all application permissions (app roles), for all APIs, for any client application.",
        ),
        (
            "microsoft-user-default-low",
            "Default policy for user consent to apps",
            "Includes low-risk permissions for client apps from verified publishers or registered in this organization.",
        ),
        (
            "microsoft-user-default-legacy",
            "Default (legacy) policy for user consent to apps",
            "Includes all delegated permissions for any client application.",
        ),
    ] {
        let mut o = Obj::new();
        o.insert("description".into(), json!(desc));
        o.insert("displayName".into(), json!(name));
        t.coll_mut("permissionGrantPolicies")
            .push(Item::new(id.to_string(), o));
    }

    // ---- identity protection
    let n_risky = (users.len() / 25).clamp(3, 4_000);
    for k in 0..n_risky {
        let (uid, uname, upn) = &users[(k * 17 + 3) % users.len()];
        if t.coll("riskyUsers").get(uid).is_some() {
            continue;
        }
        let level = ["low", "medium", "high"][k % 3];
        let mut o = Obj::new();
        o.insert("isDeleted".into(), json!(false));
        o.insert("isProcessing".into(), json!(false));
        o.insert(
            "riskDetail".into(),
            json!(if k % 4 == 0 {
                "adminDismissedAllRiskForUser"
            } else {
                "none"
            }),
        );
        o.insert("riskLastUpdatedDateTime".into(), json!(f.past(30)));
        o.insert("riskLevel".into(), json!(level));
        o.insert(
            "riskState".into(),
            json!(if k % 4 == 0 { "dismissed" } else { "atRisk" }),
        );
        o.insert("userDisplayName".into(), json!(uname));
        o.insert("userPrincipalName".into(), json!(upn));
        t.coll_mut("riskyUsers").push(Item::new(uid.clone(), o));
        for j in 0..2 {
            let detected = now - Duration::minutes((k * 97 + j * 13) as i64 % (7 * 24 * 60));
            let mut d = f.resource("riskDetection");
            d.insert("requestId".into(), json!(f.uuid()));
            d.insert("correlationId".into(), json!(f.uuid()));
            d.insert(
                "riskEventType".into(),
                json!(
                    [
                        "unfamiliarFeatures",
                        "anonymizedIPAddress",
                        "leakedCredentials",
                        "unlikelyTravel"
                    ][(k + j) % 4]
                ),
            );
            d.insert("riskState".into(), json!("atRisk"));
            d.insert("riskLevel".into(), json!(level));
            d.insert("riskDetail".into(), json!("none"));
            d.insert("source".into(), json!("IdentityProtection"));
            d.insert(
                "detectionTimingType".into(),
                json!(if j == 0 { "realtime" } else { "offline" }),
            );
            d.insert("activity".into(), json!("signin"));
            d.insert("tokenIssuerType".into(), json!("AzureAD"));
            d.insert(
                "activityDateTime".into(),
                json!(ts(detected - Duration::minutes(2))),
            );
            d.insert("detectedDateTime".into(), json!(ts(detected)));
            d.insert("lastUpdatedDateTime".into(), json!(ts(detected)));
            d.insert("userId".into(), json!(uid));
            d.insert("userDisplayName".into(), json!(uname));
            d.insert("userPrincipalName".into(), json!(upn));
            d.insert(
                "additionalInfo".into(),
                json!("[{\"Key\":\"userAgent\",\"Value\":\"Mozilla/5.0\"}]"),
            );
            t.coll_mut("riskDetections").push(Item::new(hex_id(f), d));
        }
    }
    for (k, (app_id, name, sp_id)) in apps
        .iter()
        .take((apps.len() / 10).clamp(2, 500))
        .enumerate()
    {
        let mut o = Obj::new();
        o.insert("appId".into(), json!(app_id));
        o.insert("displayName".into(), json!(name));
        o.insert("isEnabled".into(), json!(true));
        o.insert("isProcessing".into(), json!(false));
        o.insert("riskDetail".into(), json!("none"));
        o.insert("riskLastUpdatedDateTime".into(), json!(f.past(20)));
        o.insert("riskLevel".into(), json!(["low", "medium", "high"][k % 3]));
        o.insert("riskState".into(), json!("atRisk"));
        o.insert("servicePrincipalType".into(), json!("Application"));
        t.coll_mut("riskyServicePrincipals")
            .push(Item::new(sp_id.clone(), o));
        let mut d = f.resource("servicePrincipalRiskDetection");
        let detected = now - Duration::hours((k as i64 * 7) % 160);
        d.insert("appId".into(), json!(app_id));
        d.insert("servicePrincipalId".into(), json!(sp_id));
        d.insert("servicePrincipalDisplayName".into(), json!(name));
        d.insert(
            "riskEventType".into(),
            json!("investigationsThreatIntelligence"),
        );
        d.insert("riskState".into(), json!("atRisk"));
        d.insert("riskLevel".into(), json!("high"));
        d.insert("riskDetail".into(), json!("none"));
        d.insert("source".into(), json!("IdentityProtection"));
        d.insert("activity".into(), json!("servicePrincipal"));
        d.insert("detectionTimingType".into(), json!("offline"));
        d.insert("tokenIssuerType".into(), json!("AzureAD"));
        d.insert("detectedDateTime".into(), json!(ts(detected)));
        d.insert(
            "activityDateTime".into(),
            json!(ts(detected - Duration::minutes(5))),
        );
        d.insert("lastUpdatedDateTime".into(), json!(ts(detected)));
        d.insert("keyIds".into(), json!([f.uuid()]));
        d.insert(
            "additionalInfo".into(),
            json!("[{\"Key\":\"alertUrl\",\"Value\":null}]"),
        );
        t.coll_mut("servicePrincipalRiskDetections")
            .push(Item::new(hex_id(f), d));
    }

    // ---- reports: registration details (one per user)
    for (k, (uid, uname, upn)) in users.iter().enumerate() {
        let mut o = Obj::new();
        let mfa = k % 3 != 0;
        o.insert("isAdmin".into(), json!(k < 3));
        o.insert("isMfaCapable".into(), json!(mfa));
        o.insert("isMfaRegistered".into(), json!(mfa));
        o.insert("isPasswordlessCapable".into(), json!(k % 5 == 0));
        o.insert("isSsprCapable".into(), json!(mfa));
        o.insert("isSsprEnabled".into(), json!(true));
        o.insert("isSsprRegistered".into(), json!(mfa));
        o.insert(
            "isSystemPreferredAuthenticationMethodEnabled".into(),
            json!(true),
        );
        o.insert("lastUpdatedDateTime".into(), json!(f.past(10)));
        o.insert(
            "methodsRegistered".into(),
            if mfa {
                json!([
                    "microsoftAuthenticatorPush",
                    "softwareOneTimePasscode",
                    "mobilePhone"
                ])
            } else {
                json!([])
            },
        );
        o.insert(
            "systemPreferredAuthenticationMethods".into(),
            if mfa { json!(["push"]) } else { json!([]) },
        );
        o.insert("userDisplayName".into(), json!(uname));
        o.insert(
            "userPreferredMethodForSecondaryAuthentication".into(),
            json!(if mfa { "push" } else { "none" }),
        );
        o.insert("userPrincipalName".into(), json!(upn));
        o.insert(
            "userType".into(),
            json!(if upn.contains("#EXT#") {
                "guest"
            } else {
                "member"
            }),
        );
        t.coll_mut("userRegistrationDetails")
            .push(Item::new(uid.clone(), o));
    }

    // ---- Intune
    for k in 0..counts.managed_devices {
        let (uid, uname, upn) = &users[k % users.len()];
        let mut o = f.resource("managedDevice");
        o.insert(
            "@odata.type".into(),
            json!("#microsoft.graph.managedDevice"),
        );
        let (os, ver, model) = [
            ("Windows", "10.0.22631.3007", "Surface Laptop 5"),
            ("iOS", "17.2.1", "iPhone 15"),
            ("Android", "14", "Pixel 8"),
        ][k % 3];
        o.insert("userId".into(), json!(uid));
        o.insert("userDisplayName".into(), json!(uname));
        o.insert("userPrincipalName".into(), json!(upn));
        o.insert("emailAddress".into(), json!(upn));
        o.insert(
            "deviceName".into(),
            json!(format!("{}_{}_{}", uname.replace(' ', ""), os, k)),
        );
        o.insert(
            "managedDeviceName".into(),
            json!(format!("{}_{}", uname.replace(' ', ""), k)),
        );
        o.insert("operatingSystem".into(), json!(os));
        o.insert("osVersion".into(), json!(ver));
        o.insert("model".into(), json!(model));
        o.insert(
            "manufacturer".into(),
            json!(["Microsoft Corporation", "Apple", "Google"][k % 3]),
        );
        o.insert(
            "complianceState".into(),
            json!(["compliant", "noncompliant", "inGracePeriod"][k % 3]),
        );
        o.insert(
            "managedDeviceOwnerType".into(),
            json!(if k % 4 == 1 { "personal" } else { "company" }),
        );
        o.insert("managementAgent".into(), json!("mdm"));
        o.insert("deviceRegistrationState".into(), json!("registered"));
        o.insert("azureADDeviceId".into(), json!(f.uuid()));
        o.insert("azureADRegistered".into(), json!(true));
        o.insert("jailBroken".into(), json!("False"));
        o.insert("enrolledDateTime".into(), json!(f.past(400)));
        o.insert("lastSyncDateTime".into(), json!(f.past(3)));
        o.insert(
            "serialNumber".into(),
            json!(format!("SN{:010}", f.range(0, 9_999_999_999))),
        );
        o.insert("totalStorageSpaceInBytes".into(), json!(256_000_000_000u64));
        o.insert(
            "freeStorageSpaceInBytes".into(),
            json!(f.range(1_000_000_000, 200_000_000_000)),
        );
        o.insert("physicalMemoryInBytes".into(), json!(0));
        t.coll_mut("managedDevices").push(Item::new(f.uuid(), o));
    }
    for (k, (ty, name)) in [
        (
            "#microsoft.graph.windows10GeneralConfiguration",
            "Windows 10 baseline",
        ),
        (
            "#microsoft.graph.iosGeneralDeviceConfiguration",
            "iOS restrictions",
        ),
        (
            "#microsoft.graph.androidWorkProfileGeneralDeviceConfiguration",
            "Android work profile",
        ),
    ]
    .iter()
    .enumerate()
    {
        let mut o = Obj::new();
        o.insert("@odata.type".into(), json!(ty));
        o.insert("createdDateTime".into(), json!(f.past(300)));
        o.insert("description".into(), json!(format!("{name} settings")));
        o.insert("displayName".into(), json!(name));
        o.insert("lastModifiedDateTime".into(), json!(f.past(30)));
        o.insert("version".into(), json!(k + 1));
        t.coll_mut("deviceConfigurations")
            .push(Item::new(f.uuid(), o));
        let mut c = Obj::new();
        c.insert(
            "@odata.type".into(),
            json!(
                [
                    "#microsoft.graph.windows10CompliancePolicy",
                    "#microsoft.graph.iosCompliancePolicy",
                    "#microsoft.graph.androidWorkProfileCompliancePolicy"
                ][k]
            ),
        );
        c.insert("createdDateTime".into(), json!(f.past(300)));
        c.insert("description".into(), json!(format!("{name} compliance")));
        c.insert("displayName".into(), json!(format!("{name} compliance")));
        c.insert("lastModifiedDateTime".into(), json!(f.past(30)));
        c.insert("version".into(), json!(k + 2));
        t.coll_mut("deviceCompliancePolicies")
            .push(Item::new(f.uuid(), c));
    }
}

/// Risk detection ids are 64-hex-digit strings, not GUIDs.
fn hex_id(f: &mut Filler) -> String {
    let a = f.uuid().replace('-', "");
    let b = f.uuid().replace('-', "");
    format!("{a}{b}")
}

/// (appScopeId, directoryScopeId) of a PIM schedule or instance: Graph sets exactly one; directory
/// scope `/` (the tenant) unless app-scoped, which the dense profile shows once.
fn pim_scope(app_scoped: bool) -> (Value, Value) {
    if app_scoped {
        (json!("/"), Value::Null)
    } else {
        (Value::Null, json!("/"))
    }
}
