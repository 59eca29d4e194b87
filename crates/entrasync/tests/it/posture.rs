//! `entrasync check`: every posture control against a fake-graph tenant synced into SQLite and
//! into PostgreSQL. Each control is made to fail on a planted object (the planted object must be
//! among its findings), then the offending configuration is fixed everywhere and the control must
//! pass. fake-graph's operator API cannot set arbitrary properties, so objects are planted and
//! fixed in the synced database itself, with plain SQL that does not go through the controls'
//! dialect macros.

use crate::harness::{Tenant, run_cli, sync, write_config};
use crate::postgres::PgDb;
use entrasync::posture::{self, Db, Status, controls::CONTROLS};
use fake_graph::Profile;
use std::collections::HashMap;

const GA: &str = "62e90394-69f5-4237-9190-012177145e10";

/// One control's test: named picks (SQL returning one id each), statements that plant an
/// offending object, the object id the control must then report, and statements that fix every
/// offending object so that the control passes. `{name}` in any text is replaced by a pick or a
/// fixed placeholder: {tenant}, {u1}..{u3} (fresh UUIDs), {old} (2020-01-01), {recent}
/// (yesterday), {soon} (in 10 days), {far} (in 800 days). A statement prefixed `sqlite:` or `pg:`
/// runs on that database only.
struct Case {
    id: &'static str,
    picks: &'static [(&'static str, &'static str)],
    plant: &'static [&'static str],
    expect: &'static str,
    fix: &'static [&'static str],
}

const MEMBER: &str = "SELECT min(u.id) FROM entraid_users u JOIN entraid_reports_user_registration_details r ON r.id = u.id JOIN entraid_user_signin_activity a ON a.id = u.id WHERE u.user_type = 'Member' AND u.account_enabled = TRUE";
const GUEST: &str = "SELECT min(u.id) FROM entraid_users u JOIN entraid_user_signin_activity a ON a.id = u.id WHERE u.user_type = 'Guest'";
const APP: &str = "SELECT min(id) FROM entraid_applications";
const SP: &str =
    "SELECT min(id) FROM entraid_serviceprincipals WHERE service_principal_type = 'Application'";
const GRAPH_SP: &str = "SELECT id FROM entraid_serviceprincipals WHERE app_id = '00000003-0000-0000-c000-000000000000'";
const GROUP: &str = "SELECT min(id) FROM entraid_groups";

macro_rules! ra {
    ($principal:literal, $role:literal) => {
        concat!(
            "INSERT INTO entraid_rolemanagement_roleassignments (_cq_id, tenant_id, id, principal_id, role_definition_id, directory_scope_id) VALUES ('{u1}', '{tenant}', '{u2}', '",
            $principal,
            "', '",
            $role,
            "', '/')"
        )
    };
}

const CLEAN_CONDITIONS: &str = r#"UPDATE entraid_identity_conditional_access_policies SET conditions = '{"users":{"includeUsers":["All"],"excludeUsers":[],"includeGroups":[],"excludeGroups":[],"includeRoles":[],"excludeRoles":[]},"applications":{"includeApplications":["All"]},"clientAppTypes":["all"]}'"#;
const RECENT_SIGNINS: &str = r#"UPDATE entraid_user_signin_activity SET sign_in_activity = '{"lastSignInDateTime":"{recent}","lastNonInteractiveSignInDateTime":"{recent}"}'"#;
const PERMS_ON: &str = r#"UPDATE entraid_policies_authorization_policy SET default_user_role_permissions = '{"allowedToCreateApps":true,"allowedToCreateSecurityGroups":true,"allowedToCreateTenants":true,"permissionGrantPoliciesAssigned":["ManagePermissionGrantsForSelf.microsoft-user-default-legacy"]}'"#;
const PERMS_OFF: &str = r#"UPDATE entraid_policies_authorization_policy SET default_user_role_permissions = '{"allowedToCreateApps":false,"allowedToCreateSecurityGroups":false,"allowedToCreateTenants":false,"permissionGrantPoliciesAssigned":["ManagePermissionGrantsForSelf.microsoft-user-default-low"]}'"#;
const GRAPH_ROLES: &str = r#"UPDATE entraid_serviceprincipals SET app_roles = '[{"allowedMemberTypes":["Application"],"id":"9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8","isEnabled":true,"value":"RoleManagement.ReadWrite.Directory"},{"allowedMemberTypes":["Application"],"id":"df021288-bdef-4463-88db-98f22de89214","isEnabled":true,"value":"User.Read.All"}]' WHERE app_id = '00000003-0000-0000-c000-000000000000'"#;

