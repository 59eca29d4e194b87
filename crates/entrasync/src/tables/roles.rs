//! Role management (Entra role definitions and assignments) and Privileged Identity Management:
//! role assignment and eligibility schedules, and PIM for groups.

use super::{ApiVersion, DEFAULT, Licence, ParentCondition, Source, Table, p};
use entrasync_sinks::cq::ColumnKind::{Bool, Json, Timestamp, Utf8, Utf8List};

pub static ROLEDEFINITIONS: Table = Table {
    name: "entraid_rolemanagement_roledefinitions",
    title: "Role Definitions",
    description: "Built-in and custom Entra role definitions with the resource actions each role allows.",
    resource: "unifiedRoleDefinition",
    source: Source::List {
        path: "/roleManagement/directory/roleDefinitions",
    },
    version: ApiVersion::V1,
    permissions: &["RoleManagement.Read.Directory", "Directory.Read.All"],
    props: &[
        p("id", Utf8),
        p("description", Utf8),
        p("displayName", Utf8),
        p("isBuiltIn", Bool),
        p("isEnabled", Bool),
        p("resourceScopes", Utf8List),
        p("rolePermissions", Json),
        p("templateId", Utf8),
        p("version", Utf8),
    ],
    ..DEFAULT
};

pub static ROLEASSIGNMENTS: Table = Table {
    name: "entraid_rolemanagement_roleassignments",
    title: "Role Assignments",
    description: "Active Entra role assignments: which principal holds which role at which scope (tenant, administrative unit or app).",
    resource: "unifiedRoleAssignment",
    source: Source::List {
        path: "/roleManagement/directory/roleAssignments",
    },
    version: ApiVersion::V1,
    permissions: &["RoleManagement.Read.Directory", "Directory.Read.All"],
    props: &[
        p("id", Utf8),
        p("appScopeId", Utf8),
        p("condition", Utf8),
        p("directoryScopeId", Utf8),
        p("principalId", Utf8),
        p("principalOrganizationId", Utf8),
        p("roleDefinitionId", Utf8),
    ],
    ..DEFAULT
};

pub static ROLEASSIGNMENTSCHEDULES: Table = Table {
    name: "entraid_rolemanagement_roleassignmentschedules",
    title: "Role Assignment Schedules",
    description: "PIM schedules of active role assignments, permanent or time-bound (needs Entra ID P2).",
    resource: "unifiedRoleAssignmentSchedule",
    source: Source::List {
        path: "/roleManagement/directory/roleAssignmentSchedules",
    },
    version: ApiVersion::V1,
    permissions: &[
        "RoleAssignmentSchedule.Read.Directory",
        "RoleManagement.Read.Directory",
        "RoleManagement.Read.All",
    ],
    licence: Some(Licence::EntraP2),
    props: &[
        p("id", Utf8),
        p("appScopeId", Utf8),
        p("createdDateTime", Timestamp),
        p("createdUsing", Utf8),
        p("directoryScopeId", Utf8),
        p("modifiedDateTime", Timestamp),
        p("principalId", Utf8),
        p("roleDefinitionId", Utf8),
        p("status", Utf8),
        p("assignmentType", Utf8),
        p("memberType", Utf8),
        p("scheduleInfo", Json),
    ],
    ..DEFAULT
};

pub static ROLEASSIGNMENTSCHEDULEINSTANCES: Table = Table {
    name: "entraid_rolemanagement_roleassignmentscheduleinstances",
    title: "Role Assignment Schedule Instances",
    description: "Role assignments in effect now, direct or activated through PIM, with their end time (needs Entra ID P2).",
    resource: "unifiedRoleAssignmentScheduleInstance",
    source: Source::List {
        path: "/roleManagement/directory/roleAssignmentScheduleInstances",
    },
    version: ApiVersion::V1,
    permissions: &[
        "RoleAssignmentSchedule.Read.Directory",
        "RoleManagement.Read.Directory",
        "RoleManagement.Read.All",
    ],
    licence: Some(Licence::EntraP2),
    props: &[
        p("id", Utf8),
        p("appScopeId", Utf8),
        p("directoryScopeId", Utf8),
        p("principalId", Utf8),
        p("roleDefinitionId", Utf8),
        p("assignmentType", Utf8),
        p("endDateTime", Timestamp),
        p("memberType", Utf8),
        p("roleAssignmentOriginId", Utf8),
        p("roleAssignmentScheduleId", Utf8),
        p("startDateTime", Timestamp),
    ],
    ..DEFAULT
};

