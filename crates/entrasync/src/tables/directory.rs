//! Directory objects: users, groups, applications, service principals, roles, devices, and the
//! tenant's own objects.

use super::{ApiVersion, Incremental, Licence, Source, Table, p};
use entrasync_sinks::cq::ColumnKind::{Bool, Int64, Json, Timestamp, Utf8, Utf8List};

pub static USERS: Table = Table {
    name: "entraid_users",
    description: "Users of the tenant (members and guests), with every v1.0 property that can be listed.",
    source: Source::List { path: "/users" },
    version: ApiVersion::V1,
    permissions: &["User.Read.All", "Directory.Read.All"],
    licence: None,
    max_page_size: Some(999),
    incremental: Incremental::Delta,
    props: &[
        p("id", Utf8),
        p("deletedDateTime", Timestamp),
        p("accountEnabled", Bool),
        p("ageGroup", Utf8),
        p("assignedLicenses", Json),
        p("assignedPlans", Json),
        p("businessPhones", Utf8List),
        p("city", Utf8),
        p("companyName", Utf8),
        p("createdDateTime", Timestamp),
        p("deviceEnrollmentLimit", Int64),
        p("displayName", Utf8),
        p("userPrincipalName", Utf8),
        p("userType", Utf8),
    ],
};

pub static TABLES: &[&Table] = &[&USERS];

#[allow(dead_code)]
const _LICENCE: Option<Licence> = None;