fn cases() -> Vec<Case> {
    vec![
        Case {
            id: "ES-PRIV-01",
            picks: &[],
            plant: &[
                ra!("planted-ga-1", "62e90394-69f5-4237-9190-012177145e10"),
                "INSERT INTO entraid_rolemanagement_roleassignments (_cq_id, tenant_id, id, principal_id, role_definition_id) VALUES ('{u3}', '{tenant}', 'planted-ra-2', 'planted-ga-2', '62e90394-69f5-4237-9190-012177145e10')",
                "INSERT INTO entraid_rolemanagement_roleassignments (_cq_id, tenant_id, id, principal_id, role_definition_id) VALUES ('{u4}', '{tenant}', 'planted-ra-3', 'planted-ga-3', '62e90394-69f5-4237-9190-012177145e10')",
                "INSERT INTO entraid_rolemanagement_roleassignments (_cq_id, tenant_id, id, principal_id, role_definition_id) VALUES ('{u5}', '{tenant}', 'planted-ra-4', 'planted-ga-4', '62e90394-69f5-4237-9190-012177145e10')",
                "INSERT INTO entraid_rolemanagement_roleassignments (_cq_id, tenant_id, id, principal_id, role_definition_id) VALUES ('{u6}', '{tenant}', 'planted-ra-5', 'planted-ga-5', '62e90394-69f5-4237-9190-012177145e10')",
            ],
            expect: "planted-ga-1",
            fix: &[
                "DELETE FROM entraid_rolemanagement_roleassignments WHERE role_definition_id = '62e90394-69f5-4237-9190-012177145e10' AND principal_id NOT IN (SELECT min(principal_id) FROM entraid_rolemanagement_roleassignments WHERE role_definition_id = '62e90394-69f5-4237-9190-012177145e10' UNION SELECT max(principal_id) FROM entraid_rolemanagement_roleassignments WHERE role_definition_id = '62e90394-69f5-4237-9190-012177145e10')",
            ],
        },
        Case {
            id: "ES-PRIV-02",
            picks: &[],
            plant: &[
                "DELETE FROM entraid_rolemanagement_roleassignments WHERE role_definition_id = '62e90394-69f5-4237-9190-012177145e10' AND principal_id <> (SELECT min(principal_id) FROM entraid_rolemanagement_roleassignments WHERE role_definition_id = '62e90394-69f5-4237-9190-012177145e10')",
            ],
            expect: GA,
            fix: &[ra!(
                "planted-second-ga",
                "62e90394-69f5-4237-9190-012177145e10"
            )],
        },
        Case {
            id: "ES-PRIV-03",
            picks: &[("id", MEMBER)],
            plant: &[ra!("{id}", "fe930be7-5e62-47db-91af-98c3a49a38b1")],
            expect: "{id}",
            fix: &[
                r#"sqlite:INSERT INTO entraid_rolemanagement_roleeligibilityschedules (_cq_id, tenant_id, id, principal_id, role_definition_id, schedule_info) SELECT lower(hex(randomblob(16))), tenant_id, 'fix-' || id, principal_id, role_definition_id, '{"expiration":{"type":"afterDateTime","endDateTime":"{far}"}}' FROM entraid_rolemanagement_roleassignments ra WHERE NOT EXISTS (SELECT 1 FROM entraid_rolemanagement_roleeligibilityschedules e WHERE e.principal_id = ra.principal_id AND e.role_definition_id = ra.role_definition_id)"#,
                r#"pg:INSERT INTO entraid_rolemanagement_roleeligibilityschedules (_cq_id, tenant_id, id, principal_id, role_definition_id, schedule_info) SELECT gen_random_uuid(), tenant_id, 'fix-' || id, principal_id, role_definition_id, CAST('{"expiration":{"type":"afterDateTime","endDateTime":"{far}"}}' AS jsonb) FROM entraid_rolemanagement_roleassignments ra WHERE NOT EXISTS (SELECT 1 FROM entraid_rolemanagement_roleeligibilityschedules e WHERE e.principal_id = ra.principal_id AND e.role_definition_id = ra.role_definition_id)"#,
            ],
        },
        Case {
            id: "ES-PRIV-04",
            picks: &[("id", MEMBER)],
            plant: &[
                r#"INSERT INTO entraid_rolemanagement_roleeligibilityschedules (_cq_id, tenant_id, id, principal_id, role_definition_id, schedule_info) VALUES ('{u1}', '{tenant}', '{u2}', '{id}', '62e90394-69f5-4237-9190-012177145e10', '{"startDateTime":"2026-01-01T00:00:00Z","expiration":{"type":"noExpiration","endDateTime":null}}')"#,
            ],
            expect: "{id}",
            fix: &[
                r#"UPDATE entraid_rolemanagement_roleeligibilityschedules SET schedule_info = '{"startDateTime":"2026-01-01T00:00:00Z","expiration":{"type":"afterDateTime","endDateTime":"{far}"}}'"#,
            ],
        },
        Case {
            id: "ES-PRIV-05",
            picks: &[("id", GUEST)],
            plant: &[ra!("{id}", "62e90394-69f5-4237-9190-012177145e10")],
            expect: "{id}",
            fix: &[
                "UPDATE entraid_users SET user_type = 'Member' WHERE id IN (SELECT principal_id FROM entraid_rolemanagement_roleassignments UNION SELECT principal_id FROM entraid_rolemanagement_roleeligibilityschedules)",
            ],
        },
        Case {
            id: "ES-PRIV-06",
            picks: &[("id", SP)],
            plant: &[ra!("{id}", "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3")],
            expect: "{id}",
            fix: &[
                "DELETE FROM entraid_rolemanagement_roleassignments WHERE principal_id IN (SELECT id FROM entraid_serviceprincipals)",
            ],
        },
        Case {
            id: "ES-PRIV-07",
            picks: &[
                (
                    "id",
                    "SELECT min(t.group_id) FROM entraid_group_transitive_members t JOIN entraid_users u ON u.id = t.id",
                ),
                (
                    "member",
                    "SELECT min(t.id) FROM entraid_group_transitive_members t JOIN entraid_users u ON u.id = t.id WHERE t.group_id = (SELECT min(t2.group_id) FROM entraid_group_transitive_members t2 JOIN entraid_users u2 ON u2.id = t2.id)",
                ),
            ],
            plant: &[ra!("{id}", "194ae4cb-b126-40b2-bd5b-6091b380977d")],
            expect: "{member}",
            fix: &[
                "DELETE FROM entraid_rolemanagement_roleassignments WHERE principal_id IN (SELECT id FROM entraid_groups)",
            ],
        },
        Case {
            id: "ES-PRIV-08",
            picks: &[("id", MEMBER)],
            plant: &[
                "UPDATE entraid_users SET on_premises_sync_enabled = TRUE WHERE id = '{id}'",
                ra!("{id}", "62e90394-69f5-4237-9190-012177145e10"),
            ],
            expect: "{id}",
            fix: &["UPDATE entraid_users SET on_premises_sync_enabled = FALSE"],
        },
        Case {
            id: "ES-PRIV-09",
            picks: &[("id", MEMBER)],
            plant: &[
                "UPDATE entraid_reports_user_registration_details SET is_mfa_registered = FALSE WHERE id = '{id}'",
                ra!("{id}", "62e90394-69f5-4237-9190-012177145e10"),
            ],
            expect: "{id}",
            fix: &["UPDATE entraid_reports_user_registration_details SET is_mfa_registered = TRUE"],
        },
        Case {
            id: "ES-PRIV-10",
            picks: &[("id", MEMBER)],
            plant: &[
                "UPDATE entraid_users SET account_enabled = FALSE WHERE id = '{id}'",
                ra!("{id}", "62e90394-69f5-4237-9190-012177145e10"),
            ],
            expect: "{id}",
            fix: &[
                "DELETE FROM entraid_rolemanagement_roleassignments WHERE principal_id IN (SELECT id FROM entraid_users WHERE account_enabled = FALSE)",
            ],
        },
        Case {
            id: "ES-PRIV-11",
            picks: &[("id", MEMBER)],
            plant: &[
                r#"UPDATE entraid_user_signin_activity SET sign_in_activity = '{"lastSignInDateTime":"2020-01-01T00:00:00Z"}' WHERE id = '{id}'"#,
                ra!("{id}", "62e90394-69f5-4237-9190-012177145e10"),
            ],
            expect: "{id}",
            fix: &[RECENT_SIGNINS],
        },
        Case {
            id: "ES-PRIV-12",
            picks: &[("id", GROUP)],
            plant: &[
                "UPDATE entraid_groups SET is_assignable_to_role = TRUE WHERE id = '{id}'",
                "INSERT INTO entraid_group_owners (_cq_id, tenant_id, group_id, id, odata_type) VALUES ('{u1}', '{tenant}', '{id}', 'planted-owner', '#microsoft.graph.user')",
            ],
            expect: "planted-owner",
            fix: &["UPDATE entraid_groups SET is_assignable_to_role = FALSE"],
        },
        Case {
            id: "ES-AUTH-01",
            picks: &[("id", MEMBER)],
            plant: &[
                "UPDATE entraid_reports_user_registration_details SET is_mfa_registered = FALSE WHERE id = '{id}'",
            ],
            expect: "{id}",
            fix: &["UPDATE entraid_reports_user_registration_details SET is_mfa_registered = TRUE"],
        },
        Case {
            id: "ES-AUTH-02",
            picks: &[],
            plant: &[
                r#"INSERT INTO entraid_auditlogs_signins (_cq_id, tenant_id, id, user_id, user_principal_name, client_app_used, created_date_time, status) VALUES ('{u1}', '{tenant}', 'planted-signin', 'planted-legacy-user', 'legacy@example.com', 'IMAP4', '{recent}', '{"errorCode":0}')"#,
            ],
            expect: "planted-legacy-user",
            fix: &[
                "UPDATE entraid_auditlogs_signins SET client_app_used = 'Browser' WHERE client_app_used = 'IMAP4'",
            ],
        },
        Case {
            id: "ES-AUTH-03",
            picks: &[],
            plant: &[
                "UPDATE entraid_policies_identity_security_defaults_enforcement_policy SET is_enabled = FALSE",
                "UPDATE entraid_identity_conditional_access_policies SET state = 'disabled'",
            ],
            expect: "conditionalAccess",
            fix: &[
                r#"INSERT INTO entraid_identity_conditional_access_policies (_cq_id, tenant_id, id, display_name, state, conditions, grant_controls) VALUES ('{u1}', '{tenant}', 'planted-block-legacy', 'Block legacy authentication', 'enabled', '{"users":{"includeUsers":["All"]},"clientAppTypes":["exchangeActiveSync","other"]}', '{"operator":"OR","builtInControls":["block"]}')"#,
            ],
        },
        Case {
            id: "ES-AUTH-04",
            picks: &[(
                "id",
                "SELECT id FROM entraid_policies_identity_security_defaults_enforcement_policy",
            )],
            plant: &[
                "UPDATE entraid_policies_identity_security_defaults_enforcement_policy SET is_enabled = FALSE",
                "UPDATE entraid_identity_conditional_access_policies SET state = 'disabled'",
            ],
            expect: "{id}",
            fix: &[
                "UPDATE entraid_policies_identity_security_defaults_enforcement_policy SET is_enabled = TRUE",
            ],
        },
        Case {
            id: "ES-AUTH-05",
            picks: &[],
            plant: &[
                "UPDATE entraid_policies_identity_security_defaults_enforcement_policy SET is_enabled = FALSE",
                "UPDATE entraid_identity_conditional_access_policies SET state = 'disabled'",
            ],
            expect: "conditionalAccess",
            fix: &[
                r#"INSERT INTO entraid_identity_conditional_access_policies (_cq_id, tenant_id, id, display_name, state, conditions, grant_controls) VALUES ('{u1}', '{tenant}', 'planted-mfa-all', 'MFA for all', 'enabled', '{"users":{"includeUsers":["All"]},"applications":{"includeApplications":["All"]},"clientAppTypes":["all"]}', '{"operator":"OR","builtInControls":["mfa"]}')"#,
            ],
        },
        Case {
            id: "ES-AUTH-06",
            picks: &[("id", MEMBER)],
            plant: &[
                r#"sqlite:UPDATE entraid_reports_user_registration_details SET methods_registered = '["mobilePhone","email"]' WHERE id = '{id}'"#,
                "pg:UPDATE entraid_reports_user_registration_details SET methods_registered = '{mobilePhone,email}' WHERE id = '{id}'",
            ],
            expect: "{id}",
            fix: &[
                r#"sqlite:UPDATE entraid_reports_user_registration_details SET methods_registered = '["microsoftAuthenticatorPush","mobilePhone"]'"#,
                "pg:UPDATE entraid_reports_user_registration_details SET methods_registered = '{microsoftAuthenticatorPush,mobilePhone}'",
            ],
        },
        Case {
            id: "ES-AUTH-07",
            picks: &[],
            plant: &[
                r#"INSERT INTO entraid_auditlogs_signins (_cq_id, tenant_id, id, user_id, user_principal_name, client_app_used, created_date_time, status, risk_level_during_sign_in) VALUES ('{u1}', '{tenant}', 'planted-risky-signin', 'planted-user', 'risky@example.com', 'Browser', '{recent}', '{"errorCode":0}', 'high')"#,
            ],
            expect: "planted-risky-signin",
            fix: &["UPDATE entraid_auditlogs_signins SET risk_level_during_sign_in = 'none'"],
        },
        Case {
            id: "ES-AUTH-08",
            picks: &[(
                "id",
                "SELECT id FROM entraid_policies_authentication_methods_policy",
            )],
            plant: &[
                r#"UPDATE entraid_policies_authentication_methods_policy SET registration_enforcement = '{"authenticationMethodsRegistrationCampaign":{"state":"disabled"}}'"#,
            ],
            expect: "{id}",
            fix: &[
                r#"UPDATE entraid_policies_authentication_methods_policy SET registration_enforcement = '{"authenticationMethodsRegistrationCampaign":{"state":"enabled"}}'"#,
            ],
        },
        Case {
            id: "ES-CA-01",
            picks: &[(
                "id",
                "SELECT min(id) FROM entraid_identity_conditional_access_policies",
            )],
            plant: &[
                "UPDATE entraid_identity_conditional_access_policies SET state = 'enabledForReportingButNotEnforced' WHERE id = '{id}'",
            ],
            expect: "{id}",
            fix: &[
                "UPDATE entraid_identity_conditional_access_policies SET state = 'enabled' WHERE state = 'enabledForReportingButNotEnforced'",
            ],
        },
        Case {
            id: "ES-CA-02",
            picks: &[("id", MEMBER)],
            plant: &[
                r#"INSERT INTO entraid_identity_conditional_access_policies (_cq_id, tenant_id, id, display_name, state, conditions, grant_controls) VALUES ('{u1}', '{tenant}', 'planted-excl-user', 'Excluding a user', 'enabled', '{"users":{"includeUsers":["All"],"excludeUsers":["{id}"]}}', '{"builtInControls":["mfa"]}')"#,
            ],
            expect: "{id}",
            fix: &[CLEAN_CONDITIONS],
        },
        Case {
            id: "ES-CA-03",
            picks: &[("id", GROUP)],
            plant: &[
                r#"INSERT INTO entraid_identity_conditional_access_policies (_cq_id, tenant_id, id, display_name, state, conditions, grant_controls) VALUES ('{u1}', '{tenant}', 'planted-excl-group', 'Excluding a group', 'enabled', '{"users":{"includeUsers":["All"],"excludeGroups":["{id}"]}}', '{"builtInControls":["mfa"]}')"#,
            ],
            expect: "{id}",
            fix: &[CLEAN_CONDITIONS],
        },
        Case {
            id: "ES-CA-04",
            picks: &[("id", MEMBER)],
            plant: &[
                ra!("{id}", "e8611ab8-c189-46e8-94e1-60213ab1f814"),
                r#"INSERT INTO entraid_identity_conditional_access_policies (_cq_id, tenant_id, id, display_name, state, conditions, grant_controls) VALUES ('{u3}', '{tenant}', 'planted-excl-admin', 'MFA except one admin', 'enabled', '{"users":{"includeUsers":["All"],"excludeUsers":["{id}"]}}', '{"builtInControls":["mfa"]}')"#,
            ],
            expect: "{id}",
            fix: &[CLEAN_CONDITIONS],
        },
        Case {
            id: "ES-CA-05",
            picks: &[],
            plant: &[
                "UPDATE entraid_policies_identity_security_defaults_enforcement_policy SET is_enabled = FALSE",
                "UPDATE entraid_identity_conditional_access_policies SET state = 'disabled'",
            ],
            expect: "conditionalAccess",
            fix: &[
                r#"INSERT INTO entraid_identity_conditional_access_policies (_cq_id, tenant_id, id, display_name, state, conditions, grant_controls) VALUES ('{u1}', '{tenant}', 'planted-mfa-admins', 'MFA for admins', 'enabled', '{"users":{"includeRoles":["62e90394-69f5-4237-9190-012177145e10"]},"applications":{"includeApplications":["All"]}}', '{"builtInControls":["mfa"]}')"#,
            ],
        },
        Case {
            id: "ES-CA-06",
            picks: &[],
            plant: &["UPDATE entraid_identity_conditional_access_policies SET state = 'disabled'"],
            expect: "conditionalAccess",
            fix: &[
                r#"INSERT INTO entraid_identity_conditional_access_policies (_cq_id, tenant_id, id, display_name, state, conditions, grant_controls) VALUES ('{u1}', '{tenant}', 'planted-user-risk', 'User risk', 'enabled', '{"users":{"includeUsers":["All"]},"userRiskLevels":["high"]}', '{"builtInControls":["block"]}')"#,
            ],
        },
        Case {
            id: "ES-CA-07",
            picks: &[],
            plant: &["UPDATE entraid_identity_conditional_access_policies SET state = 'disabled'"],
            expect: "conditionalAccess",
            fix: &[
                r#"INSERT INTO entraid_identity_conditional_access_policies (_cq_id, tenant_id, id, display_name, state, conditions, grant_controls) VALUES ('{u1}', '{tenant}', 'planted-signin-risk', 'Sign-in risk', 'enabled', '{"users":{"includeUsers":["All"]},"signInRiskLevels":["high","medium"]}', '{"builtInControls":["mfa"]}')"#,
            ],
        },
        Case {
            id: "ES-CA-08",
            picks: &[],
            plant: &[
                r#"INSERT INTO entraid_identity_conditional_access_policies (_cq_id, tenant_id, id, display_name, state, conditions, grant_controls) VALUES ('{u1}', '{tenant}', 'planted-stale-ref', 'Stale reference', 'enabled', '{"users":{"includeUsers":["All"],"excludeUsers":["00000000-dead-beef-0000-000000000000"]}}', '{"builtInControls":["mfa"]}')"#,
            ],
            expect: "00000000-dead-beef-0000-000000000000",
            fix: &[CLEAN_CONDITIONS],
        },
        Case {
            id: "ES-APP-01",
            picks: &[("id", APP)],
            plant: &[
                r#"UPDATE entraid_applications SET password_credentials = '[{"displayName":"planted","keyId":"k1","startDateTime":"{recent}","endDateTime":"{soon}"}]' WHERE id = '{id}'"#,
            ],
            expect: "{id}",
            fix: &[
                "UPDATE entraid_applications SET password_credentials = '[]', key_credentials = '[]'",
            ],
        },
        Case {
            id: "ES-APP-02",
            picks: &[("id", APP)],
            plant: &[
                r#"UPDATE entraid_applications SET key_credentials = '[{"displayName":"old cert","keyId":"k2","startDateTime":"2019-01-01T00:00:00Z","endDateTime":"2020-01-01T00:00:00Z"}]' WHERE id = '{id}'"#,
            ],
            expect: "{id}",
            fix: &[
                "UPDATE entraid_applications SET password_credentials = '[]', key_credentials = '[]'",
            ],
        },
        Case {
            id: "ES-APP-03",
            picks: &[("id", APP)],
            plant: &[
                r#"UPDATE entraid_applications SET password_credentials = '[{"displayName":"forever","keyId":"k3","startDateTime":"{recent}","endDateTime":"{far}"}]' WHERE id = '{id}'"#,
            ],
            expect: "{id}",
            fix: &[
                "UPDATE entraid_applications SET password_credentials = '[]', key_credentials = '[]'",
            ],
        },
        Case {
            id: "ES-APP-04",
            picks: &[("id", SP)],
            plant: &[
                r#"UPDATE entraid_serviceprincipals SET password_credentials = '[{"keyId":"k4","startDateTime":"{recent}","endDateTime":"{far}"}]' WHERE id = '{id}'"#,
            ],
            expect: "{id}",
            fix: &["UPDATE entraid_serviceprincipals SET password_credentials = '[]'"],
        },
        Case {
            id: "ES-APP-05",
            picks: &[("id", SP), ("graph", GRAPH_SP)],
            plant: &[
                GRAPH_ROLES,
                "INSERT INTO entraid_serviceprincipal_approleassignments (_cq_id, tenant_id, service_principal_id, id, app_role_id, principal_id, principal_type, principal_display_name, resource_id) VALUES ('{u1}', '{tenant}', '{id}', 'planted-assignment', '9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8', '{id}', 'ServicePrincipal', 'planted sp', '{graph}')",
            ],
            expect: "{id}",
            fix: &[
                "DELETE FROM entraid_serviceprincipal_approleassignments WHERE app_role_id = '9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8'",
            ],
        },
        Case {
            id: "ES-APP-06",
            picks: &[("id", APP)],
            plant: &[
                GRAPH_ROLES,
                r#"UPDATE entraid_applications SET required_resource_access = '[{"resourceAppId":"00000003-0000-0000-c000-000000000000","resourceAccess":[{"id":"9e3f62cf-ca93-4989-b6ce-bf83c28f9fe8","type":"Role"}]}]' WHERE id = '{id}'"#,
            ],
            expect: "{id}",
            fix: &["UPDATE entraid_applications SET required_resource_access = '[]'"],
        },
        Case {
            id: "ES-APP-07",
            picks: &[("id", APP)],
            plant: &[
                "UPDATE entraid_applications SET sign_in_audience = 'AzureADMultipleOrgs' WHERE id = '{id}'",
            ],
            expect: "{id}",
            fix: &["UPDATE entraid_applications SET sign_in_audience = 'AzureADMyOrg'"],
        },
        Case {
            id: "ES-APP-08",
            picks: &[("id", APP), ("user", MEMBER)],
            plant: &[
                r#"UPDATE entraid_applications SET password_credentials = '[{"keyId":"k5","endDateTime":"{far}"}]' WHERE id = '{id}'"#,
                "INSERT INTO entraid_application_owners (_cq_id, tenant_id, application_id, id, odata_type) VALUES ('{u1}', '{tenant}', '{id}', '{user}', '#microsoft.graph.user')",
            ],
            expect: "{id}",
            fix: &[
                "UPDATE entraid_application_owners SET odata_type = '#microsoft.graph.servicePrincipal', id = 'sp-owner-' || id WHERE id IN (SELECT id FROM entraid_users)",
            ],
        },
        Case {
            id: "ES-APP-09",
            picks: &[("id", APP)],
            plant: &[
                "INSERT INTO entraid_application_federatedidentitycredentials (_cq_id, tenant_id, application_id, id, name, issuer, subject) VALUES ('{u1}', '{tenant}', '{id}', 'planted-fic', 'x', 'https://issuer.example.net', 'anything')",
            ],
            expect: "{id}",
            fix: &[
                "UPDATE entraid_application_federatedidentitycredentials SET issuer = 'https://token.actions.githubusercontent.com' WHERE issuer = 'https://issuer.example.net'",
            ],
        },
        Case {
            id: "ES-APP-10",
            picks: &[("id", SP), ("graph", GRAPH_SP)],
            plant: &[
                "INSERT INTO entraid_oauth2permissiongrants (_cq_id, tenant_id, id, client_id, consent_type, resource_id, scope) VALUES ('{u1}', '{tenant}', 'planted-grant', '{id}', 'AllPrincipals', '{graph}', ' User.Read Mail.Read openid')",
            ],
            expect: "planted-grant",
            fix: &["UPDATE entraid_oauth2permissiongrants SET scope = 'User.Read openid'"],
        },
        Case {
            id: "ES-APP-11",
            picks: &[(
                "id",
                "SELECT min(id) FROM entraid_identityprotection_riskyserviceprincipals",
            )],
            plant: &[
                "UPDATE entraid_identityprotection_riskyserviceprincipals SET risk_state = 'atRisk' WHERE id = '{id}'",
            ],
            expect: "{id}",
            fix: &[
                "UPDATE entraid_identityprotection_riskyserviceprincipals SET risk_state = 'remediated'",
            ],
        },
        Case {
            id: "ES-GST-01",
            picks: &[("id", GUEST)],
            plant: &[
                "UPDATE entraid_users SET created_date_time = '2020-01-01T00:00:00.000000Z' WHERE id = '{id}'",
                r#"UPDATE entraid_user_signin_activity SET sign_in_activity = '{"lastSignInDateTime":null}' WHERE id = '{id}'"#,
            ],
            expect: "{id}",
            fix: &[
                RECENT_SIGNINS,
                "DELETE FROM entraid_users WHERE user_type = 'Guest' AND id NOT IN (SELECT id FROM entraid_user_signin_activity)",
            ],
        },
        Case {
            id: "ES-GST-02",
            picks: &[("id", GUEST)],
            plant: &[
                "UPDATE entraid_users SET external_user_state = 'PendingAcceptance', external_user_state_change_date_time = '2020-01-01T00:00:00.000000Z' WHERE id = '{id}'",
            ],
            expect: "{id}",
            fix: &[
                "UPDATE entraid_users SET external_user_state = 'Accepted' WHERE user_type = 'Guest'",
            ],
        },
        Case {
            id: "ES-GST-03",
            picks: &[("id", GUEST)],
            plant: &[
                "UPDATE entraid_users SET account_enabled = TRUE, user_type = 'Guest' WHERE id = '{id}'",
                r#"UPDATE entraid_user_signin_activity SET sign_in_activity = '{"lastSignInDateTime":"2020-01-01T00:00:00Z"}' WHERE id = '{id}'"#,
            ],
            expect: "{id}",
            fix: &[RECENT_SIGNINS],
        },
        Case {
            id: "ES-GST-04",
            picks: &[("id", "SELECT id FROM entraid_policies_authorization_policy")],
            plant: &[
                "UPDATE entraid_policies_authorization_policy SET allow_invites_from = 'everyone'",
            ],
            expect: "{id}",
            fix: &[
                "UPDATE entraid_policies_authorization_policy SET allow_invites_from = 'adminsAndGuestInviters'",
            ],
        },
        Case {
            id: "ES-GST-05",
            picks: &[("id", "SELECT id FROM entraid_policies_authorization_policy")],
            plant: &[
                "UPDATE entraid_policies_authorization_policy SET guest_user_role_id = '10dae51f-b6af-4016-8d66-8c2a99b929b3'",
            ],
            expect: "{id}",
            fix: &[
                "UPDATE entraid_policies_authorization_policy SET guest_user_role_id = '2af84b1e-32c8-42b7-82bc-daa82404023b'",
            ],
        },
        Case {
            id: "ES-AZP-01",
            picks: &[("id", "SELECT id FROM entraid_policies_authorization_policy")],
            plant: &[PERMS_ON],
            expect: "{id}",
            fix: &[PERMS_OFF],
        },
        Case {
            id: "ES-AZP-02",
            picks: &[("id", "SELECT id FROM entraid_policies_authorization_policy")],
            plant: &[PERMS_ON],
            expect: "{id}",
            fix: &[PERMS_OFF],
        },
        Case {
            id: "ES-AZP-03",
            picks: &[("id", "SELECT id FROM entraid_policies_authorization_policy")],
            plant: &[PERMS_ON],
            expect: "{id}",
            fix: &[PERMS_OFF],
        },
        Case {
            id: "ES-AZP-04",
            picks: &[("id", "SELECT id FROM entraid_policies_authorization_policy")],
            plant: &[PERMS_ON],
            expect: "{id}",
            fix: &[PERMS_OFF],
        },
        Case {
            id: "ES-AZP-05",
            picks: &[("id", "SELECT id FROM entraid_policies_authorization_policy")],
            plant: &[
                "UPDATE entraid_policies_authorization_policy SET allow_user_consent_for_risky_apps = TRUE",
            ],
            expect: "{id}",
            fix: &[
                "UPDATE entraid_policies_authorization_policy SET allow_user_consent_for_risky_apps = FALSE",
            ],
        },
        Case {
            id: "ES-AZP-06",
            picks: &[("id", "SELECT id FROM entraid_policies_authorization_policy")],
            plant: &[
                "UPDATE entraid_policies_authorization_policy SET allow_email_verified_users_to_join_organization = TRUE",
            ],
            expect: "{id}",
            fix: &[
                "UPDATE entraid_policies_authorization_policy SET allow_email_verified_users_to_join_organization = FALSE",
            ],
        },
        Case {
            id: "ES-AZP-07",
            picks: &[],
            plant: &["UPDATE entraid_policies_adminconsentrequestpolicy SET is_enabled = FALSE"],
            expect: "adminConsentRequestPolicy",
            fix: &["UPDATE entraid_policies_adminconsentrequestpolicy SET is_enabled = TRUE"],
        },
        Case {
            id: "ES-RISK-01",
            picks: &[(
                "id",
                "SELECT min(id) FROM entraid_identityprotection_riskyusers",
            )],
            plant: &[
                "UPDATE entraid_identityprotection_riskyusers SET risk_state = 'confirmedCompromised', is_deleted = FALSE WHERE id = '{id}'",
            ],
            expect: "{id}",
            fix: &["UPDATE entraid_identityprotection_riskyusers SET risk_state = 'remediated'"],
        },
        Case {
            id: "ES-DEV-01",
            picks: &[("id", "SELECT min(id) FROM entraid_devices")],
            plant: &[
                "UPDATE entraid_devices SET account_enabled = TRUE, approximate_last_sign_in_date_time = '2020-01-01T00:00:00.000000Z' WHERE id = '{id}'",
            ],
            expect: "{id}",
            fix: &["UPDATE entraid_devices SET approximate_last_sign_in_date_time = '{recent}'"],
        },
        Case {
            id: "ES-DEV-02",
            picks: &[(
                "id",
                "SELECT min(id) FROM entraid_devicemanagement_manageddevices",
            )],
            plant: &[
                "UPDATE entraid_devicemanagement_manageddevices SET compliance_state = 'noncompliant' WHERE id = '{id}'",
            ],
            expect: "{id}",
            fix: &[
                "UPDATE entraid_devicemanagement_manageddevices SET compliance_state = 'compliant'",
            ],
        },
        Case {
            id: "ES-DEV-03",
            picks: &[(
                "id",
                "SELECT min(id) FROM entraid_devicemanagement_manageddevices",
            )],
            plant: &[
                "UPDATE entraid_devicemanagement_manageddevices SET jail_broken = 'True' WHERE id = '{id}'",
            ],
            expect: "{id}",
            fix: &["UPDATE entraid_devicemanagement_manageddevices SET jail_broken = 'False'"],
        },
        Case {
            id: "ES-HYG-01",
            picks: &[("id", MEMBER)],
            plant: &[
                "UPDATE entraid_users SET account_enabled = TRUE WHERE id = '{id}'",
                r#"UPDATE entraid_user_signin_activity SET sign_in_activity = '{"lastSignInDateTime":"2020-01-01T00:00:00Z"}' WHERE id = '{id}'"#,
            ],
            expect: "{id}",
            fix: &[RECENT_SIGNINS],
        },
        Case {
            id: "ES-HYG-02",
            picks: &[("id", MEMBER)],
            plant: &[
                r#"UPDATE entraid_users SET on_premises_provisioning_errors = '[{"category":"PropertyConflict","propertyCausingError":"UserPrincipalName","value":"x"}]' WHERE id = '{id}'"#,
            ],
            expect: "{id}",
            fix: &["UPDATE entraid_users SET on_premises_provisioning_errors = '[]'"],
        },
        Case {
            id: "ES-HYG-03",
            picks: &[("id", GROUP)],
            plant: &[
                r#"UPDATE entraid_groups SET on_premises_provisioning_errors = '[{"category":"PropertyConflict","propertyCausingError":"ProxyAddresses","value":"x"}]' WHERE id = '{id}'"#,
            ],
            expect: "{id}",
            fix: &["UPDATE entraid_groups SET on_premises_provisioning_errors = '[]'"],
        },
        Case {
            id: "ES-HYG-04",
            picks: &[("id", MEMBER)],
            plant: &[
                "UPDATE entraid_users SET account_enabled = TRUE, created_date_time = '2020-01-01T00:00:00.000000Z' WHERE id = '{id}'",
                "UPDATE entraid_user_signin_activity SET sign_in_activity = '{}' WHERE id = '{id}'",
            ],
            expect: "{id}",
            fix: &[RECENT_SIGNINS],
        },
        Case {
            id: "ES-HYG-05",
            picks: &[("id", "SELECT min(id) FROM entraid_domains")],
            plant: &["UPDATE entraid_domains SET is_verified = FALSE WHERE id = '{id}'"],
            expect: "{id}",
            fix: &["UPDATE entraid_domains SET is_verified = TRUE"],
        },
    ]
}

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

