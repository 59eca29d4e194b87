//! Policies: Conditional Access, security defaults, authorization, authentication methods,
//! cross-tenant access, token lifetime, consent.

use super::{ApiVersion, DEFAULT, Licence, Source, Table, key, p};
use entrasync_sinks::cq::ColumnKind::{Bool, Int64, Json, Timestamp, Utf8, Utf8List};

pub static CONDITIONAL_ACCESS_POLICIES: Table = Table {
    name: "entraid_identity_conditional_access_policies",
    title: "Conditional Access Policies",
    description: "Conditional Access policies: state, the users, apps, locations and risk levels they cover, and the grant and session controls they enforce (needs Entra ID P1).",
    resource: "conditionalAccessPolicy",
    source: Source::List {
        path: "/identity/conditionalAccess/policies",
    },
    version: ApiVersion::V1,
    permissions: &["Policy.Read.All"],
    licence: Some(Licence::EntraP1),
    props: &[
        p("id", Utf8),
        p("deletedDateTime", Timestamp),
        p("conditions", Json),
        p("createdDateTime", Timestamp),
        p("description", Utf8),
        p("displayName", Utf8),
        p("grantControls", Json),
        p("modifiedDateTime", Timestamp),
        p("sessionControls", Json),
        p("state", Utf8),
        p("templateId", Utf8),
    ],
    ..DEFAULT
};

pub static CONDITIONAL_ACCESS_NAMEDLOCATIONS: Table = Table {
    name: "entraid_identity_conditional_access_namedlocations",
    title: "Conditional Access Named Locations",
    description: "Named locations used by Conditional Access: trusted IP ranges and allowed or blocked countries.",
    resource: "namedLocation",
    source: Source::List {
        path: "/identity/conditionalAccess/namedLocations",
    },
    version: ApiVersion::V1,
    permissions: &["Policy.Read.All"],
    use_select: false,
    props: &[
        p("@odata.type", Utf8),
        p("id", Utf8),
        p("deletedDateTime", Timestamp),
        p("createdDateTime", Timestamp),
        p("displayName", Utf8),
        p("modifiedDateTime", Timestamp),
        p("ipRanges", Json),
        p("isTrusted", Bool),
        p("countriesAndRegions", Utf8List),
        p("countryLookupMethod", Utf8),
        p("includeUnknownCountriesAndRegions", Bool),
    ],
    ..DEFAULT
};

pub static SECURITY_DEFAULTS_POLICY: Table = Table {
    name: "entraid_policies_identity_security_defaults_enforcement_policy",
    title: "Security Defaults Enforcement Policy",
    description: "Whether security defaults (baseline MFA and legacy-authentication blocking) are enabled for the tenant.",
    resource: "identitySecurityDefaultsEnforcementPolicy",
    source: Source::Singleton {
        path: "/policies/identitySecurityDefaultsEnforcementPolicy",
    },
    version: ApiVersion::V1,
    permissions: &["Policy.Read.All", "Organization.Read.All"],
    props: &[
        p("id", Utf8),
        p("deletedDateTime", Timestamp),
        p("description", Utf8),
        p("displayName", Utf8),
        p("isEnabled", Bool),
    ],
    ..DEFAULT
};

pub static AUTHORIZATION_POLICY: Table = Table {
    name: "entraid_policies_authorization_policy",
    title: "Authorization Policy",
    description: "Tenant-wide authorization settings: who may invite guests, the guest role, user consent, self-service sign-up and default user permissions.",
    resource: "authorizationPolicy",
    source: Source::Singleton {
        path: "/policies/authorizationPolicy",
    },
    version: ApiVersion::V1,
    permissions: &["Policy.Read.All"],
    props: &[
        p("id", Utf8),
        p("deletedDateTime", Timestamp),
        p("description", Utf8),
        p("displayName", Utf8),
        p("allowedToSignUpEmailBasedSubscriptions", Bool),
        p("allowedToUseSSPR", Bool),
        p("allowEmailVerifiedUsersToJoinOrganization", Bool),
        p("allowInvitesFrom", Utf8),
        p("allowUserConsentForRiskyApps", Bool),
        p("blockMsolPowerShell", Bool),
        p("defaultUserRolePermissions", Json),
        p("guestUserRoleId", Utf8),
    ],
    ..DEFAULT
};

