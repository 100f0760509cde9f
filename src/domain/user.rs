//! The SCIM User resource (core schema + enterprise extension) as a typed
//! value: decoded once from a request body (attribute names
//! case-insensitive, IdP quirks accepted) and encoded back for responses.

use std::borrow::Cow;

use serde_json::{Map, Value, json};

use super::custom_attrs::{self, CustomValues};
use super::custom_schema::CustomSchema;
use super::json::{JsonObject, MAX_MULTI_VALUES, read_multi, strip_readonly, to_object};
use super::schema::{ENTERPRISE_USER_SCHEMA, ResourceKind, USER_SCHEMA};
use super::types::{Email, UserName};
use crate::error::{ScimError, ScimResult};

/// An entry of a multi-valued attribute (`emails`, `phoneNumbers`, ...).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MultiValue {
    pub value: Option<String>,
    pub display: Option<String>,
    pub kind: Option<String>,
    /// As the client sent it (`None`: not sent), so `false` round-trips.
    pub primary: Option<bool>,
}

impl MultiValue {
    pub fn is_primary(&self) -> bool {
        self.primary == Some(true)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Address {
    pub formatted: Option<String>,
    pub street_address: Option<String>,
    pub locality: Option<String>,
    pub region: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    pub kind: Option<String>,
    /// As the client sent it (`None`: not sent).
    pub primary: Option<bool>,
}

impl Address {
    pub fn is_primary(&self) -> bool {
        self.primary == Some(true)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Name {
    pub formatted: Option<String>,
    pub family_name: Option<String>,
    pub given_name: Option<String>,
    pub middle_name: Option<String>,
    pub honorific_prefix: Option<String>,
    pub honorific_suffix: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Enterprise {
    pub employee_number: Option<String>,
    pub cost_center: Option<String>,
    pub organization: Option<String>,
    pub division: Option<String>,
    pub department: Option<String>,
    /// `manager.value`: the SCIM id of the manager (Entra may send a bare string).
    pub manager: Option<String>,
}

/// The account-wide profile that a User's attributes map onto (and that
/// only the authoritative directory writes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountProfile {
    pub display_name: Option<String>,
    pub nickname: Option<String>,
    pub job_title: Option<String>,
    pub department: Option<String>,
    pub organization: Option<String>,
    pub location: Option<String>,
    pub timezone: Option<String>,
    pub locale: Option<String>,
    pub profile_photo_url: Option<String>,
}

/// Every writable attribute of a User.
#[derive(Debug, Clone)]
pub struct UserAttrs {
    pub user_name: UserName,
    pub external_id: Option<String>,
    pub name: Name,
    pub display_name: Option<String>,
    pub nick_name: Option<String>,
    pub profile_url: Option<String>,
    pub title: Option<String>,
    pub user_type: Option<String>,
    pub preferred_language: Option<String>,
    pub locale: Option<String>,
    pub timezone: Option<String>,
    pub active: bool,
    pub emails: Vec<MultiValue>,
    pub phone_numbers: Vec<MultiValue>,
    pub ims: Vec<MultiValue>,
    pub photos: Vec<MultiValue>,
    pub addresses: Vec<Address>,
    pub entitlements: Vec<MultiValue>,
    pub roles: Vec<MultiValue>,
    pub x509_certificates: Vec<MultiValue>,
    pub enterprise: Enterprise,
    /// Values of the organization's custom extensions (set by
    /// [`UserInput::with_custom`]; `from_json` leaves them empty).
    pub custom: CustomValues,
}

/// A decoded request body: the attributes plus a new password, if any.
#[derive(Debug, Clone)]
pub struct UserInput {
    pub attrs: UserAttrs,
    /// Never encoded back.
    pub password: Option<Password>,
}

/// A new password: clear text until hashed. Hashing (argon2, tens of
/// milliseconds) is best done before the write transaction opens
/// ([`UserInput::hash_password`]), so the database lock is not held
/// meanwhile; a clear one is hashed where it is stored.
#[derive(Clone, PartialEq, Eq)]
pub enum Password {
    Clear(String),
    /// An argon2id PHC string.
    Hashed(String),
}

impl Password {
    /// The PHC string to store.
    pub fn to_hash(&self) -> Result<String, String> {
        match self {
            Self::Clear(p) => crate::domain::secrets::hash_password(p),
            Self::Hashed(h) => Ok(h.clone()),
        }
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Clear(_) => "Password::Clear(<redacted>)",
            Self::Hashed(_) => "Password::Hashed(<redacted>)",
        })
    }
}

/// The simple multi-valued attributes and their accessors, in schema order.
pub const MULTI_VALUED: [&str; 7] = [
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "entitlements",
    "roles",
    "x509Certificates",
];

impl UserAttrs {
    pub fn multi(&self, attr: &str) -> &[MultiValue] {
        match attr {
            "emails" => &self.emails,
            "phoneNumbers" => &self.phone_numbers,
            "ims" => &self.ims,
            "photos" => &self.photos,
            "entitlements" => &self.entitlements,
            "roles" => &self.roles,
            "x509Certificates" => &self.x509_certificates,
            _ => &[],
        }
    }

    fn multi_mut(&mut self, attr: &str) -> Option<&mut Vec<MultiValue>> {
        Some(match attr {
            "emails" => &mut self.emails,
            "phoneNumbers" => &mut self.phone_numbers,
            "ims" => &mut self.ims,
            "photos" => &mut self.photos,
            "entitlements" => &mut self.entitlements,
            "roles" => &mut self.roles,
            "x509Certificates" => &mut self.x509_certificates,
            _ => return None,
        })
    }

    /// Sets a multi-valued attribute by name (used by the store when loading).
    pub fn set_multi(&mut self, attr: &str, values: Vec<MultiValue>) {
        if let Some(slot) = self.multi_mut(attr) {
            *slot = values;
        }
    }

    pub fn new(user_name: UserName) -> Self {
        Self {
            user_name,
            external_id: None,
            name: Name::default(),
            display_name: None,
            nick_name: None,
            profile_url: None,
            title: None,
            user_type: None,
            preferred_language: None,
            locale: None,
            timezone: None,
            active: true,
            emails: vec![],
            phone_numbers: vec![],
            ims: vec![],
            photos: vec![],
            addresses: vec![],
            entitlements: vec![],
            roles: vec![],
            x509_certificates: vec![],
            enterprise: Enterprise::default(),
            custom: CustomValues::default(),
        }
    }

    /// The email the account is keyed on: the primary email, else the first,
    /// else the userName when it is an email address.
    pub fn account_email(&self) -> ScimResult<Option<Email>> {
        let chosen = self
            .emails
            .iter()
            .find(|e| e.is_primary())
            .or_else(|| self.emails.first())
            .and_then(|e| e.value.as_deref());
        match chosen {
            Some(v) => Email::parse(v).map(Some),
            None => Ok(self.user_name.as_email()),
        }
    }

    /// A display name for the account profile.
    pub fn profile_display_name(&self) -> Option<String> {
        self.display_name
            .clone()
            .or_else(|| self.name.formatted.clone())
            .or_else(|| {
                let parts: Vec<&str> = [&self.name.given_name, &self.name.family_name]
                    .into_iter()
                    .filter_map(|p| p.as_deref())
                    .collect();
                (!parts.is_empty()).then(|| parts.join(" "))
            })
    }

    /// What these attributes make of the account's profile.
    pub fn account_profile(&self) -> AccountProfile {
        AccountProfile {
            display_name: self.profile_display_name(),
            nickname: self.nick_name.clone(),
            job_title: self.title.clone(),
            department: self.enterprise.department.clone(),
            organization: self.enterprise.organization.clone(),
            location: self.location(),
            timezone: self.timezone.clone(),
            locale: self.locale.clone(),
            profile_photo_url: self
                .photos
                .iter()
                .find(|p| p.is_primary())
                .or(self.photos.first())
                .and_then(|p| p.value.clone()),
        }
    }

    /// A write from a directory that is not authoritative for the account:
    /// the attributes the account owns are put back to what the account
    /// holds (its profile and `email`), so the directory's view shows the
    /// account as it is. Returns the names of the attributes whose sent
    /// values were so ignored.
    pub fn keep_account_profile(
        &mut self,
        current: &AccountProfile,
        email: Option<&str>,
    ) -> Vec<&'static str> {
        let sent = self.account_profile();
        let mut ignored = Vec::new();
        let fields: [(&'static str, &Option<String>, &Option<String>); 9] = [
            ("displayName", &sent.display_name, &current.display_name),
            ("nickName", &sent.nickname, &current.nickname),
            ("title", &sent.job_title, &current.job_title),
            ("department", &sent.department, &current.department),
            ("organization", &sent.organization, &current.organization),
            ("addresses", &sent.location, &current.location),
            ("timezone", &sent.timezone, &current.timezone),
            ("locale", &sent.locale, &current.locale),
            (
                "photos",
                &sent.profile_photo_url,
                &current.profile_photo_url,
            ),
        ];
        for (name, sent, held) in fields {
            if sent != held {
                ignored.push(name);
            }
        }
        self.display_name = current.display_name.clone();
        self.nick_name = current.nickname.clone();
        self.title = current.job_title.clone();
        self.enterprise.department = current.department.clone();
        self.enterprise.organization = current.organization.clone();
        self.timezone = current.timezone.clone();
        self.locale = current.locale.clone();
        if let Some(email) = email {
            let chosen = self.emails.iter().position(|e| e.is_primary()).unwrap_or(0);
            if let Some(slot) = self.emails.get_mut(chosen)
                && slot
                    .value
                    .as_deref()
                    .is_none_or(|v| !v.eq_ignore_ascii_case(email))
            {
                slot.value = Some(email.to_owned());
                ignored.push("emails");
            }
        }
        ignored
    }

    /// The primary address's locality, for the account profile's location.
    pub fn location(&self) -> Option<String> {
        self.addresses
            .iter()
            .find(|a| a.is_primary())
            .or_else(|| self.addresses.first())
            .and_then(|a| a.locality.clone().or_else(|| a.formatted.clone()))
    }
}

fn read_name(v: &Value) -> ScimResult<Name> {
    let o = match v {
        Value::Null => return Ok(Name::default()),
        Value::Object(o) => JsonObject::new(o, "name"),
        _ => return Err(ScimError::invalid_value("name must be an object")),
    };
    Ok(Name {
        formatted: o.string("formatted")?,
        family_name: o.string("familyName")?,
        given_name: o.string("givenName")?,
        middle_name: o.string("middleName")?,
        honorific_prefix: o.string("honorificPrefix")?,
        honorific_suffix: o.string("honorificSuffix")?,
    })
}

fn read_addresses(v: &Value) -> ScimResult<Vec<Address>> {
    let items = match v {
        Value::Null => return Ok(vec![]),
        Value::Array(a) => a.iter().collect::<Vec<_>>(),
        Value::Object(_) => vec![v],
        _ => return Err(ScimError::invalid_value("addresses must be an array")),
    };
    if items.len() > MAX_MULTI_VALUES {
        return Err(ScimError::invalid_value(format!(
            "addresses has more than {MAX_MULTI_VALUES} entries"
        )));
    }
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let Value::Object(o) = item else {
            return Err(ScimError::invalid_value(
                "each entry of addresses must be an object",
            ));
        };
        let o = JsonObject::new(o, "addresses");
        out.push(Address {
            formatted: o.string("formatted")?,
            street_address: o.string("streetAddress")?,
            locality: o.string("locality")?,
            region: o.string("region")?,
            postal_code: o.string("postalCode")?,
            country: o.string("country")?,
            kind: o.string("type")?,
            primary: o.boolean("primary")?,
        });
    }
    fix_primary(&mut out, |a| &mut a.primary);
    Ok(out)
}

/// RFC 7643 §2.4: at most one `primary: true`; keep the first.
pub(crate) fn fix_primary<T>(items: &mut [T], primary: impl Fn(&mut T) -> &mut Option<bool>) {
    let mut seen = false;
    for item in items {
        let p = primary(item);
        if *p == Some(true) {
            if seen {
                *p = Some(false);
            }
            seen = true;
        }
    }
}

fn read_enterprise(v: &Value) -> ScimResult<Enterprise> {
    let o = match v {
        Value::Null => return Ok(Enterprise::default()),
        Value::Object(o) => JsonObject::new(o, ENTERPRISE_USER_SCHEMA),
        _ => {
            return Err(ScimError::invalid_value(format!(
                "{ENTERPRISE_USER_SCHEMA} must be an object"
            )));
        }
    };
    let manager = match o.get("manager") {
        None | Some(Value::Null) => None,
        // Entra sends the manager's id as a bare string.
        Some(Value::String(s)) => Some(s.clone()).filter(|s| !s.is_empty()),
        Some(Value::Object(m)) => JsonObject::new(m, "manager")
            .string("value")?
            .filter(|s| !s.is_empty()),
        Some(_) => {
            return Err(ScimError::invalid_value(
                "manager must be an object with a value, or a string",
            ));
        }
    };
    Ok(Enterprise {
        employee_number: o.string("employeeNumber")?,
        cost_center: o.string("costCenter")?,
        organization: o.string("organization")?,
        division: o.string("division")?,
        department: o.string("department")?,
        manager,
    })
}

impl UserInput {
    /// Decodes a User body as a client sent it to POST or PUT (what it may
    /// send but not set, such as `id` and `meta`, is ignored).
    pub fn from_body(body: &Value) -> ScimResult<Self> {
        Self::from_json(&input_body(body))
    }