/// Plants, checks the failure, fixes, checks the pass, for every control.
async fn every_control_fails_then_passes(open: impl AsyncFn() -> Db, writer: &Writer) {
    let cases = cases();
    let case_ids: Vec<&str> = cases.iter().map(|c| c.id).collect();
    let control_ids: Vec<&str> = CONTROLS.iter().map(|c| c.id).collect();
    assert_eq!(
        case_ids, control_ids,
        "every control has exactly one case, in catalogue order"
    );
    assert!(CONTROLS.len() >= 40);
    let tenant = writer.one("SELECT min(tenant_id) FROM entraid_users").await;
    let mut problems = Vec::new();
    for case in &cases {
        let mut vars: HashMap<String, String> = HashMap::new();
        vars.insert("tenant".into(), tenant.clone());
        for i in 1..=6 {
            vars.insert(format!("u{i}"), uuid::Uuid::new_v4().to_string());
        }
        vars.insert("recent".into(), ts(-1));
        vars.insert("soon".into(), ts(10));
        vars.insert("far".into(), ts(800));
        for (name, sql) in case.picks {
            let v = writer.one(sql).await;
            vars.insert(name.to_string(), v);
        }
        for sql in case.plant {
            writer.exec(&fill(sql, &vars)).await;
        }
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
        }
        for sql in case.fix {
            writer.exec(&fill(sql, &vars)).await;
        }
        let passed = findings(&db, case.id).await;
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
        before
            .iter()
            .find(|c| c.id == id)
            .is_some_and(|c| c.rows.iter().any(|r| r[0] == object))
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posture_every_control_fails_on_planted_objects_and_passes_when_fixed_sqlite() {
    let tenant = Tenant::start(Profile::Small, 13).await;
    let dir = tempfile::tempdir().unwrap();
    synced_sqlite(&tenant, dir.path()).await;
    let path = dir.path().join("entraid.db");
    let writer = Writer::Sqlite(rusqlite::Connection::open(&path).unwrap());
    every_control_fails_then_passes(async || Db::sqlite(&path).unwrap(), &writer).await;
    changes_since_name_planted_changes(&Db::sqlite(&path).unwrap(), &writer).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posture_every_control_fails_on_planted_objects_and_passes_when_fixed_postgres() {
    let tenant = Tenant::start(Profile::Small, 13).await;
    let dir = tempfile::tempdir().unwrap();
    let pg = PgDb::create().await;
    let config = pg_config(&tenant, dir.path(), &pg.url);
    let result = sync(&config).await;
    assert_eq!(result.errors, 0);
    let writer = Writer::Pg(crate::postgres::connect(&pg.url).await);
    let url = pg.url.clone();
    every_control_fails_then_passes(async || Db::postgres(&url).await.unwrap(), &writer).await;
    changes_since_name_planted_changes(&Db::postgres(&url).await.unwrap(), &writer).await;
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
    let (id, secret) = tenant
        .app_with(&["User.Read.All", "Application.Read.All"])
        .await;
    let config = write_config(
        dir.path(),
        &tenant.config_with_credentials(
            &db,
            r#"["*"]"#,
            &format!("    client_id: {id}\n    client_secret: {secret}\n"),
        ),
    );
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
    let report = posture::run(&Db::sqlite(&db).unwrap(), "x", &Default::default())
        .await
        .unwrap();
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
