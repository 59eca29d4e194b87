//! Directory objects: users, groups, applications, service principals, directory roles, devices,
//! administrative units, contacts, and the tenant's own objects.

use super::{
    ApiVersion, DEFAULT, Incremental, Licence, ParentCondition, Prop, Source, Table, key, p,
};
use entrasync_sinks::cq::ColumnKind::{Bool, Int64, Json, Timestamp, Utf8, Utf8List};

/// What a row of a directoryObject relationship (members, owners, ...) stores: the related
/// object's type and id, which is all `members@delta` carries. Details of the member live in its
/// own table (`entraid_users`, `entraid_groups`, ...), joined on `id`.
const MEMBER_REF: &[Prop] = &[
    p("@odata.type", Utf8),
    p("id", Utf8),
    p("deletedDateTime", Timestamp),
];

/// A transitive membership: the group (part of the key), then the member as in `MEMBER_REF`.
const TRANSITIVE_REF: &[Prop] = &[
    key("groupId", "group_id", Utf8),
    p("@odata.type", Utf8),
    p("id", Utf8),
    p("deletedDateTime", Timestamp),
];

pub static USERS: Table = Table {
    name: "entraid_users",
    title: "Users",
    description: "Users of the tenant, members and guests: account state, identities, licences, on-premises sync and password policy, for finding stale, guest or unlicensed accounts (last sign-in times are in entraid_user_signin_activity).",
    resource: "user",
    source: Source::List { path: "/users" },
    version: ApiVersion::V1,
    permissions: &["User.Read.All", "Directory.Read.All"],
    max_page_size: Some(999),
    incremental: Incremental::Delta,
    props: &[
        p("id", Utf8),
        p("deletedDateTime", Timestamp),
        p("accountEnabled", Bool),
        p("ageGroup", Utf8),
        p("assignedLicenses", Json),
        p("assignedPlans", Json),
        p("authorizationInfo", Json),
        p("businessPhones", Utf8List),
        p("city", Utf8),
        p("companyName", Utf8),
        p("consentProvidedForMinor", Utf8),
        p("country", Utf8),
        p("createdDateTime", Timestamp),
        p("creationType", Utf8),
        p("customSecurityAttributes", Json),
        p("department", Utf8),
        p("deviceEnrollmentLimit", Int64),
        p("displayName", Utf8),
        p("employeeHireDate", Timestamp),
        p("employeeId", Utf8),
        p("employeeLeaveDateTime", Timestamp),
        p("employeeOrgData", Json),
        p("employeeType", Utf8),
        p("externalUserState", Utf8),
        p("externalUserStateChangeDateTime", Timestamp),
        p("faxNumber", Utf8),
        p("givenName", Utf8),
        p("identities", Json),
        p("identityParentId", Utf8),
        p("imAddresses", Utf8List),
        p("isManagementRestricted", Bool),
        p("isResourceAccount", Bool),
        p("jobTitle", Utf8),
        p("lastPasswordChangeDateTime", Timestamp),
        p("legalAgeGroupClassification", Utf8),
        p("licenseAssignmentStates", Json),
        p("mail", Utf8),
        p("mailNickname", Utf8),
        p("mobilePhone", Utf8),
        p("officeLocation", Utf8),
        p("onPremisesDistinguishedName", Utf8),
        p("onPremisesDomainName", Utf8),
        p("onPremisesExtensionAttributes", Json),
        p("onPremisesImmutableId", Utf8),
        p("onPremisesLastSyncDateTime", Timestamp),
        p("onPremisesProvisioningErrors", Json),
        p("onPremisesSamAccountName", Utf8),
        p("onPremisesSecurityIdentifier", Utf8),
        p("onPremisesSyncEnabled", Bool),
        p("onPremisesUserPrincipalName", Utf8),
        p("otherMails", Utf8List),
        p("passwordPolicies", Utf8),
        p("passwordProfile", Json),
        p("postalCode", Utf8),
        p("preferredDataLocation", Utf8),
        p("preferredLanguage", Utf8),
        p("print", Json),
        p("provisionedPlans", Json),
        p("proxyAddresses", Utf8List),
        p("securityIdentifier", Utf8),
        p("serviceProvisioningErrors", Json),
        p("showInAddressList", Bool),
        p("signInSessionsValidFromDateTime", Timestamp),
        p("state", Utf8),
        p("streetAddress", Utf8),
        p("surname", Utf8),
        p("usageLocation", Utf8),
        p("userPrincipalName", Utf8),
        p("userType", Utf8),
    ],
    ..DEFAULT
};

