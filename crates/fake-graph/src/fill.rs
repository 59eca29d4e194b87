//! A type-driven filler: given a resource's property list from the schema, produce realistic values
//! for every property. Generators for each resource then override the identity-bearing fields
//! (ids, names, UPNs, relationships) so that objects are consistent with each other.

use base64::Engine;
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use rand::{Rng, RngCore};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value, json};

use crate::schema::{Prop, Schema};

pub type Obj = Map<String, Value>;

pub const FIRST: &[&str] = &[
    "Adele",
    "Alex",
    "Megan",
    "Lynne",
    "Isaiah",
    "Joni",
    "Lee",
    "Miriam",
    "Nestor",
    "Patti",
    "Pradeep",
    "Grady",
    "Johanna",
    "Diego",
    "Lidia",
    "Henrietta",
    "Irvin",
    "Christie",
    "Debra",
    "Enrico",
    "Allan",
    "Cameron",
    "Bianca",
    "Omar",
    "Yuki",
    "Ravi",
    "Sofia",
    "Lars",
    "Amara",
    "Chen",
    "Fatima",
    "Mateo",
    "Ingrid",
    "Kofi",
    "Hana",
    "Noah",
];
pub const LAST: &[&str] = &[
    "Vance",
    "Wilber",
    "Bowen",
    "Robbins",
    "Pollard",
    "Sherman",
    "Gu",
    "Hunter",
    "Taylor",
    "Fernandez",
    "Gupta",
    "Archie",
    "Lauer",
    "Siciliani",
    "Holloway",
    "Mueller",
    "Sink",
    "Cline",
    "Berg",
    "Catteneo",
    "Deyoung",
    "White",
    "Okafor",
    "Tanaka",
    "Kumar",
    "Rossi",
    "Nilsson",
    "Mensah",
    "Li",
    "Haddad",
    "Garcia",
    "Larsen",
    "Boateng",
    "Sato",
];
pub const DEPARTMENTS: &[&str] = &[
    "Sales",
    "Marketing",
    "Engineering",
    "Finance",
    "Legal",
    "Operations",
    "Retail",
    "Research",
    "IT",
    "HR",
];
pub const TITLES: &[&str] = &[
    "Retail Manager",
    "Marketing Assistant",
    "Product Manager",
    "Developer",
    "Director",
    "Paralegal",
    "Sales Representative",
    "IT Admin",
    "Designer",
    "Accountant",
    "Engineer",
    "Support Specialist",
];
pub const CITIES: &[(&str, &str, &str, f64, f64)] = &[
    ("Redmond", "WA", "US", 47.674, -122.1215),
    ("Seattle", "WA", "US", 47.6062, -122.3321),
    ("Berlin", "Berlin", "DE", 52.52, 13.405),
    ("London", "England", "GB", 51.5072, -0.1276),
    ("Paris", "Ile-de-France", "FR", 48.8566, 2.3522),
    ("Tokyo", "Tokyo", "JP", 35.6762, 139.6503),
    ("Bengaluru", "Karnataka", "IN", 12.9716, 77.5946),
    ("Sydney", "NSW", "AU", -33.8688, 151.2093),
    ("Toronto", "Ontario", "CA", 43.6532, -79.3832),
    ("Sao Paulo", "SP", "BR", -23.5558, -46.6396),
];
const WORDS: &[&str] = &[
    "alpha",
    "contoso",
    "fabrikam",
    "northwind",
    "tailspin",
    "litware",
    "adatum",
    "proseware",
    "woodgrove",
    "fourth",
    "coffee",
    "blue",
    "yonder",
    "relecloud",
    "wingtip",
];

/// Deterministic value generation state.
pub struct Filler {
    pub rng: ChaCha8Rng,
    pub now: DateTime<Utc>,
    pub domain: String,
    /// Probability that a nullable property receives a value (1.0 in the tiny profile).
    pub density: f64,
}

pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Filler {
    pub fn uuid(&mut self) -> String {
        let mut b = [0u8; 16];
        self.rng.fill_bytes(&mut b);
        uuid::Builder::from_random_bytes(b).into_uuid().to_string()
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.rng.random_range(0..xs.len())]
    }
    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p.clamp(0.0, 1.0))
    }
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            self.rng.random_range(lo..hi)
        }
    }
    /// A timestamp `days_back` days (at most) before the anchor.
    pub fn past(&mut self, max_days: i64) -> String {
        let secs = self.rng.random_range(0..(max_days.max(1) * 86_400));
        ts(self.now - Duration::seconds(secs))
    }
    pub fn future(&mut self, max_days: i64) -> String {
        let secs = self.rng.random_range(86_400..(max_days.max(2) * 86_400));
        ts(self.now + Duration::seconds(secs))
    }
    pub fn b64(&mut self, n: usize) -> String {
        let mut b = vec![0u8; n];
        self.rng.fill_bytes(&mut b);
        base64::engine::general_purpose::STANDARD.encode(b)
    }
    pub fn ip(&mut self) -> String {
        format!(
            "{}.{}.{}.{}",
            self.range(20, 223),
            self.range(0, 255),
            self.range(0, 255),
            self.range(1, 254)
        )
    }
    pub fn word(&mut self) -> &'static str {
        WORDS[self.rng.random_range(0..WORDS.len())]
    }

    /// Fill every property of `resource` (subject to density for nullable ones).
    pub fn resource(&mut self, resource: &str) -> Obj {
        let schema = Schema::get();
        let mut o = Obj::new();
        for p in schema.props(resource) {
            if p.name == "id" || p.name == "deletedDateTime" {
                continue;
            }
            // Big tenants are sparse: optional nested objects cost most of the memory, so they get
            // a much lower fill rate than scalars (tiny still fills everything).
            let rate = if self.density >= 1.0 {
                1.0
            } else if crate::schema::is_primitive(&p.ty) || Schema::get().enums.contains_key(&p.ty)
            {
                self.density
            } else {
                self.density * self.density * 0.3
            };
            if p.nullable && !self.chance(rate) {
                continue;
            }
            let v = self.prop(p, 0);
            o.insert(p.name.clone(), v);
        }
        o
    }

    pub fn prop(&mut self, p: &Prop, depth: usize) -> Value {
        if p.collection {
            let n = if depth > 2 {
                1
            } else {
                self.range(1, 3) as usize
            };
            Value::Array(
                (0..n)
                    .map(|_| self.value(&p.name, &p.ty, depth + 1))
                    .collect(),
            )
        } else {
            self.value(&p.name, &p.ty, depth + 1)
        }
    }

    pub fn value(&mut self, name: &str, ty: &str, depth: usize) -> Value {
        let schema = Schema::get();
        match ty {
            "String" => Value::String(self.string_for(name)),
            "Boolean" => Value::Bool(self.chance(0.5)),
            "Int32" => json!(self.range(1, 365)),
            "Int64" => json!(self.range(1_000_000, 256_000_000_000)),
            "Double" => json!((self.rng.random::<f64>() * 100.0 * 1000.0).round() / 1000.0),
            "Guid" => Value::String(self.uuid()),
            "DateTimeOffset" => Value::String(
                if name.to_lowercase().contains("expir") || name.starts_with("end") {
                    self.future(365)
                } else {
                    self.past(365)
                },
            ),
            "Date" => Value::String(self.past(365)[..10].to_string()),
            "Binary" => Value::String(self.b64(24)),
            "Duration" => Value::String("PT8H".to_string()),
            "ipRange" => {
                json!({"@odata.type": "#microsoft.graph.iPv4CidrRange", "cidrAddress": format!("{}/24", self.ip())})
            }
            _ => {
                if let Some(members) = schema.enums.get(ty) {
                    // Evolvable enums: never return members after unknownFutureValue unprompted.
                    let cut = members
                        .iter()
                        .position(|m| m == "unknownFutureValue")
                        .unwrap_or(members.len());
                    let pool = &members[..cut.max(1)];
                    return Value::String(self.pick(pool).clone());
                }
                if let Some(props) = schema.complex.get(ty) {
                    let mut o = Obj::new();
                    for p in props {
                        if depth > 4 && p.nullable {
                            continue;
                        }
                        let v = self.prop(p, depth);
                        o.insert(p.name.clone(), v);
                    }
                    return Value::Object(o);
                }
                Value::Null
            }
        }
    }

    /// Name-driven realistic strings for properties the generators don't override.
    pub fn string_for(&mut self, name: &str) -> String {
        let l = name.to_lowercase();
        if l.ends_with("datetime") || l.ends_with("date") {
            return self.past(365);
        }
        if l.contains("mail") || l.contains("email") {
            let w = self.word();
            return format!("{w}{}@{}", self.range(1, 999), self.domain);
        }
        if l.contains("phone") || l == "number" || l.contains("fax") {
            return format!("+1 425 555 {:04}", self.range(0, 9999));
        }
        if l.contains("url") || l.contains("uri") || l.contains("homepage") || l.contains("site") {
            let w = self.word();
            return format!("https://{w}.example.com/{}", self.range(1, 99));
        }
        if l.contains("ipaddress") || l == "cidraddress" {
            return self.ip();
        }
        if l.ends_with("id") || l.ends_with("ids") {
            return self.uuid();
        }
        if l.contains("securityidentifier") {
            return format!(
                "S-1-5-21-{}-{}-{}-{}",
                self.range(1_000_000_000, 4_000_000_000),
                self.range(1_000_000_000, 4_000_000_000),
                self.range(1_000_000_000, 4_000_000_000),
                self.range(1000, 99_999)
            );
        }
        if l.contains("version") {
            return format!(
                "{}.{}.{}",
                self.range(1, 20),
                self.range(0, 9),
                self.range(0, 9999)
            );
        }
        if l == "city" {
            return self.pick(CITIES).0.to_string();
        }
        if l == "state" {
            return self.pick(CITIES).1.to_string();
        }
        if l.contains("country") || l == "usagelocation" {
            return self.pick(CITIES).2.to_string();
        }
        if l.contains("language") {
            return "en-US".to_string();
        }
        if l.contains("postalcode") {
            return format!("{:05}", self.range(10000, 99999));
        }
        if l.contains("street") {
            return format!("{} Main St", self.range(1, 9999));
        }
        if l.contains("department") || l == "division" {
            return self.pick(DEPARTMENTS).to_string();
        }
        if l.contains("jobtitle") {
            return self.pick(TITLES).to_string();
        }
        if l.contains("name") {
            let w = self.word();
            return format!("{} {}", capitalize(w), self.range(1, 9999));
        }
        if l.contains("description")
            || l.contains("notes")
            || l.contains("reason")
            || l.contains("message")
        {
            let w = self.word();
            return format!("Generated {w} {name} text");
        }
        let w = self.word();
        format!("{w}-{}", self.range(1, 9999))
    }
}

pub fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
