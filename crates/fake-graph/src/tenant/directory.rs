//! Generation of the directory: users, groups, applications, service principals, devices, roles,
//! administrative units, contacts, grants, domains, organization, SKUs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::logs::{LogContext, LogKind, LogStore};
use super::{Collection, Item, Profile, Tenant};
use crate::Licences;
use crate::fill::{CITIES, DEPARTMENTS, FIRST, Filler, LAST, Obj, TITLES, ts};

pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
/// The `DateTimeOffset` Graph writes in `signInActivity` for "never".
pub const NEVER: &str = "0001-01-01T00:00:00Z";
pub const MS_TENANT: &str = "f8cdef31-a31e-4b4a-93e4-5f571e91255a";

/// Built-in directory role templates (real template ids).
pub const ROLE_TEMPLATES: &[(&str, &str, &str)] = &[
    (
        "62e90394-69f5-4237-9190-012177145e10",
        "Global Administrator",
        "Can manage all aspects of Microsoft Entra ID and Microsoft services that use Microsoft Entra identities.",
    ),
    (
        "fe930be7-5e62-47db-91af-98c3a49a38b1",
        "User Administrator",
        "Can manage all aspects of users and groups, including resetting passwords for limited admins.",
    ),
    (
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
        "Helpdesk Administrator",
        "Can reset passwords for non-administrators and Helpdesk Administrators.",
    ),
    (
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
        "Security Administrator",
        "Can read security information and reports, and manage configuration in Microsoft Entra ID and Office 365.",
    ),
    (
        "5d6b6bb7-de71-4623-b4af-96380a352509",
        "Security Reader",
        "Can read security information and reports in Microsoft Entra ID and Office 365.",
    ),
    (
        "f2ef992c-3afb-46b9-b7cf-a126ee74c451",
        "Global Reader",
        "Can read everything that a Global Administrator can, but not update anything.",
    ),
    (
        "9b895d92-2cd3-44c7-9d02-a6ac2d5ea5c3",
        "Application Administrator",
        "Can create and manage all aspects of app registrations and enterprise apps.",
    ),
    (
        "158c047a-c907-4556-b7ef-446551a6b5f7",
        "Cloud Application Administrator",
        "Can create and manage all aspects of app registrations and enterprise apps except App Proxy.",
    ),
    (
        "29232cdf-9323-42fd-ade2-1d097af3e4de",
        "Exchange Administrator",
        "Can manage all aspects of the Exchange product.",
    ),
    (
        "f28a1f50-f6e7-4571-818b-6a12f2af6b6c",
        "SharePoint Administrator",
        "Can manage all aspects of the SharePoint service.",
    ),
    (
        "b0f54661-2d74-4c50-afa3-1ec803f12efe",
        "Billing Administrator",
        "Can perform common billing related tasks like updating payment information.",
    ),
    (
        "e8611ab8-c189-46e8-94e1-60213ab1f814",
        "Privileged Role Administrator",
        "Can manage role assignments in Microsoft Entra ID, and all aspects of Privileged Identity Management.",
    ),
    (
        "b1be1c3e-b65d-4f19-8427-f6fa0d97feb9",
        "Conditional Access Administrator",
        "Can manage Conditional Access capabilities.",
    ),
    (
        "3a2c62db-5318-420d-8d74-23affee5d9d5",
        "Intune Administrator",
        "Can manage all aspects of the Intune product.",
    ),
    (
        "88d8e3e3-8f55-4a1e-953a-9b9898b8876b",
        "Directory Readers",
        "Can read basic directory information. Commonly used to grant directory read access to applications and guests.",
    ),
    (
        "95e79109-95c0-4d8e-aee3-d01accf2d47b",
        "Guest Inviter",
        "Can invite guest users independent of the 'members can invite guests' setting.",
    ),
    (
        "4a5d8f65-41da-4de4-8968-e035b65339cf",
        "Reports Reader",
        "Can read sign-in and audit reports.",
    ),
    (
        "fdd7a751-b60b-444a-984c-02652fe8fa1c",
        "Groups Administrator",
        "Members of this role can create/manage groups, create/manage groups settings like naming and expiration policies, and view groups activity and audit reports.",
    ),
    (
        "c4e39bd9-1100-46d3-8c65-fb160da0071f",
        "Authentication Administrator",
        "Can access to view, set and reset authentication method information for any non-admin user.",
    ),
    (
        "4d6ac14f-3453-41d0-bef9-a3e0c569773a",
        "License Administrator",
        "Can manage product licenses on users and groups.",
    ),
];

/// (skuId, skuPartNumber, service plan (id, name), licence that enables it)
pub const SKUS: &[(&str, &str, &str, &str, Option<&str>)] = &[
    (
        "6fd2c87f-b296-42f0-b197-1e91e994b900",
        "ENTERPRISEPACK",
        "efb87545-963c-4e0d-99df-69c6916d9eb0",
        "EXCHANGE_S_ENTERPRISE",
        None,
    ),
    (
        "078d2b04-f1bd-4111-bbd4-b4b1b354cef4",
        "AAD_PREMIUM",
        "41781fb2-bc02-4b7c-bd55-b576c07bb09d",
        "AAD_PREMIUM",
        Some("p1"),
    ),
    (
        "84a661c4-e949-4bd2-a560-ed7766fcaf2b",
        "AAD_PREMIUM_P2",
        "eec0eb4f-6444-4f95-aba0-50c24d67f998",
        "AAD_PREMIUM_P2",
        Some("p2"),
    ),
    (
        "061f9ace-7d42-4136-88ac-31dc755f143f",
        "INTUNE_A",
        "c1ec4a95-1f05-45b3-a911-aa3fa01094f5",
        "INTUNE_A",
        Some("intune"),
    ),
];

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