pub static USER_SIGNIN_ACTIVITY: Table = Table {
    name: "entraid_user_signin_activity",
    title: "User Sign-in Activity",
    description: "Last interactive, non-interactive and successful sign-in of every user, for finding dormant accounts (needs Entra ID P1).",
    resource: "user",
    source: Source::List { path: "/users" },
    version: ApiVersion::V1,
    permissions: &["User.Read.All", "Directory.Read.All"],
    also_requires: &["AuditLog.Read.All"],
    licence: Some(Licence::EntraP1),
    max_page_size: Some(500),
    props: &[p("id", Utf8), p("signInActivity", Json)],
    ..DEFAULT
};

pub static GROUPS: Table = Table {
    name: "entraid_groups",
    title: "Groups",
    description: "Security, Microsoft 365 and distribution groups, with type, dynamic membership rule, role-assignability and on-premises sync state.",
    resource: "group",
    source: Source::List { path: "/groups" },
    version: ApiVersion::V1,
    permissions: &["Group.Read.All", "Directory.Read.All"],
    max_page_size: Some(999),
    incremental: Incremental::Delta,
    props: &[
        p("id", Utf8),
        p("deletedDateTime", Timestamp),
        p("accessType", Utf8),
        p("assignedLabels", Json),
        p("assignedLicenses", Json),
        p("classification", Utf8),
        p("createdDateTime", Timestamp),
        p("description", Utf8),
        p("displayName", Utf8),
        p("expirationDateTime", Timestamp),
        p("groupTypes", Utf8List),
        p("infoCatalogs", Utf8List),
        p("isAssignableToRole", Bool),
        p("isFavorite", Bool),
        p("isManagementRestricted", Bool),
        p("licenseProcessingState", Json),
        p("mail", Utf8),
        p("mailEnabled", Bool),
        p("mailNickname", Utf8),
        p("membershipRule", Utf8),
        p("membershipRuleProcessingState", Utf8),
        p("onPremisesDomainName", Utf8),
        p("onPremisesExtensionAttributes", Json),
        p("onPremisesLastSyncDateTime", Timestamp),
        p("onPremisesNetBiosName", Utf8),
        p("onPremisesProvisioningErrors", Json),
        p("onPremisesSamAccountName", Utf8),
        p("onPremisesSecurityIdentifier", Utf8),
        p("onPremisesSyncEnabled", Bool),
        p("organizationId", Utf8),
        p("preferredDataLocation", Utf8),
        p("preferredLanguage", Utf8),
        p("proxyAddresses", Utf8List),
        p("renewedDateTime", Timestamp),
        p("resourceBehaviorOptions", Utf8List),
        p("resourceProvisioningOptions", Utf8List),
        p("securityEnabled", Bool),
        p("securityIdentifier", Utf8),
        p("serviceProvisioningErrors", Json),
        p("theme", Utf8),
        p("uniqueName", Utf8),
        p("unseenConversationsCount", Int64),
        p("unseenMessagesCount", Int64),
        p("visibility", Utf8),
        p("welcomeMessageEnabled", Bool),
    ],
    ..DEFAULT
};

pub static GROUP_MEMBERS: Table = Table {
    name: "entraid_group_members",
    title: "Group Members",
    description: "Direct members of every group (users, groups, service principals, devices, contacts), the basis for who-has-access questions.",
    resource: "directoryObject",
    source: Source::Child {
        parent: "entraid_groups",
        parent_key: "group_id",
        path: "/groups/{id}/members",
    },
    version: ApiVersion::V1,
    permissions: &[
        "GroupMember.Read.All",
        "Group.Read.All",
        "Directory.Read.All",
    ],
    max_page_size: Some(999),
    parent_delta: Some("members"),
    props: MEMBER_REF,
    ..DEFAULT
};

pub static GROUP_OWNERS: Table = Table {
    name: "entraid_group_owners",
    title: "Group Owners",
    description: "Owners of every group: principals who can change the group's membership and settings.",
    resource: "directoryObject",
    source: Source::Child {
        parent: "entraid_groups",
        parent_key: "group_id",
        path: "/groups/{id}/owners",
    },
    version: ApiVersion::V1,
    permissions: &["Group.Read.All", "Directory.Read.All"],
    max_page_size: Some(999),
    props: MEMBER_REF,
    parent_delta: Some("owners"),
    ..DEFAULT
};

