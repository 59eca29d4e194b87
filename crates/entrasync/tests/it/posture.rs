//! `entrasync check`: every posture control against a fake-graph tenant synced into SQLite and
//! into PostgreSQL. Each control is made to fail on a planted object (the planted object must be
//! among its findings), then the offending configuration is fixed everywhere and the control must
//! pass. Objects are planted and fixed in the tenant, through fake-graph's operator API
//! (`/_fake/edit`), and reach the database by incremental syncs, as a real tenant's would.

use crate::harness::{Tenant, run_cli, sync, write_config};
use crate::postgres::PgDb;
use entrasync::posture::{self, Db, Status, controls::CONTROLS};
use fake_graph::Profile;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::Path;

const GA: &str = "62e90394-69f5-4237-9190-012177145e10";
const PRIV_ROLE_ADMIN: &str = "e8611ab8-c189-46e8-94e1-60213ab1f814";
const USER_ADMIN: &str = "fe930be7-5e62-47db-91af-98c3a49a38b1";
const SECURITY_ADMIN: &str = "194ae4cb-b126-40b2-bd5b-6091b380977d";
const APP_ADMIN: &str = "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3";
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// One control's test. Picks name objects of the synced tenant (SQL reading the synced database,
/// one value each; prefixed `sqlite:` or `pg:` for one database only). `plant` is a list of
/// fake-graph edits (`POST /_fake/edit`) making an offending object; after an incremental sync
/// the control must fail naming `expect`. `fix` is a list of edits that fix every offending
/// object; after the next incremental sync the control must pass. An edit containing `{0}`
/// (and `{1}`...) is applied once per row of `each`, SQL run on the synced database after the
/// planting sync, or, when `each` is empty, once per object the control found.
///
/// `{name}` in any text is a pick or one of: {u1}..{u6} (fresh UUIDs), {recent} (yesterday),
/// {soon} (in 10 days), {far} (in 800 days), {old} (2020-01-01).
struct Case {
    id: &'static str,
    picks: Vec<(&'static str, &'static str)>,
    plant: Vec<Value>,
    expect: &'static str,
    each: &'static str,
    fix: Vec<Value>,
}

const MEMBER: &str = "SELECT min(u.id) FROM entraid_users u JOIN entraid_reports_user_registration_details r ON r.id = u.id JOIN entraid_user_signin_activity a ON a.id = u.id WHERE u.user_type = 'Member' AND u.account_enabled = TRUE";
const GUEST: &str = "SELECT min(u.id) FROM entraid_users u JOIN entraid_user_signin_activity a ON a.id = u.id WHERE u.user_type = 'Guest'";
/// A member user that Identity Protection does not list as risky.
const NOT_RISKY: &str = "SELECT min(u.id) FROM entraid_users u WHERE u.user_type = 'Member' AND NOT EXISTS (SELECT 1 FROM entraid_identityprotection_riskyusers r WHERE r.id = u.id)";
const APP: &str = "SELECT min(id) FROM entraid_applications";
const SP: &str = "SELECT min(id) FROM entraid_serviceprincipals WHERE service_principal_type = 'Application' AND app_id <> '00000003-0000-0000-c000-000000000000'";
const GRAPH_SP: &str = "SELECT id FROM entraid_serviceprincipals WHERE app_id = '00000003-0000-0000-c000-000000000000'";
const GROUP: &str = "SELECT min(id) FROM entraid_groups";
/// Microsoft Graph's `RoleManagement.ReadWrite.Directory` application permission (its real id).
const RW_ROLE: &str = "9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8";

/// fake-graph's Microsoft Graph offers read permissions only: the planted high-privilege one is
/// added to its app roles first (again on a later case: appending twice is harmless here).
fn graph_offers_role_management() -> Value {
    json!({"set": {"collection": "servicePrincipals", "id": "{graph}", "append": {"appRoles": [
        {"allowedMemberTypes": ["Application"], "id": RW_ROLE, "isEnabled": true, "origin": "Application",
         "value": "RoleManagement.ReadWrite.Directory", "displayName": "Read and write all directory RBAC settings",
         "description": "Allows the app to read and manage the role-based access control (RBAC) settings for your company's directory."}]}}})
}

fn set(collection: &str, id: &str, props: Value) -> Value {
    json!({"set": {"collection": collection, "id": id, "props": props}})
}
fn set_where(collection: &str, filter: Value, props: Value) -> Value {
    json!({"set": {"collection": collection, "where": filter, "props": props}})
}
fn setting(singleton: &str, props: Value) -> Value {
    json!({"set": {"collection": singleton, "props": props}})
}
fn create(collection: &str, id: &str, props: Value) -> Value {
    json!({"create": {"collection": collection, "id": id, "props": props}})
}
fn create_child(collection: &str, parent: &str, id: &str, props: Value) -> Value {
    json!({"create": {"collection": collection, "parent": parent, "id": id, "props": props}})
}
fn delete_where(collection: &str, filter: Value) -> Value {
    json!({"delete": {"collection": collection, "where": filter}})
}
fn link(collection: &str, id: &str, rel: &str, member: &str) -> Value {
    json!({"link": {"collection": collection, "id": id, "rel": rel, "member": member}})
}
fn unlink(collection: &str, id: &str, rel: &str, member: &str) -> Value {
    json!({"unlink": {"collection": collection, "id": id, "rel": rel, "member": member}})
}
fn sign_in(props: Value) -> Value {
    json!({"sign_in": {"props": props}})
}
/// An active directory role assignment.
fn role(id: &str, principal: &str, role: &str) -> Value {
    create(
        "roleAssignments",
        id,
        json!({"principalId": principal, "roleDefinitionId": role, "directoryScopeId": "/"}),
    )
}
fn signed_in(when: &str) -> Value {
    json!({"lastSignInDateTime": when, "lastNonInteractiveSignInDateTime": when, "lastSuccessfulSignInDateTime": when})
}
fn no_ca_and_no_security_defaults() -> Vec<Value> {
    vec![
        setting(
            "identitySecurityDefaultsEnforcementPolicy",
            json!({"isEnabled": false}),
        ),
        set_where(
            "conditionalAccessPolicies",
            json!({}),
            json!({"state": "disabled"}),
        ),
    ]
}
/// An enabled Conditional Access policy, created now (fake-graph sets `createdDateTime` as Graph
/// does).
fn ca_policy(id: &str, name: &str, conditions: Value, grant: Value) -> Value {
    create(
        "conditionalAccessPolicies",
        id,
        json!({"displayName": name, "state": "enabled", "conditions": conditions, "grantControls": grant}),
    )
}
/// Every policy for all users and applications, excluding nobody.
fn clean_conditions() -> Value {
    set_where(
        "conditionalAccessPolicies",
        json!({}),
        json!({"conditions": {"users": {"includeUsers": ["All"], "excludeUsers": [], "includeGroups": [], "excludeGroups": [], "includeRoles": [], "excludeRoles": []},
                              "applications": {"includeApplications": ["All"]}, "clientAppTypes": ["all"]}}),
    )
}
fn user_permissions(on: bool) -> Value {
    let grant = if on { "legacy" } else { "low" };
    setting(
        "authorizationPolicy",
        json!({"defaultUserRolePermissions": {"allowedToCreateApps": on, "allowedToCreateSecurityGroups": on, "allowedToCreateTenants": on,
               "allowedToReadOtherUsers": true,
               "permissionGrantPoliciesAssigned": [format!("ManagePermissionGrantsForSelf.microsoft-user-default-{grant}")]}}),
    )
}

