//! The resource registry: one entry per resource fake-graph serves, saying where it is stored, its
//! schema, the endpoints that serve it (with permission, licence, throttle class, cost and paging),
//! the relationships its objects hold, the child objects deleted with it, how the directory audit
//! names it and which random mutations change it. The route table, the tenant's collections, the
//! mutation mix and the hard-delete cascade are all derived from it, so a new collection is one
//! entry here (plus its generator and, if Appendix A lacks it, its schema in `schema/extra.txt`).
//!
//! The order of the entries is the order their generators run in, drawing from one random stream,
//! and the order of [`crate::mutate::OPS`] (their `mutations` concatenated), from which the
//! mutation stream picks by index: reordering entries changes the tenant and the mutations a seed
//! produces (`tests/it/pinned.rs` notices). A new resource goes after the ones its generator
//! refers to (users, groups, ...); appending it at the end of the collections keeps every existing
//! object as it was.

use std::sync::LazyLock;

use crate::mutate::{self as m, Mutation};
use crate::routes::Kind::*;
use crate::routes::{Lic, Route};
use crate::tenant::directory::Generator;
use crate::tenant::logs::LogKind;
use crate::throttle::Class;

/// Where a resource's objects live in the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// An ordered collection with a change log (`Tenant::colls`).
    Collection,
    /// One object (`Tenant::singletons`).
    Singleton,
    /// A lazily generated log stream (`Tenant::signins`, `Tenant::audits`).
    Log(LogKind),
}

#[derive(Debug, Clone, Copy)]
pub struct Resource {
    /// Collection key (also the name `/_fake/edit` and the ground truth use), singleton or log name.
    pub key: &'static str,
    /// Schema resource name (`schema/appendix.txt`, `schema/extra.txt`).
    pub schema: &'static str,
    pub store: Store,
    /// Endpoints serving its objects or its relationships. Paths are relative to `/v1.0` or `/beta`.
    pub routes: &'static [Route],
    /// Relationship lists its objects hold (ids of directory objects): a new object starts with
    /// them empty, and hard-deleted objects are removed from them.
    pub rels: &'static [&'static str],
    /// Child collections whose objects go with a hard-deleted object of this one: (child key,
    /// also the children whose `resourceId` is the object, as for a service principal's
    /// appRoleAssignedTo).
    pub owns: &'static [(&'static str, bool)],
    /// The `type` the directory audit gives a target object of this collection.
    pub audit_type: &'static str,
    /// (noun, category) of the audit events of its object creations, updates and deletions; none:
    /// no such events.
    pub audit_event: Option<(&'static str, &'static str)>,
    /// Counted by a mutation batch's `fraction`.
    pub counted: bool,
    /// The random mutations that change it ([`crate::mutate::OPS`]): (name, operation); repeat a
    /// name to weigh it.
    pub mutations: &'static [(&'static str, Mutation)],
    /// Adds its objects to the tenant being generated; resources generated together (an
    /// application and its service principal) have one generator, on the first of them.
    pub generate: Option<Generator>,
}

impl Resource {
    /// A collection without relationships, children, audit events or mutations.
    const COLLECTION: Resource = Resource {
        key: "",
        schema: "",
        store: Store::Collection,
        routes: &[],
        rels: &[],
        owns: &[],
        audit_type: "Other",
        audit_event: None,
        counted: false,
        mutations: &[],
        generate: None,
    };
}

/// Page sizes: (default, max) `$top`.
const PAGED: (usize, usize) = (100, 999);
/// No paging: the whole collection (or the object) in one response.
const WHOLE: (usize, usize) = (0, 0);
/// Reports and Intune pages.
const BIG: (usize, usize) = (1000, 1000);

/// An Identity-class, licence-free, paged route of cost 1 whose `@odata.context` is its path;
/// the builder methods below change what differs.
const fn route(
    pattern: &'static str,
    kind: crate::routes::Kind,
    perms: &'static [&'static str],
) -> Route {
    Route {
        pattern,
        kind,
        perms,
        lic: Lic::None,
        class: Class::Identity,
        cost: 1,
        top: PAGED,
        context: pattern,
    }
}

