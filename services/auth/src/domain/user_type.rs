use jwt::UserType;
use validation::{Broken, Checked};

/// The sign-up and update forms of the original word the enum rule differently.
const SIGN_UP_ENUM: &str = "User type must be a valid UserType enum value";
const UPDATE_ENUM: &str = "User type must be a valid enum value";
const REQUIRED: &str = "User type is required";

pub fn parse_sign_up_type(value: Option<&str>) -> Checked<UserType> {
    parse(value, SIGN_UP_ENUM)
}

pub fn parse_update_type(value: Option<&str>) -> Checked<UserType> {
    parse(value, UPDATE_ENUM)
}

fn parse(value: Option<&str>, enum_message: &'static str) -> Checked<UserType> {
    match value {
        None | Some("") => Err(Broken::from_sentences([enum_message, REQUIRED])),
        Some(text) => text.parse().map_err(|_| Broken::new(enum_message)),
    }
}