pub static GROUP_TRANSITIVE_MEMBERS: Table = Table {
    name: "entraid_group_transitive_members",
    title: "Group Transitive Members",
    description: "Every member of every group through nested groups of any depth, computed from the direct memberships.",
    resource: "directoryObject",
    source: Source::Computed {
        parent: "entraid_groups",
        from: "entraid_group_members",
    },
    version: ApiVersion::V1,
    permissions: &[
        "GroupMember.Read.All",
        "Group.Read.All",
        "Directory.Read.All",
    ],
    props: TRANSITIVE_REF,
    ..DEFAULT
};

pub static GROUP_APPROLEASSIGNMENTS: Table = Table {
    name: "entraid_group_approleassignments",
    title: "Group App Role Assignments",
    description: "App roles granted to each group, so that every member of the group holds them in the application.",
    resource: "appRoleAssignment",
    source: Source::Child {
        parent: "entraid_groups",
        parent_key: "group_id",
        path: "/groups/{id}/appRoleAssignments",
    },
    version: ApiVersion::V1,
    permissions: &["Directory.Read.All"],
    max_page_size: Some(999),
    props: &[
        p("id", Utf8),
        p("deletedDateTime", Timestamp),
        p("appRoleId", Utf8),
        p("createdDateTime", Timestamp),
        p("principalDisplayName", Utf8),
        p("principalId", Utf8),
        p("principalType", Utf8),
        p("resourceDisplayName", Utf8),
        p("resourceId", Utf8),
    ],
    audit_activities: &[
        "Add app role assignment to group",
        "Remove app role assignment from group",
    ],
    ..DEFAULT
};

pub static GROUP_LIFECYCLEPOLICIES: Table = Table {
    name: "entraid_group_lifecyclepolicies",
    title: "Group Lifecycle Policies",
    description: "Expiration policies that apply to each group: lifetime in days and who is notified before a group expires.",
    resource: "groupLifecyclePolicy",
    source: Source::Child {
        parent: "entraid_groups",
        parent_key: "group_id",
        path: "/groups/{id}/groupLifecyclePolicies",
    },
    version: ApiVersion::V1,
    permissions: &["Policy.Read.All", "Directory.Read.All"],
    // Expiration policies govern Microsoft 365 groups only: other groups have none to read.
    parent_condition: Some(ParentCondition::Holds("groupTypes", "Unified")),
    props: &[
        p("id", Utf8),
        p("alternateNotificationEmails", Utf8),
        p("groupLifetimeInDays", Int64),
        p("managedGroupTypes", Utf8),
    ],
    ..DEFAULT
};

pub static GROUPSETTINGS: Table = Table {
    name: "entraid_groupsettings",
    title: "Group Settings",
    description: "Tenant-wide group settings, such as whether guests may own or be added to Microsoft 365 groups and the group naming policy.",
    resource: "groupSetting",
    source: Source::List {
        path: "/groupSettings",
    },
    version: ApiVersion::V1,
    permissions: &["Directory.Read.All"],
    props: &[
        p("id", Utf8),
        p("displayName", Utf8),
        p("templateId", Utf8),
        p("values", Json),
    ],
    ..DEFAULT
};

pub static APPLICATIONS: Table = Table {
    name: "entraid_applications",
    title: "Applications",
    description: "App registrations: credentials and their expiry, requested API permissions, redirect URIs and sign-in audience.",
    resource: "application",
    source: Source::List {
        path: "/applications",
    },
    version: ApiVersion::V1,
    permissions: &["Application.Read.All", "Directory.Read.All"],
    max_page_size: Some(999),
    incremental: Incremental::Delta,
    props: &[
        p("id", Utf8),
        p("deletedDateTime", Timestamp),
        p("addIns", Json),
        p("api", Json),
        p("appId", Utf8),
        p("applicationTemplateId", Utf8),
        p("appRoles", Json),
        p("authenticationBehaviors", Json),
        p("certification", Json),
        p("createdByAppId", Utf8),
        p("createdDateTime", Timestamp),
        p("defaultRedirectUri", Utf8),
        p("description", Utf8),
        p("disabledByMicrosoftStatus", Utf8),
        p("displayName", Utf8),
        p("groupMembershipClaims", Utf8),
        p("identifierUris", Utf8List),
        p("info", Json),
        p("isDeviceOnlyAuthSupported", Bool),
        p("isDisabled", Bool),
        p("isFallbackPublicClient", Bool),
        p("keyCredentials", Json),
        p("managerApplications", Utf8List),
        p("nativeAuthenticationApisEnabled", Utf8),
        p("notes", Utf8),
        p("oauth2RequirePostResponse", Bool),
        p("optionalClaims", Json),
        p("parentalControlSettings", Json),
        p("passwordCredentials", Json),
        p("publicClient", Json),
        p("publisherDomain", Utf8),
        p("requestSignatureVerification", Json),
        p("requiredResourceAccess", Json),
        p("samlMetadataUrl", Utf8),
        p("serviceManagementReference", Utf8),
        p("servicePrincipalLockConfiguration", Json),
        p("signInAudience", Utf8),
        p("spa", Json),
        p("tags", Utf8List),
        p("tokenEncryptionKeyId", Utf8),
        p("uniqueName", Utf8),
        p("verifiedPublisher", Json),
        p("web", Json),
    ],
    ..DEFAULT
};

