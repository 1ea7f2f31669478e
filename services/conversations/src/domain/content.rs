use validation::Checked;
use validation::rules::{self, Raw};

/// Long enough for any chat message or pasted cover letter, short enough that one message cannot bloat
/// every history page and event that carries it.
pub const MAX_CONTENT_CHARS: usize = 10_000;

/// The text of a message: not blank, at most [`MAX_CONTENT_CHARS`] characters, no NUL (which Postgres
/// refuses in text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageContent(String);

impl MessageContent {
    /// An empty string is content left blank: protobuf cannot tell it from a missing field, and the
    /// calling edge has already answered for a missing one.
    pub fn parse(text: &str) -> Checked<Self> {
        rules::required_text(Raw::Text(text), "Content", MAX_CONTENT_CHARS).map(Self)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentences(text: &str) -> Vec<String> {
        MessageContent::parse(text)
            .expect_err("refused")
            .sentences()
            .to_vec()
    }

    #[test]
    fn blank_oversized_and_nul_content_is_refused() {
        assert!(MessageContent::parse("hello").is_ok());
        assert_eq!(sentences(""), ["Content is required"]);
        assert_eq!(sentences("  \n"), ["Content is required"]);
        assert_eq!(
            sentences(&"x".repeat(MAX_CONTENT_CHARS + 1)),
            ["Content must be at most 10000 characters long"]
        );
        assert_eq!(
            sentences("a\u{0}b"),
            ["Content must not contain null characters"]
        );
        assert!(MessageContent::parse(&"é".repeat(MAX_CONTENT_CHARS)).is_ok());
    }
}