    /// Decodes a User body (POST/PUT, or the document a PATCH produced).
    pub fn from_json(body: &Value) -> ScimResult<Self> {
        let obj = to_object(body, ResourceKind::User)?;
        let o = JsonObject::new(obj, "User");
        let user_name = match o.get("userName") {
            Some(Value::String(s)) => UserName::parse(s)?,
            Some(Value::Null) | None => {
                return Err(ScimError::invalid_value("userName is required"));
            }
            Some(_) => return Err(ScimError::invalid_value("userName must be a string")),
        };
        let mut attrs = UserAttrs::new(user_name);
        attrs.external_id = o.string("externalId")?;
        attrs.name = o
            .get("name")
            .map(read_name)
            .transpose()?
            .unwrap_or_default();
        attrs.display_name = o.string("displayName")?;
        attrs.nick_name = o.string("nickName")?;
        attrs.profile_url = o.string("profileUrl")?;
        attrs.title = o.string("title")?;
        attrs.user_type = o.string("userType")?;
        attrs.preferred_language = o.string("preferredLanguage")?;
        attrs.locale = o.string("locale")?;
        attrs.timezone = o.string("timezone")?;
        attrs.active = o.boolean("active")?.unwrap_or(true);
        for attr in MULTI_VALUED {
            let values = read_multi(o.get(attr), attr)?;
            attrs.set_multi(attr, values);
        }
        attrs.addresses = o
            .get("addresses")
            .map(read_addresses)
            .transpose()?
            .unwrap_or_default();
        attrs.enterprise = o
            .get(ENTERPRISE_USER_SCHEMA)
            .map(read_enterprise)
            .transpose()?
            .unwrap_or_default();
        for e in &attrs.emails {
            if let Some(v) = &e.value {
                Email::parse(v)?;
            }
        }
        let password = match o.get("password") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) if s.len() > 1024 => {
                return Err(ScimError::invalid_value(
                    "password is longer than 1024 bytes",
                ));
            }
            Some(Value::String(s)) => Some(Password::Clear(s.clone())),
            Some(_) => return Err(ScimError::invalid_value("password must be a string")),
        };
        Ok(Self { attrs, password })
    }

    /// Reads the custom extension values of `body` against the
    /// organization's User extensions; returns the attribute paths no
    /// registered schema knows.
    pub fn with_custom(
        mut self,
        body: &Value,
        schemas: &[CustomSchema],
    ) -> ScimResult<(Self, Vec<String>)> {
        let d = custom_attrs::decode(body, schemas)?;
        self.attrs.custom = d.values;
        Ok((self, d.ignored))
    }

    /// Hashes a clear password now (call it off the async runtime and
    /// before the write transaction).
    pub fn hash_password(mut self) -> Result<Self, String> {
        if let Some(p @ Password::Clear(_)) = &self.password {
            self.password = Some(Password::Hashed(p.to_hash()?));
        }
        Ok(self)
    }

    /// The new password in clear, while it is not hashed yet.
    pub fn clear_password(&self) -> Option<&str> {
        match &self.password {
            Some(Password::Clear(p)) => Some(p),
            _ => None,
        }
    }
}