pub static APPLICATION_OWNERS: Table = Table {
    name: "entraid_application_owners",
    title: "Application Owners",
    description: "Owners of every app registration: principals who can add credentials to the application.",
    resource: "directoryObject",
    source: Source::Child {
        parent: "entraid_applications",
        parent_key: "application_id",
        path: "/applications/{id}/owners",
    },
    version: ApiVersion::V1,
    permissions: &["Application.Read.All", "Directory.Read.All"],
    max_page_size: Some(999),
    props: MEMBER_REF,
    audit_activities: &["Add owner to application", "Remove owner from application"],
    expand: Some("owners"),
    ..DEFAULT
};

pub static APPLICATION_FEDERATEDIDENTITYCREDENTIALS: Table = Table {
    name: "entraid_application_federatedidentitycredentials",
    title: "Application Federated Identity Credentials",
    description: "Federated identity credentials of every app registration: the external issuers and subjects (GitHub, Kubernetes, other clouds) that can sign in as the app without a secret.",
    resource: "federatedIdentityCredential",
    source: Source::Child {
        parent: "entraid_applications",
        parent_key: "application_id",
        path: "/applications/{id}/federatedIdentityCredentials",
    },
    version: ApiVersion::V1,
    permissions: &["Application.Read.All", "Directory.Read.All"],
    props: &[
        p("id", Utf8),
        p("audiences", Utf8List),
        p("description", Utf8),
        p("issuer", Utf8),
        p("name", Utf8),
        p("subject", Utf8),
    ],
    // Federated credentials are part of the application: changing one logs "Update application".
    audit_activities: &["Update application"],
    ..DEFAULT
};

pub static SERVICEPRINCIPALS: Table = Table {
    name: "entraid_serviceprincipals",
    title: "Service Principals",
    description: "Service principals (enterprise apps and managed identities) of the tenant: credentials, app roles, publisher and whether assignment is required.",
    resource: "servicePrincipal",
    source: Source::List {
        path: "/servicePrincipals",
    },
    version: ApiVersion::V1,
    permissions: &["Application.Read.All", "Directory.Read.All"],
    max_page_size: Some(999),
    incremental: Incremental::Delta,
    props: &[
        p("id", Utf8),
        p("deletedDateTime", Timestamp),
        p("accountEnabled", Bool),
        p("addIns", Json),
        p("alternativeNames", Utf8List),
        p("appDescription", Utf8),
        p("appDisplayName", Utf8),
        p("appId", Utf8),
        p("applicationTemplateId", Utf8),
        p("appOwnerOrganizationId", Utf8),
        p("appRoleAssignmentRequired", Bool),
        p("appRoles", Json),
        p("createdByAppId", Utf8),
        p("customSecurityAttributes", Json),
        p("description", Utf8),
        p("disabledByMicrosoftStatus", Utf8),
        p("displayName", Utf8),
        p("homepage", Utf8),
        p("info", Json),
        p("isDisabled", Bool),
        p("keyCredentials", Json),
        p("loginUrl", Utf8),
        p("logoutUrl", Utf8),
        p("notes", Utf8),
        p("notificationEmailAddresses", Utf8List),
        p("oauth2PermissionScopes", Json),
        p("passwordCredentials", Json),
        p("preferredSingleSignOnMode", Utf8),
        p("preferredTokenSigningKeyThumbprint", Utf8),
        p("replyUrls", Utf8List),
        p("resourceSpecificApplicationPermissions", Json),
        p("samlSingleSignOnSettings", Json),
        p("servicePrincipalNames", Utf8List),
        p("servicePrincipalType", Utf8),
        p("signInAudience", Utf8),
        p("tags", Utf8List),
        p("tokenEncryptionKeyId", Utf8),
        p("verifiedPublisher", Json),
    ],
    ..DEFAULT
};

