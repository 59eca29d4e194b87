//! The organization, its domains and its subscribed SKUs (with their subscriptions).

use chrono::Duration;
use serde_json::{Value, json};

use super::Gen;
use crate::fill::ts;
use crate::tenant::Item;

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

/// Generator of `subscribedSkus`, `subscriptions`, `domains` and `organization`.
pub fn generate(g: &mut Gen) {
    let (lic, counts, dense) = (g.lic, g.counts, g.dense);
    let (tenant_id, org_name, domain) = (g.t.id.clone(), g.t.org_name.clone(), g.t.domain.clone());
    let custom = g.custom.clone();
    let now = g.t.now;
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
        let mut o = g.f.resource("subscribedSku");
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
        let sub_id = g.f.uuid();
        o.insert("subscriptionIds".into(), json!([sub_id]));
        g.t.coll_mut("subscribedSkus")
            .push(Item::new(format!("{tenant_id}_{sku_id}"), o));
        let mut s = g.f.resource("companySubscription");
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
        g.t.coll_mut("subscriptions").push(Item::new(sub_id, s));
    }
    for (name, initial, default, auth) in [
        (domain.clone(), true, false, "Managed"),
        (custom.clone(), false, true, "Managed"),
        (format!("corp.{custom}"), false, false, "Federated"),
    ] {
        let mut o = g.f.resource("domain");
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
        g.t.coll_mut("domains").push(Item::new(name, o));
    }
    {
        let mut o = g.f.resource("organization");
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
        g.t.coll_mut("organization")
            .push(Item::new(tenant_id.clone(), o));
    }
    g.sku_ids = skus.iter().map(|s| s.0).collect();
}