fn cases() -> Vec<Case> {
    let case = |id, picks, plant, expect, each, fix| Case {
        id,
        picks,
        plant,
        expect,
        each,
        fix,
    };
    let authz = || vec![("id", "SELECT id FROM entraid_policies_authorization_policy")];
    vec![
        case(
            "ES-PRIV-01",
            vec![],
            (1..=5)
                .map(|n| role(&format!("planted-ra-{n}"), &format!("planted-ga-{n}"), GA))
                .collect(),
            "planted-ga-1",
            "",
            (1..=5)
                .map(|n| {
                    delete_where(
                        "roleAssignments",
                        json!({"principalId": format!("planted-ga-{n}")}),
                    )
                })
                .collect(),
        ),
        case(
            "ES-PRIV-02",
            vec![("id", MEMBER)],
            vec![delete_where(
                "roleAssignments",
                json!({"roleDefinitionId": GA}),
            )],
            GA,
            "",
            vec![
                role("planted-ga-a", "{id}", GA),
                role("planted-ga-b", "planted-second-ga", GA),
            ],
        ),
        case(
            "ES-PRIV-03",
            vec![("id", MEMBER)],
            vec![role("planted-ra-ua", "{id}", USER_ADMIN)],
            "{id}",
            // every active holder of a role without an eligibility for it becomes eligible
            "SELECT DISTINCT ra.principal_id, ra.role_definition_id FROM entraid_rolemanagement_roleassignments ra LEFT JOIN entraid_serviceprincipals s ON s.id = ra.principal_id WHERE s.id IS NULL AND NOT EXISTS (SELECT 1 FROM entraid_rolemanagement_roleeligibilityschedules e WHERE e.principal_id = ra.principal_id AND e.role_definition_id = ra.role_definition_id)",
            vec![create(
                "roleEligibilitySchedules",
                "elig-{0}-{1}",
                json!({"principalId": "{0}", "roleDefinitionId": "{1}", "directoryScopeId": "/", "memberType": "Direct", "status": "Provisioned",
                       "scheduleInfo": {"startDateTime": "{recent}", "expiration": {"type": "afterDateTime", "endDateTime": "{far}"}}}),
            )],
        ),
        case(
            "ES-PRIV-04",
            vec![("id", MEMBER)],
            vec![create(
                "roleEligibilitySchedules",
                "planted-eligibility",
                json!({"principalId": "{id}", "roleDefinitionId": GA, "directoryScopeId": "/", "memberType": "Direct", "status": "Provisioned",
                       "scheduleInfo": {"startDateTime": "{recent}", "expiration": {"type": "noExpiration", "endDateTime": null}}}),
            )],
            "{id}",
            "",
            vec![set_where(
                "roleEligibilitySchedules",
                json!({}),
                json!({"scheduleInfo": {"startDateTime": "{recent}", "expiration": {"type": "afterDateTime", "endDateTime": "{far}"}}}),
            )],
        ),
        case(
            "ES-PRIV-05",
            vec![("id", GUEST)],
            vec![role("planted-ra-guest", "{id}", GA)],
            "{id}",
            "",
            vec![set("users", "{0}", json!({"userType": "Member"}))],
        ),
        case(
            "ES-PRIV-06",
            vec![("id", SP)],
            vec![role("planted-ra-sp", "{id}", APP_ADMIN)],
            "{id}",
            "",
            vec![delete_where(
                "roleAssignments",
                json!({"principalId": "{0}"}),
            )],
        ),
        case(
            "ES-PRIV-07",
            vec![
                (
                    "id",
                    "SELECT min(t.group_id) FROM entraid_group_transitive_members t JOIN entraid_users u ON u.id = t.id",
                ),
                (
                    "member",
                    "SELECT min(t.id) FROM entraid_group_transitive_members t JOIN entraid_users u ON u.id = t.id WHERE t.group_id = (SELECT min(t2.group_id) FROM entraid_group_transitive_members t2 JOIN entraid_users u2 ON u2.id = t2.id)",
                ),
            ],
            vec![role("planted-ra-group", "{id}", SECURITY_ADMIN)],
            "{member}",
            "SELECT DISTINCT ra.principal_id FROM entraid_rolemanagement_roleassignments ra JOIN entraid_groups g ON g.id = ra.principal_id",
            vec![delete_where(
                "roleAssignments",
                json!({"principalId": "{0}"}),
            )],
        ),
        case(
            "ES-PRIV-08",
            vec![("id", MEMBER)],
            vec![
                set("users", "{id}", json!({"onPremisesSyncEnabled": true})),
                role("planted-ra-synced", "{id}", GA),
            ],
            "{id}",
            "",
            vec![set("users", "{0}", json!({"onPremisesSyncEnabled": false}))],
        ),
        case(
            "ES-PRIV-09",
            vec![("id", MEMBER)],
            vec![
                set(
                    "userRegistrationDetails",
                    "{id}",
                    json!({"isMfaRegistered": false}),
                ),
                role("planted-ra-no-mfa", "{id}", GA),
            ],
            "{id}",
            "",
            vec![set(
                "userRegistrationDetails",
                "{0}",
                json!({"isMfaRegistered": true}),
            )],
        ),
        case(
            "ES-PRIV-10",
            vec![("id", MEMBER)],
            vec![
                set("users", "{id}", json!({"accountEnabled": false})),
                role("planted-ra-disabled", "{id}", GA),
            ],
            "{id}",
            "",
            vec![delete_where(
                "roleAssignments",
                json!({"principalId": "{0}"}),
            )],
        ),
        case(
            "ES-PRIV-11",
            vec![("id", MEMBER)],
            vec![
                set(
                    "users",
                    "{id}",
                    json!({"accountEnabled": true, "signInActivity": signed_in("2020-01-01T00:00:00Z")}),
                ),
                role("planted-ra-stale", "{id}", GA),
            ],
            "{id}",
            "",
            vec![set(
                "users",
                "{0}",
                json!({"signInActivity": signed_in("{recent}")}),
            )],
        ),
        case(
            "ES-PRIV-12",
            vec![("id", GROUP), ("owner", MEMBER)],
            vec![
                set("groups", "{id}", json!({"isAssignableToRole": true})),
                link("groups", "{id}", "owners", "{owner}"),
            ],
            "{owner}",
            "",
            vec![set_where(
                "groups",
                json!({"isAssignableToRole": true}),
                json!({"isAssignableToRole": false}),
            )],
        ),
        case(
            "ES-AUTH-01",
            vec![("id", MEMBER)],
            vec![set(
                "userRegistrationDetails",
                "{id}",
                json!({"isMfaRegistered": false}),
            )],
            "{id}",
            "",
            vec![set(
                "userRegistrationDetails",
                "{0}",
                json!({"isMfaRegistered": true}),
            )],
        ),
        case(
            "ES-AUTH-02",
            vec![("id", MEMBER)],
            vec![sign_in(
                json!({"id": "{u1}", "userId": "{id}", "userPrincipalName": "legacy@example.com", "clientAppUsed": "IMAP4",
                                 "status": {"errorCode": 0}, "riskLevelDuringSignIn": "none", "conditionalAccessStatus": "notApplied"}),
            )],
            "{id}",
            "",
            // a sign-in is history; what remediates it is a block of legacy authentication in
            // force after it (created now, after the planted sign-in)
            vec![ca_policy(
                "planted-block-legacy-02",
                "Block legacy authentication (ES-AUTH-02)",
                json!({"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}, "clientAppTypes": ["exchangeActiveSync", "other"]}),
                json!({"operator": "OR", "builtInControls": ["block"]}),
            )],
        ),
        case(
            "ES-AUTH-03",
            vec![],
            no_ca_and_no_security_defaults(),
            "conditionalAccess",
            "",
            vec![ca_policy(
                "planted-block-legacy",
                "Block legacy authentication",
                json!({"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}, "clientAppTypes": ["exchangeActiveSync", "other"]}),
                json!({"operator": "OR", "builtInControls": ["block"]}),
            )],
        ),
        case(
            "ES-AUTH-04",
            vec![(
                "id",
                "SELECT id FROM entraid_policies_identity_security_defaults_enforcement_policy",
            )],
            no_ca_and_no_security_defaults(),
            "{id}",
            "",
            vec![setting(
                "identitySecurityDefaultsEnforcementPolicy",
                json!({"isEnabled": true}),
            )],
        ),
        case(
            "ES-AUTH-05",
            vec![],
            no_ca_and_no_security_defaults(),
            "conditionalAccess",
            "",
            vec![ca_policy(
                "planted-mfa-all",
                "MFA for all",
                json!({"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}, "clientAppTypes": ["all"]}),
                json!({"operator": "OR", "builtInControls": ["mfa"]}),
            )],
        ),
        case(
            "ES-AUTH-06",
            vec![("id", MEMBER)],
            vec![set(
                "userRegistrationDetails",
                "{id}",
                json!({"methodsRegistered": ["mobilePhone", "email"]}),
            )],
            "{id}",
            "",
            vec![set(
                "userRegistrationDetails",
                "{0}",
                json!({"methodsRegistered": ["microsoftAuthenticatorPush", "mobilePhone"]}),
            )],
        ),
        case(
            "ES-AUTH-07",
            vec![("id", NOT_RISKY)],
            // the risky sign-in, and the user at risk that Identity Protection makes of it
            vec![
                sign_in(
                    json!({"id": "{u1}", "userId": "{id}", "userPrincipalName": "risky@example.com", "clientAppUsed": "Browser",
                                     "status": {"errorCode": 0}, "riskLevelDuringSignIn": "high", "ipAddress": "203.0.113.7"}),
                ),
                create(
                    "riskyUsers",
                    "{id}",
                    json!({"isDeleted": false, "isProcessing": false, "riskDetail": "none", "riskLevel": "high", "riskState": "atRisk",
                           "userDisplayName": "Risky", "userPrincipalName": "risky@example.com"}),
                ),
            ],
            "{id}",
            "",
            // an investigator dismisses the user's risk (fake-graph stamps riskLastUpdatedDateTime)
            vec![set(
                "riskyUsers",
                "{0}",
                json!({"riskState": "dismissed", "riskLevel": "none", "riskDetail": "adminDismissedAllRiskForUser"}),
            )],
        ),
        case(
            "ES-AUTH-08",
            vec![(
                "id",
                "SELECT id FROM entraid_policies_authentication_methods_policy",
            )],
            vec![setting(
                "authenticationMethodsPolicy",
                json!({"registrationEnforcement": {"authenticationMethodsRegistrationCampaign": {"state": "disabled", "snoozeDurationInDays": 1}}}),
            )],
            "{id}",
            "",
            vec![setting(
                "authenticationMethodsPolicy",
                json!({"registrationEnforcement": {"authenticationMethodsRegistrationCampaign": {"state": "enabled", "snoozeDurationInDays": 1}}}),
            )],
        ),
        case(
            "ES-CA-01",
            vec![(
                "id",
                "SELECT min(id) FROM entraid_identity_conditional_access_policies",
            )],
            vec![set(
                "conditionalAccessPolicies",
                "{id}",
                json!({"state": "enabledForReportingButNotEnforced"}),
            )],
            "{id}",
            "",
            vec![set(
                "conditionalAccessPolicies",
                "{0}",
                json!({"state": "enabled"}),
            )],
        ),
        case(
            "ES-CA-02",
            vec![("id", MEMBER)],
            vec![ca_policy(
                "planted-excl-user",
                "Excluding a user",
                json!({"users": {"includeUsers": ["All"], "excludeUsers": ["{id}"]}}),
                json!({"builtInControls": ["mfa"]}),
            )],
            "{id}",
            "",
            vec![clean_conditions()],
        ),
        case(
            "ES-CA-03",
            vec![("id", GROUP)],
            vec![ca_policy(
                "planted-excl-group",
                "Excluding a group",
                json!({"users": {"includeUsers": ["All"], "excludeGroups": ["{id}"]}}),
                json!({"builtInControls": ["mfa"]}),
            )],
            "{id}",
            "",
            vec![clean_conditions()],
        ),
        case(
            "ES-CA-04",
            vec![("id", MEMBER)],
            vec![
                role("planted-ra-pra", "{id}", PRIV_ROLE_ADMIN),
                ca_policy(
                    "planted-excl-admin",
                    "MFA except one admin",
                    json!({"users": {"includeUsers": ["All"], "excludeUsers": ["{id}"]}}),
                    json!({"builtInControls": ["mfa"]}),
                ),
            ],
            "{id}",
            "",
            vec![clean_conditions()],
        ),
        case(
            "ES-CA-05",
            vec![],
            no_ca_and_no_security_defaults(),
            "conditionalAccess",
            "",
            vec![ca_policy(
                "planted-mfa-admins",
                "MFA for admins",
                json!({"users": {"includeRoles": [GA]}, "applications": {"includeApplications": ["All"]}}),
                json!({"builtInControls": ["mfa"]}),
            )],
        ),
        case(
            "ES-CA-06",
            vec![],
            no_ca_and_no_security_defaults(),
            "conditionalAccess",
            "",
            vec![ca_policy(
                "planted-user-risk",
                "User risk",
                json!({"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}, "userRiskLevels": ["high"]}),
                json!({"builtInControls": ["block"]}),
            )],
        ),
        case(
            "ES-CA-07",
            vec![],
            no_ca_and_no_security_defaults(),
            "conditionalAccess",
            "",
            vec![ca_policy(
                "planted-signin-risk",
                "Sign-in risk",
                json!({"users": {"includeUsers": ["All"]}, "applications": {"includeApplications": ["All"]}, "signInRiskLevels": ["high", "medium"]}),
                json!({"builtInControls": ["mfa"]}),
            )],
        ),
        case(
            "ES-CA-08",
            vec![],
            vec![ca_policy(
                "planted-stale-ref",
                "Stale reference",
                json!({"users": {"includeUsers": ["All"], "excludeUsers": ["00000000-dead-beef-0000-000000000000"]}}),
                json!({"builtInControls": ["mfa"]}),
            )],
            "00000000-dead-beef-0000-000000000000",
            "",
            vec![clean_conditions()],
        ),
        case(
            "ES-APP-01",
            vec![("id", APP)],
            vec![set(
                "applications",
                "{id}",
                json!({"passwordCredentials": [{"displayName": "planted", "keyId": "{u1}", "startDateTime": "{recent}", "endDateTime": "{soon}"}]}),
            )],
            "{id}",
            "",
            vec![set(
                "applications",
                "{0}",
                json!({"passwordCredentials": [], "keyCredentials": []}),
            )],
        ),
        case(
            "ES-APP-02",
            vec![("id", APP)],
            vec![set(
                "applications",
                "{id}",
                json!({"keyCredentials": [{"displayName": "old cert", "keyId": "{u1}", "type": "AsymmetricX509Cert", "usage": "Verify", "startDateTime": "2019-01-01T00:00:00Z", "endDateTime": "2020-01-01T00:00:00Z"}]}),
            )],
            "{id}",
            "",
            vec![set(
                "applications",
                "{0}",
                json!({"passwordCredentials": [], "keyCredentials": []}),
            )],
        ),
        case(
            "ES-APP-03",
            vec![("id", APP)],
            vec![set(
                "applications",
                "{id}",
                json!({"passwordCredentials": [{"displayName": "forever", "keyId": "{u1}", "startDateTime": "{recent}", "endDateTime": "{far}"}]}),
            )],
            "{id}",
            "",
            vec![set(
                "applications",
                "{0}",
                json!({"passwordCredentials": [], "keyCredentials": []}),
            )],
        ),
        case(
            "ES-APP-04",
            vec![("id", SP)],
            vec![set(
                "servicePrincipals",
                "{id}",
                json!({"passwordCredentials": [{"keyId": "{u1}", "startDateTime": "{recent}", "endDateTime": "{far}"}]}),
            )],
            "{id}",
            "",
            vec![set(
                "servicePrincipals",
                "{0}",
                json!({"passwordCredentials": []}),
            )],
        ),
        case(
            "ES-APP-05",
            vec![("id", SP), ("graph", GRAPH_SP)],
            vec![
                graph_offers_role_management(),
                create_child(
                    "appRoleAssignments",
                    "{id}",
                    "{u1}",
                    json!({"appRoleId": RW_ROLE, "principalId": "{id}", "principalType": "ServicePrincipal", "principalDisplayName": "planted sp",
                           "resourceId": "{graph}", "resourceDisplayName": "Microsoft Graph", "createdDateTime": "{recent}"}),
                ),
            ],
            "{id}",
            "",
            vec![delete_where(
                "appRoleAssignments",
                json!({"principalId": "{0}", "resourceId": "{graph}"}),
            )],
        ),
        case(
            "ES-APP-06",
            vec![("id", APP), ("graph", GRAPH_SP)],
            vec![
                graph_offers_role_management(),
                set(
                    "applications",
                    "{id}",
                    json!({"requiredResourceAccess": [{"resourceAppId": GRAPH_APP_ID, "resourceAccess": [{"id": RW_ROLE, "type": "Role"}]}]}),
                ),
            ],
            "{id}",
            "",
            vec![set(
                "applications",
                "{0}",
                json!({"requiredResourceAccess": []}),
            )],
        ),
        case(
            "ES-APP-07",
            vec![("id", APP)],
            vec![set(
                "applications",
                "{id}",
                json!({"signInAudience": "AzureADMultipleOrgs"}),
            )],
            "{id}",
            "",
            vec![set(
                "applications",
                "{0}",
                json!({"signInAudience": "AzureADMyOrg"}),
            )],
        ),
        case(
            "ES-APP-08",
            vec![("id", APP), ("user", MEMBER), ("sp", SP)],
            vec![
                set(
                    "applications",
                    "{id}",
                    json!({"passwordCredentials": [{"keyId": "{u1}", "startDateTime": "{recent}", "endDateTime": "{soon}"}]}),
                ),
                link("applications", "{id}", "owners", "{user}"),
            ],
            "{id}",
            "SELECT o.application_id, o.id FROM entraid_application_owners o JOIN entraid_users u ON u.id = o.id",
            // a service principal owns the app instead of the user
            vec![
                link("applications", "{0}", "owners", "{sp}"),
                unlink("applications", "{0}", "owners", "{1}"),
            ],
        ),
        case(
            "ES-APP-09",
            vec![("id", APP)],
            vec![create_child(
                "federatedIdentityCredentials",
                "{id}",
                "{u1}",
                json!({"name": "planted", "issuer": "https://issuer.example.net", "subject": "anything", "audiences": ["api://AzureADTokenExchange"]}),
            )],
            "{id}",
            "",
            vec![set_where(
                "federatedIdentityCredentials",
                json!({"issuer": "https://issuer.example.net"}),
                json!({"issuer": "https://token.actions.githubusercontent.com", "subject": "repo:contoso/app:environment:production"}),
            )],
        ),
        case(
            "ES-APP-10",
            vec![("id", SP), ("graph", GRAPH_SP)],
            vec![create(
                "oauth2PermissionGrants",
                "planted-grant",
                json!({"clientId": "{id}", "consentType": "AllPrincipals", "principalId": null, "resourceId": "{graph}", "scope": " User.Read Mail.Read openid"}),
            )],
            "planted-grant",
            "",
            vec![set(
                "oauth2PermissionGrants",
                "{0}",
                json!({"scope": "User.Read openid"}),
            )],
        ),
        case(
            "ES-APP-11",
            vec![(
                "id",
                "SELECT min(id) FROM entraid_identityprotection_riskyserviceprincipals",
            )],
            vec![set(
                "riskyServicePrincipals",
                "{id}",
                json!({"riskState": "atRisk", "riskLevel": "high"}),
            )],
            "{id}",
            "",
            vec![set(
                "riskyServicePrincipals",
                "{0}",
                json!({"riskState": "remediated"}),
            )],
        ),
        case(
            "ES-GST-01",
            vec![("id", GUEST)],
            vec![set(
                "users",
                "{id}",
                json!({"createdDateTime": "2020-01-01T00:00:00Z", "signInActivity": {"lastSignInDateTime": null, "lastNonInteractiveSignInDateTime": null}}),
            )],
            "{id}",
            "",
            vec![set(
                "users",
                "{0}",
                json!({"signInActivity": signed_in("{recent}")}),
            )],
        ),
        case(
            "ES-GST-02",
            vec![("id", GUEST)],
            vec![set(
                "users",
                "{id}",
                json!({"externalUserState": "PendingAcceptance", "externalUserStateChangeDateTime": "2020-01-01T00:00:00Z"}),
            )],
            "{id}",
            "",
            vec![set(
                "users",
                "{0}",
                json!({"externalUserState": "Accepted", "externalUserStateChangeDateTime": "{recent}"}),
            )],
        ),
        case(
            "ES-GST-03",
            vec![("id", GUEST)],
            vec![set(
                "users",
                "{id}",
                json!({"accountEnabled": true, "signInActivity": signed_in("2020-01-01T00:00:00Z")}),
            )],
            "{id}",
            "",
            vec![set(
                "users",
                "{0}",
                json!({"signInActivity": signed_in("{recent}")}),
            )],
        ),
        case(
            "ES-GST-04",
            authz(),
            vec![setting(
                "authorizationPolicy",
                json!({"allowInvitesFrom": "everyone"}),
            )],
            "{id}",
            "",
            vec![setting(
                "authorizationPolicy",
                json!({"allowInvitesFrom": "adminsAndGuestInviters"}),
            )],
        ),
        case(
            "ES-GST-05",
            authz(),
            vec![setting(
                "authorizationPolicy",
                json!({"guestUserRoleId": "10dae51f-b6af-4016-8d66-8c2a99b929b3"}),
            )],
            "{id}",
            "",
            vec![setting(
                "authorizationPolicy",
                json!({"guestUserRoleId": "2af84b1e-32c8-42b7-82bc-daa82404023b"}),
            )],
        ),
        case(
            "ES-AZP-01",
            authz(),
            vec![user_permissions(true)],
            "{id}",
            "",
            vec![user_permissions(false)],
        ),
        case(
            "ES-AZP-02",
            authz(),
            vec![user_permissions(true)],
            "{id}",
            "",
            vec![user_permissions(false)],
        ),
        case(
            "ES-AZP-03",
            authz(),
            vec![user_permissions(true)],
            "{id}",
            "",
            vec![user_permissions(false)],
        ),
        case(
            "ES-AZP-04",
            authz(),
            vec![user_permissions(true)],
            "{id}",
            "",
            vec![user_permissions(false)],
        ),
        case(
            "ES-AZP-05",
            authz(),
            vec![setting(
                "authorizationPolicy",
                json!({"allowUserConsentForRiskyApps": true}),
            )],
            "{id}",
            "",
            vec![setting(
                "authorizationPolicy",
                json!({"allowUserConsentForRiskyApps": false}),
            )],
        ),
        case(
            "ES-AZP-06",
            authz(),
            vec![setting(
                "authorizationPolicy",
                json!({"allowEmailVerifiedUsersToJoinOrganization": true}),
            )],
            "{id}",
            "",
            vec![setting(
                "authorizationPolicy",
                json!({"allowEmailVerifiedUsersToJoinOrganization": false}),
            )],
        ),
        case(
            "ES-AZP-07",
            vec![],
            vec![setting(
                "adminConsentRequestPolicy",
                json!({"isEnabled": false}),
            )],
            "adminConsentRequestPolicy",
            "",
            vec![setting(
                "adminConsentRequestPolicy",
                json!({"isEnabled": true}),
            )],
        ),
        case(
            "ES-RISK-01",
            vec![(
                "id",
                "SELECT min(id) FROM entraid_identityprotection_riskyusers",
            )],
            vec![set(
                "riskyUsers",
                "{id}",
                json!({"riskState": "confirmedCompromised", "riskLevel": "high", "isDeleted": false}),
            )],
            "{id}",
            "",
            vec![set("riskyUsers", "{0}", json!({"riskState": "remediated"}))],
        ),
        case(
            "ES-DEV-01",
            vec![("id", "SELECT min(id) FROM entraid_devices")],
            vec![set(
                "devices",
                "{id}",
                json!({"accountEnabled": true, "approximateLastSignInDateTime": "2020-01-01T00:00:00Z"}),
            )],
            "{id}",
            "",
            vec![set(
                "devices",
                "{0}",
                json!({"approximateLastSignInDateTime": "{recent}"}),
            )],
        ),
        case(
            "ES-DEV-02",
            vec![(
                "id",
                "SELECT min(id) FROM entraid_devicemanagement_manageddevices",
            )],
            vec![set(
                "managedDevices",
                "{id}",
                json!({"complianceState": "noncompliant"}),
            )],
            "{id}",
            "",
            vec![set(
                "managedDevices",
                "{0}",
                json!({"complianceState": "compliant"}),
            )],
        ),
        case(
            "ES-DEV-03",
            vec![(
                "id",
                "SELECT min(id) FROM entraid_devicemanagement_manageddevices",
            )],
            vec![set("managedDevices", "{id}", json!({"jailBroken": "True"}))],
            "{id}",
            "",
            vec![set("managedDevices", "{0}", json!({"jailBroken": "False"}))],
        ),
        case(
            "ES-HYG-01",
            vec![("id", MEMBER)],
            vec![set(
                "users",
                "{id}",
                json!({"accountEnabled": true, "signInActivity": signed_in("2020-01-01T00:00:00Z")}),
            )],
            "{id}",
            "",
            vec![set(
                "users",
                "{0}",
                json!({"signInActivity": signed_in("{recent}")}),
            )],
        ),
        case(
            "ES-HYG-02",
            vec![("id", MEMBER)],
            vec![set(
                "users",
                "{id}",
                json!({"onPremisesProvisioningErrors": [{"category": "PropertyConflict", "propertyCausingError": "UserPrincipalName", "value": "x", "occurredDateTime": "{recent}"}]}),
            )],
            "{id}",
            "",
            vec![set(
                "users",
                "{0}",
                json!({"onPremisesProvisioningErrors": []}),
            )],
        ),
        case(
            "ES-HYG-03",
            vec![("id", GROUP)],
            vec![set(
                "groups",
                "{id}",
                json!({"onPremisesProvisioningErrors": [{"category": "PropertyConflict", "propertyCausingError": "ProxyAddresses", "value": "x", "occurredDateTime": "{recent}"}]}),
            )],
            "{id}",
            "",
            vec![set(
                "groups",
                "{0}",
                json!({"onPremisesProvisioningErrors": []}),
            )],
        ),
        case(
            "ES-HYG-04",
            vec![("id", MEMBER)],
            vec![set(
                "users",
                "{id}",
                json!({"accountEnabled": true, "createdDateTime": "2020-01-01T00:00:00Z", "signInActivity": {"lastSignInDateTime": null, "lastNonInteractiveSignInDateTime": null}}),
            )],
            "{id}",
            "",
            vec![set(
                "users",
                "{0}",
                json!({"signInActivity": signed_in("{recent}")}),
            )],
        ),
        case(
            "ES-HYG-05",
            vec![("id", "SELECT min(id) FROM entraid_domains")],
            vec![set("domains", "{id}", json!({"isVerified": false}))],
            "{id}",
            "",
            vec![set("domains", "{0}", json!({"isVerified": true}))],
        ),
    ]
}
const GRAPH_ROLES: &str = r#"UPDATE entraid_serviceprincipals SET app_roles = '[{"allowedMemberTypes":["Application"],"id":"9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8","isEnabled":true,"value":"RoleManagement.ReadWrite.Directory"},{"allowedMemberTypes":["Application"],"id":"df021288-bdef-4463-88db-98f22de89214","isEnabled":true,"value":"User.Read.All"}]' WHERE app_id = '00000003-0000-0000-c000-000000000000'"#;

/// Writes to the synced database, outside of entrasync.
enum Writer {
    Sqlite(rusqlite::Connection),
    Pg(tokio_postgres::Client),
}

impl Writer {
    async fn exec(&self, sql: &str) {
        let (only, sql) = match sql.split_once(':') {
            Some((d @ ("sqlite" | "pg"), rest)) => (Some(d), rest),
            _ => (None, sql),
        };
        match self {
            Writer::Sqlite(c) if only != Some("pg") => {
                c.execute_batch(sql)
                    .unwrap_or_else(|e| panic!("sqlite: {sql}: {e}"));
            }
            Writer::Pg(c) if only != Some("sqlite") => {
                c.batch_execute(sql)
                    .await
                    .unwrap_or_else(|e| panic!("postgres: {sql}: {e:?}"));
            }
            _ => {}
        }
    }

    /// The SQL text for this database, or None when it is marked for the other one.
    fn mine<'s>(&self, sql: &'s str) -> Option<&'s str> {
        match (self, sql.split_once(':')) {
            (Writer::Sqlite(_), Some(("sqlite", rest))) | (Writer::Pg(_), Some(("pg", rest))) => {
                Some(rest)
            }
            (_, Some(("sqlite" | "pg", _))) => None,
            _ => Some(sql),
        }
    }

    async fn rows(&self, sql: &str) -> Vec<Vec<String>> {
        match self {
            Writer::Sqlite(c) => {
                let mut st = c
                    .prepare(sql)
                    .unwrap_or_else(|e| panic!("sqlite: {sql}: {e}"));
                let n = st.column_count();
                st.query_map([], |r| (0..n).map(|i| r.get::<_, String>(i)).collect())
                    .unwrap()
                    .map(Result::unwrap)
                    .collect()
            }
            Writer::Pg(c) => c
                .query(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("postgres: {sql}: {e:?}"))
                .iter()
                .map(|r| (0..r.len()).map(|i| r.get::<_, String>(i)).collect())
                .collect(),
        }
    }

    async fn one(&self, sql: &str) -> String {
        match self {
            Writer::Sqlite(c) => c
                .query_row(sql, [], |r| r.get::<_, Option<String>>(0))
                .unwrap_or_else(|e| panic!("sqlite: {sql}: {e}")),
            Writer::Pg(c) => c
                .query_one(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("postgres: {sql}: {e:?}"))
                .get::<_, Option<String>>(0),
        }
        .unwrap_or_else(|| panic!("{sql}: no row to plant on"))
    }
}

fn ts(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days))
        .format("%Y-%m-%dT%H:%M:%S.000000Z")
        .to_string()
}

fn fill(text: &str, vars: &HashMap<String, String>) -> String {
    let mut out = text.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("{{{k}}}"), v);
    }
    out
}

async fn findings(db: &Db, id: &str) -> posture::Outcome {
    let control = CONTROLS.iter().find(|c| c.id == id).unwrap();
    posture::evaluate(db, control).await
}

/// Applies fake-graph edits (`POST /_fake/edit`); an edit fake-graph refuses fails the test.
async fn edit(tenant: &Tenant, edits: &[Value]) {
    if edits.is_empty() {
        return;
    }
    let resp = tenant
        .http
        .post(format!("{}/_fake/edit", tenant.server.url()))
        .json(edits)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let body = resp.text().await.unwrap();
    assert!(
        status.is_success(),
        "/_fake/edit {edits:?}: {status} {body}"
    );
}

/// `edits` with `{name}` filled, and each edit holding `{0}` repeated for every row.
fn expand(edits: &[Value], vars: &HashMap<String, String>, rows: &[Vec<String>]) -> Vec<Value> {
    let mut out = Vec::new();
    for e in edits {
        let text = fill(&e.to_string(), vars);
        let texts: Vec<String> = if text.contains("{0}") {
            rows.iter()
                .map(|row| {
                    row.iter()
                        .enumerate()
                        .fold(text.clone(), |t, (i, v)| t.replace(&format!("{{{i}}}"), v))
                })
                .collect()
        } else {
            vec![text]
        };
        out.extend(texts.iter().map(|t| serde_json::from_str(t).unwrap()));
    }
    out
}

/// For every control: plants through fake-graph, syncs incrementally, checks the failure names
/// the planted object; fixes through fake-graph, syncs, checks the pass.
async fn every_control_fails_then_passes(
    tenant: &Tenant,
    config: &Path,
    open: impl AsyncFn() -> Db,
    reader: &Writer,
) {
    let cases = cases();
    let case_ids: Vec<&str> = cases.iter().map(|c| c.id).collect();
    let control_ids: Vec<&str> = CONTROLS.iter().map(|c| c.id).collect();
    assert_eq!(
        case_ids, control_ids,
        "every control has exactly one case, in catalogue order"
    );
    assert!(CONTROLS.len() >= 40);
    let mut problems = Vec::new();
    let resync = async || {
        let r = sync(config).await;
        assert_eq!(r.errors, 0, "incremental sync: {r:?}");
    };
    // ENTRASYNC_POSTURE_ONLY=ES-APP-05,ES-APP-08 runs some cases only (when debugging one)
    let only = std::env::var("ENTRASYNC_POSTURE_ONLY").unwrap_or_default();
    let selected = |id: &str| only.is_empty() || only.split(',').any(|o| o == id);
    for case in cases.iter().filter(|c| selected(c.id)) {
        let mut vars: HashMap<String, String> = HashMap::new();
        for i in 1..=6 {
            vars.insert(format!("u{i}"), uuid::Uuid::new_v4().to_string());
        }
        vars.insert("recent".into(), ts(-1));
        vars.insert("soon".into(), ts(10));
        vars.insert("far".into(), ts(800));
        for (name, sql) in &case.picks {
            if let Some(sql) = reader.mine(sql) {
                vars.insert(name.to_string(), reader.one(sql).await);
            }
        }
        edit(tenant, &expand(&case.plant, &vars, &[])).await;
        resync().await;
        let expect = fill(case.expect, &vars);
        let db = open().await;
        let failed = findings(&db, case.id).await;
        if failed.status != Status::Fail || !failed.findings.iter().any(|f| f.object_id == expect) {
            problems.push(format!(
                "{}: after planting, expected a failure naming {expect}, got {:?} {:?} with {} findings",
                case.id,
                failed.status,
                failed.reason,
                failed.findings.len()
            ));
            continue;
        }
        let rows = if case.each.is_empty() {
            let mut ids: Vec<Vec<String>> = failed
                .findings
                .iter()
                .map(|f| vec![f.object_id.clone()])
                .collect();
            ids.sort();
            ids.dedup();
            ids
        } else {
            reader.rows(case.each).await
        };
        edit(tenant, &expand(&case.fix, &vars, &rows)).await;
        resync().await;
        let passed = findings(&open().await, case.id).await;
        if passed.status != Status::Pass {
            problems.push(format!(
                "{}: after the fix, expected a pass, got {:?} {:?}: {:?}",
                case.id,
                passed.status,
                passed.reason,
                passed.findings.iter().take(3).collect::<Vec<_>>()
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// ES-AUTH-02 and ES-AUTH-07 name only what was not remediated after it happened: a successful
/// legacy sign-in after the block came into force (the block did not cover it) and a risky
/// sign-in after the user's risk was last dismissed are findings, failed attempts never are; the
/// exact sets of users are the ones planted (fake-graph generates neither kind of sign-in).
async fn sign_ins_are_findings_until_remediated_after_them(
    tenant: &Tenant,
    config: &Path,
    open: impl AsyncFn() -> Db,
    reader: &Writer,
) {
    let resync = async || assert_eq!(sync(config).await.errors, 0);
    let users = reader
        .rows("SELECT u.id FROM entraid_users u WHERE u.user_type = 'Member' AND NOT EXISTS (SELECT 1 FROM entraid_identityprotection_riskyusers r WHERE r.id = u.id) ORDER BY u.id LIMIT 4")
        .await;
    let [a, b, c, d] = [0, 1, 2, 3].map(|i| users[i][0].clone());
    let yesterday = ts(-1);
    let legacy = |user: &str, code: i64| {
        sign_in(
            json!({"id": uuid::Uuid::new_v4().to_string(), "userId": user, "userPrincipalName": format!("{user}@example.com"),
                       "clientAppUsed": "IMAP4", "status": {"errorCode": code}, "riskLevelDuringSignIn": "none"}),
        )
    };
    let risky = |user: &str, code: i64| {
        sign_in(
            json!({"id": uuid::Uuid::new_v4().to_string(), "userId": user, "userPrincipalName": format!("{user}@example.com"),
                       "clientAppUsed": "Browser", "status": {"errorCode": code}, "riskLevelDuringSignIn": "medium"}),
        )
    };
    let ids = |o: &posture::Outcome| {
        o.findings
            .iter()
            .map(|f| f.object_id.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let set_of = |xs: &[&String]| xs.iter().map(|x| x.to_string()).collect();
    // a block of legacy authentication in force since yesterday; b is excluded from it
    let mut edits = vec![
        set_where(
            "conditionalAccessPolicies",
            json!({}),
            json!({"state": "disabled"}),
        ),
        create(
            "conditionalAccessPolicies",
            "planted-block-since-yesterday",
            json!({"displayName": "Block legacy authentication", "state": "enabled",
                   "conditions": {"users": {"includeUsers": ["All"], "excludeUsers": [b]}, "applications": {"includeApplications": ["All"]},
                                  "clientAppTypes": ["exchangeActiveSync", "other"]},
                   "grantControls": {"operator": "OR", "builtInControls": ["block"]},
                   "createdDateTime": yesterday, "modifiedDateTime": yesterday}),
        ),
    ];
    // after it: b signs in with IMAP (excluded: a finding), a fails to (not a finding)
    edits.extend([legacy(&b, 0), legacy(&a, 50126)]);
    // c's risk was dismissed yesterday, before c's risky sign-in now; d's risky attempt failed
    edits.extend([
        create(
            "riskyUsers",
            &c,
            json!({"isDeleted": false, "isProcessing": false, "riskDetail": "adminDismissedAllRiskForUser", "riskLevel": "none",
                   "riskState": "dismissed", "riskLastUpdatedDateTime": yesterday, "userPrincipalName": format!("{c}@example.com")}),
        ),
        risky(&c, 0),
        risky(&d, 50126),
    ]);
    edit(tenant, &edits).await;
    resync().await;
    let db = open().await;
    let legacy_found = findings(&db, "ES-AUTH-02").await;
    assert_eq!(ids(&legacy_found), set_of(&[&b]), "{legacy_found:?}");
    let risky_found = findings(&db, "ES-AUTH-07").await;
    assert_eq!(ids(&risky_found), set_of(&[&c]), "{risky_found:?}");
    assert!(
        risky_found.findings[0]
            .detail
            .contains("user risk: dismissed at "),
        "{risky_found:?}"
    );
    // the block changed after b's sign-in (b no longer excluded), c's risk dismissed again now
    edit(
        tenant,
        &[
            set(
                "conditionalAccessPolicies",
                "planted-block-since-yesterday",
                json!({"conditions": {"users": {"includeUsers": ["All"], "excludeUsers": []}, "applications": {"includeApplications": ["All"]},
                                      "clientAppTypes": ["exchangeActiveSync", "other"]}}),
            ),
            set(
                "riskyUsers",
                &c,
                json!({"riskState": "dismissed", "riskDetail": "adminDismissedAllRiskForUser"}),
            ),
        ],
    )
    .await;
    resync().await;
    let db = open().await;
    for id in ["ES-AUTH-02", "ES-AUTH-07"] {
        let o = findings(&db, id).await;
        assert_eq!(o.status, Status::Pass, "{o:?}");
    }
}

/// `--since`: planted recent changes are listed for a time before them, and nothing is listed
/// for a time after every change.
async fn changes_since_name_planted_changes(db: &Db, writer: &Writer) {
    let mut vars: HashMap<String, String> = HashMap::new();
    vars.insert(
        "tenant".into(),
        writer.one("SELECT min(tenant_id) FROM entraid_users").await,
    );
    for i in 1..=6 {
        vars.insert(format!("u{i}"), uuid::Uuid::new_v4().to_string());
    }
    vars.insert("recent".into(), ts(-1));
    vars.insert("far".into(), ts(800));
    vars.insert("app".into(), writer.one(APP).await);
    vars.insert("graph".into(), writer.one(GRAPH_SP).await);
    vars.insert(
        "ca".into(),
        writer
            .one("SELECT min(id) FROM entraid_identity_conditional_access_policies")
            .await,
    );
    for sql in [
        GRAPH_ROLES,
        "INSERT INTO entraid_serviceprincipal_approleassignments (_cq_id, tenant_id, service_principal_id, id, app_role_id, principal_id, principal_type, principal_display_name, resource_id, created_date_time) VALUES ('{u1}', '{tenant}', 'planted-new-sp', 'planted-new-assignment', '9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8', 'planted-new-sp', 'ServicePrincipal', 'new sp', '{graph}', '{recent}')",
        r#"UPDATE entraid_applications SET password_credentials = '[{"displayName":"new secret","keyId":"k9","startDateTime":"{recent}","endDateTime":"{far}"}]' WHERE id = '{app}'"#,
        "INSERT INTO entraid_rolemanagement_roleeligibilityschedules (_cq_id, tenant_id, id, principal_id, role_definition_id, created_date_time) VALUES ('{u2}', '{tenant}', '{u3}', 'planted-new-admin', '62e90394-69f5-4237-9190-012177145e10', '{recent}')",
        "UPDATE entraid_identity_conditional_access_policies SET modified_date_time = '{recent}' WHERE id = '{ca}'",
    ] {
        writer.exec(&fill(sql, &vars)).await;
    }
    let before = posture::changes(db, chrono::Utc::now() - chrono::Duration::days(2)).await;
    let has = |id: &str, object: &str| {
        before.iter().find(|c| c.id == id).is_some_and(|c| {
            c.rows
                .iter()
                .any(|r| r.object_id == object && r.tenant_id == vars["tenant"])
        })
    };
    assert!(before.iter().all(|c| c.reason.is_none()), "{before:?}");
    assert!(has("CHG-PERMS", "planted-new-sp"), "{before:?}");
    assert!(has("CHG-CREDS", &vars["app"]), "{before:?}");
    assert!(has("CHG-ROLES", "planted-new-admin"), "{before:?}");
    assert!(has("CHG-CA", &vars["ca"]), "{before:?}");
    let after = posture::changes(db, chrono::Utc::now() + chrono::Duration::days(1)).await;
    for c in &after {
        assert!(c.reason.is_none() && c.rows.is_empty(), "{c:?}");
    }
}

async fn synced_sqlite(tenant: &Tenant, dir: &std::path::Path) -> std::path::PathBuf {
    let db = dir.join("entraid.db");
    let config = write_config(dir, &tenant.sqlite_config(&db, r#"["*"]"#, ""));
    let result = sync(&config).await;
    assert_eq!(result.errors, 0);
    config
}

fn pg_config(tenant: &Tenant, dir: &std::path::Path, url: &str) -> std::path::PathBuf {
    let text = tenant
        .sqlite_config(&dir.join("placeholder.db"), r#"["*"]"#, "")
        .replace("cloudquery/sqlite", "cloudquery/postgresql")
        .replace(
            &format!(
                "connection_string: {}",
                dir.join("placeholder.db").display()
            ),
            &format!("connection_string: {url}"),
        );
    let path = dir.join("pg.yml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The config keeps the sync's state in its destination, so that every sync after the first is
/// incremental (delta links and cursors).
fn with_state(config: &Path) -> &Path {
    let text = std::fs::read_to_string(config).unwrap().replacen(
        "  destinations: [\"sqlite\"]\n",
        "  destinations: [\"sqlite\"]\n  backend_options:\n    table_name: cq_state_entraid\n    connection: \"@@plugins.sqlite.connection\"\n",
        1,
    );
    assert!(text.contains("backend_options"));
    std::fs::write(config, text).unwrap();
    config
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posture_every_control_fails_on_planted_objects_and_passes_when_fixed_sqlite() {
    let tenant = Tenant::start(Profile::Tiny, 13).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("entraid.db");
    let config = write_config(dir.path(), &tenant.sqlite_config(&path, r#"["*"]"#, ""));
    let config = with_state(&config);
    assert_eq!(sync(config).await.errors, 0);
    let writer = Writer::Sqlite(rusqlite::Connection::open(&path).unwrap());
    every_control_fails_then_passes(
        &tenant,
        config,
        async || Db::sqlite(&path).unwrap(),
        &writer,
    )
    .await;
    changes_since_name_planted_changes(&Db::sqlite(&path).unwrap(), &writer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posture_every_control_fails_on_planted_objects_and_passes_when_fixed_postgres() {
    let tenant = Tenant::start(Profile::Tiny, 13).await;
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::create().await;
    let config = pg_config(&tenant, dir.path(), &pg.url);
    let config = with_state(&config);
    assert_eq!(sync(config).await.errors, 0);
    let writer = Writer::Pg(crate::postgres::connect(&pg.url).await);
    let url = pg.url.clone();
    every_control_fails_then_passes(
        &tenant,
        config,
        async || Db::postgres(&url).await.unwrap(),
        &writer,
    )
    .await;
    changes_since_name_planted_changes(&Db::postgres(&url).await.unwrap(), &writer).await;
    drop(writer);
    pg.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posture_sign_ins_are_findings_until_remediated_after_them_sqlite() {
    let tenant = Tenant::start(Profile::Tiny, 17).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("entraid.db");
    let config = write_config(dir.path(), &tenant.sqlite_config(&path, r#"["*"]"#, ""));
    let config = with_state(&config);
    assert_eq!(sync(config).await.errors, 0);
    let writer = Writer::Sqlite(rusqlite::Connection::open(&path).unwrap());
    sign_ins_are_findings_until_remediated_after_them(
        &tenant,
        config,
        async || Db::sqlite(&path).unwrap(),
        &writer,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posture_sign_ins_are_findings_until_remediated_after_them_postgres() {
    let tenant = Tenant::start(Profile::Tiny, 17).await;
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::create().await;
    let config = pg_config(&tenant, dir.path(), &pg.url);
    let config = with_state(&config);
    assert_eq!(sync(config).await.errors, 0);
    let writer = Writer::Pg(crate::postgres::connect(&pg.url).await);
    let url = pg.url.clone();
    sign_ins_are_findings_until_remediated_after_them(
        &tenant,
        config,
        async || Db::postgres(&url).await.unwrap(),
        &writer,
    )
    .await;
    drop(writer);
    pg.drop().await;
}

/// The same tenant synced into SQLite and PostgreSQL gives the same findings for every control,
/// and some controls are computed again here from the rows, without SQL joins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posture_sqlite_and_postgres_agree_and_match_the_data_postgres() {
    let tenant = Tenant::start(Profile::Small, 21).await;
    let dir = tempfile::tempdir().unwrap();
    synced_sqlite(&tenant, dir.path()).await;
    let pg = PgDb::create().await;
    let config = pg_config(&tenant, dir.path(), &pg.url);
    assert_eq!(sync(&config).await.errors, 0);
    let lite = Db::sqlite(&dir.path().join("entraid.db")).unwrap();
    let post = Db::postgres(&pg.url).await.unwrap();
    let a = posture::run(&lite, "sqlite", &Default::default())
        .await
        .unwrap();
    let b = posture::run(&post, "pg", &Default::default())
        .await
        .unwrap();
    let mut failing = 0;
    for (x, y) in a.outcomes.iter().zip(&b.outcomes) {
        assert_eq!(
            x.status, y.status,
            "{}: {:?} / {:?}",
            x.control.id, x.reason, y.reason
        );
        assert_ne!(x.status, Status::Error, "{}: {:?}", x.control.id, x.reason);
        let ids = |o: &posture::Outcome| {
            let mut v: Vec<String> = o.findings.iter().map(|f| f.object_id.clone()).collect();
            v.sort();
            v
        };
        assert_eq!(ids(x), ids(y), "{}", x.control.id);
        failing += (x.status == Status::Fail) as usize;
    }
    assert!(failing >= 10, "the seeded tenant fails some controls");

    // Independent computations from the rows.
    let conn = rusqlite::Connection::open(dir.path().join("entraid.db")).unwrap();
    let rows = |sql: &str| -> Vec<Vec<Option<String>>> {
        let mut st = conn.prepare(sql).unwrap();
        let n = st.column_count();
        st.query_map([], |r| {
            (0..n)
                .map(|i| r.get::<_, Option<String>>(i))
                .collect::<Result<Vec<_>, _>>()
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let get = |id: &str| {
        let mut v: Vec<String> = a
            .outcomes
            .iter()
            .find(|o| o.control.id == id)
            .unwrap()
            .findings
            .iter()
            .map(|f| f.object_id.clone())
            .collect();
        v.sort();
        v.dedup();
        v
    };
    // ES-AUTH-01: enabled members whose registration report says no MFA.
    let members: std::collections::HashSet<String> =
        rows("SELECT id, CAST(account_enabled AS TEXT), user_type FROM entraid_users")
            .into_iter()
            .filter(|r| r[1].as_deref() == Some("1") && r[2].as_deref() == Some("Member"))
            .filter_map(|r| r[0].clone())
            .collect();
    let mut no_mfa: Vec<String> = rows(
        "SELECT id, CAST(is_mfa_registered AS TEXT) FROM entraid_reports_user_registration_details",
    )
    .into_iter()
    .filter(|r| r[1].as_deref() == Some("0"))
    .filter_map(|r| r[0].clone())
    .filter(|id| members.contains(id))
    .collect();
    no_mfa.sort();
    assert!(!no_mfa.is_empty());
    assert_eq!(get("ES-AUTH-01"), no_mfa);
    // ES-APP-07: multi-tenant apps.
    let mut multi: Vec<String> = rows("SELECT id, sign_in_audience FROM entraid_applications")
        .into_iter()
        .filter(|r| {
            matches!(
                r[1].as_deref(),
                Some("AzureADMultipleOrgs" | "AzureADandPersonalMicrosoftAccount")
            )
        })
        .filter_map(|r| r[0].clone())
        .collect();
    multi.sort();
    assert_eq!(get("ES-APP-07"), multi);
    // ES-APP-02 / ES-APP-01: credentials parsed with serde_json and chrono.
    let now = chrono::Utc::now();
    let (mut expired, mut soon) = (Vec::new(), Vec::new());
    for r in rows("SELECT id, password_credentials, key_credentials FROM entraid_applications") {
        for creds in [&r[1], &r[2]] {
            let list: Vec<serde_json::Value> =
                serde_json::from_str(creds.as_deref().unwrap_or("[]")).unwrap_or_default();
            for c in list {
                let Some(end) = c["endDateTime"]
                    .as_str()
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                else {
                    continue;
                };
                if end < now {
                    expired.push(r[0].clone().unwrap());
                } else if end < now + chrono::Duration::days(30) {
                    soon.push(r[0].clone().unwrap());
                }
            }
        }
    }
    for v in [&mut expired, &mut soon] {
        v.sort();
        v.dedup();
    }
    assert_eq!(get("ES-APP-02"), expired);
    assert_eq!(get("ES-APP-01"), soon);
    // ES-RISK-01 against fake-graph's own collection: every at-risk user it serves.
    let truth: serde_json::Value = tenant
        .http
        .get(format!("{}/_fake/truth", tenant.server.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let risky_ids: std::collections::HashSet<&str> = truth["riskyUsers"]["ids"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    assert!(!risky_ids.is_empty(), "fake-graph serves risky users");
    for id in get("ES-RISK-01") {
        assert!(
            risky_ids.contains(id.as_str()),
            "{id} is not a risky user of the tenant"
        );
    }
    drop(post);
    pg.drop().await;
}

/// A control whose tables were not synced is not evaluated (never passed), and the CLI's exit
/// code and formats.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posture_cli_formats_exit_codes_and_not_evaluated() {
    let tenant = Tenant::start(Profile::Tiny, 5).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("entraid.db");
    // Users and applications only: most controls cannot be evaluated.
    let config = write_config(
        dir.path(),
        &tenant.sqlite_config(&db, r#"["entraid_users", "entraid_applications"]"#, ""),
    );
    assert_eq!(sync(&config).await.errors, 0);
    let c = config.to_str().unwrap();
    let (code, out, err) = run_cli(
        &["check", c, "--format", "json", "--fail-on", "critical"],
        &[],
    );
    assert!(code == 0 || code == 1, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    let controls = report["controls"].as_array().unwrap();
    assert_eq!(controls.len(), CONTROLS.len());
    let by_id = |id: &str| controls.iter().find(|c| c["id"] == id).unwrap().clone();
    let priv1 = by_id("ES-PRIV-01");
    assert_eq!(priv1["status"], "not_evaluated");
    assert!(
        priv1["reason"]
            .as_str()
            .unwrap()
            .contains("entraid_rolemanagement_roleassignments"),
        "{priv1}"
    );
    assert_eq!(by_id("ES-APP-07")["status"], "fail");
    assert_eq!(by_id("ES-HYG-02")["status"], "fail");
    // one tenant: JSON still names it, per finding and per control
    let tid = &tenant.info().tenant_id;
    assert_eq!(report["tenants"], json!([tid]));
    let app7 = by_id("ES-APP-07");
    assert_eq!(app7["tenants"][0]["tenant_id"], json!(tid), "{app7}");
    assert_eq!(app7["tenants"][0]["status"], "fail", "{app7}");
    assert!(
        app7["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["tenant_id"] == json!(tid)),
        "{app7}"
    );
    // No critical control can be evaluated here, so --fail-on critical passes and --fail-on low
    // (ES-APP-07 is low) fails.
    assert_eq!(code, 0, "{err}");
    let (code, _, _) = run_cli(
        &["check", c, "--fail-on", "low", "--only", "ES-APP-07"],
        &[],
    );
    assert_eq!(code, 1);
    let (code, out, _) = run_cli(
        &["check", c, "--only", "ES-APP-07", "--format", "sarif"],
        &[],
    );
    assert_eq!(
        code, 0,
        "ES-APP-07 is low, below the default --fail-on high"
    );
    let sarif: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(!results.is_empty());
    assert!(results.iter().all(|r| r["ruleId"] == "ES-APP-07"));
    assert!(
        results
            .iter()
            .all(|r| r["properties"]["tenant_id"] == json!(tid)),
        "{results:?}"
    );
    let html_path = dir.path().join("report.html");
    let (code, _, err) = run_cli(
        &[
            "check",
            c,
            "--format",
            "html",
            "-o",
            html_path.to_str().unwrap(),
        ],
        &[],
    );
    assert!(code <= 1, "{err}");
    let html = std::fs::read_to_string(&html_path).unwrap();
    assert!(html.contains("ES-PRIV-01") && html.contains("not evaluated"));
    // one tenant: named in the header, no tenant column
    assert!(html.contains(&format!("tenant <span id=\"tenant\">{tid}</span>")));
    assert!(!html.contains("<th>tenant</th>") && !html.contains("id=\"by-tenant\""));
    let (_, markdown, _) = run_cli(&["check", c, "--only", "ES-APP-07"], &[]);
    assert!(
        markdown.contains("| object | name | detail |"),
        "{markdown}"
    );
    assert!(!markdown.contains("| tenant |"), "{markdown}");
    assert!(!html.contains("<script src"), "self-contained");
    assert!(!html.contains("<link "), "no external stylesheet");
    let (code, out, _) = run_cli(&["check", "--list"], &[]);
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), CONTROLS.len());
}

/// docs/queries is generated from the catalogue.
#[test]
fn posture_query_pack_in_docs_is_current() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/queries");
    let pages = posture::report::query_pack();
    let mut stale = Vec::new();
    for (name, text) in &pages {
        if std::fs::read_to_string(dir.join(name)).ok().as_deref() != Some(text.as_str()) {
            stale.push(name.clone());
        }
    }
    assert!(
        stale.is_empty(),
        "docs/queries is stale ({}): run `entrasync check --write-queries docs/queries`",
        stale.join(", ")
    );
    assert!(pages.len() > 5);
    // every control and every watched fact of the change log has its section, linked from the index
    let page = |name: &str| &pages.iter().find(|(n, _)| n == name).unwrap().1;
    for c in CONTROLS {
        let link = format!("({}.md#{})", c.family, c.id.to_ascii_lowercase());
        assert!(page("README.md").contains(&link), "{}", c.id);
        assert!(page(&format!("{}.md", c.family)).contains(&format!("\n## {}\n", c.id)));
    }
    for w in posture::controls::WATCHED {
        let link = format!("(change-log.md#{})", w.id.to_ascii_lowercase());
        assert!(page("README.md").contains(&link), "{}", w.id);
        let text = page("change-log.md");
        assert!(text.contains(&format!("\n## {}\n", w.id)), "{}", w.id);
        assert!(
            text.contains(&w.query(posture::Dialect::Postgres, "<tenant_id>")),
            "{}",
            w.id
        );
    }
}

/// The HTML report of the quick-start tenant (fake-graph `small`, seed 1) in headless Chromium:
/// the rendered DOM shows the counts and every control id; a screenshot is saved (to
/// ENTRASYNC_SCREENSHOT when set, as docs/check-report.png is made).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posture_html_report_renders_in_headless_chromium() {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok()
        })
        .expect("this test needs Chromium (Debian: apt-get install chromium)");
    let tenant = Tenant::start(Profile::Small, 1).await;
    let dir = tempfile::tempdir().unwrap();
    let config = synced_sqlite(&tenant, dir.path()).await;
    let html = dir.path().join("report.html");
    let (code, _, err) = run_cli(
        &[
            "check",
            config.to_str().unwrap(),
            "--format",
            "html",
            "--since",
            "7d",
            "-o",
            html.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code, 1, "the quick-start tenant fails high controls: {err}");
    let (_, json, _) = run_cli(
        &["check", config.to_str().unwrap(), "--format", "json"],
        &[],
    );
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    let url = format!("file://{}", html.display());
    let profile = dir.path().join("chromium-profile");
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--window-size=1366,1800",
    ];
    let user_data = format!("--user-data-dir={}", profile.display());
    let out = std::process::Command::new(chromium)
        .args(common)
        .arg(&user_data)
        .args(["--virtual-time-budget=2000", "--dump-dom", &url])
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("</html>"),
        "chromium rendered nothing: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = &json["summary"];
    for (key, id) in [
        ("fail", "count-fail"),
        ("pass", "count-pass"),
        ("not_evaluated", "count-not-evaluated"),
    ] {
        let shown = format!("id=\"{id}\">{}<", summary[key]);
        assert!(dom.contains(&shown), "{shown} not in the rendered DOM");
    }
    for c in CONTROLS {
        assert!(
            dom.contains(&format!("id=\"{}\"", c.id)),
            "{} not rendered",
            c.id
        );
    }
    assert!(
        dom.contains("chart-roles") && dom.contains("<rect"),
        "charts drawn"
    );
    assert!(dom.contains("Changes since"));
    // the change log's sections, next to the timestamp-based ones
    assert!(dom.contains("id=\"LOG-ROLES\"") && dom.contains("id=\"CHG-ROLES\""));
    let shot = std::env::var("ENTRASYNC_SCREENSHOT")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| dir.path().join("report.png"));
    let out = std::process::Command::new(chromium)
        .args(common)
        .arg(&user_data)
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    let png = std::fs::read(&shot).unwrap_or_else(|e| {
        panic!(
            "no screenshot at {}: {e}: {}",
            shot.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000);
}

/// Tables the sync skipped for a missing permission exist but are empty: their controls are not
/// evaluated, never passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posture_tables_skipped_for_a_missing_permission_are_not_evaluated() {
    let tenant = Tenant::start(Profile::Tiny, 6).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("entraid.db");
    let config = limited_app_config(&tenant, dir.path(), &db).await;
    let _ = sync(&config).await;
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: i64 = conn
        .query_row(
            "SELECT count(*) FROM entraid_rolemanagement_roleassignments",
            [],
            |r| r.get(0),
        )
        .expect("the skipped table exists");
    assert_eq!(
        rows, 0,
        "role assignments need RoleManagement.Read.Directory"
    );
    skipped_tables_are_not_evaluated(&Db::sqlite(&db).unwrap()).await;
}

/// The same on PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posture_tables_skipped_for_a_missing_permission_are_not_evaluated_postgres() {
    let tenant = Tenant::start(Profile::Tiny, 6).await;
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::create().await;
    let placeholder = dir.path().join("placeholder.db");
    let sqlite = limited_app_config(&tenant, dir.path(), &placeholder).await;
    let text = std::fs::read_to_string(&sqlite)
        .unwrap()
        .replace("cloudquery/sqlite", "cloudquery/postgresql")
        .replace(
            &format!("connection_string: {}", placeholder.display()),
            &format!("connection_string: {}", pg.url),
        );
    let config = dir.path().join("pg.yml");
    std::fs::write(&config, text).unwrap();
    let _ = sync(&config).await;
    let client = crate::postgres::connect(&pg.url).await;
    let rows: i64 = client
        .query_one(
            "SELECT count(*) FROM entraid_rolemanagement_roleassignments",
            &[],
        )
        .await
        .expect("the skipped table exists")
        .get(0);
    assert_eq!(
        rows, 0,
        "role assignments need RoleManagement.Read.Directory"
    );
    skipped_tables_are_not_evaluated(&Db::postgres(&pg.url).await.unwrap()).await;
    drop(client);
    pg.drop().await;
}

/// A config signing in as an app granted only `User.Read.All` and `Application.Read.All`.
async fn limited_app_config(tenant: &Tenant, dir: &Path, db: &Path) -> std::path::PathBuf {
    let (id, secret) = tenant
        .app_with(&["User.Read.All", "Application.Read.All"])
        .await;
    write_config(
        dir,
        &tenant.config_with_credentials(
            db,
            r#"["*"]"#,
            &format!("    client_id: {id}\n    client_secret: {secret}\n"),
        ),
    )
}

async fn skipped_tables_are_not_evaluated(db: &Db) {
    let report = posture::run(db, "x", &Default::default()).await.unwrap();
    let get = |id: &str| report.outcomes.iter().find(|o| o.control.id == id).unwrap();
    for id in [
        "ES-PRIV-01",
        "ES-PRIV-02",
        "ES-PRIV-06",
        "ES-CA-01",
        "ES-AZP-01",
    ] {
        let o = get(id);
        assert_eq!(o.status, Status::NotEvaluated, "{id}: {:?}", o.reason);
        assert!(o.reason.as_deref().unwrap().contains("no rows in"), "{id}");
    }
    assert_eq!(get("ES-APP-07").status, Status::Fail);
}

/// The change log (`entrasync_watch`, `entrasync_changes`): the first sync records a baseline
/// and no change; changes made in the tenant (a member added to a role-assignable group holding
/// Global Administrator, directly and through a nested group, a direct holder removed, a CA
/// exclusion replaced, an app secret replaced, a high-privilege Graph permission granted) are
/// exactly the change rows of the next incremental sync; a sync without changes adds none.
async fn change_log_records_additions_and_removals(
    tenant: &Tenant,
    config: &Path,
    open: impl AsyncFn() -> Db,
) {
    let truth = async |transitive: bool| -> Value {
        tenant
            .http
            .get(format!(
                "{}/_fake/truth?transitive={transitive}",
                tenant.server.url()
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    };
    let before = truth(true).await;
    let pairs = |t: &Value, coll: &str, rel: &str| -> Vec<(String, String)> {
        t[coll]["rels"][rel]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|p| (p[0].as_str().unwrap().into(), p[1].as_str().unwrap().into()))
                    .collect()
            })
            .unwrap_or_default()
    };
    let ids = |t: &Value, coll: &str| -> Vec<String> {
        t[coll]["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect()
    };
    let groups = ids(&before, "groups");
    let users = ids(&before, "users");
    let members = pairs(&before, "groups", "members");
    // Two groups whose members are users only: G will hold Global Administrator, N nests in it.
    let users_only: Vec<&String> = groups
        .iter()
        .filter(|g| {
            let m: Vec<_> = members.iter().filter(|(p, _)| p == *g).collect();
            !m.is_empty() && m.iter().all(|(_, x)| users.contains(x))
        })
        .filter(|g| !members.iter().any(|(_, x)| x == *g))
        .collect();
    let (g, n) = (users_only[0].clone(), users_only[1].clone());
    let in_g_or_n = |u: &String| members.iter().any(|(p, x)| (p == &g || p == &n) && x == u);
    let free: Vec<&String> = users.iter().filter(|u| !in_g_or_n(u)).collect();
    let (holder, u1, u2, x1, x2) = (free[0], free[1], free[2], free[3], free[4]);
    let app = ids(&before, "applications")[0].clone();
    let (s1, s2, policy) = (
        "11111111-0000-4000-8000-000000000001",
        "11111111-0000-4000-8000-000000000002",
        "planted-watch-policy",
    );
    edit(
        tenant,
        &[
            set("groups", &g, json!({"isAssignableToRole": true, "securityEnabled": true})),
            role("planted-watch-ra-group", &g, GA),
            link("groups", &g, "members", &n),
            role("planted-watch-ra-direct", holder, GA),
            create(
                "conditionalAccessPolicies",
                policy,
                json!({"displayName": "Watched policy", "state": "enabled",
                       "conditions": {"users": {"includeUsers": ["All"], "excludeUsers": [x1]}, "applications": {"includeApplications": ["All"]}},
                       "grantControls": {"operator": "OR", "builtInControls": ["mfa"]}}),
            ),
            set(
                "applications",
                &app,
                json!({"passwordCredentials": [{"displayName": "first", "keyId": s1, "startDateTime": ts(-1), "endDateTime": ts(300)}]}),
            ),
        ],
    )
    .await;
    let first = sync(config).await;
    assert_eq!(first.errors, 0, "first sync: {first:?}");
    let db = open().await;
    let log = async |db: &Db| -> Vec<Vec<String>> {
        db.text_rows(
            "SELECT kind, key, change, object_id, detected_at FROM entrasync_changes ORDER BY kind, key, change",
        )
        .await
        .unwrap()
    };
    let baseline = log(&db).await;
    let kinds: Vec<&str> = baseline.iter().map(|r| r[0].as_str()).collect();
    let mut watched: Vec<&str> = posture::controls::WATCHED.iter().map(|w| w.kind).collect();
    watched.sort_unstable();
    assert_eq!(kinds, watched, "one baseline row per kind: {baseline:?}");
    assert!(
        baseline
            .iter()
            .all(|r| r[2] == "baseline" && r[1].is_empty()),
        "the first sync records a baseline, no change: {baseline:?}"
    );
    let facts = async |db: &Db, kind: &str| -> Vec<String> {
        let q = format!("SELECT key FROM entrasync_watch WHERE kind = '{kind}' ORDER BY key");
        db.text_rows(&q)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r[0].clone())
            .collect()
    };
    let ga_g = format!("active:{GA}:/:{g}");
    let via_g = |f: &Vec<String>| -> Vec<String> {
        f.iter()
            .filter_map(|k| k.strip_prefix(&format!("{ga_g}:")).map(str::to_string))
            .collect()
    };
    let holders = facts(&db, "role_holders").await;
    assert!(
        holders.contains(&format!("active:{GA}:/:{holder}")),
        "{holders:?}"
    );
    assert!(holders.contains(&ga_g), "{holders:?}");
    // The group's holders are its transitive members in fake-graph: N's members through N.
    let transitive_of = |t: &Value| -> Vec<String> {
        let mut m: Vec<String> = pairs(t, "groups", "transitiveMembers")
            .into_iter()
            .filter(|(p, _)| p == &g)
            .map(|(_, x)| x)
            .collect();
        m.sort();
        m
    };
    assert_eq!(via_g(&holders), transitive_of(&truth(true).await));

    let sp_id = db.text_rows(SP).await.unwrap().remove(0).remove(0);
    let graph_id = db.text_rows(GRAPH_SP).await.unwrap().remove(0).remove(0);
    edit(
        tenant,
        &[
            link("groups", &g, "members", u1),
            link("groups", &n, "members", u2),
            json!({"delete": {"collection": "roleAssignments", "id": "planted-watch-ra-direct"}}),
            set(
                "conditionalAccessPolicies",
                policy,
                json!({"conditions": {"users": {"includeUsers": ["All"], "excludeUsers": [x2]}, "applications": {"includeApplications": ["All"]}}}),
            ),
            set(
                "applications",
                &app,
                json!({"passwordCredentials": [{"displayName": "second", "keyId": s2, "startDateTime": ts(0), "endDateTime": ts(300)}]}),
            ),
            fill_graph(graph_offers_role_management(), &graph_id),
            create_child(
                "appRoleAssignments",
                &sp_id,
                "planted-watch-permission",
                json!({"appRoleId": RW_ROLE, "principalId": sp_id, "principalType": "ServicePrincipal", "principalDisplayName": "watched sp",
                       "resourceId": graph_id, "resourceDisplayName": "Microsoft Graph", "createdDateTime": ts(0)}),
            ),
        ],
    )
    .await;
    let second = sync(config).await;
    assert_eq!(second.errors, 0, "incremental sync: {second:?}");
    let db = open().await;
    let changes: Vec<(String, String, String)> = log(&db)
        .await
        .into_iter()
        .filter(|r| r[2] != "baseline")
        .map(|r| (r[0].clone(), r[1].clone(), r[2].clone()))
        .collect();
    let mut expected: Vec<(String, String, String)> = [
        (
            "app_permissions",
            format!("{sp_id}:{graph_id}:{RW_ROLE}"),
            "added",
        ),
        (
            "ca_scope",
            format!("{policy}:users.excludeUsers:{x1}"),
            "removed",
        ),
        (
            "ca_scope",
            format!("{policy}:users.excludeUsers:{x2}"),
            "added",
        ),
        (
            "credentials",
            format!("application:{app}:secret:{s1}"),
            "removed",
        ),
        (
            "credentials",
            format!("application:{app}:secret:{s2}"),
            "added",
        ),
        ("role_holders", format!("active:{GA}:/:{holder}"), "removed"),
        ("role_holders", format!("{ga_g}:{u1}"), "added"),
        ("role_holders", format!("{ga_g}:{u2}"), "added"),
    ]
    .into_iter()
    .map(|(k, key, c)| (k.to_string(), key, c.to_string()))
    .collect();
    expected.sort();
    assert_eq!(changes, expected);
    // ... and the snapshot agrees with fake-graph's truth again.
    let holders = facts(&db, "role_holders").await;
    assert_eq!(via_g(&holders), transitive_of(&truth(true).await));
    assert!(!holders.contains(&format!("active:{GA}:/:{holder}")));

    // `check --since` shows them, removals included, with the sync's time.
    let shown = posture::changes(&db, chrono::Utc::now() - chrono::Duration::hours(1)).await;
    let roles = shown.iter().find(|c| c.id == "LOG-ROLES").unwrap();
    assert!(roles.reason.is_none(), "{roles:?}");
    assert!(
        roles.rows.iter().any(
            |r| &r.object_id == holder && r.detail.starts_with("removed: Global Administrator")
        ),
        "{roles:?}"
    );
    assert_eq!(roles.rows.len(), 3, "{roles:?}");
    let ca = shown.iter().find(|c| c.id == "LOG-CA").unwrap();
    assert_eq!(ca.rows.len(), 2, "{ca:?}");
    let later = posture::changes(&db, chrono::Utc::now() + chrono::Duration::minutes(1)).await;
    assert!(
        later
            .iter()
            .filter(|c| c.id.starts_with("LOG"))
            .all(|c| c.rows.is_empty() && c.reason.is_none()),
        "{later:?}"
    );

    // A sync that finds nothing changed adds no row.
    let third = sync(config).await;
    assert_eq!(third.errors, 0);
    let after = log(&open().await).await;
    assert_eq!(after.len(), baseline.len() + expected.len(), "{after:?}");
}

fn fill_graph(edit: Value, graph: &str) -> Value {
    serde_json::from_str(&edit.to_string().replace("{graph}", graph)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posture_change_log_records_additions_and_removals_sqlite() {
    let tenant = Tenant::start(Profile::Tiny, 13).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("entraid.db");
    let config = write_config(dir.path(), &tenant.sqlite_config(&path, r#"["*"]"#, ""));
    let config = with_state(&config);
    change_log_records_additions_and_removals(&tenant, config, async || Db::sqlite(&path).unwrap())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posture_change_log_records_additions_and_removals_postgres() {
    let tenant = Tenant::start(Profile::Tiny, 13).await;
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::create().await;
    let config = pg_config(&tenant, dir.path(), &pg.url);
    let config = with_state(&config);
    let url = pg.url.clone();
    change_log_records_additions_and_removals(&tenant, config, async || {
        Db::postgres(&url).await.unwrap()
    })
    .await;
    pg.drop().await;
}

/// `check --since` on a destination holding two tenants (one source with `tenants:`, one
/// fake-graph serving both): each change-log row names its tenant, in every format, and the
/// rows are exactly the role holders planted in each tenant.
async fn change_log_of_two_tenants_names_each_rows_tenant(store: &str, open: impl AsyncFn() -> Db) {
    let server = fake_graph::start(fake_graph::Config::new(Profile::Tiny, 23).tenants(2))
        .await
        .expect("fake-graph starts");
    let t = server.tenants().to_vec();
    let dir = tempfile::tempdir().unwrap();
    let config = two_tenants_config(&server, dir.path(), store);
    let first = sync(&config).await;
    assert_eq!(first.errors, 0, "{first:?}");
    // in each tenant, a user who is no Global Administrator becomes one
    let http = reqwest::Client::new();
    let mut planted = std::collections::BTreeSet::new();
    for tenant in &t {
        let tid = &tenant.info.tenant_id;
        let user = open()
            .await
            .text_rows(&format!(
                "SELECT min(u.id) FROM entraid_users u WHERE u.tenant_id = '{tid}' AND NOT EXISTS \
                 (SELECT 1 FROM entraid_rolemanagement_roleassignments ra WHERE ra.tenant_id = u.tenant_id AND ra.principal_id = u.id AND ra.role_definition_id = '{GA}')"
            ))
            .await
            .unwrap()
            .remove(0)
            .remove(0);
        let resp = http
            .post(format!(
                "{}/_fake/tenants/{tid}/edit",
                server.info.graph_url
            ))
            .json(&[role("planted-two-tenants", &user, GA)])
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
        planted.insert((tid.clone(), user));
    }
    let second = sync(&config).await;
    assert_eq!(second.errors, 0, "{second:?}");

    let shown = posture::changes(
        &open().await,
        chrono::Utc::now() - chrono::Duration::hours(1),
    )
    .await;
    let roles = shown.iter().find(|c| c.id == "LOG-ROLES").unwrap();
    assert!(roles.reason.is_none(), "{roles:?}");
    // the log of each tenant started at the first sync, within the hour
    let note = roles.note.as_deref().unwrap_or_default();
    for tenant in &t {
        assert!(
            note.contains(&format!(
                "recorded for tenant {} from",
                tenant.info.tenant_id
            )),
            "{note}"
        );
    }
    let got: std::collections::BTreeSet<(String, String)> = roles
        .rows
        .iter()
        .map(|r| (r.tenant_id.clone(), r.object_id.clone()))
        .collect();
    assert_eq!(got, planted, "{roles:?}");
    assert!(
        roles
            .rows
            .iter()
            .all(|r| r.detail == "added: Global Administrator (active)"),
        "{roles:?}"
    );

    let since = (chrono::Utc::now() - chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let check = |format: &str| {
        let (code, out, err) = run_cli(
            &[
                "check",
                config.to_str().unwrap(),
                "--since",
                &since,
                "--only",
                "ES-PRIV-01",
                "--format",
                format,
            ],
            &[],
        );
        assert!(code == 0 || code == 1, "{format}: {err}");
        out
    };
    let json: Value = serde_json::from_str(&check("json")).unwrap();
    let sarif: Value = serde_json::from_str(&check("sarif")).unwrap();
    for changes in [&json["changes"], &sarif["runs"][0]["properties"]["changes"]] {
        let log = changes
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == "LOG-ROLES")
            .unwrap();
        let got: std::collections::BTreeSet<(String, String)> = log["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["tenant_id"].as_str().unwrap().to_string(),
                    r["object_id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(got, planted, "{log}");
    }
    let markdown = check("markdown");
    let html = check("html");
    for (tid, user) in &planted {
        assert!(
            markdown
                .lines()
                .any(|l| l.contains(&format!("| {tid} | {user} |"))),
            "{markdown}"
        );
        assert!(
            html.contains(&format!(
                "<td class=\"tenant\"><code>{tid}</code></td><td><code>{user}</code></td>"
            )),
            "tenant {tid} not shown in the HTML"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posture_change_log_of_two_tenants_names_each_rows_tenant_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.db");
    change_log_of_two_tenants_names_each_rows_tenant(path.to_str().unwrap(), async || {
        Db::sqlite(&path).unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posture_change_log_of_two_tenants_names_each_rows_tenant_postgres() {
    let pg = PgDb::create().await;
    let url = pg.url.clone();
    change_log_of_two_tenants_names_each_rows_tenant(&format!("postgres:{url}"), async || {
        Db::postgres(&url).await.unwrap()
    })
    .await;
    pg.drop().await;
}

/// A config whose one source syncs every tenant of `server` (`tenants:`) into one destination:
/// a SQLite path, or `postgres:<url>`.
fn two_tenants_config(server: &fake_graph::Server, dir: &Path, store: &str) -> std::path::PathBuf {
    let t = server.tenants();
    let entries: String = t
        .iter()
        .map(|t| {
            format!(
                "      - tenant_id: {}\n        client_id: {}\n        client_secret: \"{}\"\n",
                t.info.tenant_id, t.info.client_id, t.info.client_secret
            )
        })
        .collect();
    let (path, connection) = match store.strip_prefix("postgres:") {
        Some(url) => ("cloudquery/postgresql", url.to_string()),
        None => ("cloudquery/sqlite", store.to_string()),
    };
    write_config(
        dir,
        &format!(
            "kind: source\nspec:\n  name: entraid\n  path: cloudquery/entraid\n  registry: cloudquery\n  version: \"v1.4.1\"\n  \
             tables: [\"*\"]\n  destinations: [\"store\"]\n  spec:\n    graph_url: {}\n    login_url: {}\n    max_retries: 2\n    tenants:\n{entries}\
             ---\nkind: destination\nspec:\n  name: store\n  path: {path}\n  registry: cloudquery\n  version: \"v1.0.0\"\n  spec:\n    connection_string: \"{connection}\"\n",
            server.info.graph_url, server.info.login_url
        ),
    )
}

/// `check` on a destination holding two tenants (one source with `tenants:`, one fake-graph
/// serving both): every control runs per tenant. Planted so that ES-PRIV-01 (more than four
/// Global Administrators) fails in the first tenant only and ES-PRIV-02 (fewer than two) in the
/// second only, though the two together hold six; ES-APP-07's findings are exactly the (tenant,
/// application) pairs planted; and ES-PRIV-10 (disabled accounts holding a privileged role) does
/// not pair the second tenant's Global Administrator assignment with the first tenant's disabled
/// user whose id it names. Then the same in every output format.
async fn controls_of_two_tenants_are_evaluated_per_tenant(store: &str, open: impl AsyncFn() -> Db) {
    let server = fake_graph::start(fake_graph::Config::new(Profile::Tiny, 29).tenants(2))
        .await
        .expect("fake-graph starts");
    let (a, b) = (
        server.tenants()[0].info.tenant_id.clone(),
        server.tenants()[1].info.tenant_id.clone(),
    );
    assert!(a != b);
    let dir = tempfile::tempdir().unwrap();
    let config = two_tenants_config(&server, dir.path(), store);
    let first = sync(&config).await;
    assert_eq!(first.errors, 0, "{first:?}");

    let ids = async |sql: String| -> Vec<String> {
        open()
            .await
            .text_rows(&sql)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r[0].clone())
            .collect()
    };
    // six members of tenant a (every role assignment is deleted below)
    let users_a = ids(format!(
        "SELECT id FROM entraid_users WHERE tenant_id = '{a}' AND user_type = 'Member' ORDER BY id LIMIT 6"
    ))
    .await;
    let apps_a = ids(format!(
        "SELECT id FROM entraid_applications WHERE tenant_id = '{a}' ORDER BY id LIMIT 2"
    ))
    .await;
    let apps_b = ids(format!(
        "SELECT id FROM entraid_applications WHERE tenant_id = '{b}' ORDER BY id LIMIT 1"
    ))
    .await;
    assert_eq!((users_a.len(), apps_a.len(), apps_b.len()), (6, 2, 1));
    // In each tenant every user enabled, every application single-tenant, no role assignment;
    // then y: a disabled Global Administrator of tenant a; z: a disabled user of tenant a without
    // a role there, whose id tenant b's only role assignment (Global Administrator) names.
    let (y, z) = (&users_a[0], &users_a[5]);
    assert!(
        ids(format!(
            "SELECT id FROM entraid_users WHERE tenant_id = '{b}' AND id = '{z}'"
        ))
        .await
        .is_empty()
    );
    let multi = || json!({"signInAudience": "AzureADMultipleOrgs"});
    let clean = || {
        vec![
            set_where("users", json!({}), json!({"accountEnabled": true})),
            set_where(
                "applications",
                json!({}),
                json!({"signInAudience": "AzureADMyOrg"}),
            ),
            delete_where("roleAssignments", json!({})),
        ]
    };
    let mut edits_a = clean();
    edits_a.extend(
        users_a[..5]
            .iter()
            .enumerate()
            .map(|(n, u)| role(&format!("planted-ga-a{n}"), u, GA)),
    );
    edits_a.extend([
        set("users", y, json!({"accountEnabled": false})),
        set("users", z, json!({"accountEnabled": false})),
        set("applications", &apps_a[0], multi()),
        set("applications", &apps_a[1], multi()),
    ]);
    let mut edits_b = clean();
    edits_b.extend([
        role("planted-ga-b", z, GA),
        set("applications", &apps_b[0], multi()),
    ]);
    let http = reqwest::Client::new();
    for (tid, edits) in [(&a, edits_a), (&b, edits_b)] {
        let resp = http
            .post(format!(
                "{}/_fake/tenants/{tid}/edit",
                server.info.graph_url
            ))
            .json(&edits)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    }
    let second = sync(&config).await;
    assert_eq!(second.errors, 0, "{second:?}");

    type Pairs = std::collections::BTreeSet<(String, String)>;
    let pairs = |v: &[(&String, &String)]| -> Pairs {
        v.iter()
            .map(|(t, o)| (t.to_string(), o.to_string()))
            .collect()
    };
    let ga = GA.to_string();
    let expected: Vec<(&str, Pairs, [Status; 2])> = vec![
        (
            "ES-PRIV-01",
            pairs(&users_a[..5].iter().map(|u| (&a, u)).collect::<Vec<_>>()),
            [Status::Fail, Status::Pass],
        ),
        (
            "ES-PRIV-02",
            pairs(&[(&b, &ga)]),
            [Status::Pass, Status::Fail],
        ),
        (
            "ES-APP-07",
            pairs(&[(&a, &apps_a[0]), (&a, &apps_a[1]), (&b, &apps_b[0])]),
            [Status::Fail, Status::Fail],
        ),
        (
            "ES-PRIV-10",
            pairs(&[(&a, y)]),
            [Status::Fail, Status::Pass],
        ),
    ];

    let db = open().await;
    assert_eq!(posture::tenants(&db).await.unwrap(), {
        let mut v = vec![a.clone(), b.clone()];
        v.sort();
        v
    });
    for (id, want, [in_a, in_b]) in &expected {
        let o = findings(&db, id).await;
        let got: Pairs = o
            .findings
            .iter()
            .map(|f| (f.tenant_id.clone(), f.object_id.clone()))
            .collect();
        assert_eq!(&got, want, "{id}: {:?}", o.findings);
        assert_eq!(o.findings.len(), want.len(), "{id}: one finding each");
        assert_eq!(
            (o.status_in(&a), o.status_in(&b)),
            (Some(*in_a), Some(*in_b)),
            "{id}: {:?}",
            o.tenants
        );
        assert_eq!(o.status, Status::Fail, "{id}: fails in a tenant");
    }
    // the counts are each tenant's own
    let priv1 = findings(&db, "ES-PRIV-01").await;
    assert!(
        priv1
            .findings
            .iter()
            .all(|f| f.detail == "Global Administrator, one of 5"),
        "{:?}",
        priv1.findings
    );
    assert_eq!(
        findings(&db, "ES-PRIV-02").await.findings[0].detail,
        "active holders: 1"
    );

    // every format names the tenant of each finding
    let c = config.to_str().unwrap();
    let check = |format: &str| {
        let mut args = vec!["check", c, "--format", format];
        for (id, _, _) in &expected {
            args.extend(["--only", id]);
        }
        let (code, out, err) = run_cli(&args, &[]);
        assert_eq!(code, 1, "{format}: ES-PRIV-01 (high) fails: {err}");
        assert!(err.contains("over 2 tenants"), "{err}");
        out
    };
    let json: Value = serde_json::from_str(&check("json")).unwrap();
    let mut sorted = vec![a.clone(), b.clone()];
    sorted.sort();
    assert_eq!(json["tenants"], json!(sorted));
    for (id, want, [in_a, in_b]) in &expected {
        let control = json["controls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == *id)
            .unwrap();
        let got: Pairs = control["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                (
                    f["tenant_id"].as_str().unwrap().to_string(),
                    f["object_id"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(&got, want, "{id}: {control}");
        let status_in = |t: &str| {
            control["tenants"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["tenant_id"] == t)
                .unwrap()["status"]
                .clone()
        };
        assert_eq!(status_in(&a), json!(in_a), "{id}: {control}");
        assert_eq!(status_in(&b), json!(in_b), "{id}: {control}");
    }
    // PRIV-01, PRIV-10 and APP-07 fail in a; PRIV-02 and APP-07 in b; all four somewhere
    assert_eq!(
        json["summary"]["by_tenant"][&a]["fail"], 3,
        "{}",
        json["summary"]
    );
    assert_eq!(
        json["summary"]["by_tenant"][&b]["fail"], 2,
        "{}",
        json["summary"]
    );
    assert_eq!(json["summary"]["fail"], 4, "{}", json["summary"]);

    let sarif: Value = serde_json::from_str(&check("sarif")).unwrap();
    let run = &sarif["runs"][0];
    let tenants_at: Vec<&str> = run["logicalLocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["fullyQualifiedName"].as_str().unwrap())
        .collect();
    for (id, want, _) in &expected {
        let got: Pairs = run["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["ruleId"] == *id)
            .map(|r| {
                let tenant = r["properties"]["tenant_id"].as_str().unwrap().to_string();
                let loc = &r["locations"][0]["logicalLocations"][0];
                let parent = loc["parentIndex"].as_u64().unwrap() as usize;
                assert_eq!(tenants_at[parent], tenant, "{r}");
                let object = r["properties"]["object_id"].as_str().unwrap().to_string();
                assert_eq!(
                    loc["fullyQualifiedName"],
                    json!(format!("{tenant}/{object}")),
                    "{r}"
                );
                (tenant, object)
            })
            .collect();
        assert_eq!(&got, want, "{id}");
    }

    let markdown = check("markdown");
    let html = check("html");
    assert!(html.contains("<th>tenant</th>") && html.contains("id=\"by-tenant\""));
    for (id, want, _) in &expected {
        for (tid, object) in want {
            assert!(
                markdown
                    .lines()
                    .any(|l| l.starts_with(&format!("| {tid} | {object} |"))),
                "{id}: ({tid}, {object}) not in\n{markdown}"
            );
            assert!(
                html.contains(&format!(
                    "<tr><td class=\"tenant\"><code>{tid}</code></td><td><code>{object}</code></td>"
                )),
                "{id}: ({tid}, {object}) not in the HTML"
            );
        }
    }
    assert!(
        markdown.contains(&format!("Per tenant: {a}: fail (5); {b}: pass"))
            || markdown.contains(&format!("Per tenant: {b}: pass; {a}: fail (5)")),
        "{markdown}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posture_controls_of_two_tenants_are_evaluated_per_tenant_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("two.db");
    controls_of_two_tenants_are_evaluated_per_tenant(path.to_str().unwrap(), async || {
        Db::sqlite(&path).unwrap()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posture_controls_of_two_tenants_are_evaluated_per_tenant_postgres() {
    let pg = PgDb::create().await;
    let url = pg.url.clone();
    controls_of_two_tenants_are_evaluated_per_tenant(&format!("postgres:{url}"), async || {
        Db::postgres(&url).await.unwrap()
    })
    .await;
    pg.drop().await;
}