pub static SERVICEPRINCIPAL_OWNERS: Table = Table {
    name: "entraid_serviceprincipal_owners",
    title: "Service Principal Owners",
    description: "Owners of every service principal: principals who can manage the enterprise app and its credentials.",
    resource: "directoryObject",
    source: Source::Child {
        parent: "entraid_serviceprincipals",
        parent_key: "service_principal_id",
        path: "/servicePrincipals/{id}/owners",
    },
    version: ApiVersion::V1,
    permissions: &["Application.Read.All", "Directory.Read.All"],
    max_page_size: Some(999),
    props: MEMBER_REF,
    audit_activities: &[
        "Add owner to service principal",
        "Remove owner from service principal",
    ],
    expand: Some("owners"),
    ..DEFAULT
};

pub static SERVICEPRINCIPAL_APPROLEASSIGNMENTS: Table = Table {
    name: "entraid_serviceprincipal_approleassignments",
    title: "Service Principal App Role Assignments",
    description: "App roles (application permissions) granted to each service principal, e.g. which apps hold Microsoft Graph application permissions.",
    resource: "appRoleAssignment",
    source: Source::Child {
        parent: "entraid_serviceprincipals",
        parent_key: "service_principal_id",
        path: "/servicePrincipals/{id}/appRoleAssignments",
    },
    version: ApiVersion::V1,
    permissions: &["Application.Read.All", "Directory.Read.All"],
    max_page_size: Some(999),
    props: &[
        p("id", Utf8),
        p("deletedDateTime", Timestamp),
        p("appRoleId", Utf8),
        p("createdDateTime", Timestamp),
        p("principalDisplayName", Utf8),
        p("principalId", Utf8),
        p("principalType", Utf8),
        p("resourceDisplayName", Utf8),
        p("resourceId", Utf8),
    ],
    audit_activities: &[
        "Add app role assignment to service principal",
        "Remove app role assignment from service principal",
    ],
    ..DEFAULT
};

pub static SERVICEPRINCIPAL_APPROLEASSIGNEDTO: Table = Table {
    name: "entraid_serviceprincipal_approleassignedto",
    title: "Service Principal App Role Assigned To",
    description: "Users, groups and service principals granted an app role of each service principal (the resource side of app role assignments).",
    resource: "appRoleAssignment",
    source: Source::Child {
        parent: "entraid_serviceprincipals",
        parent_key: "service_principal_id",
        path: "/servicePrincipals/{id}/appRoleAssignedTo",
    },
    version: ApiVersion::V1,
    permissions: &["Application.Read.All", "Directory.Read.All"],
    max_page_size: Some(999),
    props: &[
        p("id", Utf8),
        p("deletedDateTime", Timestamp),
        p("appRoleId", Utf8),
        p("createdDateTime", Timestamp),
        p("principalDisplayName", Utf8),
        p("principalId", Utf8),
        p("principalType", Utf8),
        p("resourceDisplayName", Utf8),
        p("resourceId", Utf8),
    ],
    // Assignments to any principal change the resource's list.
    audit_activities: &[
        "Add app role assignment to service principal",
        "Remove app role assignment from service principal",
        "Add app role assignment grant to user",
        "Remove app role assignment from user",
        "Add app role assignment to group",
        "Remove app role assignment from group",
    ],
    ..DEFAULT
};

pub static OAUTH2PERMISSIONGRANTS: Table = Table {
    name: "entraid_oauth2permissiongrants",
    title: "OAuth2 Permission Grants",
    description: "Delegated permission grants (user and admin consents): which client app may act for which users on which API with which scopes.",
    resource: "oAuth2PermissionGrant",
    source: Source::List {
        path: "/oauth2PermissionGrants",
    },
    version: ApiVersion::V1,
    permissions: &["DelegatedPermissionGrant.Read.All", "Directory.Read.All"],
    max_page_size: Some(999),
    incremental: Incremental::Delta,
    props: &[
        p("id", Utf8),
        p("clientId", Utf8),
        p("consentType", Utf8),
        p("principalId", Utf8),
        p("resourceId", Utf8),
        p("scope", Utf8),
    ],
    ..DEFAULT
};

pub static DIRECTORYROLES: Table = Table {
    name: "entraid_directoryroles",
    title: "Directory Roles",
    description: "Directory roles activated in the tenant (Global Administrator, ...), the parents of role memberships.",
    resource: "directoryRole",
    source: Source::List {
        path: "/directoryRoles",
    },
    version: ApiVersion::V1,
    permissions: &["RoleManagement.Read.Directory", "Directory.Read.All"],
    incremental: Incremental::Delta,
    props: &[
        p("id", Utf8),
        p("deletedDateTime", Timestamp),
        p("description", Utf8),
        p("displayName", Utf8),
        p("roleTemplateId", Utf8),
    ],
    ..DEFAULT
};

