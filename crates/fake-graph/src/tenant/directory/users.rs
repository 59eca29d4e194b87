//! Users.

use rand::Rng;
use serde_json::{Value, json};

use super::{Gen, NEVER};
use crate::fill::{CITIES, DEPARTMENTS, FIRST, Filler, LAST, Obj, TITLES};
use crate::tenant::Item;

/// Generator of `users`.
pub fn generate(g: &mut Gen) {
    let (custom, domain, dense) = (g.custom.clone(), g.t.domain.clone(), g.dense);
    let sku_ids = g.sku_ids.clone();
    let mut users: Vec<(String, String, String)> = Vec::with_capacity(g.counts.users);
    for i in 0..g.counts.users {
        let o = gen_user(&mut g.f, i, &custom, &domain, &sku_ids, dense);
        let id = g.f.uuid();
        users.push((
            id.clone(),
            o["displayName"].as_str().unwrap().to_string(),
            o["userPrincipalName"].as_str().unwrap().to_string(),
        ));
        g.t.kinds.insert(id.clone(), "users");
        g.t.coll_mut("users").push(Item::new(id, o));
    }
    g.users = users;
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
