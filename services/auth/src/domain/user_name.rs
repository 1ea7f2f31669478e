use validation::Checked;

use super::TextRules;

const RULES: TextRules = TextRules {
    label: "Name",
    required: "Name is required",
    not_string: "Name must be a string",
    min: (3, "Name must be at least 3 characters long"),
    max: (255, "Name must be at most 255 characters long"),
    stored: true,
};

/// A display name of 3 to 255 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub fn parse(value: Option<&str>) -> Checked<Self> {
        RULES.check(value, None).map(|name| Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