pub static DIRECTORYROLE_MEMBERS: Table = Table {
    name: "entraid_directoryrole_members",
    title: "Directory Role Members",
    description: "Principals that hold each activated directory role tenant-wide, the first stop for who-is-an-admin questions.",
    resource: "directoryObject",
    source: Source::Child {
        parent: "entraid_directoryroles",
        parent_key: "directory_role_id",
        path: "/directoryRoles/{id}/members",
    },
    version: ApiVersion::V1,
    permissions: &["RoleManagement.Read.Directory", "Directory.Read.All"],
    parent_delta: Some("members"),
    props: MEMBER_REF,
    ..DEFAULT
};

pub static DIRECTORYROLE_SCOPEDMEMBERS: Table = Table {
    name: "entraid_directoryrole_scopedmembers",
    title: "Directory Role Scoped Members",
    description: "Members of each directory role whose role is scoped to an administrative unit.",
    resource: "scopedRoleMembership",
    source: Source::Child {
        parent: "entraid_directoryroles",
        parent_key: "directory_role_id",
        path: "/directoryRoles/{id}/scopedMembers",
    },
    version: ApiVersion::V1,
    permissions: &["RoleManagement.Read.Directory", "Directory.Read.All"],
    props: &[
        p("id", Utf8),
        p("administrativeUnitId", Utf8),
        p("roleId", Utf8),
        p("roleMemberInfo", Json),
    ],
    audit_activities: &[
        "Add scoped member to role",
        "Remove scoped member from role",
    ],
    ..DEFAULT
};

pub static DIRECTORYROLETEMPLATES: Table = Table {
    name: "entraid_directoryroletemplates",
    title: "Directory Role Templates",
    description: "Every built-in directory role that can be activated, with its description.",
    resource: "directoryRoleTemplate",
    source: Source::List {
        path: "/directoryRoleTemplates",
    },
    version: ApiVersion::V1,
    permissions: &["RoleManagement.Read.Directory", "Directory.Read.All"],
    props: &[
        p("id", Utf8),
        p("deletedDateTime", Timestamp),
        p("description", Utf8),
        p("displayName", Utf8),
    ],
    ..DEFAULT
};

pub static DEVICES: Table = Table {
    name: "entraid_devices",
    title: "Devices",
    description: "Devices registered or joined to Entra ID: operating system, trust type, compliance and management state, last sign-in.",
    resource: "device",
    source: Source::List { path: "/devices" },
    version: ApiVersion::V1,
    permissions: &["Device.Read.All", "Directory.Read.All"],
    max_page_size: Some(999),
    incremental: Incremental::Delta,
    props: &[
        p("id", Utf8),
        p("deletedDateTime", Timestamp),
        p("accountEnabled", Bool),
        p("alternativeSecurityIds", Json),
        p("approximateLastSignInDateTime", Timestamp),
        p("complianceExpirationDateTime", Timestamp),
        p("deviceCategory", Utf8),
        p("deviceId", Utf8),
        p("deviceMetadata", Utf8),
        p("deviceOwnership", Utf8),
        p("deviceVersion", Int64),
        p("displayName", Utf8),
        p("enrollmentProfileName", Utf8),
        p("enrollmentType", Utf8),
        p("isCompliant", Bool),
        p("isManaged", Bool),
        p("isManagementRestricted", Bool),
        p("isRooted", Bool),
        p("managementType", Utf8),
        p("manufacturer", Utf8),
        p("mdmAppId", Utf8),
        p("model", Utf8),
        p("onPremisesLastSyncDateTime", Timestamp),
        p("onPremisesSecurityIdentifier", Utf8),
        p("onPremisesSyncEnabled", Bool),
        p("operatingSystem", Utf8),
        p("operatingSystemVersion", Utf8),
        p("physicalIds", Utf8List),
        p("profileType", Utf8),
        p("registrationDateTime", Timestamp),
        p("systemLabels", Utf8List),
        p("trustType", Utf8),
    ],
    ..DEFAULT
};

pub static DEVICE_REGISTEREDOWNERS: Table = Table {
    name: "entraid_device_registeredowners",
    title: "Device Registered Owners",
    description: "Registered owners of every device (the user who joined or registered it).",
    resource: "directoryObject",
    source: Source::Child {
        parent: "entraid_devices",
        parent_key: "device_id",
        path: "/devices/{id}/registeredOwners",
    },
    version: ApiVersion::V1,
    permissions: &["Device.Read.All", "Directory.Read.All"],
    max_page_size: Some(999),
    props: MEMBER_REF,
    audit_activities: &[
        "Add registered owner to device",
        "Remove registered owner from device",
    ],
    expand: Some("registeredOwners"),
    ..DEFAULT
};

