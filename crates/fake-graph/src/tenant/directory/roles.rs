//! Directory role templates (the built-in roles) and the activated directory roles with their
//! members.

use serde_json::json;

use super::Gen;
use crate::fill::Obj;
use crate::tenant::Item;

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

/// Generator of `directoryRoleTemplates` and `directoryRoles`.
pub fn generate(g: &mut Gen) {
    let users = &g.users;
    let active_roles = if g.dense { ROLE_TEMPLATES.len() } else { 12 };
    for (k, (tid, name, desc)) in ROLE_TEMPLATES.iter().enumerate() {
        let mut o = Obj::new();
        o.insert("description".into(), json!(desc));
        o.insert("displayName".into(), json!(name));
        g.t.kinds.insert(tid.to_string(), "directoryRoleTemplates");
        g.t.coll_mut("directoryRoleTemplates")
            .push(Item::new(tid.to_string(), o.clone()));
        if k < active_roles {
            o.insert("roleTemplateId".into(), json!(tid));
            let id = g.f.uuid();
            g.t.kinds.insert(id.clone(), "directoryRoles");
            let n = if k == 0 { 2 } else { g.f.range(1, 4) as usize }.min(users.len());
            let mut members: Vec<String> = (0..n)
                .map(|j| users[(k * 3 + j) % users.len()].0.clone())
                .collect();
            members.sort();
            members.dedup();
            if k == 5 {
                // a service principal holding a directory role
                members.push(g.app_sps[0].0.clone());
            }
            for m in &members {
                g.role_members
                    .push((tid.to_string(), m.clone(), id.clone()));
            }
            let mut item = Item::new(id, o);
            item.rels.insert("members", members);
            g.t.coll_mut("directoryRoles").push(item);
        }
    }
}