const APP_NAMES: &[&str] = &[
    "Payroll Portal",
    "Expense Tracker",
    "HR Connector",
    "Sales Dashboard",
    "Build Pipeline",
    "Backup Agent",
    "Inventory API",
    "Customer Portal",
    "Data Lake Loader",
    "Ticketing Bridge",
    "Mobile Companion",
    "Wiki Sync",
];

pub fn opaque_id(f: &mut Filler) -> String {
    let mut b = [0u8; 32];
    rand::RngCore::fill_bytes(&mut f.rng, &mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Generate a whole tenant.
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
    let mut colls: HashMap<&'static str, Collection> = crate::registry::collections()
        .map(|r| (r.key, Collection::new(r.schema)))
        .collect();
    let dense = profile.density() >= 1.0;
    let mut t = Tenant {
        id: tenant_id.clone(),
        domain: domain.clone(),
        org_name: org_name.clone(),
        now,
        seed,
        version: 0,
        colls: HashMap::new(),
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

    // ---- SKUs, domains, organization
    let skus: Vec<_> = SKUS
        .iter()
        .filter(|s| match s.4 {
            Some("p1") => lic.p1 || lic.p2,
            Some("p2") => lic.p2,
            Some("intune") => lic.intune,
            _ => true,
        })
        .collect();
    for (sku_id, part, plan_id, plan_name, _) in &skus {
        let mut o = f.resource("subscribedSku");
        o.insert("accountId".into(), json!(tenant_id));
        o.insert("accountName".into(), json!(org_name));
        o.insert("appliesTo".into(), json!("User"));
        o.insert("capabilityStatus".into(), json!("Enabled"));
        o.insert("consumedUnits".into(), json!(counts.users.min(100_000)));
        o.insert(
            "prepaidUnits".into(),
            json!({"enabled": counts.users + 50, "lockedOut": 0, "suspended": 0, "warning": 0}),
        );
        o.insert(
            "servicePlans".into(),
            json!([{"servicePlanId": plan_id, "servicePlanName": plan_name, "provisioningStatus": "Success", "appliesTo": "User"}]),
        );
        o.insert("skuId".into(), json!(sku_id));
        o.insert("skuPartNumber".into(), json!(part));
        let sub_id = f.uuid();
        o.insert("subscriptionIds".into(), json!([sub_id]));
        colls
            .get_mut("subscribedSkus")
            .unwrap()
            .push(Item::new(format!("{tenant_id}_{sku_id}"), o));
        let mut s = f.resource("companySubscription");
        s.insert("skuId".into(), json!(sku_id));
        s.insert("skuPartNumber".into(), json!(part));
        s.insert("status".into(), json!("Enabled"));
        s.insert("ownerTenantId".into(), json!(tenant_id));
        s.insert("ownerType".into(), json!("Company"));
        s.insert("totalLicenses".into(), json!(counts.users + 50));
        s.insert("isTrial".into(), json!(false));
        s.insert(
            "serviceStatus".into(),
            json!([{"servicePlanId": plan_id, "servicePlanName": plan_name, "provisioningStatus": "Success", "appliesTo": "Company"}]),
        );
        colls
            .get_mut("subscriptions")
            .unwrap()
            .push(Item::new(sub_id, s));
    }
    let custom = format!("{word}{seed}.com");
    for (name, initial, default, auth) in [
        (domain.clone(), true, false, "Managed"),
        (custom.clone(), false, true, "Managed"),
        (format!("corp.{custom}"), false, false, "Federated"),
    ] {
        let mut o = f.resource("domain");
        o.insert("authenticationType".into(), json!(auth));
        o.insert(
            "availabilityStatus".into(),
            if dense {
                json!("AvailableImmediately")
            } else {
                Value::Null
            },
        );
        o.insert("isAdminManaged".into(), json!(true));
        o.insert("isDefault".into(), json!(default));
        o.insert("isInitial".into(), json!(initial));
        o.insert("isRoot".into(), json!(true));
        o.insert("isVerified".into(), json!(true));
        o.insert(
            "supportedServices".into(),
            json!(["Email", "OfficeCommunicationsOnline"]),
        );
        o.insert("passwordValidityPeriodInDays".into(), json!(2147483647));
        o.insert("passwordNotificationWindowInDays".into(), json!(14));
        colls.get_mut("domains").unwrap().push(Item::new(name, o));
    }
    {
        let mut o = f.resource("organization");
        o.insert("displayName".into(), json!(org_name));
        o.insert("tenantType".into(), json!("AAD"));
        o.insert("countryLetterCode".into(), json!("US"));
        o.insert("country".into(), json!("United States"));
        o.insert("city".into(), json!("Redmond"));
        o.insert("state".into(), json!("WA"));
        o.insert("preferredLanguage".into(), json!("en"));
        o.insert("defaultUsageLocation".into(), json!("US"));
        o.insert(
            "mobileDeviceManagementAuthority".into(),
            json!(if lic.intune { "intune" } else { "unknown" }),
        );
        o.insert(
            "verifiedDomains".into(),
            json!([
                {"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": false, "isInitial": true, "name": domain, "type": "Managed"},
                {"capabilities": "Email, OfficeCommunicationsOnline", "isDefault": true, "isInitial": false, "name": custom, "type": "Managed"}
            ]),
        );
        o.insert(
            "technicalNotificationMails".into(),
            json!([format!("admin@{custom}")]),
        );
        o.insert(
            "createdDateTime".into(),
            json!(ts(now - Duration::days(900))),
        );
        colls
            .get_mut("organization")
            .unwrap()
            .push(Item::new(tenant_id.clone(), o));
    }
    let sku_ids: Vec<&str> = skus.iter().map(|s| s.0).collect();

    // ---- users
    let mut users: Vec<(String, String, String)> = Vec::with_capacity(counts.users);
    for i in 0..counts.users {
        let o = gen_user(&mut f, i, &custom, &domain, &sku_ids, dense);
        let id = f.uuid();
        users.push((
            id.clone(),
            o["displayName"].as_str().unwrap().to_string(),
            o["userPrincipalName"].as_str().unwrap().to_string(),
        ));
        t.kinds.insert(id.clone(), "users");
        colls.get_mut("users").unwrap().push(Item::new(id, o));
    }
    let uid = |f: &mut Filler| users[f.range(0, users.len() as u64) as usize].0.clone();

    // ---- groups
    let mut group_ids = Vec::with_capacity(counts.groups);
    let mut levels = Vec::with_capacity(counts.groups);
    let mut role_assignable = Vec::new();
    let mut unified = Vec::new();
    for i in 0..counts.groups {
        let mut o = f.resource("group");
        let kind = if i == 0 { 1 } else { i % 5 }; // 0 security, 1 unified, 2 dynamic, 3 role-assignable, 4 mail-enabled security
        let dept = DEPARTMENTS[i % DEPARTMENTS.len()];
        let name = match kind {
            1 if i == 0 => "All Company".to_string(),
            1 => format!("{dept} Team {i}"),
            2 => format!("Dynamic {dept} {i}"),
            3 => format!("Privileged {dept} Admins {i}"),
            4 => format!("{dept} Distribution {i}"),
            _ => format!("SG-{dept}-{i}"),
        };
        let nick: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
        o.insert("displayName".into(), json!(name));
        o.insert("description".into(), json!(format!("{name} ({dept})")));
        o.insert("mailNickname".into(), json!(nick));
        o.insert("createdDateTime".into(), json!(f.past(700)));
        o.insert("securityEnabled".into(), json!(kind != 1));
        o.insert("mailEnabled".into(), json!(kind == 1 || kind == 4));
        o.insert(
            "mail".into(),
            if kind == 1 || kind == 4 {
                json!(format!("{nick}@{custom}"))
            } else {
                Value::Null
            },
        );
        o.insert(
            "groupTypes".into(),
            match kind {
                1 => json!(["Unified"]),
                2 => json!(["DynamicMembership"]),
                _ => json!([]),
            },
        );
        o.insert("isAssignableToRole".into(), json!(kind == 3));
        if kind == 2 || dense {
            o.insert(
                "membershipRule".into(),
                json!(format!("user.department -eq \"{dept}\"")),
            );
            o.insert("membershipRuleProcessingState".into(), json!("On"));
        } else {
            o.remove("membershipRule");
            o.remove("membershipRuleProcessingState");
        }
        o.insert(
            "visibility".into(),
            json!(if kind == 1 { "Public" } else { "Private" }),
        );
        o.insert(
            "proxyAddresses".into(),
            if kind == 1 || kind == 4 {
                json!([format!("SMTP:{nick}@{custom}")])
            } else {
                json!([])
            },
        );
        o.insert(
            "resourceProvisioningOptions".into(),
            if kind == 1 {
                json!(["Team"])
            } else {
                json!([])
            },
        );
        o.insert(
            "resourceBehaviorOptions".into(),
            if kind == 1 {
                json!(["WelcomeEmailDisabled"])
            } else {
                json!([])
            },
        );
        o.insert(
            "securityIdentifier".into(),
            json!(format!(
                "S-1-12-1-{}-{}-{}-{}",
                f.range(1, 4_000_000_000),
                f.range(1, 4_000_000_000),
                f.range(1, 4_000_000_000),
                f.range(1, 4_000_000_000)
            )),
        );
        if kind != 1 && !dense {
            o.remove("expirationDateTime");
            o.remove("renewedDateTime");
        }
        let id = f.uuid();
        t.kinds.insert(id.clone(), "groups");
        let level = if i == 0 {
            0
        } else {
            match f.range(0, 100) {
                0..=84 => 0,
                85..=94 => 1,
                95..=98 => 2,
                _ => 3,
            }
        };
        levels.push(level);
        if kind == 3 {
            role_assignable.push(id.clone());
        }
        if kind == 1 {
            unified.push(id.clone());
        }
        group_ids.push(id.clone());
        colls.get_mut("groups").unwrap().push(Item::new(id, o));
    }
    // memberships: power-law sizes, nesting by level (a group only contains lower-level groups,
    // so nesting depth is at most 3).
    let max_size = (users.len() / 10).clamp(5, 5_000);
    for (gi, gid) in group_ids.iter().enumerate() {
        let size = if gi == 0 {
            users.len().min(5_000)
        } else {
            let u: f64 = f.rng.random::<f64>().max(1e-6);
            ((2.5 / u.powf(0.9)) as usize)
                .clamp(1, max_size)
                .min(users.len())
        };
        let mut members: Vec<String> = Vec::with_capacity(size + 2);
        if gi == 0 {
            members.extend(users.iter().take(size).map(|u| u.0.clone()));
        } else {
            let start = f.range(0, users.len() as u64) as usize;
            let step = 1 + f.range(0, 7) as usize;
            for k in 0..size {
                members.push(users[(start + k * step) % users.len()].0.clone());
            }
            members.sort();
            members.dedup();
        }
        let lvl = levels[gi];
        if lvl > 0 {
            let lower: Vec<usize> = (0..group_ids.len())
                .filter(|&j| levels[j] == lvl - 1 && j != 0)
                .take(50)
                .collect();
            for _ in 0..f.range(1, 3) {
                if lower.is_empty() {
                    break;
                }
                let j = lower[f.range(0, lower.len() as u64) as usize];
                if !members.contains(&group_ids[j]) {
                    members.push(group_ids[j].clone());
                }
            }
        }
        let n_owners = if gi % 7 == 6 {
            0
        } else {
            f.range(1, 3) as usize
        };
        let owners: Vec<String> = (0..n_owners).map(|_| uid(&mut f)).collect();
        let g = colls.get_mut("groups").unwrap().get_mut(gid).unwrap();
        g.rels.insert("members", members);
        g.rels.insert("owners", owners);
    }

    // ---- applications + service principals
    let graph_sp_id = f.uuid();
    let mut graph_roles = Vec::new();
    for (perm, role_id) in GRAPH_PERMISSIONS {
        t.graph_roles.insert(perm.to_string(), role_id.to_string());
        graph_roles.push(json!({
            "allowedMemberTypes": ["Application"], "description": format!("Allows the app to {perm} without a signed-in user."),
            "displayName": format!("Read {perm}"), "id": role_id, "isEnabled": true, "origin": "Application", "value": perm
        }));
    }
    let mut apps_ctx = Vec::new();
    let mut app_sps: Vec<(String, String)> = Vec::new(); // (sp id, display name)
    for i in 0..counts.applications {
        let name = if i == 0 {
            "entrasync".to_string()
        } else {
            format!("{} {}", APP_NAMES[i % APP_NAMES.len()], i)
        };
        let app_id = if i == 0 {
            sync_app_id.to_string()
        } else {
            f.uuid()
        };
        let mut o = f.resource("application");
        o.insert("appId".into(), json!(app_id));
        o.insert("displayName".into(), json!(name));
        o.insert("createdDateTime".into(), json!(f.past(800)));
        o.insert("publisherDomain".into(), json!(custom));
        o.insert(
            "signInAudience".into(),
            json!(*f.pick(&[
                "AzureADMyOrg",
                "AzureADMyOrg",
                "AzureADMultipleOrgs",
                "AzureADandPersonalMicrosoftAccount"
            ])),
        );
        o.insert("identifierUris".into(), json!([format!("api://{app_id}")]));
        o.insert("isDisabled".into(), json!(false));
        o.insert(
            "groupMembershipClaims".into(),
            json!(*f.pick(&["SecurityGroup", "All", "None"])),
        );
        o.insert(
            "disabledByMicrosoftStatus".into(),
            if dense && i == 1 {
                json!("NotDisabled")
            } else {
                Value::Null
            },
        );
        let app_role_id = f.uuid();
        o.insert(
            "appRoles".into(),
            json!([{"allowedMemberTypes": ["User", "Application"], "description": "Readers can read data.", "displayName": "Reader",
                    "id": app_role_id, "isEnabled": true, "origin": "Application", "value": "Data.Read"}]),
        );
        let cert_start = f.past(300);
        let cert_end = f.future(400);
        let has_cert = dense || f.chance(0.4);
        o.insert(
            "keyCredentials".into(),
            if has_cert {
                json!([{"customKeyIdentifier": f.b64(20), "displayName": format!("CN={name}"), "endDateTime": cert_end,
                        "key": if dense { json!(f.b64(48)) } else { Value::Null }, "keyId": f.uuid(), "startDateTime": cert_start,
                        "type": "AsymmetricX509Cert", "usage": "Verify"}])
            } else {
                json!([])
            },
        );
        let has_secret = dense || f.chance(0.6);
        o.insert(
            "passwordCredentials".into(),
            if has_secret {
                json!([{"customKeyIdentifier": null, "displayName": "ci-secret", "endDateTime": f.future(700), "hint": "x7Q",
                        "keyId": f.uuid(), "secretText": null, "startDateTime": f.past(100)}])
            } else {
                json!([])
            },
        );
        let rra: Vec<Value> = GRAPH_PERMISSIONS
            .iter()
            .take(if i == 0 { GRAPH_PERMISSIONS.len() } else { 3 })
            .map(|(_, id)| json!({"id": id, "type": "Role"}))
            .collect();
        o.insert(
            "requiredResourceAccess".into(),
            json!([{"resourceAppId": GRAPH_APP_ID, "resourceAccess": rra}]),
        );
        o.insert(
            "web".into(),
            json!({"homePageUrl": format!("https://app{i}.{custom}"), "logoutUrl": null,
                   "redirectUris": [format!("https://app{i}.{custom}/signin-oidc")],
                   "implicitGrantSettings": {"enableAccessTokenIssuance": false, "enableIdTokenIssuance": true},
                   "redirectUriSettings": [{"index": null, "uri": format!("https://app{i}.{custom}/signin-oidc")}]}),
        );
        let id = f.uuid();
        t.kinds.insert(id.clone(), "applications");
        let mut item = Item::new(id.clone(), o);
        item.rels
            .insert("owners", (0..f.range(0, 3)).map(|_| uid(&mut f)).collect());
        colls.get_mut("applications").unwrap().push(item);
        if dense || i % 3 == 0 {
            let mut fic = f.resource("federatedIdentityCredential");
            fic.insert("name".into(), json!(format!("github-{i}")));
            fic.insert(
                "issuer".into(),
                json!("https://token.actions.githubusercontent.com"),
            );
            fic.insert(
                "subject".into(),
                json!(format!("repo:{word}/app{i}:ref:refs/heads/main")),
            );
            fic.insert("audiences".into(), json!(["api://AzureADTokenExchange"]));
            fic.insert("description".into(), json!("GitHub Actions deployments"));
            let mut fi = Item::new(f.uuid(), fic);
            fi.parent = Some(id.clone());
            colls
                .get_mut("federatedIdentityCredentials")
                .unwrap()
                .push(fi);
        }
        // its service principal
        let mut sp = f.resource("servicePrincipal");
        sp.insert("accountEnabled".into(), json!(true));
        sp.insert("appId".into(), json!(app_id));
        sp.insert("appDisplayName".into(), json!(name));
        sp.insert("displayName".into(), json!(name));
        sp.insert("appOwnerOrganizationId".into(), json!(tenant_id));
        sp.insert("servicePrincipalType".into(), json!("Application"));
        sp.insert(
            "servicePrincipalNames".into(),
            json!([app_id, format!("api://{app_id}")]),
        );
        sp.insert(
            "appRoles".into(),
            colls["applications"].get(&id).unwrap().data["appRoles"].clone(),
        );
        sp.insert("signInAudience".into(), json!("AzureADMyOrg"));
        sp.insert(
            "tags".into(),
            json!(["WindowsAzureActiveDirectoryIntegratedApp"]),
        );
        sp.insert("appRoleAssignmentRequired".into(), json!(f.chance(0.3)));
        sp.insert("isDisabled".into(), json!(false));
        sp.insert(
            "disabledByMicrosoftStatus".into(),
            if dense {
                json!("NotDisabled")
            } else {
                Value::Null
            },
        );
        let sp_id = f.uuid();
        t.kinds.insert(sp_id.clone(), "servicePrincipals");
        let mut spi = Item::new(sp_id.clone(), sp);
        spi.rels
            .insert("owners", (0..f.range(0, 2)).map(|_| uid(&mut f)).collect());
        colls.get_mut("servicePrincipals").unwrap().push(spi);
        apps_ctx.push((app_id.clone(), name.clone(), sp_id.clone()));
        app_sps.push((sp_id.clone(), name.clone()));
        // Graph application permissions granted to this app's SP
        let n_perm = if i == 0 { GRAPH_PERMISSIONS.len() } else { 2 };
        for (perm, role_id) in GRAPH_PERMISSIONS.iter().take(n_perm) {
            let _ = perm;
            let a = app_role_assignment(
                &mut f,
                role_id,
                &sp_id,
                &name,
                "ServicePrincipal",
                &graph_sp_id,
                "Microsoft Graph",
            );
            colls.get_mut("appRoleAssignments").unwrap().push(a);
        }
        // delegated grants
        if dense || i % 2 == 0 {
            let mut g = Obj::new();
            g.insert("clientId".into(), json!(sp_id));
            let principal = if i % 4 == 1 { Some(uid(&mut f)) } else { None };
            g.insert(
                "consentType".into(),
                json!(if principal.is_some() {
                    "Principal"
                } else {
                    "AllPrincipals"
                }),
            );
            g.insert("principalId".into(), json!(principal));
            g.insert("resourceId".into(), json!(graph_sp_id));
            g.insert(
                "scope".into(),
                json!(" User.Read openid profile offline_access"),
            );
            colls
                .get_mut("oauth2PermissionGrants")
                .unwrap()
                .push(Item::new(opaque_id(&mut f), g));
        }
    }
    // first-party and extra service principals
    let first_party = [
        (GRAPH_APP_ID, "Microsoft Graph"),
        (
            "00000002-0000-0ff1-ce00-000000000000",
            "Office 365 Exchange Online",
        ),
        (
            "00000003-0000-0ff1-ce00-000000000000",
            "Office 365 SharePoint Online",
        ),
    ];
    let extra = counts
        .service_principals
        .saturating_sub(counts.applications);
    for k in 0..extra.max(first_party.len()) {
        let (app_id, name, kind) = if k < first_party.len() {
            (
                first_party[k].0.to_string(),
                first_party[k].1.to_string(),
                "Application",
            )
        } else if k % 3 == 0 {
            (f.uuid(), format!("mi-{}-{k}", f.word()), "ManagedIdentity")
        } else {
            (
                f.uuid(),
                format!("{} Gallery {k}", crate::fill::capitalize(f.word())),
                "Application",
            )
        };
        let mut sp = f.resource("servicePrincipal");
        sp.insert("accountEnabled".into(), json!(true));
        sp.insert("appId".into(), json!(app_id));
        sp.insert("appDisplayName".into(), json!(name));
        sp.insert("displayName".into(), json!(name));
        sp.insert("servicePrincipalType".into(), json!(kind));
        sp.insert(
            "appOwnerOrganizationId".into(),
            json!(if k < first_party.len() {
                MS_TENANT.to_string()
            } else {
                f.uuid()
            }),
        );
        sp.insert("servicePrincipalNames".into(), json!([app_id]));
        sp.insert(
            "signInAudience".into(),
            json!(if kind == "ManagedIdentity" {
                "AzureADMyOrg"
            } else {
                "AzureADMultipleOrgs"
            }),
        );
        if k == 0 {
            sp.insert("appRoles".into(), Value::Array(graph_roles.clone()));
            sp.insert(
                "servicePrincipalNames".into(),
                json!([
                    GRAPH_APP_ID,
                    "https://graph.microsoft.com",
                    "https://graph.microsoft.com/"
                ]),
            );
        }
        let id = if k == 0 {
            graph_sp_id.clone()
        } else {
            f.uuid()
        };
        t.kinds.insert(id.clone(), "servicePrincipals");
        let mut spi = Item::new(id.clone(), sp);
        spi.rels.insert("owners", vec![]);
        colls.get_mut("servicePrincipals").unwrap().push(spi);
        if k >= first_party.len() {
            apps_ctx.push((app_id, name, id));
        }
    }
    // users and groups assigned to app roles of the tenant's apps
    for (k, (sp_id, sp_name)) in app_sps.iter().enumerate() {
        let role_id = colls["servicePrincipals"].get(sp_id).unwrap().data["appRoles"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (gid, gname) = {
            let g = colls["groups"].get(&group_ids[k % group_ids.len().max(1)]);
            match g {
                Some(g) => (g.id.clone(), g.str("displayName").unwrap_or("").to_string()),
                None => continue,
            }
        };
        let a = app_role_assignment(&mut f, &role_id, &gid, &gname, "Group", sp_id, sp_name);
        colls.get_mut("appRoleAssignments").unwrap().push(a);
        let u = &users[k % users.len()];
        let a = app_role_assignment(&mut f, &role_id, &u.0, &u.1, "User", sp_id, sp_name);
        colls.get_mut("appRoleAssignments").unwrap().push(a);
    }

    // ---- devices
    for i in 0..counts.devices {
        let mut o = f.resource("device");
        let (os, ver, name, trust) = match i % 4 {
            0 => (
                "Windows",
                "10.0.22631.3007",
                format!("DESKTOP-{:06X}", f.range(0, 0xFFFFFF)),
                "AzureAd",
            ),
            1 => ("iOS", "17.2.1", format!("iPhone {i}"), "Workplace"),
            2 => ("MacMDM", "14.2.1", format!("MacBook-{i}"), "Workplace"),
            _ => (
                "Windows",
                "10.0.19045.3930",
                format!("WS-{:05}", i),
                "ServerAd",
            ),
        };
        o.insert("accountEnabled".into(), json!(i % 17 != 16));
        o.insert("displayName".into(), json!(name));
        o.insert("deviceId".into(), json!(f.uuid()));
        o.insert("operatingSystem".into(), json!(os));
        o.insert("operatingSystemVersion".into(), json!(ver));
        o.insert("trustType".into(), json!(trust));
        o.insert("profileType".into(), json!("RegisteredDevice"));
        o.insert(
            "deviceOwnership".into(),
            json!(if i % 4 == 1 { "Personal" } else { "Company" }),
        );
        o.insert("approximateLastSignInDateTime".into(), json!(f.past(30)));
        o.insert("registrationDateTime".into(), json!(f.past(600)));
        o.insert(
            "manufacturer".into(),
            json!(*f.pick(&["Microsoft Corporation", "Dell Inc.", "Apple", "LENOVO"])),
        );
        o.insert(
            "model".into(),
            json!(*f.pick(&[
                "Surface Laptop 5",
                "Latitude 7440",
                "iPhone 15",
                "ThinkPad X1"
            ])),
        );
        o.insert("deviceVersion".into(), json!(2));
        o.insert(
            "alternativeSecurityIds".into(),
            json!([{"type": 2, "identityProvider": if dense { json!("login.microsoftonline.com") } else { Value::Null }, "key": f.b64(40)}]),
        );
        o.insert(
            "physicalIds".into(),
            json!([
                format!("[USER-GID]:{}:{}", f.uuid(), f.range(1, 9_999_999_999)),
                format!("[GID]:g:{}", f.range(1, 9_999_999_999))
            ]),
        );
        o.insert("systemLabels".into(), json!([]));
        let id = f.uuid();
        t.kinds.insert(id.clone(), "devices");
        let mut item = Item::new(id, o);
        let owner = users[i % users.len()].0.clone();
        item.rels.insert("registeredOwners", vec![owner.clone()]);
        item.rels.insert("registeredUsers", vec![owner]);
        colls.get_mut("devices").unwrap().push(item);
    }

    // ---- directory role templates, directory roles and members
    let active_roles = if dense { ROLE_TEMPLATES.len() } else { 12 };
    let mut role_members: Vec<(String, String, String)> = Vec::new(); // (role template id, principal, role object id)
    for (k, (tid, name, desc)) in ROLE_TEMPLATES.iter().enumerate() {
        let mut o = Obj::new();
        o.insert("description".into(), json!(desc));
        o.insert("displayName".into(), json!(name));
        t.kinds.insert(tid.to_string(), "directoryRoleTemplates");
        colls
            .get_mut("directoryRoleTemplates")
            .unwrap()
            .push(Item::new(tid.to_string(), o.clone()));
        if k < active_roles {
            o.insert("roleTemplateId".into(), json!(tid));
            let id = f.uuid();
            t.kinds.insert(id.clone(), "directoryRoles");
            let n = if k == 0 { 2 } else { f.range(1, 4) as usize }.min(users.len());
            let mut members: Vec<String> = (0..n)
                .map(|j| users[(k * 3 + j) % users.len()].0.clone())
                .collect();
            members.sort();
            members.dedup();
            if k == 5 {
                // a service principal holding a directory role
                members.push(app_sps[0].0.clone());
            }
            for m in &members {
                role_members.push((tid.to_string(), m.clone(), id.clone()));
            }
            let mut item = Item::new(id, o);
            item.rels.insert("members", members);
            colls.get_mut("directoryRoles").unwrap().push(item);
        }
    }

    // ---- administrative units (+ scoped role members)
    let mut au_ids = Vec::new();
    for i in 0..counts.admin_units {
        let mut o = f.resource("administrativeUnit");
        let (city, ..) = CITIES[i % CITIES.len()];
        o.insert("displayName".into(), json!(format!("{city} Office")));
        o.insert(
            "description".into(),
            json!(format!("Users and groups of the {city} office")),
        );
        o.insert(
            "visibility".into(),
            if i % 2 == 0 || dense {
                json!("HiddenMembership")
            } else {
                Value::Null
            },
        );
        o.insert(
            "membershipType".into(),
            json!(if i % 3 == 2 { "Dynamic" } else { "Assigned" }),
        );
        o.insert(
            "membershipRule".into(),
            json!(format!("user.city -eq \"{city}\"")),
        );
        o.insert("membershipRuleProcessingState".into(), json!("On"));
        o.insert("isMemberManagementRestricted".into(), json!(false));
        let id = f.uuid();
        t.kinds.insert(id.clone(), "administrativeUnits");
        let mut members: Vec<String> = (0..f.range(2, 8)).map(|_| uid(&mut f)).collect();
        members.sort();
        members.dedup();
        if !group_ids.is_empty() {
            members.push(group_ids[i % group_ids.len()].clone());
        }
        let mut item = Item::new(id.clone(), o);
        item.rels.insert("members", members);
        colls.get_mut("administrativeUnits").unwrap().push(item);
        au_ids.push(id);
    }
    // scoped role members: a Helpdesk Administrator scoped to each AU
    if let Some(role) = colls["directoryRoles"]
        .items
        .values()
        .find(|r| r.str("roleTemplateId") == Some(ROLE_TEMPLATES[2].0))
    {
        let role_id = role.id.clone();
        for au in &au_ids {
            let u = &users[f.range(0, users.len() as u64) as usize];
            let mut o = Obj::new();
            o.insert("administrativeUnitId".into(), json!(au));
            o.insert("roleId".into(), json!(role_id));
            o.insert(
                "roleMemberInfo".into(),
                json!({"displayName": u.1, "id": u.0}),
            );
            let mut item = Item::new(opaque_id(&mut f), o);
            item.parent = Some(role_id.clone());
            colls.get_mut("scopedMembers").unwrap().push(item);
        }
    }

    // ---- org contacts
    for i in 0..counts.contacts {
        let mut o = f.resource("orgContact");
        let first = FIRST[(i * 7) % FIRST.len()];
        let last = LAST[(i * 3) % LAST.len()];
        o.insert(
            "displayName".into(),
            json!(format!("{first} {last} (Partner)")),
        );
        o.insert("givenName".into(), json!(first));
        o.insert("surname".into(), json!(last));
        let mail = format!(
            "{}.{}@partner{}.example.com",
            first.to_lowercase(),
            last.to_lowercase(),
            i % 5
        );
        o.insert("mail".into(), json!(mail));
        o.insert("mailNickname".into(), json!(format!("{first}{last}{i}")));
        o.insert("proxyAddresses".into(), json!([format!("SMTP:{mail}")]));
        let id = f.uuid();
        t.kinds.insert(id.clone(), "contacts");
        colls.get_mut("contacts").unwrap().push(Item::new(id, o));
    }

    // ---- group settings and lifecycle policies
    {
        let mut o = Obj::new();
        o.insert("displayName".into(), json!("Group.Unified"));
        o.insert(
            "templateId".into(),
            json!("62375ab9-6b52-47ed-826b-58e47e0e304b"),
        );
        o.insert(
            "values".into(),
            json!([{"name": "EnableGroupCreation", "value": "true"}, {"name": "GroupCreationAllowedGroupId", "value": group_ids.first().cloned().unwrap_or_default()},
                   {"name": "UsageGuidelinesUrl", "value": format!("https://intranet.{custom}/groups")}, {"name": "EnableMIPLabels", "value": "false"}]),
        );
        colls
            .get_mut("groupSettings")
            .unwrap()
            .push(Item::new(f.uuid(), o));
        let mut p = Obj::new();
        p.insert(
            "alternateNotificationEmails".into(),
            json!(format!("admin@{custom}")),
        );
        p.insert("groupLifetimeInDays".into(), json!(180));
        p.insert("managedGroupTypes".into(), json!("Selected"));
        colls
            .get_mut("groupLifecyclePolicies")
            .unwrap()
            .push(Item::new(f.uuid(), p));
    }

    t.colls = colls;
    super::policy::generate(
        &mut t,
        &mut f,
        &counts,
        lic,
        &users,
        &role_members,
        &role_assignable,
        &apps_ctx,
        &au_ids,
    );

    // ---- logs
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
        tenant_id: tenant_id.clone(),
        domain: domain.clone(),
        users: users.clone(),
        apps: apps_ctx,
        ca_policies: ca,
        groups: groups_ctx,
    });
    t.signins.ctx = ctx.clone();
    t.audits.ctx = ctx;
    let start = now - Duration::days(counts.log_days);
    t.signins.append(counts.signins, start, now);
    t.audits.append(counts.audits, start, now);
    let _ = unified;
    t
}

pub fn app_role_assignment(
    f: &mut Filler,
    role_id: &str,
    principal: &str,
    principal_name: &str,
    principal_type: &str,
    resource: &str,
    resource_name: &str,
) -> Item {
    let mut o = Obj::new();
    o.insert("appRoleId".into(), json!(role_id));
    o.insert("createdDateTime".into(), json!(f.past(400)));
    o.insert("principalDisplayName".into(), json!(principal_name));
    o.insert("principalId".into(), json!(principal));
    o.insert("principalType".into(), json!(principal_type));
    o.insert("resourceDisplayName".into(), json!(resource_name));
    o.insert("resourceId".into(), json!(resource));
    let mut item = Item::new(opaque_id(f), o);
    // Indexed by principal; appRoleAssignedTo scans by resourceId.
    item.parent = Some(principal.to_string());
    item
}

pub fn gen_user(
    f: &mut Filler,
    i: usize,
    custom: &str,
    initial: &str,
    skus: &[&str],
    dense: bool,
) -> Obj {
    let mut o = f.resource("user");
    let first = FIRST[i % FIRST.len()];
    let last = LAST[(i / FIRST.len() + i * 7) % LAST.len()];
    let guest = i % 10 == 7;
    let disabled = i % 13 == 5;
    let nick = format!(
        "{}{}{}",
        first,
        &last[..1],
        if i < FIRST.len() {
            String::new()
        } else {
            i.to_string()
        }
    );
    let mail_domain = if guest {
        format!("partner{}.example.com", i % 4)
    } else {
        custom.to_string()
    };
    let mail = format!("{}@{}", nick.to_lowercase(), mail_domain);
    let upn = if guest {
        format!(
            "{}_{}#EXT#@{}",
            nick.to_lowercase(),
            mail_domain.replace('.', "_"),
            initial
        )
    } else {
        format!("{nick}@{custom}")
    };
    let (city, state, country, ..) = CITIES[i % CITIES.len()];
    o.insert("accountEnabled".into(), json!(!disabled));
    o.insert("displayName".into(), json!(format!("{first} {last}")));
    o.insert("givenName".into(), json!(first));
    o.insert("surname".into(), json!(last));
    o.insert("userPrincipalName".into(), json!(upn));
    o.insert("mail".into(), json!(mail));
    o.insert("mailNickname".into(), json!(nick));
    o.insert(
        "userType".into(),
        json!(if guest { "Guest" } else { "Member" }),
    );
    o.insert(
        "creationType".into(),
        if guest {
            json!("Invitation")
        } else if dense && i == 0 {
            json!("LocalAccount")
        } else {
            Value::Null
        },
    );
    o.insert(
        "externalUserState".into(),
        if guest {
            json!(if i % 20 == 7 {
                "PendingAcceptance"
            } else {
                "Accepted"
            })
        } else {
            Value::Null
        },
    );
    if !guest {
        o.remove("externalUserStateChangeDateTime");
    }
    o.insert("jobTitle".into(), json!(TITLES[i % TITLES.len()]));
    o.insert(
        "department".into(),
        json!(DEPARTMENTS[i % DEPARTMENTS.len()]),
    );
    o.insert("city".into(), json!(city));
    o.insert("state".into(), json!(state));
    o.insert("country".into(), json!(country));
    o.insert("usageLocation".into(), json!(country));
    o.insert("preferredLanguage".into(), json!("en-US"));
    o.insert(
        "businessPhones".into(),
        json!([format!("+1 425 555 {:04}", i % 10_000)]),
    );
    o.insert(
        "mobilePhone".into(),
        json!(format!("+1 206 555 {:04}", (i * 7) % 10_000)),
    );
    o.insert(
        "officeLocation".into(),
        json!(format!("{}/{}", 18 + i % 10, 1000 + i % 2000)),
    );
    o.insert(
        "companyName".into(),
        json!(if guest { "Partner Co" } else { "Contoso" }),
    );
    o.insert("createdDateTime".into(), json!(f.past(1000)));
    o.insert(
        "otherMails".into(),
        if guest {
            json!([mail.clone()])
        } else {
            json!([])
        },
    );
    o.insert("proxyAddresses".into(), json!([format!("SMTP:{mail}")]));
    o.insert(
        "identities".into(),
        json!([{"signInType": "userPrincipalName", "issuer": initial, "issuerAssignedId": upn}]),
    );
    let sku = skus[i % skus.len().max(1)];
    o.insert(
        "assignedLicenses".into(),
        if guest {
            json!([])
        } else {
            json!([{"disabledPlans": [], "skuId": sku}])
        },
    );
    o.insert(
        "assignedPlans".into(),
        if guest {
            json!([])
        } else {
            json!([{"assignedDateTime": f.past(500), "capabilityStatus": "Enabled", "service": "exchange", "servicePlanId": "efb87545-963c-4e0d-99df-69c6916d9eb0"}])
        },
    );
    o.insert(
        "provisionedPlans".into(),
        json!([{"capabilityStatus": "Enabled", "provisioningStatus": "Success", "service": "exchange"}]),
    );
    let synced = i.is_multiple_of(3);
    if synced || dense {
        o.insert("onPremisesSyncEnabled".into(), json!(synced));
        o.insert(
            "onPremisesSamAccountName".into(),
            json!(nick.to_lowercase()),
        );
        o.insert(
            "onPremisesUserPrincipalName".into(),
            json!(format!("{}@corp.{custom}", nick.to_lowercase())),
        );
        o.insert(
            "onPremisesDomainName".into(),
            json!(format!("corp.{custom}")),
        );
        o.insert(
            "onPremisesDistinguishedName".into(),
            json!(format!(
                "CN={first} {last},OU=Users,DC=corp,DC=contoso,DC=com"
            )),
        );
    } else {
        for k in [
            "onPremisesSyncEnabled",
            "onPremisesSamAccountName",
            "onPremisesUserPrincipalName",
            "onPremisesDomainName",
            "onPremisesDistinguishedName",
            "onPremisesImmutableId",
            "onPremisesLastSyncDateTime",
            "onPremisesSecurityIdentifier",
            "onPremisesProvisioningErrors",
        ] {
            o.remove(k);
        }
    }
    if i % 11 == 10 && !dense {
        o.remove("signInActivity");
    } else {
        let last_ok = f.past(30);
        let mut activity = json!({"lastSignInDateTime": last_ok, "lastSignInRequestId": f.uuid(),
               "lastNonInteractiveSignInDateTime": f.past(10), "lastNonInteractiveSignInRequestId": f.uuid(),
               "lastSuccessfulSignInDateTime": last_ok, "lastSuccessfulSignInRequestId": f.uuid()});
        if i % 11 == 9 {
            // never signed in: Graph writes its "never" sentinel instead of null
            activity = json!({"lastSignInDateTime": NEVER, "lastSignInRequestId": null,
                   "lastNonInteractiveSignInDateTime": NEVER, "lastNonInteractiveSignInRequestId": null,
                   "lastSuccessfulSignInDateTime": NEVER, "lastSuccessfulSignInRequestId": null});
        }
        o.insert("signInActivity".into(), activity);
    }
    o.insert(
        "passwordPolicies".into(),
        if i.is_multiple_of(4) || dense {
            json!("DisablePasswordExpiration")
        } else {
            Value::Null
        },
    );
    o.insert(
        "showInAddressList".into(),
        if dense { json!(true) } else { Value::Null },
    );
    let _ = f.rng.random::<u8>();
    o
}