pub static ADMINISTRATIVEUNITS: Table = Table {
    name: "entraid_administrativeunits",
    title: "Administrative Units",
    description: "Administrative units: the scopes that delegated administrators manage, with their membership rule and restrictions.",
    resource: "administrativeUnit",
    source: Source::List {
        path: "/directory/administrativeUnits",
    },
    version: ApiVersion::V1,
    permissions: &["AdministrativeUnit.Read.All", "Directory.Read.All"],
    max_page_size: Some(999),
    incremental: Incremental::Delta,
    props: &[
        p("id", Utf8),
        p("deletedDateTime", Timestamp),
        p("description", Utf8),
        p("displayName", Utf8),
        p("isMemberManagementRestricted", Bool),
        p("membershipRule", Utf8),
        p("membershipRuleProcessingState", Utf8),
        p("membershipType", Utf8),
        p("visibility", Utf8),
    ],
    ..DEFAULT
};

pub static ADMINISTRATIVEUNIT_MEMBERS: Table = Table {
    name: "entraid_administrativeunit_members",
    title: "Administrative Unit Members",
    description: "Users, groups and devices in each administrative unit, i.e. what its scoped administrators control.",
    resource: "directoryObject",
    source: Source::Child {
        parent: "entraid_administrativeunits",
        parent_key: "administrative_unit_id",
        path: "/directory/administrativeUnits/{id}/members",
    },
    version: ApiVersion::V1,
    permissions: &["AdministrativeUnit.Read.All", "Directory.Read.All"],
    max_page_size: Some(999),
    props: MEMBER_REF,
    audit_activities: &[
        "Add member to administrative unit",
        "Remove member from administrative unit",
    ],
    ..DEFAULT
};

pub static CONTACTS: Table = Table {
    name: "entraid_contacts",
    title: "Organizational Contacts",
    description: "Organizational contacts (mail contacts outside the tenant) in the directory.",
    resource: "orgContact",
    source: Source::List { path: "/contacts" },
    version: ApiVersion::V1,
    permissions: &["OrgContact.Read.All", "Directory.Read.All"],
    max_page_size: Some(999),
    incremental: Incremental::Delta,
    props: &[
        p("id", Utf8),
        p("deletedDateTime", Timestamp),
        p("addresses", Json),
        p("companyName", Utf8),
        p("department", Utf8),
        p("displayName", Utf8),
        p("givenName", Utf8),
        p("jobTitle", Utf8),
        p("mail", Utf8),
        p("mailNickname", Utf8),
        p("onPremisesLastSyncDateTime", Timestamp),
        p("onPremisesProvisioningErrors", Json),
        p("onPremisesSyncEnabled", Bool),
        p("phones", Json),
        p("proxyAddresses", Utf8List),
        p("serviceProvisioningErrors", Json),
        p("surname", Utf8),
    ],
    ..DEFAULT
};

pub static DOMAINS: Table = Table {
    name: "entraid_domains",
    title: "Domains",
    description: "Domains of the tenant: verification, federated or managed authentication, and password expiry settings.",
    resource: "domain",
    source: Source::List { path: "/domains" },
    version: ApiVersion::V1,
    permissions: &["Domain.Read.All", "Directory.Read.All"],
    props: &[
        p("id", Utf8),
        p("authenticationType", Utf8),
        p("availabilityStatus", Utf8),
        p("isAdminManaged", Bool),
        p("isDefault", Bool),
        p("isInitial", Bool),
        p("isRoot", Bool),
        p("isVerified", Bool),
        p("manufacturer", Utf8),
        p("model", Utf8),
        p("passwordNotificationWindowInDays", Int64),
        p("passwordValidityPeriodInDays", Int64),
        p("state", Json),
        p("supportedServices", Utf8List),
    ],
    ..DEFAULT
};