pub static ROLEASSIGNMENTSCHEDULEREQUESTS: Table = Table {
    name: "entraid_rolemanagement_roleassignmentschedulerequests",
    title: "Role Assignment Schedule Requests",
    description: "PIM requests to assign, activate, extend or remove roles, with justification and ticket, for auditing privileged activations (needs Entra ID P2).",
    resource: "unifiedRoleAssignmentScheduleRequest",
    source: Source::List {
        path: "/roleManagement/directory/roleAssignmentScheduleRequests",
    },
    version: ApiVersion::V1,
    permissions: &[
        "RoleAssignmentSchedule.ReadWrite.Directory",
        "RoleManagement.Read.Directory",
        "RoleManagement.Read.All",
    ],
    licence: Some(Licence::EntraP2),
    props: &[
        p("id", Utf8),
        p("approvalId", Utf8),
        p("completedDateTime", Timestamp),
        p("createdBy", Json),
        p("createdDateTime", Timestamp),
        p("customData", Utf8),
        p("status", Utf8),
        p("action", Utf8),
        p("appScopeId", Utf8),
        p("directoryScopeId", Utf8),
        p("isValidationOnly", Bool),
        p("justification", Utf8),
        p("principalId", Utf8),
        p("roleDefinitionId", Utf8),
        p("scheduleInfo", Json),
        p("targetScheduleId", Utf8),
        p("ticketInfo", Json),
    ],
    ..DEFAULT
};

pub static ROLEELIGIBILITYSCHEDULES: Table = Table {
    name: "entraid_rolemanagement_roleeligibilityschedules",
    title: "Role Eligibility Schedules",
    description: "PIM eligibility schedules: who can activate which role and until when (needs Entra ID P2).",
    resource: "unifiedRoleEligibilitySchedule",
    source: Source::List {
        path: "/roleManagement/directory/roleEligibilitySchedules",
    },
    version: ApiVersion::V1,
    permissions: &[
        "RoleEligibilitySchedule.Read.Directory",
        "RoleManagement.Read.Directory",
        "RoleManagement.Read.All",
    ],
    licence: Some(Licence::EntraP2),
    props: &[
        p("id", Utf8),
        p("appScopeId", Utf8),
        p("createdDateTime", Timestamp),
        p("createdUsing", Utf8),
        p("directoryScopeId", Utf8),
        p("modifiedDateTime", Timestamp),
        p("principalId", Utf8),
        p("roleDefinitionId", Utf8),
        p("status", Utf8),
        p("memberType", Utf8),
        p("scheduleInfo", Json),
    ],
    ..DEFAULT
};

pub static ROLEELIGIBILITYSCHEDULEINSTANCES: Table = Table {
    name: "entraid_rolemanagement_roleeligibilityscheduleinstances",
    title: "Role Eligibility Schedule Instances",
    description: "Role eligibilities in effect now: who can activate Global Administrator or any other role (needs Entra ID P2).",
    resource: "unifiedRoleEligibilityScheduleInstance",
    source: Source::List {
        path: "/roleManagement/directory/roleEligibilityScheduleInstances",
    },
    version: ApiVersion::V1,
    permissions: &[
        "RoleEligibilitySchedule.Read.Directory",
        "RoleManagement.Read.Directory",
        "RoleManagement.Read.All",
    ],
    licence: Some(Licence::EntraP2),
    props: &[
        p("id", Utf8),
        p("appScopeId", Utf8),
        p("directoryScopeId", Utf8),
        p("principalId", Utf8),
        p("roleDefinitionId", Utf8),
        p("endDateTime", Timestamp),
        p("memberType", Utf8),
        p("roleEligibilityScheduleId", Utf8),
        p("startDateTime", Timestamp),
    ],
    ..DEFAULT
};

