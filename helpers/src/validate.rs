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
        Err(Error::Invalid { field: "email".into(), reason: format!("email `{email}` is not an e-mail address (expected name@domain.tld)") })
    }
}

/// Checks a login name against the rule the MongoDB validator enforces too: 3–32 characters,
/// no whitespace, `@` or `$`. Returns it trimmed.
pub fn username(raw: &str) -> Result<String> {
    let name = raw.trim();
    let length = name.chars().count();
    if !(3..=32).contains(&length) {
        return Err(Error::Invalid { field: "username".into(), reason: format!("username `{name}` has {length} characters (3–32 allowed)") });
    }
    if let Some(c) = name.chars().find(|c| c.is_whitespace() || c.is_control() || *c == '@' || *c == '$') {
        return Err(Error::Invalid { field: "username".into(), reason: format!("username `{}` contains {c:?} (no spaces, control characters, @ or $)", name.escape_debug()) });
    }
    Ok(name.to_string())
}

/// Text that PostgreSQL can store: no NUL byte (`\0`). SQLite would keep one, PostgreSQL
/// refuses it (`invalid byte sequence for encoding "UTF8": 0x00`, naming nothing), so the rule
/// is checked here, the same for both backends, and the error names `field`.
///
/// ```
/// assert!(helpers::validate::storable_text("city", "Zürich").is_ok());
/// let err = helpers::validate::storable_text("city", "Zü\0rich").unwrap_err().to_string();
/// assert!(err.contains("city") && err.contains("NUL"), "{err}");
/// ```
pub fn storable_text(field: &str, value: &str) -> Result<()> {
    match value.find('\0') {
        Some(at) => Err(Error::Invalid {
            field: field.to_string(),
            reason: format!("{field} contains a NUL byte (\\0) at byte {at}: text with NUL cannot be stored (PostgreSQL refuses it); remove the NUL from the text"),
        }),
        None => Ok(()),
    }
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
        let nul = username("ad\0min").unwrap_err().to_string();
        assert!(nul.contains("username") && nul.contains("'\\0'"), "{nul}");
    }

    #[test]
    fn text_with_nul_is_refused_naming_the_field() {
        assert!(storable_text("name", "O'Brien; DROP TABLE users").is_ok());
        let err = storable_text("parameter $2", "a\0b").unwrap_err().to_string();
        assert!(err.contains("parameter $2") && err.contains("byte 1"), "{err}");
    }
}
