//! Generation of the directory, one module per resource (or group of resources generated
//! together): the registry (`crate::registry`) names each resource's generator and runs them in its
//! order, which is the order the random stream is drawn in (so a seed always gives the same tenant).

mod admin_units;
mod apps;
mod contacts;
mod devices;
mod groups;
mod org;
mod roles;
mod users;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::logs::{LogContext, LogKind, LogStore};
use super::{Collection, Counts, Profile, Tenant};
use crate::Licences;
use crate::fill::Filler;

pub use admin_units::generate as admin_units;
pub use apps::{app_role_assignment, generate as applications};
pub use contacts::generate as contacts;
pub use devices::generate as devices;
pub use groups::{generate as groups, settings as group_settings};
pub use org::{SKUS, generate as organization};
pub use roles::{ROLE_TEMPLATES, generate as directory_roles};
pub use users::{gen_user, generate as users};

pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// The `DateTimeOffset` Graph writes in `signInActivity` for "never".
pub const NEVER: &str = "0001-01-01T00:00:00Z";
pub const MS_TENANT: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";

/// Application permissions of Microsoft Graph (well-known app role ids where known, else derived).
pub const GRAPH_PERMISSIONS: &[(&str, &str)] = &[
    ("User.Read.All", "df021288-bdef-4463-88db-98f22de89214"),
    ("Directory.Read.All", "7ab1d382-f21e-4acd-a863-ba3e13f7da61"),
    ("Group.Read.All", "5b567255-7703-4780-807c-7be8301ae99b"),
    (
        "GroupMember.Read.All",
        "98830695-27a2-44f7-8c18-0c3ebc9698f6",
    ),
    (
        "Application.Read.All",
        "9a5d68dd-52b0-4cc2-bd40-abcf44ac3a30",
    ),
    ("AuditLog.Read.All", "b0afded3-3588-46d8-8b3d-9842eff778da"),
    ("Device.Read.All", "7438b122-aefc-4978-80ed-43db9fcc7715"),
    ("Domain.Read.All", "dbb9058a-0e50-45d7-ae91-66909b5d4664"),
    (
        "Organization.Read.All",
        "498476ce-e0fe-48b0-b801-37ba7e2685c6",
    ),
    ("Policy.Read.All", "246dd0d5-5bd0-4def-940b-0421030a5b68"),
    (
        "RoleManagement.Read.Directory",
        "483bed4a-2ad3-4361-a73b-c83ccdbdc53c",
    ),
    (
        "RoleManagement.Read.All",
        "c7fbd983-d9aa-4fa7-84b8-17382c103bc4",
    ),
    (
        "RoleAssignmentSchedule.Read.Directory",
        "d5fe8ce8-684c-4c83-a52c-46e882ce4be1",
    ),
    (
        "RoleAssignmentSchedule.ReadWrite.Directory",
        "dd199f4a-f148-40a4-a2ec-f0069cc799ec",
    ),
    (
        "RoleEligibilitySchedule.Read.Directory",
        "ff278e11-4a33-4d0c-83d2-d01dc58929a5",
    ),
    (
        "PrivilegedAssignmentSchedule.Read.AzureADGroup",
        "cd4161cb-f098-48f8-a884-1eda9a42434c",
    ),
    (
        "PrivilegedEligibilitySchedule.Read.AzureADGroup",
        "edb419d6-7edc-42a3-9345-509bfdf5d87c",
    ),
    (
        "AdministrativeUnit.Read.All",
        "134fd756-38ce-4afd-ba33-e9623dbe66c2",
    ),
    (
        "OrgContact.Read.All",
        "e1a88a34-94c4-4418-be12-c87b00e26bea",
    ),
    (
        "IdentityRiskEvent.Read.All",
        "6e472fd1-ad78-48da-a0f0-97ab2c6b769e",
    ),
    (
        "IdentityRiskyUser.Read.All",
        "dc5007c0-2d7d-4c42-879c-2dab87571379",
    ),
    (
        "IdentityRiskyServicePrincipal.Read.All",
        "607c7344-0eed-41e5-823a-9695ebe1b7b0",
    ),
    (
        "DeviceManagementManagedDevices.Read.All",
        "2f51be20-0bb4-4fed-bf7b-db946066c75e",
    ),
    (
        "DeviceManagementConfiguration.Read.All",
        "dc377aa6-52d8-4e23-b271-2a7ae04cedf3",
    ),
    (
        "DelegatedPermissionGrant.Read.All",
        "81b4724a-58aa-41c1-8a55-84ef97466587",
    ),
    (
        "UserAuthenticationMethod.Read.All",
        "38d9df27-64da-44fd-b7c5-a6fbac20248f",
    ),
    ("Reports.Read.All", "230c1aed-a721-4c5d-9cb4-a90514e508ef"),
];