/// Passwords hashed before a transaction opens, each with its clear text,
/// so that what is decoded inside the transaction (a `/Bulk` operation, the
/// document a PATCH produced) can take its hash instead of hashing there.
#[derive(Clone, Default)]
pub struct Prehashed(Vec<(String, String)>);

impl Prehashed {
    /// Hashes `clear` (duplicates once) on the bounded hashing pool.
    pub async fn hash(clear: Vec<String>) -> Result<Self, String> {
        Ok(Self::hash_groups(vec![clear])
            .await?
            .pop()
            .unwrap_or_default())
    }

    /// [`Prehashed::hash`] for several operations (of one `/Bulk`), hashed
    /// together so they share the pool's slots; each hash has its own salt.
    pub async fn hash_groups(groups: Vec<Vec<String>>) -> Result<Vec<Self>, String> {
        let groups: Vec<Vec<String>> = groups
            .into_iter()
            .map(|mut g| {
                g.sort_unstable();
                g.dedup();
                g
            })
            .collect();
        let flat: Vec<String> = groups.iter().flatten().cloned().collect();
        let mut hashes = crate::domain::secrets::hash_passwords_bounded(flat)
            .await?
            .into_iter();
        Ok(groups
            .into_iter()
            .map(|g| {
                let n = g.len();
                Self(g.into_iter().zip(hashes.by_ref().take(n)).collect())
            })
            .collect())
    }

