use secrecy::SecretString;
use validation::Checked;

use super::TextRules;

/// 72 is where the original's bcrypt silently truncated; kept so existing passwords stay valid.
const RULES: TextRules = TextRules {
    label: "Password",
    required: "Password is required",
    not_string: "Password must be a string",
    min: (8, "Password must be at least 8 characters long"),
    max: (72, "Password must be at most 72 characters long"),
    stored: false,
};

/// A plaintext password of 8 to 72 characters, held so it cannot be printed by accident.
#[derive(Debug)]
pub struct Password(SecretString);

impl Password {
    pub fn parse(value: Option<String>) -> Checked<Self> {
        RULES.check(value.as_deref(), None)?;
        // Moved rather than copied, so no second plaintext copy lingers; `check` refused a missing one.
        Ok(Self(SecretString::from(value.unwrap_or_default())))
    }

    pub fn into_secret(self) -> SecretString {
        self.0
    }
}
