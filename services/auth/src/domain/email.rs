use validation::Checked;

use super::TextRules;

const RULES: TextRules = TextRules {
    label: "Email",
    required: "Email is required",
    not_string: "Email must be a valid email address",
    min: (5, "Email must be at least 5 characters long"),
    max: (255, "Email must be at most 255 characters long"),
    stored: true,
};
const INVALID: &str = "Email must be a valid email address";

/// An email address, stored lower-cased: addresses are unique regardless of case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(value: Option<&str>) -> Checked<Self> {
        RULES
            .check(value.map(str::trim), Some((INVALID, is_address)))
            .map(|address| Self(address.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `local@domain` with a conservative reading of RFC 5321: an unquoted local part of at most 64 characters
/// and a domain of at least two DNS labels with an alphabetic top-level label.
fn is_address(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_alphanumeric() || "!#$%&'*+/=?^_`{|}~.-".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = domain.len() <= 253
        && labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().count() >= 2 && tld.chars().all(char::is_alphabetic));
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_recognised() {
        for ok in [
            "a@b.co",
            "first.last+tag@sub.example.org",
            "élise@exemple.fr",
        ] {
            assert!(is_address(ok), "{ok}");
        }
        for bad in [
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@@b.co",
            "a b@c.de",
            "a@-b.co",
            "a..b@c.de",
            "a@b.c1",
        ] {
            assert!(!is_address(bad), "{bad}");
        }
    }

    #[test]
    fn emails_are_lower_cased() {
        assert_eq!(
            Email::parse(Some("Alice@Example.COM"))
                .expect("valid")
                .as_str(),
            "alice@example.com"
        );
    }
}
