//! Checks of user input shared by the modules: one rule, one wording, wherever a user's
//! e-mail address or login name arrives (a SQL insert, a MongoDB document, a queue message).

use crate::error::{Error, Result};

/// Trims and lower-cases `raw` and checks that it looks like `name@domain.tld`; the error
/// names the field and the value.
///
/// ```
/// assert_eq!(helpers::validate::email(" Ada@Example.COM ").unwrap(), "ada@example.com");
/// assert!(helpers::validate::email("ada-at-example.com").is_err());
/// ```
pub fn email(raw: &str) -> Result<String> {
    let email = raw.trim().to_lowercase();
    let valid = match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !domain.contains('@')
                && email.len() <= 254
                && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        None => false,
    };
    if valid {
        Ok(email)
    } else {
        Err(Error::InvalidInput(format!("email `{email}` is not an e-mail address (expected name@domain.tld)")))
    }
}

/// Checks a login name against the rule the MongoDB validator enforces too: 3–32 characters,
/// no whitespace, `@` or `$`. Returns it trimmed.
pub fn username(raw: &str) -> Result<String> {
    let name = raw.trim();
    let length = name.chars().count();
    if !(3..=32).contains(&length) {
        return Err(Error::InvalidInput(format!("username `{name}` has {length} characters (3–32 allowed)")));
    }
    if let Some(c) = name.chars().find(|c| c.is_whitespace() || *c == '@' || *c == '$') {
        return Err(Error::InvalidInput(format!("username `{name}` contains {c:?} (no spaces, @ or $)")));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_lower_cased_and_checked() {
        assert_eq!(email("  Bob@Mail.Example.org").unwrap(), "bob@mail.example.org");
        for bad in ["", "bob", "bob@", "@example.com", "bob@example", "bob@.com", "bob@example.", "a b@example.com", "bob@@example.com"] {
            let err = email(bad).unwrap_err().to_string();
            assert!(err.contains("not an e-mail address"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn usernames_follow_the_document_validator() {
        assert_eq!(username(" nia.müller2 ").unwrap(), "nia.müller2");
        assert!(username("ab").unwrap_err().to_string().contains("2 characters"));
        assert!(username("a b c").unwrap_err().to_string().contains("' '"));
        assert!(username("root$").is_err());
        assert!(username(&"x".repeat(33)).is_err());
    }
}
