//! Which passwords are acceptable (NIST SP 800-63B): length 8..=128 (minimum
//! configurable), no composition rules, no truncation, not a common or easily guessed
//! password (zxcvbn's offline dictionaries), and not containing the username.

use crate::domain::Invalid;

pub const MAX_LENGTH: usize = 128;

/// Checks `password` for an account named `username`; the error says why.
pub fn check(password: &str, username: &str, min_length: usize) -> Result<(), Invalid> {
    let reject = |message: String| Err(Invalid::new("password", message));
    let len = password.chars().count();
    if len < min_length {
        return reject(format!("must be at least {min_length} characters long"));
    }
    if len > MAX_LENGTH {
        return reject(format!("must be at most {MAX_LENGTH} characters long"));
    }
    let username = username.trim().to_lowercase();
    if username.len() >= 3 && password.to_lowercase().contains(&username) {
        return reject("must not contain the username".into());
    }
    let estimate = zxcvbn::zxcvbn(password, &[username.as_str()]);
    if (estimate.score() as u8) < 2 {
        let why = estimate
            .feedback()
            .and_then(|f| f.warning())
            .map(|w| w.to_string())
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "This password is too easy to guess.".into());
        return reject(format!(
            "is too common or easy to guess ({why}); a few unrelated words make a strong one"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn accepts_a_passphrase() {
        assert!(check("correct horse battery staple", "alice", 8).is_ok());
    }

    #[test]
    fn refuses_short_long_common_and_username() {
        assert!(check("short1", "alice", 8).unwrap_err().message.contains("at least 8"));
        assert!(check(&"a".repeat(129), "alice", 8).unwrap_err().message.contains("at most"));
        assert!(check("password123", "alice", 8).unwrap_err().message.contains("common"));
        assert!(check("xxALICEsecret-99", "alice", 8).unwrap_err().message.contains("username"));
    }
}