pub fn opaque_id(f: &mut Filler) -> String {
    let mut b = [0u8; 32];
    rand::RngCore::fill_bytes(&mut f.rng, &mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// A resource's generator: adds its objects to the tenant being generated.
pub type Generator = fn(&mut Gen);

/// The tenant being generated, the random stream every generator draws from in turn, and what
/// generators hand to later ones (users for group members, applications for sign-ins, ...).
pub struct Gen {
    pub t: Tenant,
    pub f: Filler,
    pub counts: Counts,
    pub lic: Licences,
    /// Every documented property set somewhere (the tiny profile).
    pub dense: bool,
    /// The tenant's name word (`contoso`, ...).
    pub word: &'static str,
    /// The custom (default) domain.
    pub custom: String,
    /// appId of the sync app (the first application).
    pub sync_app_id: String,
    /// skuId of each subscribed SKU.
    pub sku_ids: Vec<&'static str>,
    /// (id, displayName, userPrincipalName)
    pub users: Vec<(String, String, String)>,
    pub group_ids: Vec<String>,
    pub role_assignable: Vec<String>,
    /// (appId, displayName, service principal id) of the tenant's applications and extra
    /// service principals.
    pub apps_ctx: Vec<(String, String, String)>,
    /// (service principal id, displayName) of the tenant's applications.
    pub app_sps: Vec<(String, String)>,
    /// (role template id, principal, directory role id)
    pub role_members: Vec<(String, String, String)>,
    pub au_ids: Vec<String>,
}

impl Gen {
    /// The id of a random user.
    pub fn random_user(&mut self) -> String {
        let n = self.users.len() as u64;
        self.users[self.f.range(0, n) as usize].0.clone()
    }
}

/// Generate a whole tenant: every registered resource's generator, in registry order.
pub fn generate(
    profile: Profile,
    seed: u64,
    now: DateTime<Utc>,
    lic: Licences,
    sync_app_id: &str,
) -> Tenant {
    let counts = profile.counts();
    let mut f = Filler {
        rng: ChaCha8Rng::seed_from_u64(seed),
        now,
        domain: String::new(),
        density: profile.density(),
    };
    let tenant_id = f.uuid();
    let words = [
        "contoso",
        "fabrikam",
        "northwind",
        "adatum",
        "woodgrove",
        "litware",
        "tailspin",
        "proseware",
    ];
    let word = words[(seed % words.len() as u64) as usize];
    let domain = format!("{word}{seed}.onmicrosoft.com");
    f.domain = domain.clone();
    let org_name = format!("{} {}", crate::fill::capitalize(word), seed);
    let colls: HashMap<&'static str, Collection> = crate::registry::collections()
        .map(|r| (r.key, Collection::new(r.schema)))
        .collect();
    let dense = profile.density() >= 1.0;
    let t = Tenant {
        id: tenant_id,
        domain,
        org_name,
        now,
        seed,
        version: 0,
        colls,
        singletons: HashMap::new(),
        signins: LogStore::new(
            LogKind::SignIn,
            seed ^ 0x5151,
            Arc::new(LogContext::default()),
            dense,
        ),
        audits: LogStore::new(
            LogKind::Audit,
            seed ^ 0xA0D1,
            Arc::new(LogContext::default()),
            dense,
        ),
        kinds: HashMap::new(),
        graph_roles: BTreeMap::new(),
        user_count_at_start: counts.users,
    };
    let mut g = Gen {
        t,
        f,
        counts,
        lic,
        dense,
        word,
        custom: format!("{word}{seed}.com"),
        sync_app_id: sync_app_id.to_string(),
        sku_ids: Vec::new(),
        users: Vec::new(),
        group_ids: Vec::new(),
        role_assignable: Vec::new(),
        apps_ctx: Vec::new(),
        app_sps: Vec::new(),
        role_members: Vec::new(),
        au_ids: Vec::new(),
    };
    for generate in crate::registry::RESOURCES.iter().filter_map(|r| r.generate) {
        generate(&mut g);
    }
    g.t
}

/// The sign-in and audit log streams: their context (users, apps, policies, groups they name)
/// and the entries of the profile's log days before `now`.
pub fn logs(g: &mut Gen) {
    let t = &mut g.t;
    let ca: Vec<(String, String)> = t.colls["conditionalAccessPolicies"]
        .items
        .values()
        .map(|i| (i.id.clone(), i.str("displayName").unwrap_or("").to_string()))
        .collect();
    let groups_ctx: Vec<(String, String)> = t.colls["groups"]
        .items
        .values()
        .take(1000)
        .map(|i| (i.id.clone(), i.str("displayName").unwrap_or("").to_string()))
        .collect();
    let ctx = Arc::new(LogContext {
        tenant_id: t.id.clone(),
        domain: t.domain.clone(),
        users: g.users.clone(),
        apps: std::mem::take(&mut g.apps_ctx),
        ca_policies: ca,
        groups: groups_ctx,
    });
    t.signins.ctx = ctx.clone();
    t.audits.ctx = ctx;
    let now = t.now;
    let start = now - Duration::days(g.counts.log_days);
    t.signins.append(g.counts.signins, start, now);
    t.audits.append(g.counts.audits, start, now);
}
