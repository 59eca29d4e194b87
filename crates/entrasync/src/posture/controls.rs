//! The catalogue of posture controls, as data. Each query returns the offending objects as
//! `object_id, object_name, detail`; tenant-wide settings return one row naming the policy.
//! The SQL uses the macros of [`super::sql`] so that one text runs on SQLite and PostgreSQL.
//!
//! Sources cited: Microsoft Learn (Entra ID documentation), the CIS Microsoft 365 Foundations
//! Benchmark (v3/v4 section numbers), CISA SCuBA's Entra ID baseline (MS.AAD.x.y) and Maester's
//! EIDSCA controls. The rationale text is ours.

use super::watch::Watch;
use super::{Control, Severity::*};

/// Named constant lists for `@list(name)`.
pub fn list(name: &str) -> Option<String> {
    let items: &[&str] = match name {
        // Directory role template ids of the roles Microsoft marks privileged (and CISA's list
        // of highly privileged roles).
        "priv_roles" => &[
            "62e90394-69f5-4237-9190-012177145e10", // Global Administrator
            "e8611ab8-c189-46e8-94e1-60213ab1f814", // Privileged Role Administrator
            "7be44c8a-adaf-4e2a-84d6-ab2649e08a13", // Privileged Authentication Administrator
            "194ae4cb-b126-40b2-bd5b-6091b380977d", // Security Administrator
            "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3", // Application Administrator
            "158c047a-c907-4556-b7ef-446551a6b5f7", // Cloud Application Administrator
            "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9", // Conditional Access Administrator
            "fe930be7-5e62-47db-91af-98c3a49a38b1", // User Administrator
            "29232cdf-9323-42fd-ade2-1d097af3e4de", // Exchange Administrator
            "f28a1f50-f6e7-4571-818b-6a12f2af6b6c", // SharePoint Administrator
            "729827e3-9c14-49f7-bb1b-9608f156bbb8", // Helpdesk Administrator
            "c4e39bd9-1100-46d3-8c65-fb160da0071f", // Authentication Administrator
            "8ac3fc64-6eca-42ea-9e69-59f4c7b60eb2", // Hybrid Identity Administrator
            "3a2c62db-5318-420d-8d74-23affee5d9d5", // Intune Administrator
            "b0f54661-2d74-4c50-afa3-1ec803f12efe", // Billing Administrator
        ],
        // Microsoft Graph application permissions that amount to tenant takeover or bulk data
        // access.
        "high_graph_perms" => &[
            "RoleManagement.ReadWrite.Directory",
            "Directory.ReadWrite.All",
            "AppRoleAssignment.ReadWrite.All",
            "Application.ReadWrite.All",
            "Application.ReadWrite.OwnedBy",
            "User.ReadWrite.All",
            "Group.ReadWrite.All",
            "GroupMember.ReadWrite.All",
            "Policy.ReadWrite.ConditionalAccess",
            "UserAuthenticationMethod.ReadWrite.All",
            "PrivilegedAccess.ReadWrite.AzureADGroup",
            "Domain.ReadWrite.All",
            "Mail.ReadWrite",
            "Mail.Send",
            "Files.ReadWrite.All",
            "Sites.FullControl.All",
            "Sites.ReadWrite.All",
        ],
        // Delegated scopes that read or change much when granted for all users.
        "risky_scopes" => &[
            "Directory.ReadWrite.All",
            "Directory.AccessAsUser.All",
            "Mail.Read",
            "Mail.ReadWrite",
            "Mail.Send",
            "Files.Read.All",
            "Files.ReadWrite.All",
            "Sites.ReadWrite.All",
            "User.ReadWrite.All",
            "RoleManagement.ReadWrite.Directory",
        ],
        // clientAppUsed values of sign-ins by legacy (basic) authentication.
        "legacy_clients" => &[
            "Exchange ActiveSync",
            "IMAP4",
            "POP3",
            "Authenticated SMTP",
            "MAPI Over HTTP",
            "Offline Address Book",
            "Outlook Anywhere (RPC over HTTP)",
            "Exchange Web Services",
            "Exchange Online PowerShell",
            "AutoDiscover",
            "Reporting Web Services",
            "Universal Outlook",
            "Other clients",
        ],
        // Registered methods that are phishable and weak (SMS, voice, e-mail).
        "weak_methods" => &[
            "mobilePhone",
            "alternateMobilePhone",
            "officePhone",
            "email",
        ],
        _ => return None,
    };
    Some(format!(
        "({})",
        items
            .iter()
            .map(|i| format!("'{}'", i.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// A chart query: rows of `label, value`.
pub struct Chart {
    pub tables: &'static [&'static str],
    pub sql: &'static str,
}

pub const ROLE_HOLDERS_CHART: &Chart = &Chart {
    tables: &[
        "entraid_rolemanagement_roleassignments",
        "entraid_rolemanagement_roledefinitions",
    ],
    sql: "SELECT rd.display_name AS label, count(DISTINCT ra.principal_id) AS value \
          FROM entraid_rolemanagement_roleassignments ra \
          JOIN entraid_rolemanagement_roledefinitions rd ON rd.tenant_id = ra.tenant_id AND rd.id = ra.role_definition_id \
          GROUP BY rd.display_name ORDER BY 2 DESC, 1",
};

pub const CREDENTIAL_EXPIRY_CHART: &Chart = &Chart {
    tables: &["entraid_applications", "entraid_serviceprincipals"],
    sql: "SELECT substr(@jt(c.value, 'endDateTime'), 1, 7) AS label, count(*) AS value FROM ( \
            SELECT k.value FROM entraid_applications a, @jeach(k, a.password_credentials, '') \
            UNION ALL SELECT k.value FROM entraid_applications a, @jeach(k, a.key_credentials, '') \
            UNION ALL SELECT k.value FROM entraid_serviceprincipals s, @jeach(k, s.password_credentials, '') \
            UNION ALL SELECT k.value FROM entraid_serviceprincipals s, @jeach(k, s.key_credentials, '') \
          ) AS c WHERE @jt(c.value, 'endDateTime') IS NOT NULL GROUP BY 1 ORDER BY 1",
};

const RA: &str = "entraid_rolemanagement_roleassignments";
const RD: &str = "entraid_rolemanagement_roledefinitions";
const ELIG: &str = "entraid_rolemanagement_roleeligibilityschedules";
const USERS: &str = "entraid_users";
const GROUPS: &str = "entraid_groups";
const SPS: &str = "entraid_serviceprincipals";
const APPS: &str = "entraid_applications";
const REG: &str = "entraid_reports_user_registration_details";
const CA: &str = "entraid_identity_conditional_access_policies";
const SECDEF: &str = "entraid_policies_identity_security_defaults_enforcement_policy";
const AUTHZ: &str = "entraid_policies_authorization_policy";
const SIGNIN_ACT: &str = "entraid_user_signin_activity";
const SIGNINS: &str = "entraid_auditlogs_signins";
const TRANS: &str = "entraid_group_transitive_members";
const RISKY_USERS: &str = "entraid_identityprotection_riskyusers";

const MS_PIM: &str =
    "https://learn.microsoft.com/entra/id-governance/privileged-identity-management/pim-configure";
const MS_ROLES_BP: &str =
    "https://learn.microsoft.com/entra/identity/role-based-access-control/best-practices";
const SCUBA: &str =
    "https://github.com/cisagov/ScubaGear/blob/main/PowerShell/ScubaGear/baselines/aad.md";
const EIDSCA: &str = "https://maester.dev/docs/tests/eidsca/";
const MS_CA: &str =
    "https://learn.microsoft.com/entra/identity/conditional-access/plan-conditional-access";
const MS_APPS: &str =
    "https://learn.microsoft.com/entra/identity/enterprise-apps/secure-service-principals";
const MS_CONSENT: &str =
    "https://learn.microsoft.com/entra/identity/enterprise-apps/configure-user-consent";
const MS_GUESTS: &str =
    "https://learn.microsoft.com/entra/external-id/external-collaboration-settings-configure";
const MS_STALE_DEV: &str =
    "https://learn.microsoft.com/entra/identity/devices/manage-stale-devices";
const MS_STALE_USERS: &str = "https://learn.microsoft.com/entra/identity/monitoring-health/howto-manage-inactive-user-accounts";
const MS_RISK: &str =
    "https://learn.microsoft.com/entra/id-protection/howto-identity-protection-remediate-unblock";

/// The enabled Conditional Access policies `p` that block legacy authentication for all users:
/// the `exchangeActiveSync` and `other` client app types, grant control `block`.
macro_rules! blocks_legacy_auth {
    () => {
        "p.state = 'enabled' \
         AND EXISTS (SELECT 1 FROM @jeach(b, p.grant_controls, 'builtInControls') WHERE @jv(b) = 'block') \
         AND EXISTS (SELECT 1 FROM @jeach(c, p.conditions, 'clientAppTypes') WHERE @jv(c) = 'other') \
         AND EXISTS (SELECT 1 FROM @jeach(c2, p.conditions, 'clientAppTypes') WHERE @jv(c2) = 'exchangeActiveSync') \
         AND EXISTS (SELECT 1 FROM @jeach(i, p.conditions, 'users.includeUsers') WHERE @jv(i) = 'All')"
    };
}

pub static CONTROLS: &[Control] = &[
    // ---------------------------------------------------------------- privileged access
    Control {
        id: "ES-PRIV-01",
        family: "privileged",
        title: "More than four Global Administrators",
        severity: High,
        rationale: "Every Global Administrator can take over the whole tenant. Keep the number of active Global Administrators between two and four, and give people narrower roles for daily work.",
        source: "CIS Microsoft 365 Foundations 1.1.3; CISA SCuBA MS.AAD.7.1; Microsoft Learn, role best practices",
        link: MS_ROLES_BP,
        tables: &[RA, USERS, GROUPS, SPS],
        may_be_empty: &[],
        sql: "SELECT ra.principal_id AS object_id, COALESCE(u.user_principal_name, g.display_name, s.display_name, ra.principal_id) AS object_name, \
              'Global Administrator, one of ' || (SELECT count(DISTINCT x.principal_id) FROM entraid_rolemanagement_roleassignments x WHERE x.tenant_id = ra.tenant_id AND x.role_definition_id = '62e90394-69f5-4237-9190-012177145e10') AS detail \
              FROM entraid_rolemanagement_roleassignments ra \
              LEFT JOIN entraid_users u ON u.tenant_id = ra.tenant_id AND u.id = ra.principal_id LEFT JOIN entraid_groups g ON g.tenant_id = ra.tenant_id AND g.id = ra.principal_id LEFT JOIN entraid_serviceprincipals s ON s.tenant_id = ra.tenant_id AND s.id = ra.principal_id \
              WHERE ra.tenant_id = @tenant() AND ra.role_definition_id = '62e90394-69f5-4237-9190-012177145e10' \
              AND (SELECT count(DISTINCT x.principal_id) FROM entraid_rolemanagement_roleassignments x WHERE x.tenant_id = ra.tenant_id AND x.role_definition_id = '62e90394-69f5-4237-9190-012177145e10') > 4",
    },
    Control {
        id: "ES-PRIV-02",
        family: "privileged",
        title: "Fewer than two Global Administrators",
        severity: Medium,
        rationale: "With a single Global Administrator, one lost phone or departure locks the organisation out of its tenant. Keep at least two, one of them an emergency-access account excluded from sign-in risk policies and monitored.",
        source: "CIS Microsoft 365 Foundations 1.1.3; Microsoft Learn, emergency access accounts",
        link: "https://learn.microsoft.com/entra/identity/role-based-access-control/security-emergency-access",
        tables: &[RA],
        may_be_empty: &[],
        sql: "SELECT '62e90394-69f5-4237-9190-012177145e10' AS object_id, 'Global Administrator' AS object_name, \
              'active holders: ' || (SELECT count(DISTINCT x.principal_id) FROM entraid_rolemanagement_roleassignments x WHERE x.tenant_id = @tenant() AND x.role_definition_id = '62e90394-69f5-4237-9190-012177145e10') AS detail \
              WHERE (SELECT count(DISTINCT x.principal_id) FROM entraid_rolemanagement_roleassignments x WHERE x.tenant_id = @tenant() AND x.role_definition_id = '62e90394-69f5-4237-9190-012177145e10') < 2",
    },
    Control {
        id: "ES-PRIV-03",
        family: "privileged",
        title: "Standing (permanent) assignments of privileged roles",
        severity: High,
        rationale: "A privileged role held permanently is available to an attacker at any time. Make holders eligible through Privileged Identity Management so that the role is activated just in time, with approval or MFA, and expires.",
        source: "CISA SCuBA MS.AAD.7.4; CIS Microsoft 365 Foundations 5.3.1; Microsoft Learn, PIM",
        link: MS_PIM,
        tables: &[RA, RD, ELIG, USERS, GROUPS, SPS],
        may_be_empty: &[ELIG],
        sql: "SELECT ra.principal_id AS object_id, COALESCE(u.user_principal_name, g.display_name, s.display_name, ra.principal_id) AS object_name, \
              COALESCE(rd.display_name, ra.role_definition_id) || ' (active, no eligibility)' AS detail \
              FROM entraid_rolemanagement_roleassignments ra \
              LEFT JOIN entraid_rolemanagement_roledefinitions rd ON rd.tenant_id = ra.tenant_id AND rd.id = ra.role_definition_id \
              LEFT JOIN entraid_users u ON u.tenant_id = ra.tenant_id AND u.id = ra.principal_id LEFT JOIN entraid_groups g ON g.tenant_id = ra.tenant_id AND g.id = ra.principal_id LEFT JOIN entraid_serviceprincipals s ON s.tenant_id = ra.tenant_id AND s.id = ra.principal_id \
              WHERE ra.tenant_id = @tenant() AND ra.role_definition_id IN @list('priv_roles') AND s.id IS NULL \
              AND NOT EXISTS (SELECT 1 FROM entraid_rolemanagement_roleeligibilityschedules e WHERE e.tenant_id = ra.tenant_id AND e.principal_id = ra.principal_id AND e.role_definition_id = ra.role_definition_id)",
    },
    Control {
        id: "ES-PRIV-04",
        family: "privileged",
        title: "PIM eligibilities for privileged roles that never expire",
        severity: Medium,
        rationale: "An eligibility without an end date is never re-reviewed. Give eligibilities for privileged roles an expiry so that they are renewed on purpose.",
        source: "CISA SCuBA MS.AAD.7.5; Microsoft Learn, PIM role settings",
        link: MS_PIM,
        tables: &[ELIG, RD, USERS, GROUPS],
        may_be_empty: &[],
        sql: "SELECT e.principal_id AS object_id, COALESCE(u.user_principal_name, g.display_name, e.principal_id) AS object_name, \
              COALESCE(rd.display_name, e.role_definition_id) || ' eligible without expiry' AS detail \
              FROM entraid_rolemanagement_roleeligibilityschedules e \
              LEFT JOIN entraid_rolemanagement_roledefinitions rd ON rd.tenant_id = e.tenant_id AND rd.id = e.role_definition_id \
              LEFT JOIN entraid_users u ON u.tenant_id = e.tenant_id AND u.id = e.principal_id LEFT JOIN entraid_groups g ON g.tenant_id = e.tenant_id AND g.id = e.principal_id \
              WHERE e.tenant_id = @tenant() AND e.role_definition_id IN @list('priv_roles') \
              AND (@jt(e.schedule_info, 'expiration.type') = 'noExpiration' OR @jt(e.schedule_info, 'expiration.type') IS NULL)",
    },
    Control {
        id: "ES-PRIV-05",
        family: "privileged",
        title: "Guests holding or eligible for privileged roles",
        severity: High,
        rationale: "A guest's credentials and MFA are managed by another organisation. Privileged roles belong to member accounts of this tenant.",
        source: "CIS Microsoft 365 Foundations 1.1.1; Microsoft Learn, role best practices",
        link: MS_ROLES_BP,
        tables: &[RA, ELIG, RD, USERS],
        may_be_empty: &[ELIG],
        sql: "SELECT u.id AS object_id, u.user_principal_name AS object_name, COALESCE(rd.display_name, x.role_definition_id) || ' (' || x.kind || ')' AS detail \
              FROM (SELECT tenant_id, principal_id, role_definition_id, 'active' AS kind FROM entraid_rolemanagement_roleassignments a WHERE a.tenant_id = @tenant() \
                    UNION SELECT tenant_id, principal_id, role_definition_id, 'eligible' AS kind FROM entraid_rolemanagement_roleeligibilityschedules e WHERE e.tenant_id = @tenant()) AS x \
              JOIN entraid_users u ON u.tenant_id = x.tenant_id AND u.id = x.principal_id \
              LEFT JOIN entraid_rolemanagement_roledefinitions rd ON rd.tenant_id = x.tenant_id AND rd.id = x.role_definition_id \
              WHERE x.role_definition_id IN @list('priv_roles') AND u.user_type = 'Guest'",
    },
    Control {
        id: "ES-PRIV-06",
        family: "privileged",
        title: "Service principals holding privileged directory roles",
        severity: Medium,
        rationale: "An application with a privileged directory role acts with it unattended, and anyone who can add a credential to it inherits the role. Prefer narrow Graph permissions and review each such assignment.",
        source: "Microsoft Learn, securing service principals; CIS Microsoft 365 Foundations 1.1",
        link: MS_APPS,
        tables: &[RA, RD, SPS],
        may_be_empty: &[],
        sql: "SELECT s.id AS object_id, s.display_name AS object_name, COALESCE(rd.display_name, ra.role_definition_id) AS detail \
              FROM entraid_rolemanagement_roleassignments ra JOIN entraid_serviceprincipals s ON s.tenant_id = ra.tenant_id AND s.id = ra.principal_id \
              LEFT JOIN entraid_rolemanagement_roledefinitions rd ON rd.tenant_id = ra.tenant_id AND rd.id = ra.role_definition_id \
              WHERE ra.tenant_id = @tenant() AND ra.role_definition_id IN @list('priv_roles')",
    },
    Control {
        id: "ES-PRIV-07",
        family: "privileged",
        title: "Users holding privileged roles through group membership",
        severity: Medium,
        rationale: "Members of a group that holds a role hold the role, transitively through nested groups too. Such holders are easy to miss in a review of the role itself; the group must be role-assignable and its membership governed (PIM for Groups).",
        source: "Microsoft Learn, use Microsoft Entra groups to manage role assignments",
        link: "https://learn.microsoft.com/entra/identity/role-based-access-control/groups-concept",
        tables: &[RA, RD, GROUPS, TRANS, USERS],
        may_be_empty: &[],
        sql: "SELECT DISTINCT u.id AS object_id, u.user_principal_name AS object_name, \
              COALESCE(rd.display_name, ra.role_definition_id) || ' via group ' || g.display_name AS detail \
              FROM entraid_rolemanagement_roleassignments ra JOIN entraid_groups g ON g.tenant_id = ra.tenant_id AND g.id = ra.principal_id \
              JOIN entraid_group_transitive_members tm ON tm.tenant_id = g.tenant_id AND tm.group_id = g.id JOIN entraid_users u ON u.tenant_id = tm.tenant_id AND u.id = tm.id \
              LEFT JOIN entraid_rolemanagement_roledefinitions rd ON rd.tenant_id = ra.tenant_id AND rd.id = ra.role_definition_id \
              WHERE ra.tenant_id = @tenant() AND ra.role_definition_id IN @list('priv_roles')",
    },
    Control {
        id: "ES-PRIV-08",
        family: "privileged",
        title: "Privileged roles held by accounts synchronised from on-premises",
        severity: High,
        rationale: "An account mastered in Active Directory can be taken over from on-premises and used to move into the cloud. Administrators of the tenant should be cloud-only accounts.",
        source: "CISA SCuBA MS.AAD.7.3; CIS Microsoft 365 Foundations 1.1.1",
        link: SCUBA,
        tables: &[RA, RD, USERS],
        may_be_empty: &[],
        sql: "SELECT u.id AS object_id, u.user_principal_name AS object_name, COALESCE(rd.display_name, ra.role_definition_id) AS detail \
              FROM entraid_rolemanagement_roleassignments ra JOIN entraid_users u ON u.tenant_id = ra.tenant_id AND u.id = ra.principal_id \
              LEFT JOIN entraid_rolemanagement_roledefinitions rd ON rd.tenant_id = ra.tenant_id AND rd.id = ra.role_definition_id \
              WHERE ra.tenant_id = @tenant() AND ra.role_definition_id IN @list('priv_roles') AND u.on_premises_sync_enabled = TRUE",
    },
    Control {
        id: "ES-PRIV-09",
        family: "privileged",
        title: "Privileged role holders without a registered MFA method",
        severity: Critical,
        rationale: "An administrator protected by a password alone is the most likely way into a tenant. Every holder of a privileged role must have strong authentication registered and enforced.",
        source: "CISA SCuBA MS.AAD.3.1; CIS Microsoft 365 Foundations 5.2.2.1; EIDSCA",
        link: SCUBA,
        tables: &[RA, RD, REG],
        may_be_empty: &[],
        sql: "SELECT r.id AS object_id, r.user_principal_name AS object_name, COALESCE(rd.display_name, ra.role_definition_id) AS detail \
              FROM entraid_rolemanagement_roleassignments ra JOIN entraid_reports_user_registration_details r ON r.tenant_id = ra.tenant_id AND r.id = ra.principal_id \
              LEFT JOIN entraid_rolemanagement_roledefinitions rd ON rd.tenant_id = ra.tenant_id AND rd.id = ra.role_definition_id \
              WHERE ra.tenant_id = @tenant() AND ra.role_definition_id IN @list('priv_roles') AND NOT (r.is_mfa_registered = TRUE)",
    },
    Control {
        id: "ES-PRIV-10",
        family: "privileged",
        title: "Disabled accounts still holding privileged roles",
        severity: Low,
        rationale: "Disabled accounts keep their role assignments; re-enabling one restores its power silently. Remove assignments when an account is disabled.",
        source: "Microsoft Learn, role best practices (review assignments)",
        link: MS_ROLES_BP,
        tables: &[RA, RD, USERS],
        may_be_empty: &[],
        sql: "SELECT u.id AS object_id, u.user_principal_name AS object_name, COALESCE(rd.display_name, ra.role_definition_id) AS detail \
              FROM entraid_rolemanagement_roleassignments ra JOIN entraid_users u ON u.tenant_id = ra.tenant_id AND u.id = ra.principal_id \
              LEFT JOIN entraid_rolemanagement_roledefinitions rd ON rd.tenant_id = ra.tenant_id AND rd.id = ra.role_definition_id \
              WHERE ra.tenant_id = @tenant() AND ra.role_definition_id IN @list('priv_roles') AND u.account_enabled = FALSE",
    },
    Control {
        id: "ES-PRIV-11",
        family: "privileged",
        title: "Privileged role holders who have not signed in for 30 days",
        severity: Medium,
        rationale: "An unused administrator account is an unwatched one. Remove privileged roles from accounts that do not use them.",
        source: "Microsoft Learn, role best practices; CIS Microsoft 365 Foundations 5.3",
        link: MS_ROLES_BP,
        tables: &[RA, RD, USERS, SIGNIN_ACT],
        may_be_empty: &[],
        sql: "SELECT u.id AS object_id, u.user_principal_name AS object_name, \
              COALESCE(rd.display_name, ra.role_definition_id) || '; last sign-in ' || COALESCE(@signin(a.sign_in_activity, 'lastSignInDateTime'), 'never') AS detail \
              FROM entraid_rolemanagement_roleassignments ra JOIN entraid_users u ON u.tenant_id = ra.tenant_id AND u.id = ra.principal_id \
              JOIN entraid_user_signin_activity a ON a.tenant_id = u.tenant_id AND a.id = u.id \
              LEFT JOIN entraid_rolemanagement_roledefinitions rd ON rd.tenant_id = ra.tenant_id AND rd.id = ra.role_definition_id \
              WHERE ra.tenant_id = @tenant() AND ra.role_definition_id IN @list('priv_roles') AND u.account_enabled = TRUE \
              AND (@signin(a.sign_in_activity, 'lastSignInDateTime') IS NULL OR @ts(@signin(a.sign_in_activity, 'lastSignInDateTime')) < @ago(30))",
    },
    Control {
        id: "ES-PRIV-12",
        family: "privileged",
        title: "Owners of role-assignable groups",
        severity: Medium,
        rationale: "The owner of a role-assignable group can add anyone, themselves included, to it and so grant its roles. Owners of such groups are effectively role holders and should themselves be privileged, few and reviewed.",
        source: "Microsoft Learn, role-assignable groups",
        link: "https://learn.microsoft.com/entra/identity/role-based-access-control/groups-concept",
        tables: &[GROUPS, "entraid_group_owners", USERS, SPS],
        may_be_empty: &[],
        sql: "SELECT o.id AS object_id, COALESCE(u.user_principal_name, s.display_name, o.id) AS object_name, 'owns role-assignable group ' || g.display_name AS detail \
              FROM entraid_groups g JOIN entraid_group_owners o ON o.tenant_id = g.tenant_id AND o.group_id = g.id \
              LEFT JOIN entraid_users u ON u.tenant_id = o.tenant_id AND u.id = o.id LEFT JOIN entraid_serviceprincipals s ON s.tenant_id = o.tenant_id AND s.id = o.id \
              WHERE g.tenant_id = @tenant() AND g.is_assignable_to_role = TRUE",
    },
    // ---------------------------------------------------------------- authentication
    Control {
        id: "ES-AUTH-01",
        family: "authentication",
        title: "Enabled member users without a registered MFA method",
        severity: High,
        rationale: "Users without MFA registered are one leaked password away from compromise, and an attacker who signs in first can register their own method. Require registration for every user.",
        source: "CISA SCuBA MS.AAD.3.2; CIS Microsoft 365 Foundations 5.2.3.4; Microsoft Learn, MFA registration",
        link: "https://learn.microsoft.com/entra/identity/authentication/howto-registration-mfa-sspr-combined",
        tables: &[REG, USERS],
        may_be_empty: &[],
        sql: "SELECT r.id AS object_id, r.user_principal_name AS object_name, 'methods: ' || COALESCE(CAST(r.methods_registered AS TEXT), '[]') AS detail \
              FROM entraid_reports_user_registration_details r JOIN entraid_users u ON u.tenant_id = r.tenant_id AND u.id = r.id \
              WHERE r.tenant_id = @tenant() AND NOT (r.is_mfa_registered = TRUE) AND u.account_enabled = TRUE AND u.user_type = 'Member'",
    },
    Control {
        id: "ES-AUTH-02",
        family: "authentication",
        title: "Successful legacy-authentication sign-ins not covered by a block",
        severity: High,
        rationale: "Legacy protocols (IMAP, POP, SMTP AUTH, ActiveSync with basic auth, older Office clients) cannot do MFA and are the target of password spraying. Each finding is a user who signed in successfully with one in the last 30 days while no enabled Conditional Access policy blocked legacy authentication for all users, or after the newest such policy last changed: a sign-in the block should have stopped, so the user is excluded from it or it does not apply. Move these users to modern clients, block legacy authentication (the 'Exchange ActiveSync' and 'Other clients' client app types) and review its exclusions. Sign-ins from before the block came into force are no longer findings; failed attempts never are.",
        source: "CISA SCuBA MS.AAD.1.1; CIS Microsoft 365 Foundations 5.2.2.3; Microsoft Learn, block legacy authentication",
        link: "https://learn.microsoft.com/entra/identity/conditional-access/policy-block-legacy-authentication",
        tables: &[SIGNINS, CA],
        may_be_empty: &[CA],
        sql: concat!(
            "SELECT COALESCE(s.user_id, s.user_principal_name) AS object_id, s.user_principal_name AS object_name, \
             s.client_app_used || ': ' || count(*) || ' successful sign-in(s) not covered by a block, last ' || max(CAST(s.created_date_time AS TEXT)) AS detail \
             FROM entraid_auditlogs_signins s WHERE s.tenant_id = @tenant() AND s.client_app_used IN @list('legacy_clients') \
             AND CAST(@jt(s.status, 'errorCode') AS TEXT) = '0' AND @ts(s.created_date_time) >= @ago(30) \
             AND NOT EXISTS (SELECT 1 FROM entraid_identity_conditional_access_policies p WHERE p.tenant_id = s.tenant_id \
               AND @ts(COALESCE(p.modified_date_time, p.created_date_time)) >= @ts(s.created_date_time) AND ",
            blocks_legacy_auth!(),
            ") GROUP BY COALESCE(s.user_id, s.user_principal_name), s.user_principal_name, s.client_app_used"
        ),
    },
    Control {
        id: "ES-AUTH-03",
        family: "authentication",
        title: "No enabled Conditional Access policy blocks legacy authentication",
        severity: High,
        rationale: "Without a blocking policy, legacy protocols bypass MFA for everyone. Block the 'Exchange ActiveSync' and 'Other clients' client app types for all users (or rely on security defaults, which do).",
        source: "CISA SCuBA MS.AAD.1.1; CIS Microsoft 365 Foundations 5.2.2.3; EIDSCA",
        link: "https://learn.microsoft.com/entra/identity/conditional-access/policy-block-legacy-authentication",
        tables: &[CA, SECDEF],
        may_be_empty: &[CA],
        sql: concat!(
            "SELECT 'conditionalAccess' AS object_id, 'Conditional Access' AS object_name, 'no enabled policy for all users blocks the exchangeActiveSync and other client app types' AS detail \
             WHERE NOT EXISTS (SELECT 1 FROM entraid_policies_identity_security_defaults_enforcement_policy d WHERE d.tenant_id = @tenant() AND d.is_enabled = TRUE) \
             AND NOT EXISTS (SELECT 1 FROM entraid_identity_conditional_access_policies p WHERE p.tenant_id = @tenant() AND ",
            blocks_legacy_auth!(),
            ")"
        ),
    },
    Control {
        id: "ES-AUTH-04",
        family: "authentication",
        title: "Neither security defaults nor any enabled Conditional Access policy",
        severity: Critical,
        rationale: "With security defaults off and no Conditional Access policy enforced, nothing requires MFA for anyone. Turn security defaults on, or (with Entra ID P1) enforce Conditional Access policies.",
        source: "Microsoft Learn, security defaults; CIS Microsoft 365 Foundations 5.2.1; EIDSCA",
        link: "https://learn.microsoft.com/entra/fundamentals/security-defaults",
        tables: &[CA, SECDEF],
        may_be_empty: &[CA],
        sql: "SELECT d.id AS object_id, 'Security defaults' AS object_name, 'security defaults disabled and no Conditional Access policy enabled' AS detail \
              FROM entraid_policies_identity_security_defaults_enforcement_policy d \
              WHERE d.tenant_id = @tenant() AND NOT (d.is_enabled = TRUE) AND NOT EXISTS (SELECT 1 FROM entraid_identity_conditional_access_policies p WHERE p.tenant_id = d.tenant_id AND p.state = 'enabled')",
    },
    Control {
        id: "ES-AUTH-05",
        family: "authentication",
        title: "No enabled Conditional Access policy requires MFA for all users",
        severity: High,
        rationale: "MFA blocks the vast majority of account takeovers. One enabled policy should require MFA (or an authentication strength) for all users and all cloud apps, with only emergency accounts excluded.",
        source: "CISA SCuBA MS.AAD.3.2; CIS Microsoft 365 Foundations 5.2.2.2",
        link: "https://learn.microsoft.com/entra/identity/conditional-access/policy-all-users-mfa-strength",
        tables: &[CA, SECDEF],
        may_be_empty: &[CA],
        sql: "SELECT 'conditionalAccess' AS object_id, 'Conditional Access' AS object_name, 'no enabled policy requires MFA for all users and all applications' AS detail \
              WHERE NOT EXISTS (SELECT 1 FROM entraid_policies_identity_security_defaults_enforcement_policy d WHERE d.tenant_id = @tenant() AND d.is_enabled = TRUE) \
              AND NOT EXISTS (SELECT 1 FROM entraid_identity_conditional_access_policies p WHERE p.tenant_id = @tenant() AND p.state = 'enabled' \
                AND EXISTS (SELECT 1 FROM @jeach(i, p.conditions, 'users.includeUsers') WHERE @jv(i) = 'All') \
                AND EXISTS (SELECT 1 FROM @jeach(a, p.conditions, 'applications.includeApplications') WHERE @jv(a) = 'All') \
                AND (EXISTS (SELECT 1 FROM @jeach(b, p.grant_controls, 'builtInControls') WHERE @jv(b) = 'mfa') \
                     OR @jt(p.grant_controls, 'authenticationStrength.id') IS NOT NULL))",
    },
    Control {
        id: "ES-AUTH-06",
        family: "authentication",
        title: "Users whose only registered methods are SMS, voice or e-mail",
        severity: Medium,
        rationale: "Phone and e-mail factors are phishable and exposed to SIM swapping. Move these users to the Authenticator app, FIDO2 security keys or Windows Hello.",
        source: "CISA SCuBA MS.AAD.3.5; Microsoft Learn, authentication methods",
        link: "https://learn.microsoft.com/entra/identity/authentication/concept-authentication-methods",
        tables: &[REG],
        may_be_empty: &[],
        sql: "SELECT r.id AS object_id, r.user_principal_name AS object_name, 'methods: ' || CAST(r.methods_registered AS TEXT) AS detail \
              FROM entraid_reports_user_registration_details r \
              WHERE r.tenant_id = @tenant() AND @alen(r.methods_registered) > 0 \
              AND NOT EXISTS (SELECT 1 FROM @aeach(m, r.methods_registered) WHERE m.value NOT IN @list('weak_methods'))",
    },
    Control {
        id: "ES-AUTH-07",
        family: "authentication",
        title: "Risky sign-ins that succeeded, the user's risk not remediated or dismissed since",
        severity: High,
        rationale: "A successful sign-in that Identity Protection rated high or medium risk may be an attacker holding the account. Each finding is such a sign-in after which the user's risk was neither remediated (a secure password change, an MFA-verified self-remediation, an admin reset) nor dismissed by an investigator: investigate the account, then remediate or dismiss its risk in Identity Protection, and let a sign-in risk policy require MFA or block.",
        source: "CISA SCuBA MS.AAD.2.3; Microsoft Learn, Identity Protection: remediate risks and unblock users",
        link: MS_RISK,
        tables: &[SIGNINS, RISKY_USERS],
        may_be_empty: &[RISKY_USERS],
        sql: "SELECT s.user_id AS object_id, s.user_principal_name AS object_name, \
              s.risk_level_during_sign_in || ' risk sign-in ' || s.id || ' at ' || CAST(s.created_date_time AS TEXT) || ' from ' || COALESCE(s.ip_address, '?') \
              || '; user risk: ' || COALESCE(r.risk_state || ' at ' || CAST(r.risk_last_updated_date_time AS TEXT), 'not recorded') AS detail \
              FROM entraid_auditlogs_signins s \
              LEFT JOIN entraid_identityprotection_riskyusers r ON r.tenant_id = s.tenant_id AND r.id = s.user_id \
              WHERE s.tenant_id = @tenant() AND s.risk_level_during_sign_in IN ('high', 'medium') AND CAST(@jt(s.status, 'errorCode') AS TEXT) = '0' \
              AND NOT EXISTS (SELECT 1 FROM entraid_identityprotection_riskyusers x WHERE x.tenant_id = s.tenant_id AND x.id = s.user_id \
                AND x.risk_state IN ('dismissed', 'remediated') AND @ts(x.risk_last_updated_date_time) >= @ts(s.created_date_time))",
    },
    Control {
        id: "ES-AUTH-08",
        family: "authentication",
        title: "Microsoft Authenticator registration campaign disabled",
        severity: Low,
        rationale: "The registration campaign nudges users who still rely on SMS or voice to set up the Authenticator app at sign-in. Leaving it disabled keeps weak methods in use.",
        source: "EIDSCA AG.03; Microsoft Learn, registration campaign",
        link: "https://learn.microsoft.com/entra/identity/authentication/how-to-mfa-registration-campaign",
        tables: &["entraid_policies_authentication_methods_policy"],
        may_be_empty: &[],
        sql: "SELECT p.id AS object_id, p.display_name AS object_name, 'registration campaign state: ' || COALESCE(@jt(p.registration_enforcement, 'authenticationMethodsRegistrationCampaign.state'), 'unset') AS detail \
              FROM entraid_policies_authentication_methods_policy p \
              WHERE p.tenant_id = @tenant() AND COALESCE(@jt(p.registration_enforcement, 'authenticationMethodsRegistrationCampaign.state'), 'disabled') = 'disabled'",
    },
    // ---------------------------------------------------------------- conditional access
    Control {
        id: "ES-CA-01",
        family: "conditional-access",
        title: "Conditional Access policies in report-only mode",
        severity: Low,
        rationale: "Report-only policies protect nothing. Review their impact in the sign-in logs and turn them on, or delete them.",
        source: "Microsoft Learn, report-only mode; EIDSCA",
        link: "https://learn.microsoft.com/entra/identity/conditional-access/concept-conditional-access-report-only",
        tables: &[CA],
        may_be_empty: &[],
        sql: "SELECT p.id AS object_id, p.display_name AS object_name, 'report-only since ' || COALESCE(CAST(p.modified_date_time AS TEXT), CAST(p.created_date_time AS TEXT), '?') AS detail \
              FROM entraid_identity_conditional_access_policies p WHERE p.tenant_id = @tenant() AND p.state = 'enabledForReportingButNotEnforced'",
    },
    Control {
        id: "ES-CA-02",
        family: "conditional-access",
        title: "Users excluded from enabled Conditional Access policies",
        severity: Medium,
        rationale: "Each exclusion is a hole in the policy. Exclusions should be emergency-access accounts only, documented and monitored; everything else is a finding.",
        source: "CISA SCuBA MS.AAD.3; Microsoft Learn, plan Conditional Access (exclusions)",
        link: MS_CA,
        tables: &[CA, USERS],
        may_be_empty: &[],
        sql: "SELECT @jv(x) AS object_id, COALESCE(u.user_principal_name, @jv(x)) AS object_name, 'excluded from ' || p.display_name AS detail \
              FROM entraid_identity_conditional_access_policies p CROSS JOIN @jeach(x, p.conditions, 'users.excludeUsers') \
              LEFT JOIN entraid_users u ON u.tenant_id = p.tenant_id AND u.id = @jv(x) \
              WHERE p.tenant_id = @tenant() AND p.state = 'enabled'",
    },
    Control {
        id: "ES-CA-03",
        family: "conditional-access",
        title: "Groups excluded from enabled Conditional Access policies",
        severity: Medium,
        rationale: "Anyone who can add members to an excluded group can switch a policy off for them. Keep excluded groups few, role-assignable or otherwise protected, and reviewed.",
        source: "Microsoft Learn, plan Conditional Access (exclusions)",
        link: MS_CA,
        tables: &[CA, GROUPS],
        may_be_empty: &[],
        sql: "SELECT @jv(x) AS object_id, COALESCE(g.display_name, @jv(x)) AS object_name, 'excluded from ' || p.display_name AS detail \
              FROM entraid_identity_conditional_access_policies p CROSS JOIN @jeach(x, p.conditions, 'users.excludeGroups') \
              LEFT JOIN entraid_groups g ON g.tenant_id = p.tenant_id AND g.id = @jv(x) \
              WHERE p.tenant_id = @tenant() AND p.state = 'enabled'",
    },
    Control {
        id: "ES-CA-04",
        family: "conditional-access",
        title: "Privileged role holders excluded from an enabled MFA policy",
        severity: Critical,
        rationale: "An administrator excluded from the MFA policy is exactly the account attackers look for.",
        source: "CISA SCuBA MS.AAD.3.6; CIS Microsoft 365 Foundations 5.2.2.1",
        link: SCUBA,
        tables: &[CA, RA, USERS],
        may_be_empty: &[],
        sql: "SELECT DISTINCT ra.principal_id AS object_id, COALESCE(u.user_principal_name, ra.principal_id) AS object_name, 'excluded from ' || p.display_name AS detail \
              FROM entraid_identity_conditional_access_policies p CROSS JOIN @jeach(x, p.conditions, 'users.excludeUsers') \
              JOIN entraid_rolemanagement_roleassignments ra ON ra.tenant_id = p.tenant_id AND ra.principal_id = @jv(x) \
              LEFT JOIN entraid_users u ON u.tenant_id = ra.tenant_id AND u.id = ra.principal_id \
              WHERE p.tenant_id = @tenant() AND p.state = 'enabled' AND ra.role_definition_id IN @list('priv_roles') \
              AND (EXISTS (SELECT 1 FROM @jeach(b, p.grant_controls, 'builtInControls') WHERE @jv(b) = 'mfa') OR @jt(p.grant_controls, 'authenticationStrength.id') IS NOT NULL)",
    },
    Control {
        id: "ES-CA-05",
        family: "conditional-access",
        title: "No enabled policy requires MFA for administrator roles",
        severity: High,
        rationale: "Administrators need MFA on every sign-in regardless of other policies: one enabled policy should target the privileged roles (or all users) and require MFA or a phishing-resistant authentication strength.",
        source: "CISA SCuBA MS.AAD.3.6; CIS Microsoft 365 Foundations 5.2.2.1; Microsoft Learn, require MFA for administrators",
        link: "https://learn.microsoft.com/entra/identity/conditional-access/policy-old-require-mfa-admin",
        tables: &[CA, SECDEF],
        may_be_empty: &[CA],
        sql: "SELECT 'conditionalAccess' AS object_id, 'Conditional Access' AS object_name, 'no enabled policy requires MFA for Global Administrators' AS detail \
              WHERE NOT EXISTS (SELECT 1 FROM entraid_policies_identity_security_defaults_enforcement_policy d WHERE d.tenant_id = @tenant() AND d.is_enabled = TRUE) \
              AND NOT EXISTS (SELECT 1 FROM entraid_identity_conditional_access_policies p WHERE p.tenant_id = @tenant() AND p.state = 'enabled' \
                AND (EXISTS (SELECT 1 FROM @jeach(r, p.conditions, 'users.includeRoles') WHERE @jv(r) = '62e90394-69f5-4237-9190-012177145e10') \
                     OR EXISTS (SELECT 1 FROM @jeach(i, p.conditions, 'users.includeUsers') WHERE @jv(i) = 'All')) \
                AND (EXISTS (SELECT 1 FROM @jeach(b, p.grant_controls, 'builtInControls') WHERE @jv(b) = 'mfa') OR @jt(p.grant_controls, 'authenticationStrength.id') IS NOT NULL))",
    },
    Control {
        id: "ES-CA-06",
        family: "conditional-access",
        title: "No enabled policy acts on high user risk",
        severity: High,
        rationale: "When Identity Protection is confident that an account is compromised, a policy should block it or force a secure password change.",
        source: "CISA SCuBA MS.AAD.2.1; CIS Microsoft 365 Foundations 5.2.2.6",
        link: "https://learn.microsoft.com/entra/id-protection/howto-identity-protection-configure-risk-policies",
        tables: &[CA],
        may_be_empty: &[CA],
        sql: "SELECT 'conditionalAccess' AS object_id, 'Conditional Access' AS object_name, 'no enabled policy with userRiskLevels high' AS detail \
              WHERE NOT EXISTS (SELECT 1 FROM entraid_identity_conditional_access_policies p, @jeach(r, p.conditions, 'userRiskLevels') \
                WHERE p.tenant_id = @tenant() AND p.state = 'enabled' AND @jv(r) = 'high')",
    },
    Control {
        id: "ES-CA-07",
        family: "conditional-access",
        title: "No enabled policy acts on high sign-in risk",
        severity: High,
        rationale: "A sign-in that looks like token replay or password spray should be blocked or challenged with MFA by a sign-in risk policy.",
        source: "CISA SCuBA MS.AAD.2.3; CIS Microsoft 365 Foundations 5.2.2.7",
        link: "https://learn.microsoft.com/entra/id-protection/howto-identity-protection-configure-risk-policies",
        tables: &[CA],
        may_be_empty: &[CA],
        sql: "SELECT 'conditionalAccess' AS object_id, 'Conditional Access' AS object_name, 'no enabled policy with signInRiskLevels high' AS detail \
              WHERE NOT EXISTS (SELECT 1 FROM entraid_identity_conditional_access_policies p, @jeach(r, p.conditions, 'signInRiskLevels') \
                WHERE p.tenant_id = @tenant() AND p.state = 'enabled' AND @jv(r) = 'high')",
    },
    Control {
        id: "ES-CA-08",
        family: "conditional-access",
        title: "Conditional Access policies naming users that no longer exist",
        severity: Low,
        rationale: "A policy that includes or excludes deleted users was not updated when they left; its scope is no longer what its author meant. Clean up the references.",
        source: "Microsoft Learn, plan Conditional Access",
        link: MS_CA,
        tables: &[CA, USERS],
        may_be_empty: &[],
        sql: "SELECT @jv(x) AS object_id, p.display_name AS object_name, 'unknown user in ' || p.display_name AS detail \
              FROM entraid_identity_conditional_access_policies p, @jeach(x, p.conditions, 'users.excludeUsers')  WHERE p.tenant_id = @tenant() AND @jv(x) NOT IN ('All', 'None', 'GuestsOrExternalUsers') AND NOT EXISTS (SELECT 1 FROM entraid_users u WHERE u.tenant_id = p.tenant_id AND u.id = @jv(x)) \
              UNION SELECT @jv(y) AS object_id, p.display_name AS object_name, 'unknown user in ' || p.display_name AS detail \
              FROM entraid_identity_conditional_access_policies p, @jeach(y, p.conditions, 'users.includeUsers')  WHERE p.tenant_id = @tenant() AND @jv(y) NOT IN ('All', 'None', 'GuestsOrExternalUsers') AND NOT EXISTS (SELECT 1 FROM entraid_users u WHERE u.tenant_id = p.tenant_id AND u.id = @jv(y))",
    },
    // ---------------------------------------------------------------- applications
    Control {
        id: "ES-APP-01",
        family: "applications",
        title: "Application credentials expiring within 30 days",
        severity: Medium,
        rationale: "An expired secret or certificate stops the application; rotations done in a hurry leak secrets. Rotate before expiry.",
        source: "Microsoft Learn, application credential best practices",
        link: "https://learn.microsoft.com/entra/identity-platform/security-best-practices-for-app-registration",
        tables: &[APPS],
        may_be_empty: &[],
        sql: "SELECT a.id AS object_id, a.display_name AS object_name, 'secret ' || COALESCE(@jt(k.value, 'displayName'), @jt(k.value, 'keyId')) || ' expires ' || @jt(k.value, 'endDateTime') AS detail \
              FROM entraid_applications a, @jeach(k, a.password_credentials, '')  WHERE a.tenant_id = @tenant() AND @ts(@jt(k.value, 'endDateTime')) >= @now() AND @ts(@jt(k.value, 'endDateTime')) < @ahead(30) \
              UNION ALL SELECT a.id, a.display_name, 'certificate ' || COALESCE(@jt(k.value, 'displayName'), @jt(k.value, 'keyId')) || ' expires ' || @jt(k.value, 'endDateTime') \
              FROM entraid_applications a, @jeach(k, a.key_credentials, '')  WHERE a.tenant_id = @tenant() AND @ts(@jt(k.value, 'endDateTime')) >= @now() AND @ts(@jt(k.value, 'endDateTime')) < @ahead(30)",
    },
    Control {
        id: "ES-APP-02",
        family: "applications",
        title: "Expired application credentials still registered",
        severity: Low,
        rationale: "Expired credentials are clutter that hides the live ones and shows rotation is not tidied up. Remove them.",
        source: "Microsoft Learn, application credential best practices",
        link: "https://learn.microsoft.com/entra/identity-platform/security-best-practices-for-app-registration",
        tables: &[APPS],
        may_be_empty: &[],
        sql: "SELECT a.id AS object_id, a.display_name AS object_name, 'expired ' || @jt(k.value, 'endDateTime') AS detail \
              FROM entraid_applications a, @jeach(k, a.password_credentials, '') WHERE a.tenant_id = @tenant() AND @ts(@jt(k.value, 'endDateTime')) < @now() \
              UNION ALL SELECT a.id, a.display_name, 'expired certificate ' || @jt(k.value, 'endDateTime') \
              FROM entraid_applications a, @jeach(k, a.key_credentials, '') WHERE a.tenant_id = @tenant() AND @ts(@jt(k.value, 'endDateTime')) < @now()",
    },
    Control {
        id: "ES-APP-03",
        family: "applications",
        title: "Client secrets valid for more than a year",
        severity: Medium,
        rationale: "A long-lived secret that leaks stays useful to an attacker for a long time. Keep secret lifetimes to a year or less, or prefer certificates and federated credentials.",
        source: "Microsoft Learn, application management policies; CIS Microsoft 365 Foundations 5.1",
        link: "https://learn.microsoft.com/graph/api/resources/applicationauthenticationmethodpolicy",
        tables: &[APPS],
        may_be_empty: &[],
        sql: "SELECT a.id AS object_id, a.display_name AS object_name, \
              'secret ' || COALESCE(@jt(k.value, 'displayName'), @jt(k.value, 'keyId')) || ' valid ' || CAST(CAST(@days(@jt(k.value, 'startDateTime'), @jt(k.value, 'endDateTime')) AS INTEGER) AS TEXT) || ' days' AS detail \
              FROM entraid_applications a, @jeach(k, a.password_credentials, '') \
              WHERE a.tenant_id = @tenant() AND @days(@jt(k.value, 'startDateTime'), @jt(k.value, 'endDateTime')) > 366",
    },
    Control {
        id: "ES-APP-04",
        family: "applications",
        title: "Credentials added to service principals",
        severity: High,
        rationale: "Secrets and certificates normally live on the application object. Credentials on a service principal are rarely needed, are invisible in the app registration blade, and are a known persistence technique after a compromise.",
        source: "Microsoft Learn, securing service principals; CISA AA21-008A",
        link: MS_APPS,
        tables: &[SPS],
        may_be_empty: &[],
        sql: "SELECT s.id AS object_id, s.display_name AS object_name, \
              CAST(@jlen(s.password_credentials, '') AS TEXT) || ' secret(s), ' || CAST(@jlen(s.key_credentials, '') AS TEXT) || ' certificate(s)' AS detail \
              FROM entraid_serviceprincipals s \
              WHERE s.tenant_id = @tenant() AND s.service_principal_type = 'Application' AND @jlen(s.password_credentials, '') > 0",
    },
    Control {
        id: "ES-APP-05",
        family: "applications",
        title: "Service principals granted high-privilege Microsoft Graph application permissions",
        severity: Critical,
        rationale: "Application permissions such as RoleManagement.ReadWrite.Directory, Directory.ReadWrite.All or AppRoleAssignment.ReadWrite.All let an app make itself or anyone Global Administrator, without a user. Each grant needs an owner, a reason and a review.",
        source: "Microsoft Learn, Graph permissions reference; CISA SCuBA MS.AAD.5; Maester",
        link: "https://learn.microsoft.com/graph/permissions-overview",
        tables: &[SPS, "entraid_serviceprincipal_approleassignments"],
        may_be_empty: &[],
        sql: "SELECT DISTINCT x.principal_id AS object_id, COALESCE(x.principal_display_name, x.principal_id) AS object_name, @jt(r.value, 'value') AS detail \
              FROM entraid_serviceprincipal_approleassignments x \
              JOIN entraid_serviceprincipals res ON res.tenant_id = x.tenant_id AND res.id = x.resource_id, @jeach(r, res.app_roles, '') \
              WHERE x.tenant_id = @tenant() AND res.app_id = '00000003-0000-0000-c000-000000000000' AND @jt(r.value, 'id') = x.app_role_id \
              AND @jt(r.value, 'value') IN @list('high_graph_perms') AND x.principal_type = 'ServicePrincipal'",
    },
    Control {
        id: "ES-APP-06",
        family: "applications",
        title: "Applications requesting high-privilege Microsoft Graph application permissions",
        severity: Medium,
        rationale: "An app registration that asks for tenant-wide write permissions is one admin consent away from holding them. Review what each app really needs.",
        source: "Microsoft Learn, least privilege for applications",
        link: "https://learn.microsoft.com/entra/identity-platform/secure-least-privileged-access",
        tables: &[APPS, SPS],
        may_be_empty: &[],
        sql: "SELECT DISTINCT a.id AS object_id, a.display_name AS object_name, @jt(r.value, 'value') AS detail \
              FROM entraid_applications a, @jeach(rr, a.required_resource_access, ''), @jeach(ra, rr.value, 'resourceAccess'), \
              entraid_serviceprincipals res, @jeach(r, res.app_roles, '') \
              WHERE a.tenant_id = @tenant() AND res.tenant_id = a.tenant_id AND @jt(rr.value, 'resourceAppId') = '00000003-0000-0000-c000-000000000000' AND res.app_id = '00000003-0000-0000-c000-000000000000' \
              AND @jt(ra.value, 'type') = 'Role' AND @jt(r.value, 'id') = @jt(ra.value, 'id') AND @jt(r.value, 'value') IN @list('high_graph_perms')",
    },
    Control {
        id: "ES-APP-07",
        family: "applications",
        title: "Multi-tenant applications",
        severity: Low,
        rationale: "An app that accepts sign-ins from any organisation (or personal accounts) is exposed beyond the tenant. Make sure each one is meant to be.",
        source: "Microsoft Learn, single- and multi-tenant apps",
        link: "https://learn.microsoft.com/entra/identity-platform/single-and-multi-tenant-apps",
        tables: &[APPS],
        may_be_empty: &[],
        sql: "SELECT a.id AS object_id, a.display_name AS object_name, a.sign_in_audience AS detail FROM entraid_applications a \
              WHERE a.tenant_id = @tenant() AND a.sign_in_audience IN ('AzureADMultipleOrgs', 'AzureADandPersonalMicrosoftAccount', 'PersonalMicrosoftAccount')",
    },
    Control {
        id: "ES-APP-08",
        family: "applications",
        title: "Applications with credentials owned by users",
        severity: Medium,
        rationale: "An owner of an application can add a secret and sign in as the app with all its permissions. Applications that hold credentials should be owned by administrators only, or by no one.",
        source: "Microsoft Learn, application owners; Maester",
        link: "https://learn.microsoft.com/entra/identity/enterprise-apps/overview-assign-app-owners",
        tables: &[APPS, "entraid_application_owners", USERS],
        may_be_empty: &[],
        sql: "SELECT DISTINCT a.id AS object_id, a.display_name AS object_name, 'owner ' || COALESCE(u.user_principal_name, o.id) AS detail \
              FROM entraid_applications a JOIN entraid_application_owners o ON o.tenant_id = a.tenant_id AND o.application_id = a.id JOIN entraid_users u ON u.tenant_id = o.tenant_id AND u.id = o.id \
              WHERE a.tenant_id = @tenant() AND @jlen(a.password_credentials, '') + @jlen(a.key_credentials, '') > 0",
    },
    Control {
        id: "ES-APP-09",
        family: "applications",
        title: "Federated credentials trusting an unrecognised issuer",
        severity: Medium,
        rationale: "A federated credential lets an outside workload get tokens for the app without a secret. Trust should go to known identity providers (GitHub Actions, Azure Kubernetes Service, Entra itself, well-known CI services) and name an exact subject; an unknown issuer is whoever runs that endpoint.",
        source: "Microsoft Learn, workload identity federation (considerations)",
        link: "https://learn.microsoft.com/entra/workload-id/workload-identity-federation-considerations",
        tables: &[APPS, "entraid_application_federatedidentitycredentials"],
        may_be_empty: &[],
        sql: "SELECT f.application_id AS object_id, COALESCE(a.display_name, f.application_id) AS object_name, f.issuer || ' / ' || COALESCE(f.subject, '') AS detail \
              FROM entraid_application_federatedidentitycredentials f LEFT JOIN entraid_applications a ON a.tenant_id = f.tenant_id AND a.id = f.application_id \
              WHERE f.tenant_id = @tenant() AND NOT (f.issuer = 'https://token.actions.githubusercontent.com' OR f.issuer LIKE 'https://login.microsoftonline.com/%' \
                OR f.issuer LIKE 'https://sts.windows.net/%' OR f.issuer LIKE 'https://%.oic.prod-aks.azure.com/%' \
                OR f.issuer = 'https://gitlab.com' OR f.issuer = 'https://app.terraform.io' OR f.issuer LIKE 'https://vstoken.dev.azure.com/%')",
    },
    Control {
        id: "ES-APP-10",
        family: "applications",
        title: "Tenant-wide delegated grants of high-risk scopes",
        severity: High,
        rationale: "A consent for all users to scopes such as Mail.Read or Files.ReadWrite.All lets one app read every mailbox or file a user can. Review and revoke what is not needed.",
        source: "Microsoft Learn, investigate illicit consent grants; CIS Microsoft 365 Foundations 5.1.5",
        link: "https://learn.microsoft.com/defender-office-365/detect-and-remediate-illicit-consent-grants",
        tables: &["entraid_oauth2permissiongrants", SPS],
        may_be_empty: &[],
        sql: "SELECT g.id AS object_id, COALESCE(s.display_name, g.client_id) AS object_name, 'all users: ' || trim(g.scope) AS detail \
              FROM entraid_oauth2permissiongrants g LEFT JOIN entraid_serviceprincipals s ON s.tenant_id = g.tenant_id AND s.id = g.client_id \
              WHERE g.tenant_id = @tenant() AND g.consent_type = 'AllPrincipals' AND EXISTS (SELECT 1 FROM (SELECT ' ' || g.scope || ' ' AS sc) AS t \
                WHERE t.sc LIKE '% Mail.Read %' OR t.sc LIKE '% Mail.ReadWrite %' OR t.sc LIKE '% Mail.Send %' OR t.sc LIKE '% Files.Read.All %' \
                OR t.sc LIKE '% Files.ReadWrite.All %' OR t.sc LIKE '% Sites.ReadWrite.All %' OR t.sc LIKE '% Directory.ReadWrite.All %' \
                OR t.sc LIKE '% Directory.AccessAsUser.All %' OR t.sc LIKE '% User.ReadWrite.All %' OR t.sc LIKE '% RoleManagement.ReadWrite.Directory %')",
    },
    Control {
        id: "ES-APP-11",
        family: "applications",
        title: "Risky service principals not remediated",
        severity: High,
        rationale: "Identity Protection flagged these workload identities as possibly compromised. Investigate, rotate their credentials, then confirm or dismiss the risk.",
        source: "Microsoft Learn, workload identity risk",
        link: "https://learn.microsoft.com/entra/id-protection/concept-workload-identity-risk",
        tables: &["entraid_identityprotection_riskyserviceprincipals"],
        may_be_empty: &[],
        sql: "SELECT r.id AS object_id, r.display_name AS object_name, r.risk_level || ' risk, ' || r.risk_state AS detail \
              FROM entraid_identityprotection_riskyserviceprincipals r WHERE r.tenant_id = @tenant() AND r.risk_state IN ('atRisk', 'confirmedCompromised')",
    },
    // ---------------------------------------------------------------- guests
    Control {
        id: "ES-GST-01",
        family: "guests",
        title: "Guests who never signed in, invited more than 30 days ago",
        severity: Low,
        rationale: "An invitation that was never used is an open door to a mailbox that may no longer belong to the intended person. Remove guests who never redeemed or used access.",
        source: "Microsoft Learn, manage inactive guests; CIS Microsoft 365 Foundations 5.1.6",
        link: MS_STALE_USERS,
        tables: &[USERS, SIGNIN_ACT],
        may_be_empty: &[],
        sql: "SELECT u.id AS object_id, u.user_principal_name AS object_name, 'invited ' || CAST(u.created_date_time AS TEXT) AS detail \
              FROM entraid_users u LEFT JOIN entraid_user_signin_activity a ON a.tenant_id = u.tenant_id AND a.id = u.id \
              WHERE u.tenant_id = @tenant() AND u.user_type = 'Guest' AND @ts(u.created_date_time) < @ago(30) \
              AND @signin(a.sign_in_activity, 'lastSignInDateTime') IS NULL AND @signin(a.sign_in_activity, 'lastNonInteractiveSignInDateTime') IS NULL",
    },
    Control {
        id: "ES-GST-02",
        family: "guests",
        title: "Guest invitations pending for more than 30 days",
        severity: Low,
        rationale: "An unredeemed invitation can be redeemed by whoever controls the address. Resend or delete stale invitations.",
        source: "Microsoft Learn, B2B invitation redemption",
        link: "https://learn.microsoft.com/entra/external-id/redemption-experience",
        tables: &[USERS],
        may_be_empty: &[],
        sql: "SELECT u.id AS object_id, u.user_principal_name AS object_name, 'pending since ' || CAST(COALESCE(u.external_user_state_change_date_time, u.created_date_time) AS TEXT) AS detail \
              FROM entraid_users u WHERE u.tenant_id = @tenant() AND u.user_type = 'Guest' AND u.external_user_state = 'PendingAcceptance' \
              AND @ts(COALESCE(u.external_user_state_change_date_time, u.created_date_time)) < @ago(30)",
    },
    Control {
        id: "ES-GST-03",
        family: "guests",
        title: "Guests inactive for more than 90 days",
        severity: Medium,
        rationale: "Guests who no longer collaborate keep access to teams, sites and apps. Review them (access reviews) and remove the inactive.",
        source: "Microsoft Learn, manage inactive accounts; CIS Microsoft 365 Foundations 5.3.2",
        link: MS_STALE_USERS,
        tables: &[USERS, SIGNIN_ACT],
        may_be_empty: &[],
        sql: "SELECT u.id AS object_id, u.user_principal_name AS object_name, 'last sign-in ' || @signin(a.sign_in_activity, 'lastSignInDateTime') AS detail \
              FROM entraid_users u JOIN entraid_user_signin_activity a ON a.tenant_id = u.tenant_id AND a.id = u.id \
              WHERE u.tenant_id = @tenant() AND u.user_type = 'Guest' AND u.account_enabled = TRUE AND @ts(@signin(a.sign_in_activity, 'lastSignInDateTime')) < @ago(90)",
    },
    Control {
        id: "ES-GST-04",
        family: "guests",
        title: "Anyone in the organisation, guests included, can invite guests",
        severity: Medium,
        rationale: "When every user and guest can invite, external access grows unseen. Limit invitations to admins and the Guest Inviter role.",
        source: "CISA SCuBA MS.AAD.8.2; EIDSCA AP.04; CIS Microsoft 365 Foundations 5.1.6.2",
        link: MS_GUESTS,
        tables: &[AUTHZ],
        may_be_empty: &[],
        sql: "SELECT p.id AS object_id, p.display_name AS object_name, 'allowInvitesFrom: ' || p.allow_invites_from AS detail \
              FROM entraid_policies_authorization_policy p WHERE p.tenant_id = @tenant() AND p.allow_invites_from IN ('everyone', 'adminsGuestInvitersAndAllMembers')",
    },
    Control {
        id: "ES-GST-05",
        family: "guests",
        title: "Guest user access is not restricted",
        severity: Medium,
        rationale: "With the default or member-level guest role, guests can enumerate users and groups of the directory. Use the restricted guest role.",
        source: "CISA SCuBA MS.AAD.8.1; EIDSCA AP.07; CIS Microsoft 365 Foundations 5.1.6.3",
        link: MS_GUESTS,
        tables: &[AUTHZ],
        may_be_empty: &[],
        sql: "SELECT p.id AS object_id, p.display_name AS object_name, 'guestUserRoleId: ' || p.guest_user_role_id AS detail \
              FROM entraid_policies_authorization_policy p WHERE p.tenant_id = @tenant() AND p.guest_user_role_id <> '2af84b1e-32c8-42b7-82bc-daa82404023b'",
    },
    // ---------------------------------------------------------------- authorization policy
    Control {
        id: "ES-AZP-01",
        family: "authorization-policy",
        title: "Users can consent to applications on their own",
        severity: High,
        rationale: "User consent is how illicit-consent phishing gets mail and file access. Allow consent only for verified publishers and low-risk permissions, or not at all, with an admin consent workflow.",
        source: "CISA SCuBA MS.AAD.5.2; EIDSCA AP.08; CIS Microsoft 365 Foundations 5.1.5.1",
        link: MS_CONSENT,
        tables: &[AUTHZ],
        may_be_empty: &[],
        sql: "SELECT p.id AS object_id, p.display_name AS object_name, 'permissionGrantPoliciesAssigned: ' || @jv(g) AS detail \
              FROM entraid_policies_authorization_policy p, @jeach(g, p.default_user_role_permissions, 'permissionGrantPoliciesAssigned') \
              WHERE p.tenant_id = @tenant() AND @jv(g) LIKE 'ManagePermissionGrantsForSelf.%' AND @jv(g) <> 'ManagePermissionGrantsForSelf.microsoft-user-default-low'",
    },
    Control {
        id: "ES-AZP-02",
        family: "authorization-policy",
        title: "Users can register applications",
        severity: Medium,
        rationale: "Any user can create an app registration, become its owner and ask for permissions. Restrict registration to the Application Developer role.",
        source: "CISA SCuBA MS.AAD.5.1; EIDSCA AP.10; CIS Microsoft 365 Foundations 5.1.2.2",
        link: "https://learn.microsoft.com/entra/identity/role-based-access-control/delegate-app-roles",
        tables: &[AUTHZ],
        may_be_empty: &[],
        sql: "SELECT p.id AS object_id, p.display_name AS object_name, 'allowedToCreateApps: true' AS detail \
              FROM entraid_policies_authorization_policy p WHERE p.tenant_id = @tenant() AND @jtrue(p.default_user_role_permissions, 'allowedToCreateApps')",
    },
    Control {
        id: "ES-AZP-03",
        family: "authorization-policy",
        title: "Users can create tenants",
        severity: Medium,
        rationale: "A user who creates a tenant becomes its Global Administrator, outside your governance. Restrict tenant creation to administrators.",
        source: "EIDSCA AP.14; CIS Microsoft 365 Foundations 5.1.2.3",
        link: "https://learn.microsoft.com/entra/fundamentals/users-default-permissions",
        tables: &[AUTHZ],
        may_be_empty: &[],
        sql: "SELECT p.id AS object_id, p.display_name AS object_name, 'allowedToCreateTenants: true' AS detail \
              FROM entraid_policies_authorization_policy p WHERE p.tenant_id = @tenant() AND @jtrue(p.default_user_role_permissions, 'allowedToCreateTenants')",
    },
    Control {
        id: "ES-AZP-04",
        family: "authorization-policy",
        title: "Users can create security groups",
        severity: Low,
        rationale: "Self-service security groups multiply ungoverned access paths. Let administrators (or a governed process) create security groups.",
        source: "EIDSCA AP.09; Microsoft Learn, default user permissions",
        link: EIDSCA,
        tables: &[AUTHZ],
        may_be_empty: &[],
        sql: "SELECT p.id AS object_id, p.display_name AS object_name, 'allowedToCreateSecurityGroups: true' AS detail \
              FROM entraid_policies_authorization_policy p WHERE p.tenant_id = @tenant() AND @jtrue(p.default_user_role_permissions, 'allowedToCreateSecurityGroups')",
    },
    Control {
        id: "ES-AZP-05",
        family: "authorization-policy",
        title: "User consent allowed for risky applications",
        severity: High,
        rationale: "Microsoft flags some consent requests as risky; allowing users to consent to them defeats the protection.",
        source: "EIDSCA AP.10 (allowUserConsentForRiskyApps); Microsoft Learn, risk-based step-up consent",
        link: MS_CONSENT,
        tables: &[AUTHZ],
        may_be_empty: &[],
        sql: "SELECT p.id AS object_id, p.display_name AS object_name, 'allowUserConsentForRiskyApps: true' AS detail \
              FROM entraid_policies_authorization_policy p WHERE p.tenant_id = @tenant() AND p.allow_user_consent_for_risky_apps = TRUE",
    },
    Control {
        id: "ES-AZP-06",
        family: "authorization-policy",
        title: "E-mail-verified users can join the tenant",
        severity: Medium,
        rationale: "Self-service sign-up lets anyone with a mailbox at your domain create an account in the directory. Turn it off.",
        source: "EIDSCA AP.06; Microsoft Learn, self-service sign-up",
        link: "https://learn.microsoft.com/entra/identity/users/directory-self-service-signup",
        tables: &[AUTHZ],
        may_be_empty: &[],
        sql: "SELECT p.id AS object_id, p.display_name AS object_name, 'allowEmailVerifiedUsersToJoinOrganization: true' AS detail \
              FROM entraid_policies_authorization_policy p WHERE p.tenant_id = @tenant() AND p.allow_email_verified_users_to_join_organization = TRUE",
    },
    Control {
        id: "ES-AZP-07",
        family: "authorization-policy",
        title: "Admin consent workflow disabled",
        severity: Low,
        rationale: "Without an admin consent workflow, users blocked from consenting have no sanctioned way to ask, and look for workarounds.",
        source: "CISA SCuBA MS.AAD.5.3; CIS Microsoft 365 Foundations 5.1.5.2",
        link: "https://learn.microsoft.com/entra/identity/enterprise-apps/configure-admin-consent-workflow",
        tables: &["entraid_policies_adminconsentrequestpolicy"],
        may_be_empty: &[],
        sql: "SELECT 'adminConsentRequestPolicy' AS object_id, 'Admin consent request policy' AS object_name, 'isEnabled: false' AS detail \
              FROM entraid_policies_adminconsentrequestpolicy p WHERE p.tenant_id = @tenant() AND NOT (p.is_enabled = TRUE)",
    },
    // ---------------------------------------------------------------- risk
    Control {
        id: "ES-RISK-01",
        family: "risk",
        title: "Risky users not remediated",
        severity: High,
        rationale: "Users at risk or confirmed compromised keep signing in until someone resets their password, revokes sessions and closes the risk.",
        source: "CISA SCuBA MS.AAD.2.1; Microsoft Learn, remediate risks",
        link: MS_RISK,
        tables: &[RISKY_USERS],
        may_be_empty: &[],
        sql: "SELECT r.id AS object_id, r.user_principal_name AS object_name, r.risk_level || ' risk, ' || r.risk_state AS detail \
              FROM entraid_identityprotection_riskyusers r WHERE r.tenant_id = @tenant() AND r.risk_state IN ('atRisk', 'confirmedCompromised') AND NOT (r.is_deleted = TRUE)",
    },
    // ---------------------------------------------------------------- devices
    Control {
        id: "ES-DEV-01",
        family: "devices",
        title: "Enabled devices inactive for more than 90 days",
        severity: Low,
        rationale: "Stale devices clutter compliance reports and, while enabled, still count as trusted by device-based Conditional Access. Disable, then delete them.",
        source: "Microsoft Learn, manage stale devices",
        link: MS_STALE_DEV,
        tables: &["entraid_devices"],
        may_be_empty: &[],
        sql: "SELECT d.id AS object_id, d.display_name AS object_name, 'last activity ' || COALESCE(CAST(d.approximate_last_sign_in_date_time AS TEXT), 'never') AS detail \
              FROM entraid_devices d WHERE d.tenant_id = @tenant() AND d.account_enabled = TRUE \
              AND (d.approximate_last_sign_in_date_time IS NULL OR @ts(d.approximate_last_sign_in_date_time) < @ago(90))",
    },
    Control {
        id: "ES-DEV-02",
        family: "devices",
        title: "Non-compliant managed devices",
        severity: Medium,
        rationale: "Devices that fail compliance policies (no encryption, old OS, no lock) should not reach company data; fix them or let a Conditional Access policy require compliance.",
        source: "Microsoft Learn, Intune device compliance",
        link: "https://learn.microsoft.com/intune/intune-service/protect/device-compliance-get-started",
        tables: &["entraid_devicemanagement_manageddevices"],
        may_be_empty: &[],
        sql: "SELECT m.id AS object_id, m.device_name AS object_name, m.compliance_state || ' (' || COALESCE(m.user_principal_name, '') || ')' AS detail \
              FROM entraid_devicemanagement_manageddevices m WHERE m.tenant_id = @tenant() AND m.compliance_state IN ('noncompliant', 'error', 'conflict')",
    },
    Control {
        id: "ES-DEV-03",
        family: "devices",
        title: "Jailbroken or rooted managed devices",
        severity: High,
        rationale: "A jailbroken device no longer enforces the platform's sandbox; company data on it is exposed.",
        source: "Microsoft Learn, Intune compliance settings",
        link: "https://learn.microsoft.com/intune/intune-service/protect/device-compliance-get-started",
        tables: &["entraid_devicemanagement_manageddevices"],
        may_be_empty: &[],
        sql: "SELECT m.id AS object_id, m.device_name AS object_name, 'jailBroken: ' || m.jail_broken AS detail \
              FROM entraid_devicemanagement_manageddevices m WHERE m.tenant_id = @tenant() AND lower(m.jail_broken) = 'true'",
    },
    // ---------------------------------------------------------------- hygiene
    Control {
        id: "ES-HYG-01",
        family: "hygiene",
        title: "Enabled member accounts inactive for more than 90 days",
        severity: Low,
        rationale: "Accounts nobody uses are not watched by anybody; their compromise goes unnoticed. Disable and remove them.",
        source: "Microsoft Learn, manage inactive user accounts; CIS Microsoft 365 Foundations 5.3",
        link: MS_STALE_USERS,
        tables: &[USERS, SIGNIN_ACT],
        may_be_empty: &[],
        sql: "SELECT u.id AS object_id, u.user_principal_name AS object_name, 'last sign-in ' || @signin(a.sign_in_activity, 'lastSignInDateTime') AS detail \
              FROM entraid_users u JOIN entraid_user_signin_activity a ON a.tenant_id = u.tenant_id AND a.id = u.id \
              WHERE u.tenant_id = @tenant() AND u.user_type = 'Member' AND u.account_enabled = TRUE AND @ts(@signin(a.sign_in_activity, 'lastSignInDateTime')) < @ago(90)",
    },
    Control {
        id: "ES-HYG-02",
        family: "hygiene",
        title: "Users with on-premises provisioning errors",
        severity: Low,
        rationale: "Directory synchronisation could not write some attributes (duplicate proxy addresses or UPNs); these accounts differ from what Active Directory says.",
        source: "Microsoft Learn, Entra Connect sync errors",
        link: "https://learn.microsoft.com/entra/identity/hybrid/connect/tshoot-connect-sync-errors",
        tables: &[USERS],
        may_be_empty: &[],
        sql: "SELECT u.id AS object_id, u.user_principal_name AS object_name, @jt(e.value, 'category') || ': ' || COALESCE(@jt(e.value, 'propertyCausingError'), '') AS detail \
              FROM entraid_users u, @jeach(e, u.on_premises_provisioning_errors, '') WHERE u.tenant_id = @tenant()",
    },
    Control {
        id: "ES-HYG-03",
        family: "hygiene",
        title: "Groups with on-premises provisioning errors",
        severity: Low,
        rationale: "Synchronisation errors on groups mean their cloud membership or attributes differ from Active Directory's.",
        source: "Microsoft Learn, Entra Connect sync errors",
        link: "https://learn.microsoft.com/entra/identity/hybrid/connect/tshoot-connect-sync-errors",
        tables: &[GROUPS],
        may_be_empty: &[],
        sql: "SELECT g.id AS object_id, g.display_name AS object_name, @jt(e.value, 'category') || ': ' || COALESCE(@jt(e.value, 'propertyCausingError'), '') AS detail \
              FROM entraid_groups g, @jeach(e, g.on_premises_provisioning_errors, '') WHERE g.tenant_id = @tenant()",
    },
    Control {
        id: "ES-HYG-04",
        family: "hygiene",
        title: "Enabled member accounts that never signed in, created more than 30 days ago",
        severity: Low,
        rationale: "An account created and never used may be a leftover of onboarding or a planted account; either way nobody watches it.",
        source: "Microsoft Learn, manage inactive user accounts",
        link: MS_STALE_USERS,
        tables: &[USERS, SIGNIN_ACT],
        may_be_empty: &[],
        sql: "SELECT u.id AS object_id, u.user_principal_name AS object_name, 'created ' || CAST(u.created_date_time AS TEXT) AS detail \
              FROM entraid_users u JOIN entraid_user_signin_activity a ON a.tenant_id = u.tenant_id AND a.id = u.id \
              WHERE u.tenant_id = @tenant() AND u.user_type = 'Member' AND u.account_enabled = TRUE AND @ts(u.created_date_time) < @ago(30) \
              AND @signin(a.sign_in_activity, 'lastSignInDateTime') IS NULL AND @signin(a.sign_in_activity, 'lastNonInteractiveSignInDateTime') IS NULL",
    },
    Control {
        id: "ES-HYG-05",
        family: "hygiene",
        title: "Unverified domains",
        severity: Info,
        rationale: "A domain added but never verified is unused or abandoned; remove it so it cannot be confused with a real one.",
        source: "Microsoft Learn, manage custom domain names",
        link: "https://learn.microsoft.com/entra/identity/users/domains-manage",
        tables: &["entraid_domains"],
        may_be_empty: &[],
        sql: "SELECT d.id AS object_id, d.id AS object_name, 'not verified' AS detail FROM entraid_domains d WHERE d.tenant_id = @tenant() AND NOT (d.is_verified = TRUE)",
    },
];

/// A change query for `--since`: rows of `tenant_id, object_id, object_name, detail,
/// changed_at` for changes at or after `@since()`. They read what every sync already keeps (object timestamps
/// and the directory audit log, which incremental syncs extend by cursor), so no extra history
/// table is written.
pub struct ChangeQuery {
    pub id: &'static str,
    pub title: &'static str,
    pub tables: &'static [&'static str],
    pub sql: &'static str,
}

pub static CHANGES: &[ChangeQuery] = &[
    ChangeQuery {
        id: "CHG-ROLES",
        title: "New privileged-role holders",
        tables: &[ELIG, RD, "entraid_auditlogs_directoryaudits"],
        sql: "SELECT e.tenant_id AS tenant_id, e.principal_id AS object_id, COALESCE(rd.display_name, e.role_definition_id) AS object_name, 'eligible (PIM) for ' || COALESCE(rd.display_name, e.role_definition_id) AS detail, CAST(e.created_date_time AS TEXT) AS changed_at \
              FROM entraid_rolemanagement_roleeligibilityschedules e LEFT JOIN entraid_rolemanagement_roledefinitions rd ON rd.tenant_id = e.tenant_id AND rd.id = e.role_definition_id \
              WHERE e.role_definition_id IN @list('priv_roles') AND @ts(e.created_date_time) >= @since() \
              UNION ALL SELECT a.tenant_id, @jt(t.value, 'id'), COALESCE(@jt(t.value, 'userPrincipalName'), @jt(t.value, 'displayName')), a.activity_display_name || ' (audit log)', CAST(a.activity_date_time AS TEXT) \
              FROM entraid_auditlogs_directoryaudits a, @jeach(t, a.target_resources, '') \
              WHERE a.activity_display_name IN ('Add member to role', 'Add eligible member to role', 'Add member to role completed (PIM activation)', 'Add scoped member to role') \
              AND @ts(a.activity_date_time) >= @since()",
    },
    ChangeQuery {
        id: "CHG-CREDS",
        title: "New application and service principal credentials",
        tables: &[APPS, SPS],
        sql: "SELECT a.tenant_id AS tenant_id, a.id AS object_id, a.display_name AS object_name, 'secret ' || COALESCE(@jt(k.value, 'displayName'), @jt(k.value, 'keyId')) || ' until ' || COALESCE(@jt(k.value, 'endDateTime'), '?') AS detail, @jt(k.value, 'startDateTime') AS changed_at \
              FROM entraid_applications a, @jeach(k, a.password_credentials, '') WHERE @ts(@jt(k.value, 'startDateTime')) >= @since() \
              UNION ALL SELECT a.tenant_id, a.id, a.display_name, 'certificate ' || COALESCE(@jt(k.value, 'displayName'), @jt(k.value, 'keyId')) || ' until ' || COALESCE(@jt(k.value, 'endDateTime'), '?'), @jt(k.value, 'startDateTime') \
              FROM entraid_applications a, @jeach(k, a.key_credentials, '') WHERE @ts(@jt(k.value, 'startDateTime')) >= @since() \
              UNION ALL SELECT s.tenant_id, s.id, s.display_name, 'secret on the service principal until ' || COALESCE(@jt(k.value, 'endDateTime'), '?'), @jt(k.value, 'startDateTime') \
              FROM entraid_serviceprincipals s, @jeach(k, s.password_credentials, '') WHERE @ts(@jt(k.value, 'startDateTime')) >= @since()",
    },
    ChangeQuery {
        id: "CHG-CA",
        title: "Conditional Access policies changed, with their current exclusions",
        tables: &[CA],
        sql: "SELECT p.tenant_id AS tenant_id, p.id AS object_id, p.display_name AS object_name, \
              p.state || '; excluded users: ' || CAST(@jlen(p.conditions, 'users.excludeUsers') AS TEXT) || ', excluded groups: ' || CAST(@jlen(p.conditions, 'users.excludeGroups') AS TEXT) AS detail, \
              CAST(COALESCE(p.modified_date_time, p.created_date_time) AS TEXT) AS changed_at \
              FROM entraid_identity_conditional_access_policies p WHERE @ts(COALESCE(p.modified_date_time, p.created_date_time)) >= @since()",
    },
    ChangeQuery {
        id: "CHG-PERMS",
        title: "New high-privilege Microsoft Graph application permissions",
        tables: &[SPS, "entraid_serviceprincipal_approleassignments"],
        sql: "SELECT DISTINCT x.tenant_id AS tenant_id, x.principal_id AS object_id, COALESCE(x.principal_display_name, x.principal_id) AS object_name, @jt(r.value, 'value') AS detail, CAST(x.created_date_time AS TEXT) AS changed_at \
              FROM entraid_serviceprincipal_approleassignments x \
              JOIN entraid_serviceprincipals res ON res.tenant_id = x.tenant_id AND res.id = x.resource_id, @jeach(r, res.app_roles, '') \
              WHERE res.app_id = '00000003-0000-0000-c000-000000000000' AND @jt(r.value, 'id') = x.app_role_id \
              AND @jt(r.value, 'value') IN @list('high_graph_perms') AND @ts(x.created_date_time) >= @since()",
    },
];

const APP_ROLE_ASSIGNMENTS: &str = "entraid_serviceprincipal_approleassignments";
const GRANTS: &str = "entraid_oauth2permissiongrants";

/// The holders of privileged roles in `$table` (assignments or eligibilities): the principal
/// itself, and every transitive member when the principal is a group.
macro_rules! role_holders {
    ($table:literal, $how:literal) => {
        concat!(
            "SELECT '", $how, ":' || x.role_definition_id || ':' || COALESCE(x.directory_scope_id, '/') || ':' || x.principal_id AS key, \
             x.principal_id AS object_id, COALESCE(u.user_principal_name, g.display_name, s.display_name, x.principal_id) AS object_name, \
             COALESCE(rd.display_name, x.role_definition_id) || ' (", $how, ")' AS detail \
             FROM ", $table, " x \
             LEFT JOIN entraid_rolemanagement_roledefinitions rd ON rd.tenant_id = x.tenant_id AND rd.id = x.role_definition_id \
             LEFT JOIN entraid_users u ON u.tenant_id = x.tenant_id AND u.id = x.principal_id \
             LEFT JOIN entraid_groups g ON g.tenant_id = x.tenant_id AND g.id = x.principal_id \
             LEFT JOIN entraid_serviceprincipals s ON s.tenant_id = x.tenant_id AND s.id = x.principal_id \
             WHERE x.tenant_id = @tenant() AND x.role_definition_id IN @list('priv_roles') \
             UNION ALL \
             SELECT '", $how, ":' || x.role_definition_id || ':' || COALESCE(x.directory_scope_id, '/') || ':' || x.principal_id || ':' || tm.id, \
             tm.id, COALESCE(u.user_principal_name, m.display_name, s.display_name, tm.id), \
             COALESCE(rd.display_name, x.role_definition_id) || ' (", $how, ") via group ' || COALESCE(g.display_name, x.principal_id) \
             FROM ", $table, " x \
             JOIN entraid_group_transitive_members tm ON tm.tenant_id = x.tenant_id AND tm.group_id = x.principal_id \
             LEFT JOIN entraid_rolemanagement_roledefinitions rd ON rd.tenant_id = x.tenant_id AND rd.id = x.role_definition_id \
             LEFT JOIN entraid_groups g ON g.tenant_id = x.tenant_id AND g.id = x.principal_id \
             LEFT JOIN entraid_users u ON u.tenant_id = tm.tenant_id AND u.id = tm.id \
             LEFT JOIN entraid_groups m ON m.tenant_id = tm.tenant_id AND m.id = tm.id \
             LEFT JOIN entraid_serviceprincipals s ON s.tenant_id = tm.tenant_id AND s.id = tm.id \
             WHERE x.tenant_id = @tenant() AND x.role_definition_id IN @list('priv_roles')"
        )
    };
}

/// The credentials in one JSON array column of applications or service principals.
macro_rules! credentials {
    ($table:literal, $owner:literal, $column:literal, $what:literal) => {
        concat!(
            "SELECT '", $owner, ":' || o.id || ':", $what, ":' || @jt(k.value, 'keyId') AS key, o.id AS object_id, o.display_name AS object_name, \
             '", $what, " ' || COALESCE(@jt(k.value, 'displayName') || ' ', '') || '(key ' || @jt(k.value, 'keyId') || ') until ' || COALESCE(@jt(k.value, 'endDateTime'), 'never') AS detail \
             FROM ", $table, " o, @jeach(k, o.", $column, ", '') WHERE o.tenant_id = @tenant()"
        )
    };
}

/// The ids in one list of a Conditional Access policy's conditions, named from `$names`.
macro_rules! ca_scope {
    ($path:literal, $label:literal, $names:literal, $name:literal) => {
        concat!(
            "SELECT p.id || ':", $path, ":' || @jv(x) AS key, p.id AS object_id, p.display_name AS object_name, \
             '", $label, " ' || COALESCE((SELECT n.", $name, " FROM ", $names, " n WHERE n.tenant_id = p.tenant_id AND n.id = @jv(x)), @jv(x)) AS detail \
             FROM entraid_identity_conditional_access_policies p CROSS JOIN @jeach(x, p.conditions, '", $path, "') WHERE p.tenant_id = @tenant()"
        )
    };
}

/// The watched facts: what `entrasync sync` snapshots after each sync into SQLite or
/// PostgreSQL so that `check --since` shows additions *and removals* (see [`super::watch`]).
pub static WATCHED: &[Watch] = &[
    Watch {
        id: "LOG-ROLES",
        kind: "role_holders",
        title: "Privileged-role holders, active (directly or through a group, transitively)",
        tables: &[RA, RD, USERS, GROUPS, SPS, TRANS],
        sql: role_holders!("entraid_rolemanagement_roleassignments", "active"),
    },
    Watch {
        id: "LOG-ELIGIBLE",
        kind: "role_eligible",
        title: "Privileged-role holders, PIM-eligible (directly or through a group, transitively)",
        tables: &[ELIG, RD, USERS, GROUPS, SPS, TRANS],
        sql: role_holders!(
            "entraid_rolemanagement_roleeligibilityschedules",
            "eligible"
        ),
    },
    Watch {
        id: "LOG-CREDS",
        kind: "credentials",
        title: "Application and service principal credentials",
        tables: &[APPS, SPS],
        sql: concat!(
            credentials!(
                "entraid_applications",
                "application",
                "password_credentials",
                "secret"
            ),
            " UNION ALL ",
            credentials!(
                "entraid_applications",
                "application",
                "key_credentials",
                "certificate"
            ),
            " UNION ALL ",
            credentials!(
                "entraid_serviceprincipals",
                "service principal",
                "password_credentials",
                "secret"
            ),
            " UNION ALL ",
            credentials!(
                "entraid_serviceprincipals",
                "service principal",
                "key_credentials",
                "certificate"
            ),
        ),
    },
    Watch {
        id: "LOG-CA",
        kind: "ca_scope",
        title: "Conditional Access inclusions and exclusions (users, groups, roles)",
        tables: &[CA, USERS, GROUPS, RD],
        sql: concat!(
            ca_scope!(
                "users.includeUsers",
                "includes user",
                "entraid_users",
                "user_principal_name"
            ),
            " UNION ALL ",
            ca_scope!(
                "users.excludeUsers",
                "excludes user",
                "entraid_users",
                "user_principal_name"
            ),
            " UNION ALL ",
            ca_scope!(
                "users.includeGroups",
                "includes group",
                "entraid_groups",
                "display_name"
            ),
            " UNION ALL ",
            ca_scope!(
                "users.excludeGroups",
                "excludes group",
                "entraid_groups",
                "display_name"
            ),
            " UNION ALL ",
            ca_scope!(
                "users.includeRoles",
                "includes role",
                "entraid_rolemanagement_roledefinitions",
                "display_name"
            ),
            " UNION ALL ",
            ca_scope!(
                "users.excludeRoles",
                "excludes role",
                "entraid_rolemanagement_roledefinitions",
                "display_name"
            ),
        ),
    },
    Watch {
        id: "LOG-PERMS",
        kind: "app_permissions",
        title: "High-privilege Microsoft Graph application permissions granted",
        tables: &[SPS, APP_ROLE_ASSIGNMENTS],
        sql: "SELECT x.principal_id || ':' || x.resource_id || ':' || x.app_role_id AS key, x.principal_id AS object_id, \
              COALESCE(x.principal_display_name, x.principal_id) AS object_name, @jt(r.value, 'value') || ' (' || COALESCE(x.principal_type, '?') || ')' AS detail \
              FROM entraid_serviceprincipal_approleassignments x \
              JOIN entraid_serviceprincipals res ON res.tenant_id = x.tenant_id AND res.id = x.resource_id, @jeach(r, res.app_roles, '') \
              WHERE x.tenant_id = @tenant() AND res.app_id = '00000003-0000-0000-c000-000000000000' AND @jt(r.value, 'id') = x.app_role_id \
              AND @jt(r.value, 'value') IN @list('high_graph_perms')",
    },
    Watch {
        id: "LOG-GRANTS",
        kind: "tenant_grants",
        title: "Delegated permissions granted for all users (tenant-wide consent)",
        tables: &[GRANTS, SPS],
        sql: "SELECT g.client_id || ':' || g.resource_id || ':' || trim(COALESCE(g.scope, '')) AS key, g.client_id AS object_id, \
              COALESCE(s.display_name, g.client_id) AS object_name, 'all users: ' || trim(COALESCE(g.scope, '')) AS detail \
              FROM entraid_oauth2permissiongrants g LEFT JOIN entraid_serviceprincipals s ON s.tenant_id = g.tenant_id AND s.id = g.client_id \
              WHERE g.tenant_id = @tenant() AND g.consent_type = 'AllPrincipals'",
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    /// The aliases of the tables a query reads (`FROM entraid_x a`, `JOIN entraid_y AS b`).
    fn table_aliases(sql: &str) -> Vec<(String, String)> {
        let tokens: Vec<&str> = sql
            .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
            .filter(|t| !t.is_empty())
            .collect();
        let mut out = Vec::new();
        for (i, t) in tokens.iter().enumerate() {
            if !t.starts_with("entraid_") || i == 0 {
                continue;
            }
            if !matches!(tokens[i - 1].to_ascii_uppercase().as_str(), "FROM" | "JOIN") {
                continue;
            }
            let mut alias = tokens.get(i + 1).copied().unwrap_or_default();
            if alias.eq_ignore_ascii_case("AS") {
                alias = tokens.get(i + 2).copied().unwrap_or_default();
            }
            out.push((t.to_string(), alias.to_string()));
        }
        out
    }

    /// Every table a control, chart or watched fact reads is tied to one tenant: each alias is
    /// compared on `tenant_id` (to `@tenant()` or to a row already tied to it), so no count,
    /// threshold, "none exists" or join mixes the tenants of one destination.
    #[test]
    fn every_table_read_is_tied_to_the_tenant() {
        let mut queries: Vec<(&str, &str)> = CONTROLS.iter().map(|c| (c.id, c.sql)).collect();
        queries.extend(WATCHED.iter().map(|w| (w.id, w.sql)));
        // The charts count over every tenant of the destination (each branch of the expiry
        // chart reads one table alone); their joins stay within a tenant.
        queries.push(("ROLE_HOLDERS_CHART", ROLE_HOLDERS_CHART.sql));
        let mut bad = Vec::new();
        for (id, sql) in queries {
            if !id.ends_with("_CHART") && !sql.contains("@tenant()") {
                bad.push(format!("{id}: no @tenant()"));
            }
            let aliases = table_aliases(sql);
            assert!(!aliases.is_empty(), "{id}: no table found in {sql}");
            for (table, alias) in aliases {
                let keyword = matches!(
                    alias.to_ascii_uppercase().as_str(),
                    "" | "WHERE" | "ON" | "JOIN" | "LEFT" | "CROSS" | "GROUP" | "UNION" | "ORDER"
                );
                if keyword {
                    bad.push(format!("{id}: {table} has no alias"));
                } else if !sql.contains(&format!("{alias}.tenant_id")) {
                    bad.push(format!("{id}: {table} {alias} not compared on tenant_id"));
                }
            }
        }
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    }
}
