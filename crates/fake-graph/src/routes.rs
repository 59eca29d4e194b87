//! The endpoint table: every Graph path fake-graph serves, with its permission, licence, throttle
//! class, resource-unit cost and page sizes. Paths are relative to `/v1.0` or `/beta`.

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

const DIR: &str = "Directory.Read.All";
const U: &[&str] = &["User.Read.All", DIR];
const G: &[&str] = &["Group.Read.All", DIR];
const GM: &[&str] = &["GroupMember.Read.All", "Group.Read.All", DIR];
const A: &[&str] = &["Application.Read.All", DIR];
const R: &[&str] = &[
    "RoleManagement.Read.Directory",
    "RoleManagement.Read.All",
    DIR,
];
const RAS: &[&str] = &[
    "RoleAssignmentSchedule.Read.Directory",
    "RoleManagement.Read.Directory",
    "RoleManagement.Read.All",
];
const RES: &[&str] = &[
    "RoleEligibilitySchedule.Read.Directory",
    "RoleManagement.Read.Directory",
    "RoleManagement.Read.All",
];
const D: &[&str] = &["Device.Read.All", DIR];
const AU: &[&str] = &["AdministrativeUnit.Read.All", DIR];
const O: &[&str] = &["Organization.Read.All", DIR];
const P: &[&str] = &["Policy.Read.All"];
const LOG: &[&str] = &["AuditLog.Read.All"];

macro_rules! r {
    ($p:expr, $k:expr, $perms:expr, $lic:expr, $class:expr, $cost:expr, $top:expr, $ctx:expr) => {
        Route {
            pattern: $p,
            kind: $k,
            perms: $perms,
            lic: $lic,
            class: $class,
            cost: $cost,
            top: $top,
            context: $ctx,
        }
    };
}

use Class::{Identity as I, Intune as IN, IpCa, Reports as REP};
use Kind::*;
use Lic::None as NL;