impl Route {
    const fn lic(mut self, lic: Lic) -> Self {
        self.lic = lic;
        self
    }
    const fn class(mut self, class: Class) -> Self {
        self.class = class;
        self
    }
    const fn cost(mut self, cost: u32) -> Self {
        self.cost = cost;
        self
    }
    const fn top(mut self, top: (usize, usize)) -> Self {
        self.top = top;
        self
    }
    const fn context(mut self, context: &'static str) -> Self {
        self.context = context;
        self
    }
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
const C: &[&str] = &["OrgContact.Read.All", DIR];
const DOM: &[&str] = &["Domain.Read.All", DIR];
const O: &[&str] = &["Organization.Read.All", DIR];
const GRANTS: &[&str] = &["DelegatedPermissionGrant.Read.All", DIR];
const P: &[&str] = &["Policy.Read.All"];
const LOG: &[&str] = &["AuditLog.Read.All"];
const DIRECTORY_OBJECTS: &str = "directoryObjects";

use Class::{Intune as IN, IpCa, Reports as REP};

/// Every resource, in generation and mutation-mix order (see the module documentation).
pub const RESOURCES: &[Resource] = &[
    Resource {
        key: "subscribedSkus",
        schema: "subscribedSku",
        routes: &[route("subscribedSkus", List("subscribedSkus"), O)
            .cost(3)
            .top(WHOLE)],
        // also subscriptions, domains and organization
        generate: Some(crate::tenant::directory::organization),
        ..Resource::COLLECTION
    },
    Resource {
        key: "subscriptions",
        schema: "companySubscription",
        routes: &[route("directory/subscriptions", List("subscriptions"), O)],
        ..Resource::COLLECTION
    },
    Resource {
        key: "domains",
        schema: "domain",
        routes: &[
            route("domains", List("domains"), DOM),
            route("domains/{id}", Entity("domains"), DOM)
                .top(WHOLE)
                .context("domains/$entity"),
        ],
        ..Resource::COLLECTION
    },
    Resource {
        key: "organization",
        schema: "organization",
        routes: &[
            route("organization", List("organization"), O),
            route("organization/{id}", Entity("organization"), O)
                .top(WHOLE)
                .context("organization/$entity"),
        ],
        ..Resource::COLLECTION
    },
    Resource {
        key: "users",
        schema: "user",
        routes: &[
            route("users", List("users"), U).cost(2),
            route("users/delta", Delta("users"), U)
                .cost(2)
                .context("users"),
            route("users/{id}", Entity("users"), U)
                .top(WHOLE)
                .context("users/$entity"),
            route("users/{id}/memberOf", MemberOf { transitive: false }, U)
                .cost(2)
                .context(DIRECTORY_OBJECTS),
            route(
                "users/{id}/ownedObjects",
                Holders(&["groups", "applications", "servicePrincipals"], "owners"),
                U,
            )
            .cost(2)
            .context(DIRECTORY_OBJECTS),
            route(
                "users/{id}/ownedDevices",
                Holders(&["devices"], "registeredOwners"),
                U,
            )
            .cost(2)
            .context(DIRECTORY_OBJECTS),
        ],
        owns: &[("appRoleAssignments", false)],
        audit_type: "User",
        audit_event: Some(("user", "UserManagement")),
        counted: true,
        mutations: &[
            ("create_user", m::create_user),
            ("update_user", m::update_user),
            ("update_user", m::update_user),
            ("soft_delete_user", m::delete_user),
            ("hard_delete_user", m::delete_user),
            ("restore_user", m::restore_user),
        ],
        generate: Some(crate::tenant::directory::users),
        ..Resource::COLLECTION
    },
    Resource {
        key: "groups",
        schema: "group",
        routes: &[
            route("groups", List("groups"), G),
            route("groups/delta", Delta("groups"), GM).context("groups"),
            route("groups/{id}", Entity("groups"), G)
                .top(WHOLE)
                .context("groups/$entity"),
            route("groups/{id}/members", Rel("groups", "members"), GM)
                .cost(3)
                .context(DIRECTORY_OBJECTS),
            route("groups/{id}/owners", Rel("groups", "owners"), G).context(DIRECTORY_OBJECTS),
            route(
                "groups/{id}/transitiveMemberOf",
                MemberOf { transitive: true },
                GM,
            )
            .cost(5)
            .context(DIRECTORY_OBJECTS),
            route("groups/{id}/transitiveMembers", Transitive, GM)
                .cost(5)
                .context(DIRECTORY_OBJECTS),
        ],
        rels: &["members", "owners"],
        owns: &[("appRoleAssignments", false)],
        audit_type: "Group",
        audit_event: Some(("group", "GroupManagement")),
        counted: true,
        mutations: &[
            ("create_group", m::create_group),
            ("update_group", m::update_group),
            ("delete_group", m::delete_group),
            ("add_member", m::member),
            ("add_member", m::member),
            ("remove_member", m::member),
            // of groups, applications and service principals
            ("add_owner", m::owner),
            ("remove_owner", m::owner),
        ],
        generate: Some(crate::tenant::directory::groups),
        ..Resource::COLLECTION
    },
    Resource {
        key: "applications",
        schema: "application",
        routes: &[
            route("applications", List("applications"), A).cost(2),
            route("applications/delta", Delta("applications"), A)
                .cost(2)
                .context("applications"),
            route("applications/{id}", Entity("applications"), A)
                .top(WHOLE)
                .context("applications/$entity"),
            route("applications/{id}/owners", Rel("applications", "owners"), A)
                .context(DIRECTORY_OBJECTS),
        ],
        rels: &["owners"],
        owns: &[("federatedIdentityCredentials", false)],
        audit_type: "Application",
        audit_event: Some(("application", "ApplicationManagement")),
        counted: true,
        mutations: &[
            ("create_application", m::create_object),
            ("update_application", m::update_object),
            ("delete_application", m::delete_object),
        ],
        // also servicePrincipals, federatedIdentityCredentials, appRoleAssignments, oauth2PermissionGrants
        generate: Some(crate::tenant::directory::applications),
        ..Resource::COLLECTION
    },
    Resource {
        key: "servicePrincipals",
        schema: "servicePrincipal",
        routes: &[
            route("servicePrincipals", List("servicePrincipals"), A),
            route("servicePrincipals/delta", Delta("servicePrincipals"), A)
                .context("servicePrincipals"),
            route("servicePrincipals/{id}", Entity("servicePrincipals"), A)
                .top(WHOLE)
                .context("servicePrincipals/$entity"),
            route(
                "servicePrincipals/{id}/owners",
                Rel("servicePrincipals", "owners"),
                A,
            )
            .context(DIRECTORY_OBJECTS),
        ],
        rels: &["owners"],
        owns: &[("appRoleAssignments", true)],
        audit_type: "ServicePrincipal",
        audit_event: Some(("service principal", "ApplicationManagement")),
        counted: true,
        mutations: &[
            ("create_service_principal", m::create_object),
            ("update_service_principal", m::update_object),
            ("delete_service_principal", m::delete_object),
        ],
        ..Resource::COLLECTION
    },
    Resource {
        key: "devices",
        schema: "device",
        routes: &[
            route("devices", List("devices"), D),
            route("devices/delta", Delta("devices"), D).context("devices"),
            route("devices/{id}", Entity("devices"), D)
                .top(WHOLE)
                .context("devices/$entity"),
            route(
                "devices/{id}/registeredOwners",
                Rel("devices", "registeredOwners"),
                D,
            )
            .context(DIRECTORY_OBJECTS),
            route(
                "devices/{id}/registeredUsers",
                Rel("devices", "registeredUsers"),
                D,
            )
            .context(DIRECTORY_OBJECTS),
        ],
        rels: &["registeredOwners", "registeredUsers"],
        audit_type: "Device",
        audit_event: Some(("device", "Device")),
        counted: true,
        mutations: &[
            ("create_device", m::create_object),
            ("update_device", m::update_object),
            ("delete_device", m::delete_object),
            ("add_registered_owner", m::owner),
            ("remove_registered_owner", m::owner),
        ],
        generate: Some(crate::tenant::directory::devices),
        ..Resource::COLLECTION
    },
    Resource {
        key: "appRoleAssignments",
        schema: "appRoleAssignment",
        routes: &[
            route(
                "groups/{id}/appRoleAssignments",
                Child("appRoleAssignments", false),
                G,
            )
            .context("groups('{id}')/appRoleAssignments"),
            route(
                "servicePrincipals/{id}/appRoleAssignments",
                Child("appRoleAssignments", false),
                A,
            )
            .cost(2)
            .context("servicePrincipals('{id}')/appRoleAssignments"),
            route(
                "servicePrincipals/{id}/appRoleAssignedTo",
                Child("appRoleAssignments", true),
                A,
            )
            .cost(2)
            .context("servicePrincipals('{id}')/appRoleAssignedTo"),
        ],
        mutations: &[
            ("add_app_role_assignment_sp", m::add_assignment_op),
            ("remove_app_role_assignment_sp", m::remove_assignment_op),
            ("add_app_role_assignment_user", m::add_assignment_op),
            ("remove_app_role_assignment_user", m::remove_assignment_op),
            ("add_app_role_assignment_group", m::add_assignment_op),
            ("remove_app_role_assignment_group", m::remove_assignment_op),
        ],
        ..Resource::COLLECTION
    },
    Resource {
        key: "federatedIdentityCredentials",
        schema: "federatedIdentityCredential",
        routes: &[route(
            "applications/{id}/federatedIdentityCredentials",
            Child("federatedIdentityCredentials", false),
            A,
        )
        .context("applications('{id}')/federatedIdentityCredentials")],
        mutations: &[
            ("add_federated_credential", m::add_federated_credential),
            (
                "remove_federated_credential",
                m::remove_federated_credential,
            ),
        ],
        ..Resource::COLLECTION
    },
    Resource {
        key: "oauth2PermissionGrants",
        schema: "oAuth2PermissionGrant",
        routes: &[
            route(
                "oauth2PermissionGrants",
                List("oauth2PermissionGrants"),
                GRANTS,
            )
            .cost(2),
            route(
                "oauth2PermissionGrants/delta",
                Delta("oauth2PermissionGrants"),
                GRANTS,
            )
            .cost(2)
            .context("oauth2PermissionGrants"),
        ],
        ..Resource::COLLECTION
    },
    Resource {
        key: "directoryRoleTemplates",
        schema: "directoryRoleTemplate",
        routes: &[route("directoryRoleTemplates", List("directoryRoleTemplates"), R).top(WHOLE)],
        // also directoryRoles
        generate: Some(crate::tenant::directory::directory_roles),
        ..Resource::COLLECTION
    },
    Resource {
        key: "directoryRoles",
        schema: "directoryRole",
        routes: &[
            route("directoryRoles", List("directoryRoles"), R).top(WHOLE),
            route("directoryRoles/delta", Delta("directoryRoles"), R).context("directoryRoles"),
            route("directoryRoles/{id}", Entity("directoryRoles"), R)
                .top(WHOLE)
                .context("directoryRoles/$entity"),
            route(
                "directoryRoles/{id}/members",
                Rel("directoryRoles", "members"),
                R,
            )
            .top(WHOLE)
            .context(DIRECTORY_OBJECTS),
        ],
        rels: &["members"],
        audit_type: "Role",
        ..Resource::COLLECTION
    },
    Resource {
        key: "scopedMembers",
        schema: "scopedRoleMembership",
        routes: &[route(
            "directoryRoles/{id}/scopedMembers",
            Child("scopedMembers", false),
            R,
        )
        .top(WHOLE)
        .context("directoryRoles('{id}')/scopedMembers")],
        ..Resource::COLLECTION
    },
    Resource {
        key: "administrativeUnits",
        schema: "administrativeUnit",
        routes: &[
            route(
                "directory/administrativeUnits",
                List("administrativeUnits"),
                AU,
            ),
            route(
                "directory/administrativeUnits/delta",
                Delta("administrativeUnits"),
                AU,
            )
            .context("administrativeUnits"),
            route(
                "directory/administrativeUnits/{id}",
                Entity("administrativeUnits"),
                AU,
            )
            .top(WHOLE)
            .context("directory/administrativeUnits/$entity"),
            route(
                "directory/administrativeUnits/{id}/members",
                Rel("administrativeUnits", "members"),
                AU,
            )
            .context(DIRECTORY_OBJECTS),
            route("administrativeUnits", List("administrativeUnits"), AU),
            route(
                "administrativeUnits/delta",
                Delta("administrativeUnits"),
                AU,
            )
            .context("administrativeUnits"),
            route(
                "administrativeUnits/{id}/members",
                Rel("administrativeUnits", "members"),
                AU,
            )
            .context(DIRECTORY_OBJECTS),
        ],
        rels: &["members"],
        audit_type: "AdministrativeUnit",
        // also scopedMembers
        generate: Some(crate::tenant::directory::admin_units),
        ..Resource::COLLECTION
    },
    Resource {
        key: "contacts",
        schema: "orgContact",
        routes: &[
            route("contacts", List("contacts"), C),
            route("contacts/delta", Delta("contacts"), C).context("contacts"),
            route("contacts/{id}", Entity("contacts"), C)
                .top(WHOLE)
                .context("contacts/$entity"),
        ],
        audit_type: "Contact",
        generate: Some(crate::tenant::directory::contacts),
        ..Resource::COLLECTION
    },
    Resource {
        key: "groupSettings",
        schema: "groupSetting",
        routes: &[route(
            "groupSettings",
            List("groupSettings"),
            &[DIR, "Group.Read.All"],
        )],
        // also groupLifecyclePolicies
        generate: Some(crate::tenant::directory::group_settings),
        ..Resource::COLLECTION
    },
    Resource {
        key: "groupLifecyclePolicies",
        schema: "groupLifecyclePolicy",
        routes: &[
            route(
                "groupLifecyclePolicies",
                List("groupLifecyclePolicies"),
                &[DIR, "Group.Read.All"],
            ),
            route(
                "groups/{id}/groupLifecyclePolicies",
                GroupLifecycle,
                &["Policy.Read.All", DIR, "Group.Read.All"],
            )
            .context("groups('{id}')/groupLifecyclePolicies"),
        ],
        ..Resource::COLLECTION
    },
    Resource {
        key: "roleDefinitions",
        schema: "unifiedRoleDefinition",
        routes: &[
            route(
                "roleManagement/directory/roleDefinitions",
                List("roleDefinitions"),
                R,
            )
            .top(WHOLE),
            route(
                "roleManagement/directory/roleDefinitions/{id}",
                Entity("roleDefinitions"),
                R,
            )
            .top(WHOLE)
            .context("roleManagement/directory/roleDefinitions/$entity"),
        ],
        // also every later collection and the singletons
        generate: Some(crate::tenant::policy::generate_rest),
        ..Resource::COLLECTION
    },
    Resource {
        key: "roleAssignments",
        schema: "unifiedRoleAssignment",
        routes: &[route(
            "roleManagement/directory/roleAssignments",
            List("roleAssignments"),
            R,
        )],
        ..Resource::COLLECTION
    },
    Resource {
        key: "roleAssignmentSchedules",
        schema: "unifiedRoleAssignmentSchedule",
        routes: &[route(
            "roleManagement/directory/roleAssignmentSchedules",
            List("roleAssignmentSchedules"),
            RAS,
        )
        .lic(Lic::Pim)],
        ..Resource::COLLECTION
    },
    Resource {
        key: "roleAssignmentScheduleInstances",
        schema: "unifiedRoleAssignmentScheduleInstance",
        routes: &[route(
            "roleManagement/directory/roleAssignmentScheduleInstances",
            List("roleAssignmentScheduleInstances"),
            RAS,
        )
        .lic(Lic::Pim)],
        ..Resource::COLLECTION
    },
    Resource {
        key: "roleAssignmentScheduleRequests",
        schema: "unifiedRoleAssignmentScheduleRequest",
        routes: &[route(
            "roleManagement/directory/roleAssignmentScheduleRequests",
            List("roleAssignmentScheduleRequests"),
            &[
                "RoleAssignmentSchedule.ReadWrite.Directory",
                "RoleManagement.Read.Directory",
                "RoleManagement.Read.All",
            ],
        )
        .lic(Lic::Pim)],
        ..Resource::COLLECTION
    },
    Resource {
        key: "roleEligibilitySchedules",
        schema: "unifiedRoleEligibilitySchedule",
        routes: &[route(
            "roleManagement/directory/roleEligibilitySchedules",
            List("roleEligibilitySchedules"),
            RES,
        )
        .lic(Lic::Pim)],
        ..Resource::COLLECTION
    },
    Resource {
        key: "roleEligibilityScheduleInstances",
        schema: "unifiedRoleEligibilityScheduleInstance",
        routes: &[route(
            "roleManagement/directory/roleEligibilityScheduleInstances",
            List("roleEligibilityScheduleInstances"),
            RES,
        )
        .lic(Lic::Pim)],
        ..Resource::COLLECTION
    },
    Resource {
        key: "roleEligibilityScheduleRequests",
        schema: "unifiedRoleEligibilityScheduleRequest",
        routes: &[route(
            "roleManagement/directory/roleEligibilityScheduleRequests",
            List("roleEligibilityScheduleRequests"),
            RES,
        )
        .lic(Lic::Pim)],
        ..Resource::COLLECTION
    },
    Resource {
        key: "pimGroupAssignmentInstances",
        schema: "privilegedAccessGroupAssignmentScheduleInstance",
        routes: &[route(
            "identityGovernance/privilegedAccess/group/assignmentScheduleInstances",
            PimGroup("pimGroupAssignmentInstances"),
            &["PrivilegedAssignmentSchedule.Read.AzureADGroup"],
        )
        .lic(Lic::Pim)],
        ..Resource::COLLECTION
    },
    Resource {
        key: "pimGroupEligibilityInstances",
        schema: "privilegedAccessGroupEligibilityScheduleInstance",
        routes: &[route(
            "identityGovernance/privilegedAccess/group/eligibilityScheduleInstances",
            PimGroup("pimGroupEligibilityInstances"),
            &["PrivilegedEligibilitySchedule.Read.AzureADGroup"],
        )
        .lic(Lic::Pim)],
        ..Resource::COLLECTION
    },
    Resource {
        key: "conditionalAccessPolicies",
        schema: "conditionalAccessPolicy",
        routes: &[route(
            "identity/conditionalAccess/policies",
            List("conditionalAccessPolicies"),
            P,
        )
        .lic(Lic::P1)
        .class(IpCa)],
        ..Resource::COLLECTION
    },
    Resource {
        key: "namedLocations",
        schema: "namedLocation",
        routes: &[route(
            "identity/conditionalAccess/namedLocations",
            List("namedLocations"),
            P,
        )
        .class(IpCa)],
        ..Resource::COLLECTION
    },
    Resource {
        key: "identitySecurityDefaultsEnforcementPolicy",
        schema: "identitySecurityDefaultsEnforcementPolicy",
        store: Store::Singleton,
        routes: &[route(
            "policies/identitySecurityDefaultsEnforcementPolicy",
            Singleton("identitySecurityDefaultsEnforcementPolicy"),
            &["Policy.Read.All", "Organization.Read.All"],
        )
        .top(WHOLE)
        .context("policies/identitySecurityDefaultsEnforcementPolicy/$entity")],
        ..Resource::COLLECTION
    },
    Resource {
        key: "authorizationPolicy",
        schema: "authorizationPolicy",
        store: Store::Singleton,
        routes: &[route(
            "policies/authorizationPolicy",
            Singleton("authorizationPolicy"),
            P,
        )
        .top(WHOLE)
        .context("policies/authorizationPolicy/$entity")],
        ..Resource::COLLECTION
    },
    Resource {
        key: "authenticationMethodsPolicy",
        schema: "authenticationMethodsPolicy",
        store: Store::Singleton,
        routes: &[route(
            "policies/authenticationMethodsPolicy",
            Singleton("authenticationMethodsPolicy"),
            P,
        )
        .top(WHOLE)
        .context("policies/authenticationMethodsPolicy/$entity")],
        ..Resource::COLLECTION
    },
    Resource {
        key: "adminConsentRequestPolicy",
        schema: "adminConsentRequestPolicy",
        store: Store::Singleton,
        routes: &[route(
            "policies/adminConsentRequestPolicy",
            Singleton("adminConsentRequestPolicy"),
            P,
        )
        .top(WHOLE)
        .context("policies/adminConsentRequestPolicy/$entity")],
        ..Resource::COLLECTION
    },
    Resource {
        key: "crossTenantAccessPolicy",
        schema: "crossTenantAccessPolicy",
        store: Store::Singleton,
        routes: &[route(
            "policies/crossTenantAccessPolicy",
            Singleton("crossTenantAccessPolicy"),
            P,
        )
        .top(WHOLE)
        .context("policies/crossTenantAccessPolicy/$entity")],
        ..Resource::COLLECTION
    },
    Resource {
        key: "crossTenantPartners",
        schema: "crossTenantAccessPolicyConfigurationPartner",
        routes: &[route(
            "policies/crossTenantAccessPolicy/partners",
            List("crossTenantPartners"),
            P,
        )],
        ..Resource::COLLECTION
    },
    Resource {
        key: "tokenLifetimePolicies",
        schema: "tokenLifetimePolicy",
        routes: &[route(
            "policies/tokenLifetimePolicies",
            List("tokenLifetimePolicies"),
            P,
        )],
        ..Resource::COLLECTION
    },
    Resource {
        key: "permissionGrantPolicies",
        schema: "permissionGrantPolicy",
        routes: &[route(
            "policies/permissionGrantPolicies",
            List("permissionGrantPolicies"),
            P,
        )],
        ..Resource::COLLECTION
    },
    Resource {
        key: "userRegistrationDetails",
        schema: "userRegistrationDetails",
        routes: &[route(
            "reports/authenticationMethods/userRegistrationDetails",
            List("userRegistrationDetails"),
            &["AuditLog.Read.All", "Reports.Read.All"],
        )
        .lic(Lic::P1)
        .class(REP)
        .top(BIG)],
        ..Resource::COLLECTION
    },
    Resource {
        key: "riskDetections",
        schema: "riskDetection",
        routes: &[route(
            "identityProtection/riskDetections",
            List("riskDetections"),
            &["IdentityRiskEvent.Read.All"],
        )
        .lic(Lic::P1)
        .class(IpCa)],
        ..Resource::COLLECTION
    },
    Resource {
        key: "riskyUsers",
        schema: "riskyUser",
        routes: &[route(
            "identityProtection/riskyUsers",
            List("riskyUsers"),
            &["IdentityRiskyUser.Read.All"],
        )
        .lic(Lic::P2)
        .class(IpCa)],
        ..Resource::COLLECTION
    },
    Resource {
        key: "riskyServicePrincipals",
        schema: "riskyServicePrincipal",
        routes: &[route(
            "identityProtection/riskyServicePrincipals",
            List("riskyServicePrincipals"),
            &["IdentityRiskyServicePrincipal.Read.All"],
        )
        .lic(Lic::P2)
        .class(IpCa)],
        ..Resource::COLLECTION
    },
    Resource {
        key: "servicePrincipalRiskDetections",
        schema: "servicePrincipalRiskDetection",
        routes: &[route(
            "identityProtection/servicePrincipalRiskDetections",
            List("servicePrincipalRiskDetections"),
            &["IdentityRiskEvent.Read.All"],
        )
        .lic(Lic::P2)
        .class(IpCa)],
        ..Resource::COLLECTION
    },
    Resource {
        key: "managedDevices",
        schema: "managedDevice",
        routes: &[route(
            "deviceManagement/managedDevices",
            List("managedDevices"),
            &["DeviceManagementManagedDevices.Read.All"],
        )
        .lic(Lic::Intune)
        .class(IN)
        .top(BIG)],
        ..Resource::COLLECTION
    },
    Resource {
        key: "deviceConfigurations",
        schema: "deviceConfiguration",
        routes: &[route(
            "deviceManagement/deviceConfigurations",
            List("deviceConfigurations"),
            &["DeviceManagementConfiguration.Read.All"],
        )
        .lic(Lic::Intune)
        .class(IN)
        .top(BIG)],
        ..Resource::COLLECTION
    },
    Resource {
        key: "deviceCompliancePolicies",
        schema: "deviceCompliancePolicy",
        routes: &[route(
            "deviceManagement/deviceCompliancePolicies",
            List("deviceCompliancePolicies"),
            &["DeviceManagementConfiguration.Read.All"],
        )
        .lic(Lic::Intune)
        .class(IN)
        .top(BIG)],
        ..Resource::COLLECTION
    },
    Resource {
        key: "signIns",
        schema: "signIn",
        store: Store::Log(LogKind::SignIn),
        routes: &[route("auditLogs/signIns", Log(LogKind::SignIn), LOG)
            .lic(Lic::P1)
            .class(REP)
            .top(BIG)],
        mutations: &[("new_signins", m::new_logs)],
        // also directoryAudits
        generate: Some(crate::tenant::directory::logs),
        ..Resource::COLLECTION
    },
    Resource {
        key: "directoryAudits",
        schema: "directoryAudit",
        store: Store::Log(LogKind::Audit),
        routes: &[route("auditLogs/directoryAudits", Log(LogKind::Audit), LOG)
            .class(REP)
            .top(BIG)],
        mutations: &[("new_audits", m::new_logs)],
        ..Resource::COLLECTION
    },
];

/// The entry of a resource key; `None` for an unknown key.
pub fn get(key: &str) -> Option<&'static Resource> {
    RESOURCES.iter().find(|r| r.key == key)
}

