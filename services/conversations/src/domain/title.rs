use crate::ConversationsError;

const MAX_CHARS: usize = 50;

/// A conversation title: 1 to 50 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Title(String);

impl Title {
    pub fn parse(text: &str) -> Result<Self, ConversationsError> {
        let mut broken = Vec::new();
        if text.chars().count() > MAX_CHARS {
            broken.push("The title length must be shorter than 50".to_owned());
        }
        if text.trim().is_empty() {
            broken.push("Title is required".to_owned());
        }
        if broken.is_empty() {
            Ok(Self(text.to_owned()))
        } else {
            Err(ConversationsError::Validation(broken))
        }
    }

    /// An optional title at creation: absent or empty means none.
    pub fn parse_optional(text: Option<&str>) -> Result<Option<Self>, ConversationsError> {
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

    #[test]
    fn fifty_characters_fit_and_fifty_one_do_not() {
        assert!(Title::parse(&"t".repeat(50)).is_ok());
        match Title::parse(&"t".repeat(51)) {
            Err(ConversationsError::Validation(m)) => {
                assert_eq!(m, ["The title length must be shorter than 50"])
            }
            other => panic!("{other:?}"),
        }
        match Title::parse("") {
            Err(ConversationsError::Validation(m)) => assert_eq!(m, ["Title is required"]),
            other => panic!("{other:?}"),
        }
    }
}