pub static ORGANIZATION: Table = Table {
    name: "entraid_organization",
    title: "Organization",
    description: "The tenant itself: name, verified domains, assigned plans, on-premises sync and security notification contacts.",
    resource: "organization",
    source: Source::List {
        path: "/organization",
    },
    version: ApiVersion::V1,
    permissions: &["Organization.Read.All", "Directory.Read.All"],
    props: &[
        p("id", Utf8),
        p("deletedDateTime", Timestamp),
        p("assignedPlans", Json),
        p("businessPhones", Utf8List),
        p("city", Utf8),
        p("country", Utf8),
        p("countryLetterCode", Utf8),
        p("createdDateTime", Timestamp),
        p("defaultUsageLocation", Utf8),
        p("displayName", Utf8),
        p("marketingNotificationEmails", Utf8List),
        p("mobileDeviceManagementAuthority", Utf8),
        p("onPremisesLastSyncDateTime", Timestamp),
        p("onPremisesSyncEnabled", Bool),
        p("partnerTenantType", Utf8),
        p("postalCode", Utf8),
        p("preferredLanguage", Utf8),
        p("privacyProfile", Json),
        p("provisionedPlans", Json),
        p("securityComplianceNotificationMails", Utf8List),
        p("securityComplianceNotificationPhones", Utf8List),
        p("state", Utf8),
        p("street", Utf8),
        p("technicalNotificationMails", Utf8List),
        p("tenantType", Utf8),
        p("verifiedDomains", Json),
    ],
    ..DEFAULT
};

pub static SUBSCRIBEDSKUS: Table = Table {
    name: "entraid_subscribedskus",
    title: "Subscribed SKUs",
    description: "Licence SKUs the tenant has bought, with enabled and consumed units and the service plans they include.",
    resource: "subscribedSku",
    source: Source::List {
        path: "/subscribedSkus",
    },
    version: ApiVersion::V1,
    permissions: &["Organization.Read.All", "Directory.Read.All"],
    props: &[
        p("id", Utf8),
        p("accountId", Utf8),
        p("accountName", Utf8),
        p("appliesTo", Utf8),
        p("capabilityStatus", Utf8),
        p("consumedUnits", Int64),
        p("prepaidUnits", Json),
        p("servicePlans", Json),
        p("skuId", Utf8),
        p("skuPartNumber", Utf8),
        p("subscriptionIds", Utf8List),
    ],
    ..DEFAULT
};

pub static DIRECTORY_SUBSCRIPTIONS: Table = Table {
    name: "entraid_directory_subscriptions",
    title: "Directory Subscriptions",
    description: "Commercial subscriptions of the tenant: status, trial or paid, licence count and renewal dates.",
    resource: "companySubscription",
    source: Source::List {
        path: "/directory/subscriptions",
    },
    version: ApiVersion::V1,
    permissions: &["Organization.Read.All", "Directory.Read.All"],
    props: &[
        p("id", Utf8),
        p("commerceSubscriptionId", Utf8),
        p("createdDateTime", Timestamp),
        p("isTrial", Bool),
        p("nextLifecycleDateTime", Timestamp),
        p("ownerId", Utf8),
        p("ownerTenantId", Utf8),
        p("ownerType", Utf8),
        p("serviceStatus", Json),
        p("skuId", Utf8),
        p("skuPartNumber", Utf8),
        p("status", Utf8),
        p("totalLicenses", Int64),
    ],
    ..DEFAULT
};

/// This file's tables, parents before children.
pub static TABLES: &[&Table] = &[
    &USERS,
    &USER_SIGNIN_ACTIVITY,
    &GROUPS,
    &GROUP_MEMBERS,
    &GROUP_OWNERS,
    &GROUP_TRANSITIVE_MEMBERS,
    &GROUP_APPROLEASSIGNMENTS,
    &GROUP_LIFECYCLEPOLICIES,
    &GROUPSETTINGS,
    &APPLICATIONS,
    &APPLICATION_OWNERS,
    &APPLICATION_FEDERATEDIDENTITYCREDENTIALS,
    &SERVICEPRINCIPALS,
    &SERVICEPRINCIPAL_OWNERS,
    &SERVICEPRINCIPAL_APPROLEASSIGNMENTS,
    &SERVICEPRINCIPAL_APPROLEASSIGNEDTO,
    &OAUTH2PERMISSIONGRANTS,
    &DIRECTORYROLES,
    &DIRECTORYROLE_MEMBERS,
    &DIRECTORYROLE_SCOPEDMEMBERS,
    &DIRECTORYROLETEMPLATES,
    &DEVICES,
    &DEVICE_REGISTEREDOWNERS,
    &ADMINISTRATIVEUNITS,
    &ADMINISTRATIVEUNIT_MEMBERS,
    &CONTACTS,
    &DOMAINS,
    &ORGANIZATION,
    &SUBSCRIBEDSKUS,
    &DIRECTORY_SUBSCRIPTIONS,
];