pub static ROLEELIGIBILITYSCHEDULEREQUESTS: Table = Table {
    name: "entraid_rolemanagement_roleeligibilityschedulerequests",
    title: "Role Eligibility Schedule Requests",
    description: "PIM requests to make principals eligible for roles, or to remove eligibility, with justification (needs Entra ID P2).",
    resource: "unifiedRoleEligibilityScheduleRequest",
    source: Source::List {
        path: "/roleManagement/directory/roleEligibilityScheduleRequests",
    },
    version: ApiVersion::V1,
    permissions: &[
        "RoleEligibilitySchedule.Read.Directory",
        "RoleManagement.Read.Directory",
        "RoleManagement.Read.All",
    ],
    licence: Some(Licence::EntraP2),
    props: &[
        p("id", Utf8),
        p("approvalId", Utf8),
        p("completedDateTime", Timestamp),
        p("createdBy", Json),
        p("createdDateTime", Timestamp),
        p("customData", Utf8),
        p("status", Utf8),
        p("action", Utf8),
        p("appScopeId", Utf8),
        p("directoryScopeId", Utf8),
        p("isValidationOnly", Bool),
        p("justification", Utf8),
        p("principalId", Utf8),
        p("roleDefinitionId", Utf8),
        p("scheduleInfo", Json),
        p("targetScheduleId", Utf8),
        p("ticketInfo", Json),
    ],
    ..DEFAULT
};

pub static PRIVILEGEDACCESS_GROUP_ASSIGNMENTSCHEDULEINSTANCES: Table = Table {
    name: "entraid_privilegedaccess_group_assignmentscheduleinstances",
    title: "PIM for Groups Assignment Schedule Instances",
    description: "Active membership and ownership of role-assignable groups through PIM for groups, direct or activated (needs Entra ID P2).",
    resource: "privilegedAccessGroupAssignmentScheduleInstance",
    source: Source::Child {
        parent: "entraid_groups",
        parent_key: "group_id",
        path: "/identityGovernance/privilegedAccess/group/assignmentScheduleInstances?$filter=groupId eq '{id}'",
    },
    version: ApiVersion::V1,
    permissions: &[
        "PrivilegedAssignmentSchedule.Read.AzureADGroup",
        "PrivilegedAccess.Read.AzureADGroup",
    ],
    licence: Some(Licence::EntraP2),
    parent_condition: Some(ParentCondition::Flag("isAssignableToRole")),
    props: &[
        p("id", Utf8),
        p("accessId", Utf8),
        p("assignmentScheduleId", Utf8),
        p("assignmentType", Utf8),
        p("endDateTime", Timestamp),
        p("groupId", Utf8),
        p("memberType", Utf8),
        p("principalId", Utf8),
        p("startDateTime", Timestamp),
    ],
    ..DEFAULT
};

pub static PRIVILEGEDACCESS_GROUP_ELIGIBILITYSCHEDULEINSTANCES: Table = Table {
    name: "entraid_privilegedaccess_group_eligibilityscheduleinstances",
    title: "PIM for Groups Eligibility Schedule Instances",
    description: "Principals eligible to activate membership or ownership of role-assignable groups through PIM for groups (needs Entra ID P2).",
    resource: "privilegedAccessGroupEligibilityScheduleInstance",
    source: Source::Child {
        parent: "entraid_groups",
        parent_key: "group_id",
        path: "/identityGovernance/privilegedAccess/group/eligibilityScheduleInstances?$filter=groupId eq '{id}'",
    },
    version: ApiVersion::V1,
    permissions: &[
        "PrivilegedEligibilitySchedule.Read.AzureADGroup",
        "PrivilegedAccess.Read.AzureADGroup",
    ],
    licence: Some(Licence::EntraP2),
    parent_condition: Some(ParentCondition::Flag("isAssignableToRole")),
    props: &[
        p("id", Utf8),
        p("accessId", Utf8),
        p("eligibilityScheduleId", Utf8),
        p("endDateTime", Timestamp),
        p("groupId", Utf8),
        p("memberType", Utf8),
        p("principalId", Utf8),
        p("startDateTime", Timestamp),
    ],
    ..DEFAULT
};

/// This file's tables, parents before children.
pub static TABLES: &[&Table] = &[
    &ROLEDEFINITIONS,
    &ROLEASSIGNMENTS,
    &ROLEASSIGNMENTSCHEDULES,
    &ROLEASSIGNMENTSCHEDULEINSTANCES,
    &ROLEASSIGNMENTSCHEDULEREQUESTS,
    &ROLEELIGIBILITYSCHEDULES,
    &ROLEELIGIBILITYSCHEDULEINSTANCES,
    &ROLEELIGIBILITYSCHEDULEREQUESTS,
    &PRIVILEGEDACCESS_GROUP_ASSIGNMENTSCHEDULEINSTANCES,
    &PRIVILEGEDACCESS_GROUP_ELIGIBILITYSCHEDULEINSTANCES,
];