/// The resources stored as collections.
pub fn collections() -> impl Iterator<Item = &'static Resource> {
    RESOURCES.iter().filter(|r| r.store == Store::Collection)
}

/// Every route of every resource, in registry order.
pub static ROUTES: LazyLock<Vec<Route>> = LazyLock::new(|| {
    RESOURCES
        .iter()
        .flat_map(|r| r.routes.iter().copied())
        .collect()
});

/// The random mutation mix: every resource's `mutations`, in registry order.
pub static OPS: LazyLock<Vec<&'static str>> = LazyLock::new(|| {
    RESOURCES
        .iter()
        .flat_map(|r| r.mutations.iter().map(|(name, _)| *name))
        .collect()
});

/// The operation of a mutation name.
pub fn mutation(name: &str) -> Option<Mutation> {
    RESOURCES
        .iter()
        .flat_map(|r| r.mutations)
        .find(|(n, _)| *n == name)
        .map(|(_, op)| *op)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routes::Kind;
    use crate::schema::Schema;

    /// Every entry is consistent: unique keys and patterns, a schema, routes whose collection is a
    /// registered collection, children owned by registered collections.
    #[test]
    fn entries_are_consistent() {
        let schema = Schema::get();
        let mut keys = std::collections::HashSet::new();
        let mut patterns = std::collections::HashSet::new();
        for r in RESOURCES {
            assert!(keys.insert(r.key), "{}: registered twice", r.key);
            assert!(
                schema.resources.contains_key(r.schema),
                "{}: no schema '{}' in schema/appendix.txt or schema/extra.txt",
                r.key,
                r.schema
            );
            for route in r.routes {
                assert!(
                    patterns.insert(route.pattern),
                    "{}: route served twice",
                    route.pattern
                );
                let coll = match route.kind {
                    Kind::List(c)
                    | Kind::Entity(c)
                    | Kind::Delta(c)
                    | Kind::Rel(c, _)
                    | Kind::Child(c, _)
                    | Kind::PimGroup(c)
                    | Kind::Singleton(c) => Some(c),
                    _ => None,
                };
                if let Some(c) = coll {
                    assert!(
                        get(c).is_some(),
                        "{}: unknown collection {c}",
                        route.pattern
                    );
                }
            }
            for (child, _) in r.owns {
                assert_eq!(
                    get(child).map(|c| c.store),
                    Some(Store::Collection),
                    "{}: owns unknown collection {child}",
                    r.key
                );
            }
        }
    }
}