pub const ROUTES: &[Route] = &[
    r!("users", List("users"), U, NL, I, 2, (100, 999), "users"),
    r!(
        "users/delta",
        Delta("users"),
        U,
        NL,
        I,
        2,
        (100, 999),
        "users"
    ),
    r!(
        "users/{id}",
        Entity("users"),
        U,
        NL,
        I,
        1,
        (0, 0),
        "users/$entity"
    ),
    r!("groups", List("groups"), G, NL, I, 1, (100, 999), "groups"),
    r!(
        "groups/delta",
        Delta("groups"),
        GM,
        NL,
        I,
        1,
        (100, 999),
        "groups"
    ),
    r!(
        "groups/{id}",
        Entity("groups"),
        G,
        NL,
        I,
        1,
        (0, 0),
        "groups/$entity"
    ),
    r!(
        "groups/{id}/members",
        Rel("groups", "members"),
        GM,
        NL,
        I,
        3,
        (100, 999),
        "directoryObjects"
    ),
    r!(
        "groups/{id}/owners",
        Rel("groups", "owners"),
        G,
        NL,
        I,
        1,
        (100, 999),
        "directoryObjects"
    ),
    r!(
        "users/{id}/memberOf",
        MemberOf { transitive: false },
        U,
        NL,
        I,
        2,
        (100, 999),
        "directoryObjects"
    ),
    r!(
        "users/{id}/ownedObjects",
        Holders(&["groups", "applications", "servicePrincipals"], "owners"),
        U,
        NL,
        I,
        2,
        (100, 999),
        "directoryObjects"
    ),
    r!(
        "users/{id}/ownedDevices",
        Holders(&["devices"], "registeredOwners"),
        U,
        NL,
        I,
        2,
        (100, 999),
        "directoryObjects"
    ),
    r!(
        "groups/{id}/transitiveMemberOf",
        MemberOf { transitive: true },
        GM,
        NL,
        I,
        5,
        (100, 999),
        "directoryObjects"
    ),
    r!(
        "groups/{id}/transitiveMembers",
        Transitive,
        GM,
        NL,
        I,
        5,
        (100, 999),
        "directoryObjects"
    ),
    r!(
        "groups/{id}/appRoleAssignments",
        Child("appRoleAssignments", false),
        G,
        NL,
        I,
        1,
        (100, 999),
        "groups('{id}')/appRoleAssignments"
    ),
    r!(
        "groups/{id}/groupLifecyclePolicies",
        GroupLifecycle,
        &["Policy.Read.All", DIR, "Group.Read.All"],
        NL,
        I,
        1,
        (100, 999),
        "groups('{id}')/groupLifecyclePolicies"
    ),
    r!(
        "groupSettings",
        List("groupSettings"),
        &[DIR, "Group.Read.All"],
        NL,
        I,
        1,
        (100, 999),
        "groupSettings"
    ),
    r!(
        "groupLifecyclePolicies",
        List("groupLifecyclePolicies"),
        &[DIR, "Group.Read.All"],
        NL,
        I,
        1,
        (100, 999),
        "groupLifecyclePolicies"
    ),
    r!(
        "applications",
        List("applications"),
        A,
        NL,
        I,
        2,
        (100, 999),
        "applications"
    ),
    r!(
        "applications/delta",
        Delta("applications"),
        A,
        NL,
        I,
        2,
        (100, 999),
        "applications"
    ),
    r!(
        "applications/{id}",
        Entity("applications"),
        A,
        NL,
        I,
        1,
        (0, 0),
        "applications/$entity"
    ),
    r!(
        "applications/{id}/owners",
        Rel("applications", "owners"),
        A,
        NL,
        I,
        1,
        (100, 999),
        "directoryObjects"
    ),
    r!(
        "applications/{id}/federatedIdentityCredentials",
        Child("federatedIdentityCredentials", false),
        A,
        NL,
        I,
        1,
        (100, 999),
        "applications('{id}')/federatedIdentityCredentials"
    ),
    r!(
        "servicePrincipals",
        List("servicePrincipals"),
        A,
        NL,
        I,
        1,
        (100, 999),
        "servicePrincipals"
    ),
    r!(
        "servicePrincipals/delta",
        Delta("servicePrincipals"),
        A,
        NL,
        I,
        1,
        (100, 999),
        "servicePrincipals"
    ),
    r!(
        "servicePrincipals/{id}",
        Entity("servicePrincipals"),
        A,
        NL,
        I,
        1,
        (0, 0),
        "servicePrincipals/$entity"
    ),
    r!(
        "servicePrincipals/{id}/owners",
        Rel("servicePrincipals", "owners"),
        A,
        NL,
        I,
        1,
        (100, 999),
        "directoryObjects"
    ),
    r!(
        "servicePrincipals/{id}/appRoleAssignments",
        Child("appRoleAssignments", false),
        A,
        NL,
        I,
        2,
        (100, 999),
        "servicePrincipals('{id}')/appRoleAssignments"
    ),
    r!(
        "servicePrincipals/{id}/appRoleAssignedTo",
        Child("appRoleAssignments", true),
        A,
        NL,
        I,
        2,
        (100, 999),
        "servicePrincipals('{id}')/appRoleAssignedTo"
    ),
    r!(
        "oauth2PermissionGrants",
        List("oauth2PermissionGrants"),
        &["DelegatedPermissionGrant.Read.All", DIR],
        NL,
        I,
        2,
        (100, 999),
        "oauth2PermissionGrants"
    ),
    r!(
        "oauth2PermissionGrants/delta",
        Delta("oauth2PermissionGrants"),
        &["DelegatedPermissionGrant.Read.All", DIR],
        NL,
        I,
        2,
        (100, 999),
        "oauth2PermissionGrants"
    ),
    r!(
        "directoryRoles",
        List("directoryRoles"),
        R,
        NL,
        I,
        1,
        (0, 0),
        "directoryRoles"
    ),
    r!(
        "directoryRoles/delta",
        Delta("directoryRoles"),
        R,
        NL,
        I,
        1,
        (100, 999),
        "directoryRoles"
    ),
    r!(
        "directoryRoles/{id}",
        Entity("directoryRoles"),
        R,
        NL,
        I,
        1,
        (0, 0),
        "directoryRoles/$entity"
    ),
    r!(
        "directoryRoles/{id}/members",
        Rel("directoryRoles", "members"),
        R,
        NL,
        I,
        1,
        (0, 0),
        "directoryObjects"
    ),
    r!(
        "directoryRoles/{id}/scopedMembers",
        Child("scopedMembers", false),
        R,
        NL,
        I,
        1,
        (0, 0),
        "directoryRoles('{id}')/scopedMembers"
    ),
    r!(
        "directoryRoleTemplates",
        List("directoryRoleTemplates"),
        R,
        NL,
        I,
        1,
        (0, 0),
        "directoryRoleTemplates"
    ),
    r!(
        "devices",
        List("devices"),
        D,
        NL,
        I,
        1,
        (100, 999),
        "devices"
    ),
    r!(
        "devices/delta",
        Delta("devices"),
        D,
        NL,
        I,
        1,
        (100, 999),
        "devices"
    ),
    r!(
        "devices/{id}",
        Entity("devices"),
        D,
        NL,
        I,
        1,
        (0, 0),
        "devices/$entity"
    ),
    r!(
        "devices/{id}/registeredOwners",
        Rel("devices", "registeredOwners"),
        D,
        NL,
        I,
        1,
        (100, 999),
        "directoryObjects"
    ),
    r!(
        "devices/{id}/registeredUsers",
        Rel("devices", "registeredUsers"),
        D,
        NL,
        I,
        1,
        (100, 999),
        "directoryObjects"
    ),
    r!(
        "directory/administrativeUnits",
        List("administrativeUnits"),
        AU,
        NL,
        I,
        1,
        (100, 999),
        "directory/administrativeUnits"
    ),
    r!(
        "directory/administrativeUnits/delta",
        Delta("administrativeUnits"),
        AU,
        NL,
        I,
        1,
        (100, 999),
        "administrativeUnits"
    ),
    r!(
        "directory/administrativeUnits/{id}",
        Entity("administrativeUnits"),
        AU,
        NL,
        I,
        1,
        (0, 0),
        "directory/administrativeUnits/$entity"
    ),
    r!(
        "directory/administrativeUnits/{id}/members",
        Rel("administrativeUnits", "members"),
        AU,
        NL,
        I,
        1,
        (100, 999),
        "directoryObjects"
    ),
    r!(
        "administrativeUnits",
        List("administrativeUnits"),
        AU,
        NL,
        I,
        1,
        (100, 999),
        "administrativeUnits"
    ),
    r!(
        "administrativeUnits/delta",
        Delta("administrativeUnits"),
        AU,
        NL,
        I,
        1,
        (100, 999),
        "administrativeUnits"
    ),
    r!(
        "administrativeUnits/{id}/members",
        Rel("administrativeUnits", "members"),
        AU,
        NL,
        I,
        1,
        (100, 999),
        "directoryObjects"
    ),
    r!(
        "contacts",
        List("contacts"),
        &["OrgContact.Read.All", DIR],
        NL,
        I,
        1,
        (100, 999),
        "contacts"
    ),
    r!(
        "contacts/delta",
        Delta("contacts"),
        &["OrgContact.Read.All", DIR],
        NL,
        I,
        1,
        (100, 999),
        "contacts"
    ),
    r!(
        "contacts/{id}",
        Entity("contacts"),
        &["OrgContact.Read.All", DIR],
        NL,
        I,
        1,
        (0, 0),
        "contacts/$entity"
    ),
    r!(
        "domains",
        List("domains"),
        &["Domain.Read.All", DIR],
        NL,
        I,
        1,
        (100, 999),
        "domains"
    ),
    r!(
        "domains/{id}",
        Entity("domains"),
        &["Domain.Read.All", DIR],
        NL,
        I,
        1,
        (0, 0),
        "domains/$entity"
    ),
    r!(
        "organization",
        List("organization"),
        O,
        NL,
        I,
        1,
        (100, 999),
        "organization"
    ),
    r!(
        "organization/{id}",
        Entity("organization"),
        O,
        NL,
        I,
        1,
        (0, 0),
        "organization/$entity"
    ),
    r!(
        "subscribedSkus",
        List("subscribedSkus"),
        O,
        NL,
        I,
        3,
        (0, 0),
        "subscribedSkus"
    ),
    r!(
        "directory/subscriptions",
        List("subscriptions"),
        O,
        NL,
        I,
        1,
        (100, 999),
        "directory/subscriptions"
    ),
    r!(
        "roleManagement/directory/roleDefinitions",
        List("roleDefinitions"),
        R,
        NL,
        I,
        1,
        (0, 0),
        "roleManagement/directory/roleDefinitions"
    ),
    r!(
        "roleManagement/directory/roleDefinitions/{id}",
        Entity("roleDefinitions"),
        R,
        NL,
        I,
        1,
        (0, 0),
        "roleManagement/directory/roleDefinitions/$entity"
    ),
    r!(
        "roleManagement/directory/roleAssignments",
        List("roleAssignments"),
        R,
        NL,
        I,
        1,
        (100, 999),
        "roleManagement/directory/roleAssignments"
    ),
    r!(
        "roleManagement/directory/roleAssignmentSchedules",
        List("roleAssignmentSchedules"),
        RAS,
        Lic::Pim,
        I,
        1,
        (100, 999),
        "roleManagement/directory/roleAssignmentSchedules"
    ),
    r!(
        "roleManagement/directory/roleAssignmentScheduleInstances",
        List("roleAssignmentScheduleInstances"),
        RAS,
        Lic::Pim,
        I,
        1,
        (100, 999),
        "roleManagement/directory/roleAssignmentScheduleInstances"
    ),
    r!(
        "roleManagement/directory/roleAssignmentScheduleRequests",
        List("roleAssignmentScheduleRequests"),
        &[
            "RoleAssignmentSchedule.ReadWrite.Directory",
            "RoleManagement.Read.Directory",
            "RoleManagement.Read.All"
        ],
        Lic::Pim,
        I,
        1,
        (100, 999),
        "roleManagement/directory/roleAssignmentScheduleRequests"
    ),
    r!(
        "roleManagement/directory/roleEligibilitySchedules",
        List("roleEligibilitySchedules"),
        RES,
        Lic::Pim,
        I,
        1,
        (100, 999),
        "roleManagement/directory/roleEligibilitySchedules"
    ),
    r!(
        "roleManagement/directory/roleEligibilityScheduleInstances",
        List("roleEligibilityScheduleInstances"),
        RES,
        Lic::Pim,
        I,
        1,
        (100, 999),
        "roleManagement/directory/roleEligibilityScheduleInstances"
    ),
    r!(
        "roleManagement/directory/roleEligibilityScheduleRequests",
        List("roleEligibilityScheduleRequests"),
        RES,
        Lic::Pim,
        I,
        1,
        (100, 999),
        "roleManagement/directory/roleEligibilityScheduleRequests"
    ),
    r!(
        "identityGovernance/privilegedAccess/group/assignmentScheduleInstances",
        PimGroup("pimGroupAssignmentInstances"),
        &["PrivilegedAssignmentSchedule.Read.AzureADGroup"],
        Lic::Pim,
        I,
        1,
        (100, 999),
        "identityGovernance/privilegedAccess/group/assignmentScheduleInstances"
    ),
    r!(
        "identityGovernance/privilegedAccess/group/eligibilityScheduleInstances",
        PimGroup("pimGroupEligibilityInstances"),
        &["PrivilegedEligibilitySchedule.Read.AzureADGroup"],
        Lic::Pim,
        I,
        1,
        (100, 999),
        "identityGovernance/privilegedAccess/group/eligibilityScheduleInstances"
    ),
    r!(
        "identity/conditionalAccess/policies",
        List("conditionalAccessPolicies"),
        P,
        Lic::P1,
        IpCa,
        1,
        (100, 999),
        "identity/conditionalAccess/policies"
    ),
    r!(
        "identity/conditionalAccess/namedLocations",
        List("namedLocations"),
        P,
        Lic::None,
        IpCa,
        1,
        (100, 999),
        "identity/conditionalAccess/namedLocations"
    ),
    r!(
        "policies/identitySecurityDefaultsEnforcementPolicy",
        Singleton("identitySecurityDefaultsEnforcementPolicy"),
        &["Policy.Read.All", "Organization.Read.All"],
        NL,
        I,
        1,
        (0, 0),
        "policies/identitySecurityDefaultsEnforcementPolicy/$entity"
    ),
    r!(
        "policies/authorizationPolicy",
        Singleton("authorizationPolicy"),
        P,
        NL,
        I,
        1,
        (0, 0),
        "policies/authorizationPolicy/$entity"
    ),
    r!(
        "policies/authenticationMethodsPolicy",
        Singleton("authenticationMethodsPolicy"),
        P,
        NL,
        I,
        1,
        (0, 0),
        "policies/authenticationMethodsPolicy/$entity"
    ),
    r!(
        "policies/adminConsentRequestPolicy",
        Singleton("adminConsentRequestPolicy"),
        P,
        NL,
        I,
        1,
        (0, 0),
        "policies/adminConsentRequestPolicy/$entity"
    ),
    r!(
        "policies/crossTenantAccessPolicy",
        Singleton("crossTenantAccessPolicy"),
        P,
        NL,
        I,
        1,
        (0, 0),
        "policies/crossTenantAccessPolicy/$entity"
    ),
    r!(
        "policies/crossTenantAccessPolicy/partners",
        List("crossTenantPartners"),
        P,
        NL,
        I,
        1,
        (100, 999),
        "policies/crossTenantAccessPolicy/partners"
    ),
    r!(
        "policies/tokenLifetimePolicies",
        List("tokenLifetimePolicies"),
        P,
        NL,
        I,
        1,
        (100, 999),
        "policies/tokenLifetimePolicies"
    ),
    r!(
        "policies/permissionGrantPolicies",
        List("permissionGrantPolicies"),
        P,
        NL,
        I,
        1,
        (100, 999),
        "policies/permissionGrantPolicies"
    ),
    r!(
        "auditLogs/directoryAudits",
        Log(LogKind::Audit),
        LOG,
        NL,
        REP,
        1,
        (1000, 1000),
        "auditLogs/directoryAudits"
    ),
    r!(
        "auditLogs/signIns",
        Log(LogKind::SignIn),
        LOG,
        Lic::P1,
        REP,
        1,
        (1000, 1000),
        "auditLogs/signIns"
    ),
    r!(
        "reports/authenticationMethods/userRegistrationDetails",
        List("userRegistrationDetails"),
        &["AuditLog.Read.All", "Reports.Read.All"],
        Lic::P1,
        REP,
        1,
        (1000, 1000),
        "reports/authenticationMethods/userRegistrationDetails"
    ),
    r!(
        "identityProtection/riskDetections",
        List("riskDetections"),
        &["IdentityRiskEvent.Read.All"],
        Lic::P1,
        IpCa,
        1,
        (100, 999),
        "identityProtection/riskDetections"
    ),
    r!(
        "identityProtection/riskyUsers",
        List("riskyUsers"),
        &["IdentityRiskyUser.Read.All"],
        Lic::P2,
        IpCa,
        1,
        (100, 999),
        "identityProtection/riskyUsers"
    ),
    r!(
        "identityProtection/riskyServicePrincipals",
        List("riskyServicePrincipals"),
        &["IdentityRiskyServicePrincipal.Read.All"],
        Lic::P2,
        IpCa,
        1,
        (100, 999),
        "identityProtection/riskyServicePrincipals"
    ),
    r!(
        "identityProtection/servicePrincipalRiskDetections",
        List("servicePrincipalRiskDetections"),
        &["IdentityRiskEvent.Read.All"],
        Lic::P2,
        IpCa,
        1,
        (100, 999),
        "identityProtection/servicePrincipalRiskDetections"
    ),
    r!(
        "deviceManagement/managedDevices",
        List("managedDevices"),
        &["DeviceManagementManagedDevices.Read.All"],
        Lic::Intune,
        IN,
        1,
        (1000, 1000),
        "deviceManagement/managedDevices"
    ),
    r!(
        "deviceManagement/deviceConfigurations",
        List("deviceConfigurations"),
        &["DeviceManagementConfiguration.Read.All"],
        Lic::Intune,
        IN,
        1,
        (1000, 1000),
        "deviceManagement/deviceConfigurations"
    ),
    r!(
        "deviceManagement/deviceCompliancePolicies",
        List("deviceCompliancePolicies"),
        &["DeviceManagementConfiguration.Read.All"],
        Lic::Intune,
        IN,
        1,
        (1000, 1000),
        "deviceManagement/deviceCompliancePolicies"
    ),
];

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
    'routes: for r in ROUTES {
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
