use super::TextRules;

const RULES: TextRules = TextRules {
    required: "Name is required",
    not_string: "Name must be a string",
    min: (3, "Name must be at least 3 characters long"),
    max: (255, "Name must be at most 255 characters long"),
};

/// A display name of 3 to 255 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserName(String);

impl UserName {
    pub fn parse(value: Option<&str>) -> Result<Self, Vec<&'static str>> {
        RULES.check(value, None)?;
        Ok(Self(value.unwrap_or_default().to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
