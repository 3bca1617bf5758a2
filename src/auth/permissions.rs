//! Permissions (`resource:action` strings) and the roles that bundle them.
//!
//! A permission set is a bitset, so the per-request checks are a few instructions.

use std::collections::BTreeMap;
use std::fmt;

/// Every permission the server knows. Later features add theirs here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    ProfileRead,
    ProfileWrite,
    RunsRead,
    RunsWrite,
    RunsAdmin,
    FilesRead,
    FilesWrite,
    FilesAdmin,
    UsersRead,
    UsersWrite,
    UsersAdmin,
    TokensWrite,
    AuditRead,
    FiltersWrite,
}

impl Permission {
    pub const ALL: [Permission; 14] = [
        Self::ProfileRead,
        Self::ProfileWrite,
        Self::RunsRead,
        Self::RunsWrite,
        Self::RunsAdmin,
        Self::FilesRead,
        Self::FilesWrite,
        Self::FilesAdmin,
        Self::UsersRead,
        Self::UsersWrite,
        Self::UsersAdmin,
        Self::TokensWrite,
        Self::AuditRead,
        Self::FiltersWrite,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProfileRead => "profile:read",
            Self::ProfileWrite => "profile:write",
            Self::RunsRead => "runs:read",
            Self::RunsWrite => "runs:write",
            Self::RunsAdmin => "runs:admin",
            Self::FilesRead => "files:read",
            Self::FilesWrite => "files:write",
            Self::FilesAdmin => "files:admin",
            Self::UsersRead => "users:read",
            Self::UsersWrite => "users:write",
            Self::UsersAdmin => "users:admin",
            Self::TokensWrite => "tokens:write",
            Self::AuditRead => "audit:read",
            Self::FiltersWrite => "filters:write",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == text)
    }

    fn bit(self) -> u64 {
        1 << (self as u32)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PermissionSet(u64);

impl PermissionSet {
    pub fn all() -> Self {
        Self::of(&Permission::ALL)
    }

    pub fn of(permissions: &[Permission]) -> Self {
        Self(permissions.iter().fold(0, |bits, p| bits | p.bit()))
    }

    pub fn contains(self, permission: Permission) -> bool {
        self.0 & permission.bit() != 0
    }

    pub fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    pub fn intersect(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }

    pub fn is_subset_of(self, other: Self) -> bool {
        self.0 & !other.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.into_iter().filter(move |p| self.contains(*p))
    }

    /// Parses permission names; the unknown ones are returned as the error.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, Vec<String>> {
        let (mut set, mut unknown) = (Self::default(), Vec::new());
        for name in names {
            match Permission::parse(name) {
                Some(p) => set = set.union(Self::of(&[p])),
                None => unknown.push(name.to_owned()),
            }
        }
        if unknown.is_empty() { Ok(set) } else { Err(unknown) }
    }

    pub fn names(self) -> Vec<String> {
        self.iter().map(|p| p.as_str().to_owned()).collect()
    }
}

/// Roles that hold nothing beyond a plain account: what managers may manage.
pub const PLAIN_ROLES: [&str; 2] = ["user", "operator"];

/// The named roles: the built-in four plus any from `hallpass.toml`'s `[roles]`.
#[derive(Debug, Clone)]
pub struct RoleBook {
    roles: BTreeMap<String, PermissionSet>,
}

impl RoleBook {
    pub fn new(custom: &[(String, Vec<String>)]) -> anyhow::Result<Self> {
        use Permission::*;
        let user =
            PermissionSet::of(&[ProfileRead, ProfileWrite, RunsRead, RunsWrite, FilesRead, TokensWrite]);
        let mut roles = BTreeMap::from([
            ("user".to_owned(), user),
            ("operator".to_owned(), user.union(PermissionSet::of(&[FilesWrite]))),
            ("manager".to_owned(), user.union(PermissionSet::of(&[UsersRead, UsersWrite]))),
            ("admin".to_owned(), PermissionSet::all()),
        ]);
        for (name, permissions) in custom {
            if roles.contains_key(name) {
                anyhow::bail!("role `{name}` is built in and cannot be redefined");
            }
            let valid_name = !name.is_empty()
                && name.len() <= 64
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid_name {
                anyhow::bail!("role name `{name}` must be 1-64 letters, digits, '_' or '-'");
            }
            let set = PermissionSet::parse(permissions.iter().map(String::as_str))
                .map_err(|unknown| anyhow::anyhow!("role `{name}` names unknown permissions {unknown:?}"))?;
            roles.insert(name.clone(), set);
        }
        Ok(Self { roles })
    }

    pub fn exists(&self, role: &str) -> bool {
        self.roles.contains_key(role)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.roles.keys().map(String::as_str)
    }

    /// What holding `roles` grants (unknown names, e.g. a role since removed from
    /// the configuration, grant nothing).
    pub fn permissions<S: AsRef<str>>(&self, roles: &[S]) -> PermissionSet {
        roles
            .iter()
            .filter_map(|r| self.roles.get(r.as_ref()))
            .fold(PermissionSet::default(), |all, set| all.union(*set))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_roles() {
        let book = RoleBook::new(&[]).unwrap();
        let user = book.permissions(&["user"]);
        assert!(user.contains(Permission::TokensWrite) && !user.contains(Permission::FilesWrite));
        assert!(book.permissions(&["operator"]).contains(Permission::FilesWrite));
        let manager = book.permissions(&["manager"]);
        assert!(manager.contains(Permission::UsersWrite) && !manager.contains(Permission::UsersAdmin));
        assert_eq!(book.permissions(&["admin"]), PermissionSet::all());
        assert_eq!(book.permissions(&["user", "operator"]), book.permissions(&["operator"]));
        assert_eq!(book.permissions(&["ghost"]), PermissionSet::default());
    }

    #[test]
    fn custom_roles_are_checked() {
        let book = RoleBook::new(&[("auditor".into(), vec!["audit:read".into()])]).unwrap();
        assert_eq!(book.permissions(&["auditor"]).names(), vec!["audit:read"]);
        assert!(RoleBook::new(&[("x".into(), vec!["audit:rule".into()])]).is_err());
        assert!(RoleBook::new(&[("admin".into(), vec![])]).is_err());
        assert!(RoleBook::new(&[("bad name".into(), vec![])]).is_err());
    }

    #[test]
    fn names_round_trip() {
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
        }
        let set = PermissionSet::parse(["runs:read", "users:admin"]).unwrap();
        assert!(set.is_subset_of(PermissionSet::all()));
        assert_eq!(PermissionSet::parse(["runs:read", "nope"]), Err(vec!["nope".to_owned()]));
    }
}
