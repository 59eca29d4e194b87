//! Applications with their service principals, federated identity credentials, app role
//! assignments (Microsoft Graph permissions, users and groups) and delegated permission grants;
//! first-party and gallery service principals.

use serde_json::{Value, json};

use super::{GRAPH_APP_ID, GRAPH_PERMISSIONS, Gen, MS_TENANT, opaque_id};
use crate::fill::{Filler, Obj};
use crate::tenant::Item;

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

/// Generator of `applications`, `servicePrincipals`, `federatedIdentityCredentials`,
/// `appRoleAssignments` and `oauth2PermissionGrants`.
pub fn generate(g: &mut Gen) {
    let (dense, counts, word) = (g.dense, g.counts, g.word);
    let (custom, tenant_id) = (g.custom.clone(), g.t.id.clone());
    let graph_sp_id = g.f.uuid();
    let mut graph_roles = Vec::new();
    for (perm, role_id) in GRAPH_PERMISSIONS {
        g.t.graph_roles
            .insert(perm.to_string(), role_id.to_string());
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
            g.sync_app_id.clone()
        } else {
            g.f.uuid()
        };
        let mut o = g.f.resource("application");
        o.insert("appId".into(), json!(app_id));
        o.insert("displayName".into(), json!(name));
        o.insert("createdDateTime".into(), json!(g.f.past(800)));
        o.insert("publisherDomain".into(), json!(custom));
        o.insert(
            "signInAudience".into(),
            json!(*g.f.pick(&[
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
            json!(*g.f.pick(&["SecurityGroup", "All", "None"])),
        );
        o.insert(
            "disabledByMicrosoftStatus".into(),
            if dense && i == 1 {
                json!("NotDisabled")
            } else {
                Value::Null
            },
        );
        let app_role_id = g.f.uuid();
        o.insert(
            "appRoles".into(),
            json!([{"allowedMemberTypes": ["User", "Application"], "description": "Readers can read data.", "displayName": "Reader",
                    "id": app_role_id, "isEnabled": true, "origin": "Application", "value": "Data.Read"}]),
        );
        let cert_start = g.f.past(300);
        let cert_end = g.f.future(400);
        let has_cert = dense || g.f.chance(0.4);
        o.insert(
            "keyCredentials".into(),
            if has_cert {
                json!([{"customKeyIdentifier": g.f.b64(20), "displayName": format!("CN={name}"), "endDateTime": cert_end,
                        "key": if dense { json!(g.f.b64(48)) } else { Value::Null }, "keyId": g.f.uuid(), "startDateTime": cert_start,
                        "type": "AsymmetricX509Cert", "usage": "Verify"}])
            } else {
                json!([])
            },
        );
        let has_secret = dense || g.f.chance(0.6);
        o.insert(
            "passwordCredentials".into(),
            if has_secret {
                json!([{"customKeyIdentifier": null, "displayName": "ci-secret", "endDateTime": g.f.future(700), "hint": "x7Q",
                        "keyId": g.f.uuid(), "secretText": null, "startDateTime": g.f.past(100)}])
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
        let id = g.f.uuid();
        g.t.kinds.insert(id.clone(), "applications");
        let mut item = Item::new(id.clone(), o);
        item.rels.insert(
            "owners",
            (0..g.f.range(0, 3)).map(|_| g.random_user()).collect(),
        );
        g.t.coll_mut("applications").push(item);
        if dense || i % 3 == 0 {
            let mut fic = g.f.resource("federatedIdentityCredential");
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
            let mut fi = Item::new(g.f.uuid(), fic);
            fi.parent = Some(id.clone());
            g.t.coll_mut("federatedIdentityCredentials").push(fi);
        }
        // its service principal
        let mut sp = g.f.resource("servicePrincipal");
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
            g.t.colls["applications"].get(&id).unwrap().data["appRoles"].clone(),
        );
        sp.insert("signInAudience".into(), json!("AzureADMyOrg"));
        sp.insert(
            "tags".into(),
            json!(["WindowsAzureActiveDirectoryIntegratedApp"]),
        );
        sp.insert("appRoleAssignmentRequired".into(), json!(g.f.chance(0.3)));
        sp.insert("isDisabled".into(), json!(false));
        sp.insert(
            "disabledByMicrosoftStatus".into(),
            if dense {
                json!("NotDisabled")
            } else {
                Value::Null
            },
        );
        let sp_id = g.f.uuid();
        g.t.kinds.insert(sp_id.clone(), "servicePrincipals");
        let mut spi = Item::new(sp_id.clone(), sp);
        spi.rels.insert(
            "owners",
            (0..g.f.range(0, 2)).map(|_| g.random_user()).collect(),
        );
        g.t.coll_mut("servicePrincipals").push(spi);
        apps_ctx.push((app_id.clone(), name.clone(), sp_id.clone()));
        app_sps.push((sp_id.clone(), name.clone()));
        // Graph application permissions granted to this app's SP
        let n_perm = if i == 0 { GRAPH_PERMISSIONS.len() } else { 2 };
        for (perm, role_id) in GRAPH_PERMISSIONS.iter().take(n_perm) {
            let _ = perm;
            let a = app_role_assignment(
                &mut g.f,
                role_id,
                &sp_id,
                &name,
                "ServicePrincipal",
                &graph_sp_id,
                "Microsoft Graph",
            );
            g.t.coll_mut("appRoleAssignments").push(a);
        }
        // delegated grants
        if dense || i % 2 == 0 {
            let mut grant = Obj::new();
            grant.insert("clientId".into(), json!(sp_id));
            let principal = if i % 4 == 1 {
                Some(g.random_user())
            } else {
                None
            };
            grant.insert(
                "consentType".into(),
                json!(if principal.is_some() {
                    "Principal"
                } else {
                    "AllPrincipals"
                }),
            );
            grant.insert("principalId".into(), json!(principal));
            grant.insert("resourceId".into(), json!(graph_sp_id));
            grant.insert(
                "scope".into(),
                json!(" User.Read openid profile offline_access"),
            );
            g.t.coll_mut("oauth2PermissionGrants")
                .push(Item::new(opaque_id(&mut g.f), grant));
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
            (
                g.f.uuid(),
                format!("mi-{}-{k}", g.f.word()),
                "ManagedIdentity",
            )
        } else {
            (
                g.f.uuid(),
                format!("{} Gallery {k}", crate::fill::capitalize(g.f.word())),
                "Application",
            )
        };
        let mut sp = g.f.resource("servicePrincipal");
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
                g.f.uuid()
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
            g.f.uuid()
        };
        g.t.kinds.insert(id.clone(), "servicePrincipals");
        let mut spi = Item::new(id.clone(), sp);
        spi.rels.insert("owners", vec![]);
        g.t.coll_mut("servicePrincipals").push(spi);
        if k >= first_party.len() {
            apps_ctx.push((app_id, name, id));
        }
    }
    // users and groups assigned to app roles of the tenant's apps
    for (k, (sp_id, sp_name)) in app_sps.iter().enumerate() {
        let role_id = g.t.colls["servicePrincipals"].get(sp_id).unwrap().data["appRoles"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (gid, gname) = {
            let group = g.t.colls["groups"].get(&g.group_ids[k % g.group_ids.len().max(1)]);
            match group {
                Some(group) => (
                    group.id.clone(),
                    group.str("displayName").unwrap_or("").to_string(),
                ),
                None => continue,
            }
        };
        let a = app_role_assignment(&mut g.f, &role_id, &gid, &gname, "Group", sp_id, sp_name);
        g.t.coll_mut("appRoleAssignments").push(a);
        let u = &g.users[k % g.users.len()];
        let a = app_role_assignment(&mut g.f, &role_id, &u.0, &u.1, "User", sp_id, sp_name);
        g.t.coll_mut("appRoleAssignments").push(a);
    }
    g.apps_ctx = apps_ctx;
    g.app_sps = app_sps;
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
    // Indexed by principal (and by resource: `Collection::granting`).
    item.parent = Some(principal.to_string());
    item
}