pub static AUTHENTICATION_METHODS_POLICY: Table = Table {
    name: "entraid_policies_authentication_methods_policy",
    title: "Authentication Methods Policy",
    description: "The tenant's authentication methods policy: registration campaign, reconfirmation interval and migration state.",
    resource: "authenticationMethodsPolicy",
    source: Source::Singleton {
        path: "/policies/authenticationMethodsPolicy",
    },
    version: ApiVersion::V1,
    permissions: &["Policy.Read.All"],
    props: &[
        p("id", Utf8),
        p("description", Utf8),
        p("displayName", Utf8),
        p("lastModifiedDateTime", Timestamp),
        p("policyMigrationState", Utf8),
        p("policyVersion", Utf8),
        p("reconfirmationInDays", Int64),
        p("registrationEnforcement", Json),
    ],
    ..DEFAULT
};

pub static CROSSTENANTACCESSPOLICY_PARTNERS: Table = Table {
    name: "entraid_policies_crosstenantaccesspolicy_partners",
    title: "Cross-tenant Access Policy Partners",
    description: "Partner-specific cross-tenant access settings: inbound and outbound B2B collaboration and direct connect, and which partner MFA and device claims are trusted.",
    resource: "crossTenantAccessPolicyConfigurationPartner",
    source: Source::List {
        path: "/policies/crossTenantAccessPolicy/partners",
    },
    version: ApiVersion::V1,
    permissions: &["Policy.Read.All"],
    props: &[
        p("appServiceConnectInbound", Json),
        p("automaticUserConsentSettings", Json),
        p("b2bCollaborationInbound", Json),
        p("b2bCollaborationOutbound", Json),
        p("b2bDirectConnectInbound", Json),
        p("b2bDirectConnectOutbound", Json),
        p("inboundTrust", Json),
        p("isInMultiTenantOrganization", Bool),
        p("isServiceProvider", Bool),
        p("m365CollaborationInbound", Json),
        p("m365CollaborationOutbound", Json),
        key("tenantId", "partner_tenant_id", Utf8),
        p("tenantRestrictions", Json),
    ],
    ..DEFAULT
};

pub static TOKENLIFETIMEPOLICIES: Table = Table {
    name: "entraid_policies_tokenlifetimepolicies",
    title: "Token Lifetime Policies",
    description: "Token lifetime policies that lengthen or shorten access and ID token lifetimes.",
    resource: "tokenLifetimePolicy",
    source: Source::List {
        path: "/policies/tokenLifetimePolicies",
    },
    version: ApiVersion::V1,
    permissions: &["Policy.Read.All"],
    props: &[
        p("id", Utf8),
        p("deletedDateTime", Timestamp),
        p("description", Utf8),
        p("displayName", Utf8),
        p("definition", Utf8List),
        p("isOrganizationDefault", Bool),
    ],
    ..DEFAULT
};

pub static PERMISSIONGRANTPOLICIES: Table = Table {
    name: "entraid_policies_permissiongrantpolicies",
    title: "Permission Grant Policies",
    description: "Permission grant policies: the conditions under which users or admins may consent to apps.",
    resource: "permissionGrantPolicy",
    source: Source::List {
        path: "/policies/permissionGrantPolicies",
    },
    version: ApiVersion::V1,
    permissions: &["Policy.Read.All"],
    props: &[
        p("id", Utf8),
        p("deletedDateTime", Timestamp),
        p("description", Utf8),
        p("displayName", Utf8),
    ],
    ..DEFAULT
};

pub static ADMINCONSENTREQUESTPOLICY: Table = Table {
    name: "entraid_policies_adminconsentrequestpolicy",
    title: "Admin Consent Request Policy",
    description: "Whether users can request admin consent for apps they cannot consent to, and who reviews the requests.",
    resource: "adminConsentRequestPolicy",
    source: Source::Singleton {
        path: "/policies/adminConsentRequestPolicy",
    },
    version: ApiVersion::V1,
    permissions: &["Policy.Read.All"],
    props: &[
        p("id", Utf8),
        p("isEnabled", Bool),
        p("notifyReviewers", Bool),
        p("remindersEnabled", Bool),
        p("requestDurationInDays", Int64),
        p("reviewers", Json),
        p("version", Int64),
    ],
    ..DEFAULT
};

/// This file's tables, parents before children.
pub static TABLES: &[&Table] = &[
    &CONDITIONAL_ACCESS_POLICIES,
    &CONDITIONAL_ACCESS_NAMEDLOCATIONS,
    &SECURITY_DEFAULTS_POLICY,
    &AUTHORIZATION_POLICY,
    &AUTHENTICATION_METHODS_POLICY,
    &CROSSTENANTACCESSPOLICY_PARTNERS,
    &TOKENLIFETIMEPOLICIES,
    &PERMISSIONGRANTPOLICIES,
    &ADMINCONSENTREQUESTPOLICY,
];
