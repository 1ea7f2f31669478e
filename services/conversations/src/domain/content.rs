use crate::ConversationsError;

/// Long enough for any chat message or pasted cover letter, short enough that one message cannot bloat
/// every history page and event that carries it.
pub const MAX_CONTENT_CHARS: usize = 10_000;

/// The text of a message: not blank, at most [`MAX_CONTENT_CHARS`] characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageContent(String);

impl MessageContent {
    pub fn parse(text: String) -> Result<Self, ConversationsError> {
        if text.trim().is_empty() {
            return Err(ConversationsError::Validation(vec![
                "Content is required".into(),
            ]));
        }
        if text.chars().count() > MAX_CONTENT_CHARS {
            return Err(ConversationsError::Validation(vec![format!(
                "Content must be at most {MAX_CONTENT_CHARS} characters long"
            )]));
        }
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_and_oversized_content_is_refused() {
        assert!(MessageContent::parse("hello".into()).is_ok());
        for bad in [
            String::new(),
            "  \n".into(),
            "x".repeat(MAX_CONTENT_CHARS + 1),
        ] {
            assert!(matches!(
                MessageContent::parse(bad),
                Err(ConversationsError::Validation(_))
            ));
        }
        assert!(MessageContent::parse("é".repeat(MAX_CONTENT_CHARS)).is_ok());
    }
}