    /// How many passwords are hashed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `input` with a clear password swapped for its hash computed up
    /// front. A password left clear is refused where it would be stored.
    pub fn apply(&self, mut input: UserInput) -> UserInput {
        if let Some(clear) = input.clear_password()
            && let Some((_, hash)) = self.0.iter().find(|(c, _)| c == clear)
        {
            input.password = Some(Password::Hashed(hash.clone()));
        }
        input
    }
}

impl std::fmt::Debug for Prehashed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Prehashed(<{} redacted>)", self.0.len())
    }
}

/// A clear password the decoder would accept: what is worth hashing ahead.
pub fn acceptable_password(v: &Value) -> Option<&str> {
    v.as_str().filter(|p| !p.is_empty() && p.len() <= 1024)
}

/// Server-maintained facts of a stored resource.
#[derive(Debug, Clone)]
pub struct Meta {
    pub id: String,
    pub resource_type: &'static str,
    pub created: chrono::DateTime<chrono::Utc>,
    pub last_modified: chrono::DateTime<chrono::Utc>,
    pub version: i64,
    /// Absolute URL of the resource.
    pub location: String,
}

impl Meta {
    /// Weak ETag (RFC 7232) of this version.
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }

    pub fn to_json(&self) -> Value {
        json!({
            "resourceType": self.resource_type,
            "created": self.created.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "lastModified": self.last_modified.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "location": self.location,
            "version": self.etag(),
        })
    }
}

