//! Typed ids. Every stored object is named by a UUIDv7 in its canonical text form; the
//! kind of object is part of the type, so passing a run's id where a user's is
//! expected does not compile, and text that is not a UUID never reaches a query.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

macro_rules! typed_id {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => { $(
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// A new id: time-ordered, so ids sort by creation.
            pub fn generate() -> Self {
                Self(uuid::Uuid::now_v7().to_string())
            }

            /// The id `text` names, in canonical form; `None` if it is not a UUID
            /// written as 8-4-4-4-12 hex digits (any case).
            pub fn parse(text: &str) -> Option<Self> {
                if text.len() != 36 {
                    return None;
                }
                uuid::Uuid::try_parse(text).ok().map(|id| Self(id.to_string()))
            }

            /// An id read back from the database, where only valid ids are written.
            pub fn stored(text: String) -> Self {
                Self(text)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Self::parse(&text).ok_or_else(|| serde::de::Error::custom(concat!("is not a valid ", stringify!($name))))
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
    )* };
}

typed_id!(
    /// An account.
    UserId,
    /// A session (and its refresh-token family).
    SessionId,
    /// A long-lived API token.
    TokenId,
    /// A logged run.
    RunId,
    /// A stored file.
    FileId,
    /// An audit log entry.
    AuditId,
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_canonical_uuids() {
        let id = RunId::generate();
        assert_eq!(RunId::parse(&id.as_str().to_uppercase()), Some(id.clone()));
        assert_eq!(RunId::parse("not-an-id"), None);
        assert_eq!(RunId::parse(&id.as_str().replace('-', "")), None, "hyphenated only");
        assert_eq!(RunId::parse("0000\0"), None);
        assert!(serde_json::from_str::<UserId>("\"nope\"").is_err());
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{id}\""));
    }
}
