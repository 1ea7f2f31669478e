use validation::{Broken, Checked, rules};

const MAX_CHARS: usize = 50;

/// A conversation title: 1 to 50 characters, no NUL (which Postgres refuses in text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub fn parse(text: &str) -> Checked<Self> {
        let mut broken = Vec::new();
        if text.chars().count() > MAX_CHARS {
            broken.push("The title length must be shorter than 50".to_owned());
        }
        if text.trim().is_empty() {
            broken.push("Title is required".to_owned());
        }
        if let Err(nul) = rules::no_nul(text, "Title") {
            broken.extend(nul.sentences().iter().cloned());
        }
        if broken.is_empty() {
            Ok(Self(text.to_owned()))
        } else {
            Err(Broken::from_sentences(broken))
        }
    }

    /// An optional title at creation: absent or empty means none.
    pub fn parse_optional(text: Option<&str>) -> Checked<Option<Self>> {
        match text {
            None | Some("") => Ok(None),
            Some(text) => Self::parse(text).map(Some),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentences(text: &str) -> Vec<String> {
        Title::parse(text)
            .expect_err("refused")
            .sentences()
            .to_vec()
    }

    #[test]
    fn fifty_characters_fit_and_fifty_one_do_not() {
        assert!(Title::parse(&"t".repeat(50)).is_ok());
        assert_eq!(
            sentences(&"t".repeat(51)),
            ["The title length must be shorter than 50"]
        );
        assert_eq!(sentences(""), ["Title is required"]);
        assert_eq!(
            sentences("a\u{0}"),
            ["Title must not contain null characters"]
        );
        assert_eq!(Title::parse_optional(Some("")), Ok(None));
    }
}