/// The enterprise manager as responses show it, when it is a User of the
/// same directory: its location (`$ref`) and read-only `displayName`.
#[derive(Debug, Clone)]
pub struct ManagerRef {
    pub location: String,
    pub display_name: Option<String>,
}

/// A group the user belongs to, for the read-only `groups` attribute.
#[derive(Debug, Clone)]
pub struct GroupRef {
    pub id: String,
    pub display: String,
    pub location: String,
}

fn put(map: &mut Map<String, Value>, key: &str, v: &Option<String>) {
    if let Some(v) = v {
        map.insert(key.to_owned(), Value::String(v.clone()));
    }
}

fn multi_to_json(values: &[MultiValue]) -> Value {
    Value::Array(
        values
            .iter()
            .map(|m| {
                let mut o = Map::new();
                put(&mut o, "value", &m.value);
                put(&mut o, "display", &m.display);
                put(&mut o, "type", &m.kind);
                if let Some(p) = m.primary {
                    o.insert("primary".into(), Value::Bool(p));
                }
                Value::Object(o)
            })
            .collect(),
    )
}

impl UserAttrs {
    /// The attributes as a SCIM JSON document (no id/meta/groups): the
    /// document a PATCH is applied to, and the body of responses.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut o = Map::new();
        let mut schemas = vec![Value::String(USER_SCHEMA.into())];
        o.insert("userName".into(), self.user_name.as_str().into());
        put(&mut o, "externalId", &self.external_id);
        let mut name = Map::new();
        put(&mut name, "formatted", &self.name.formatted);
        put(&mut name, "familyName", &self.name.family_name);
        put(&mut name, "givenName", &self.name.given_name);
        put(&mut name, "middleName", &self.name.middle_name);
        put(&mut name, "honorificPrefix", &self.name.honorific_prefix);
        put(&mut name, "honorificSuffix", &self.name.honorific_suffix);
        if !name.is_empty() {
            o.insert("name".into(), Value::Object(name));
        }
        put(&mut o, "displayName", &self.display_name);
        put(&mut o, "nickName", &self.nick_name);
        put(&mut o, "profileUrl", &self.profile_url);
        put(&mut o, "title", &self.title);
        put(&mut o, "userType", &self.user_type);
        put(&mut o, "preferredLanguage", &self.preferred_language);
        put(&mut o, "locale", &self.locale);
        put(&mut o, "timezone", &self.timezone);
        o.insert("active".into(), Value::Bool(self.active));
        for attr in MULTI_VALUED {
            let values = self.multi(attr);
            if !values.is_empty() {
                o.insert(attr.into(), multi_to_json(values));
            }
        }
        if !self.addresses.is_empty() {
            let list = self
                .addresses
                .iter()
                .map(|a| {
                    let mut m = Map::new();
                    put(&mut m, "formatted", &a.formatted);
                    put(&mut m, "streetAddress", &a.street_address);
                    put(&mut m, "locality", &a.locality);
                    put(&mut m, "region", &a.region);
                    put(&mut m, "postalCode", &a.postal_code);
                    put(&mut m, "country", &a.country);
                    put(&mut m, "type", &a.kind);
                    if let Some(p) = a.primary {
                        m.insert("primary".into(), Value::Bool(p));
                    }
                    Value::Object(m)
                })
                .collect();
            o.insert("addresses".into(), Value::Array(list));
        }
        let e = &self.enterprise;
        let mut ent = Map::new();
        put(&mut ent, "employeeNumber", &e.employee_number);
        put(&mut ent, "costCenter", &e.cost_center);
        put(&mut ent, "organization", &e.organization);
        put(&mut ent, "division", &e.division);
        put(&mut ent, "department", &e.department);
        if let Some(m) = &e.manager {
            ent.insert("manager".into(), json!({ "value": m }));
        }
        if !ent.is_empty() {
            schemas.push(Value::String(ENTERPRISE_USER_SCHEMA.into()));
            o.insert(ENTERPRISE_USER_SCHEMA.into(), Value::Object(ent));
        }
        for (urn, attrs) in self.custom.extensions() {
            schemas.push(Value::String(urn.to_owned()));
            o.insert(urn.to_owned(), Value::Object(attrs.clone()));
        }
        o.insert("schemas".into(), Value::Array(schemas));
        o
    }

    /// The full resource as returned to clients (before projection).
    pub fn to_resource(
        &self,
        meta: &Meta,
        groups: &[GroupRef],
        manager: Option<&ManagerRef>,
    ) -> Value {
        let mut o = self.to_json();
        if let Some(m) = manager
            && let Some(Value::Object(mgr)) = o
                .get_mut(ENTERPRISE_USER_SCHEMA)
                .and_then(|e| e.get_mut("manager"))
        {
            mgr.insert("$ref".into(), Value::String(m.location.clone()));
            if let Some(d) = &m.display_name {
                mgr.insert("displayName".into(), Value::String(d.clone()));
            }
        }
        o.insert("id".into(), Value::String(meta.id.clone()));
        if !groups.is_empty() {
            let list = groups
                .iter()
                .map(|g| json!({"value": g.id, "display": g.display, "$ref": g.location, "type": "direct"}))
                .collect();
            o.insert("groups".into(), Value::Array(list));
        }
        o.insert("meta".into(), meta.to_json());
        Value::Object(o)
    }
}

