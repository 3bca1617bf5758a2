//! Account fields as validated newtypes: once built, a value is known to be acceptable.

use crate::domain::Invalid;

/// A username: 3–64 characters of letters, digits, `.`, `_`, `-`, `+` and `@` (so that
/// e-mail-shaped names from older systems keep working); unique case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        let len = trimmed.chars().count();
        if !(3..=64).contains(&len) {
            return Err(Invalid::new("username", "must be 3 to 64 characters long"));
        }
        if !trimmed.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '@')) {
            return Err(Invalid::new(
                "username",
                "may contain only letters, digits, '.', '_', '-', '+' and '@'",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form stored in the unique index.
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// An e-mail address, syntax-checked (RFC 5322 address spec).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let trimmed = raw.trim();
        if trimmed.len() > 254 || !email_address::EmailAddress::is_valid(trimmed) {
            return Err(Invalid::new("email", "is not a valid e-mail address"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A display name: up to 200 characters, no control characters.
pub fn parse_name(raw: &str) -> Result<String, Invalid> {
    let trimmed = raw.trim();
    if raw.chars().count() > 200 || raw.chars().any(char::is_control) {
        return Err(Invalid::new("name", "must be at most 200 characters without control characters"));
    }
    Ok(trimmed.to_owned())
}

/// Profile JSON: an object of at most 16 KiB.
pub fn parse_profile(value: &serde_json::Value) -> Result<String, Invalid> {
    parse_json_object("profile", value)
}

/// A JSON object field (`profile`, `attributes`) of at most 16 KiB, as stored text.
pub fn parse_json_object(field: &str, value: &serde_json::Value) -> Result<String, Invalid> {
    if !value.is_object() {
        return Err(Invalid::new(field, "must be a JSON object"));
    }
    let text = value.to_string();
    if text.len() > 16 * 1024 {
        return Err(Invalid::new(field, "must be at most 16 KiB"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        assert_eq!(Username::parse(" Alice ").unwrap().key(), "alice");
        assert!(Username::parse("ab").is_err());
        assert!(Username::parse("has space").is_err());
        assert!(Username::parse(&"x".repeat(65)).is_err());
        assert!(Username::parse("ok_name-1.2").is_ok());
        assert_eq!(
            Username::parse("Amichay.Oren+3970@gmail.com").unwrap().key(),
            "amichay.oren+3970@gmail.com"
        );
        for bad in ["tab\tname", "nul\0name", "semi;colon", "slash/name", "a\u{202e}bc"] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(Email::parse("A@Example.com").unwrap().key(), "a@example.com");
        assert!(Email::parse("not-an-email").is_err());
    }
}
