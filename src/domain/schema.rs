//! The SCIM schemas the server serves (`scim-schemas/`), parsed once into
//! attribute definitions. They drive attribute-name canonicalisation
//! (names are case-insensitive), `caseExact`, `mutability` and `returned`.

use std::sync::LazyLock;

use serde::Deserialize;

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER_SCHEMA: &str =
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const LIST_RESPONSE_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const SEARCH_REQUEST_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";

pub const USER_SCHEMA_JSON: &str = include_str!("../../scim-schemas/schemas/User.json");
pub const ENTERPRISE_USER_SCHEMA_JSON: &str =
    include_str!("../../scim-schemas/schemas/EnterpriseUser.json");
pub const GROUP_SCHEMA_JSON: &str = include_str!("../../scim-schemas/schemas/Group.json");
pub const USER_RESOURCE_TYPE_JSON: &str =
    include_str!("../../scim-schemas/resource-types/User.json");
pub const GROUP_RESOURCE_TYPE_JSON: &str =
    include_str!("../../scim-schemas/resource-types/Group.json");
pub const SERVICE_PROVIDER_CONFIG_JSON: &str =
    include_str!("../../scim-schemas/service-provider-config.json");

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttrDef {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: AttrType,
    #[serde(default)]
    pub multi_valued: bool,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub case_exact: bool,
    #[serde(default = "default_mutability")]
    pub mutability: Mutability,
    #[serde(default = "default_returned")]
    pub returned: Returned,
    #[serde(default)]
    pub sub_attributes: Vec<AttrDef>,
}

fn default_mutability() -> Mutability {
    Mutability::ReadWrite
}
fn default_returned() -> Returned {
    Returned::Default
}

impl AttrDef {
    pub fn sub(&self, name: &str) -> Option<&AttrDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct SchemaDef {
    pub id: String,
    pub attributes: Vec<AttrDef>,
}

impl SchemaDef {
    pub fn attr(&self, name: &str) -> Option<&AttrDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// Which resource a path is resolved against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceKind {
    User,
    Group,
}

/// Where an attribute lives: the core schema or an extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaPart {
    Core,
    Enterprise,
}

pub struct Registry {
    pub user: SchemaDef,
    pub enterprise: SchemaDef,
    pub group: SchemaDef,
    /// `id`, `externalId`, `meta`: common to every resource (RFC 7643 §3.1).
    pub common: Vec<AttrDef>,
}

fn common_attributes() -> Vec<AttrDef> {
    let s = |name: &str, ty: AttrType, case_exact: bool, m: Mutability, r: Returned| AttrDef {
        name: name.to_owned(),
        ty,
        multi_valued: false,
        required: false,
        case_exact,
        mutability: m,
        returned: r,
        sub_attributes: vec![],
    };
    let mut meta = s(
        "meta",
        AttrType::Complex,
        false,
        Mutability::ReadOnly,
        Returned::Default,
    );
    meta.sub_attributes = vec![
        s(
            "resourceType",
            AttrType::String,
            true,
            Mutability::ReadOnly,
            Returned::Default,
        ),
        s(
            "created",
            AttrType::DateTime,
            false,
            Mutability::ReadOnly,
            Returned::Default,
        ),
        s(
            "lastModified",
            AttrType::DateTime,
            false,
            Mutability::ReadOnly,
            Returned::Default,
        ),
        s(
            "location",
            AttrType::Reference,
            true,
            Mutability::ReadOnly,
            Returned::Default,
        ),
        s(
            "version",
            AttrType::String,
            true,
            Mutability::ReadOnly,
            Returned::Default,
        ),
    ];
    vec![
        s(
            "id",
            AttrType::String,
            true,
            Mutability::ReadOnly,
            Returned::Always,
        ),
        s(
            "externalId",
            AttrType::String,
            true,
            Mutability::ReadWrite,
            Returned::Default,
        ),
        s(
            "schemas",
            AttrType::Reference,
            true,
            Mutability::ReadOnly,
            Returned::Always,
        ),
        meta,
    ]
}