/// Strips what clients may send but not set (id, meta, groups) before a
/// PUT/POST body is decoded. Returns the body unchanged otherwise.
pub fn input_body(body: &Value) -> Cow<'_, Value> {
    strip_readonly(body, &["id", "meta", "groups"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_once_and_never_print() {
        let input =
            UserInput::from_json(&json!({"userName": "p@x.example", "password": "s3cret!"}))
                .unwrap();
        assert_eq!(input.password, Some(Password::Clear("s3cret!".into())));
        assert!(!format!("{input:?}").contains("s3cret!"));
        let hashed = input.hash_password().unwrap();
        let Some(Password::Hashed(h)) = &hashed.password else {
            panic!("not hashed: {hashed:?}");
        };
        assert!(h.starts_with("$argon2id$"));
        assert!(!format!("{hashed:?}").contains(h.as_str()));
        // Hashing again keeps the hash; storing it stores that hash.
        let again = hashed.clone().hash_password().unwrap();
        assert_eq!(again.password, hashed.password);
        assert_eq!(again.password.unwrap().to_hash().unwrap(), *h);
    }

    #[test]
    fn decodes_attribute_names_case_insensitively_and_string_booleans() {
        let body = json!({
            "schemas": [USER_SCHEMA],
            "USERNAME": "bjensen@example.com",
            "Active": "False",
            "name": {"GivenName": "Barbara", "familyName": "Jensen"},
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": "true"}],
            ENTERPRISE_USER_SCHEMA: {"department": "Tour", "manager": "26118915-6090-4610-87e4-49d8ca9f808d"},
        });
        let u = UserInput::from_json(&body).unwrap().attrs;
        assert_eq!(u.user_name.as_str(), "bjensen@example.com");
        assert!(!u.active);
        assert_eq!(u.name.given_name.as_deref(), Some("Barbara"));
        assert!(u.emails[0].is_primary());
        assert_eq!(u.enterprise.department.as_deref(), Some("Tour"));
        assert_eq!(
            u.enterprise.manager.as_deref(),
            Some("26118915-6090-4610-87e4-49d8ca9f808d")
        );
        assert_eq!(u.profile_display_name().as_deref(), Some("Barbara Jensen"));
    }

    #[test]
    fn wrong_types_are_invalid_values() {
        for body in [
            json!({"userName": 5}),
            json!({"userName": "a", "active": "maybe"}),
            json!({"userName": "a", "emails": "x@y.z"}),
            json!({"userName": "a", "name": "Jane"}),
            json!({"userName": "a", "emails": [{"value": "not-an-email"}]}),
            json!({"displayName": "no user name"}),
            json!(["not", "an", "object"]),
        ] {
            let err = UserInput::from_json(&body).unwrap_err();
            assert_eq!(err.status(), 400, "{body}");
        }
    }

    #[test]
    fn round_trips_through_json() {
        let body = json!({
            "userName": "jane",
            "name": {"givenName": "Jane"},
            "emails": [{"value": "jane@example.com", "type": "work", "primary": true}],
            "addresses": [{"locality": "Oslo", "type": "work"}],
            ENTERPRISE_USER_SCHEMA: {"employeeNumber": "42"},
        });
        let u = UserInput::from_json(&body).unwrap().attrs;
        let again = UserInput::from_json(&Value::Object(u.to_json()))
            .unwrap()
            .attrs;
        assert_eq!(again.to_json(), u.to_json());
        assert_eq!(again.location().as_deref(), Some("Oslo"));
    }
}