#[allow(clippy::expect_used)] // the files are embedded at compile time; a unit test parses them
static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry {
    user: serde_json::from_str(USER_SCHEMA_JSON).expect("User.json is a valid schema"),
    enterprise: serde_json::from_str(ENTERPRISE_USER_SCHEMA_JSON)
        .expect("EnterpriseUser.json is a valid schema"),
    group: serde_json::from_str(GROUP_SCHEMA_JSON).expect("Group.json is a valid schema"),
    common: common_attributes(),
});

pub fn registry() -> &'static Registry {
    &REGISTRY
}

/// An attribute resolved against the schemas: canonical names and the
/// definitions of the attribute and (if any) sub-attribute.
#[derive(Debug, Clone, Copy)]
pub struct Resolved<'a> {
    pub part: SchemaPart,
    pub attr: &'a AttrDef,
    pub sub: Option<&'a AttrDef>,
}

impl<'a> Resolved<'a> {
    /// The definition the path finally points at.
    pub fn leaf(&self) -> &'a AttrDef {
        self.sub.unwrap_or(self.attr)
    }
}

impl Registry {
    pub fn core(&self, kind: ResourceKind) -> &SchemaDef {
        match kind {
            ResourceKind::User => &self.user,
            ResourceKind::Group => &self.group,
        }
    }

    /// Resolves `[urn:]attr[.sub]`; `None` when the schema has no such attribute.
    pub fn resolve(
        &self,
        kind: ResourceKind,
        urn: Option<&str>,
        attr: &str,
        sub: Option<&str>,
    ) -> Option<Resolved<'_>> {
        let (part, def) = match urn {
            Some(u)
                if kind == ResourceKind::User && u.eq_ignore_ascii_case(ENTERPRISE_USER_SCHEMA) =>
            {
                (SchemaPart::Enterprise, self.enterprise.attr(attr)?)
            }
            Some(u) if u.eq_ignore_ascii_case(&self.core(kind).id) => {
                (SchemaPart::Core, self.core_or_common(kind, attr)?)
            }
            Some(_) => return None,
            None => (SchemaPart::Core, self.core_or_common(kind, attr)?),
        };
        let sub = match sub {
            Some(s) => Some(def.sub(s)?),
            None => None,
        };
        Some(Resolved {
            part,
            attr: def,
            sub,
        })
    }

    fn core_or_common(&self, kind: ResourceKind, attr: &str) -> Option<&AttrDef> {
        self.core(kind).attr(attr).or_else(|| {
            self.common
                .iter()
                .find(|a| a.name.eq_ignore_ascii_case(attr))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_schemas_parse() {
        let r = registry();
        assert_eq!(r.user.id, USER_SCHEMA);
        assert_eq!(r.enterprise.id, ENTERPRISE_USER_SCHEMA);
        assert_eq!(r.group.id, GROUP_SCHEMA);
        for doc in [
            USER_RESOURCE_TYPE_JSON,
            GROUP_RESOURCE_TYPE_JSON,
            SERVICE_PROVIDER_CONFIG_JSON,
        ] {
            assert!(serde_json::from_str::<serde_json::Value>(doc).is_ok());
        }
    }

    #[test]
    fn attribute_names_resolve_case_insensitively() {
        let r = registry();
        let res = r
            .resolve(ResourceKind::User, None, "NAME", Some("givenname"))
            .unwrap();
        assert_eq!(res.attr.name, "name");
        assert_eq!(res.leaf().name, "givenName");
        let res = r
            .resolve(
                ResourceKind::User,
                Some("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"),
                "Department",
                None,
            )
            .unwrap();
        assert_eq!(res.part, SchemaPart::Enterprise);
        assert!(r.resolve(ResourceKind::User, None, "nope", None).is_none());
        assert_eq!(
            r.resolve(ResourceKind::User, None, "password", None)
                .unwrap()
                .attr
                .returned,
            Returned::Never
        );
    }
}
