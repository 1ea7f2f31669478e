//! User input, parsed once at the edge into types that cannot hold an invalid value.
//!
//! The rules and their sentences are the original backend's, so clients show the same messages. When a
//! field breaks several rules every sentence is reported; a missing field breaks all of its rules. Within
//! one field the sentences come in the original's order (the last-declared rule first).

mod email;
mod password;
mod user_name;
mod user_type;

pub use email::Email;
pub use password::Password;
pub use user_name::UserName;
pub use user_type::{parse_sign_up_type, parse_update_type};

use junqo_proto::auth::v1::{SignInRequest, SignUpRequest, UpdateUserRequest};
use jwt::UserType;

use crate::AuthError;

/// Gathers the sentences of every broken rule across a request's fields.
#[derive(Debug, Default)]
pub(crate) struct Violations(Vec<String>);

impl Violations {
    /// Keeps the parsed value, or records why it could not be parsed.
    fn check<T>(&mut self, parsed: Result<T, Vec<&'static str>>) -> Option<T> {
        parsed
            .map_err(|messages| self.0.extend(messages.into_iter().map(str::to_owned)))
            .ok()
    }

    fn check_optional<T>(&mut self, parsed: Option<Result<T, Vec<&'static str>>>) -> Option<T> {
        parsed.and_then(|p| self.check(p))
    }

    fn into_result(self) -> Result<(), AuthError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(AuthError::Validation(self.0))
        }
    }
}

/// A format rule beyond length (the email address shape): its sentence and its check.
pub(crate) type FormatRule = (&'static str, fn(&str) -> bool);

/// The sentences of one text field's rules, as the original declares them.
pub(crate) struct TextRules {
    pub required: &'static str,
    pub not_string: &'static str,
    pub min: (usize, &'static str),
    pub max: (usize, &'static str),
}

impl TextRules {
    /// Checks length and presence; `extra` is a rule declared between "required" and the length rules
    /// (the email format), reported in its declared place.
    pub(crate) fn check(
        &self,
        value: Option<&str>,
        extra: Option<FormatRule>,
    ) -> Result<(), Vec<&'static str>> {
        let Some(value) = value else {
            let mut all = vec![self.max.1, self.min.1];
            all.extend(extra.map(|(message, _)| message));
            if extra.is_none() {
                all.push(self.not_string);
            }
            all.push(self.required);
            return Err(all);
        };
        let length = value.chars().count();
        let mut broken = Vec::new();
        if length > self.max.0 {
            broken.push(self.max.1);
        }
        if length < self.min.0 {
            broken.push(self.min.1);
        }
        if let Some((message, valid)) = extra
            && !valid(value)
        {
            broken.push(message);
        }
        if value.is_empty() {
            broken.push(self.required);
        }
        if broken.is_empty() {
            Ok(())
        } else {
            Err(broken)
        }
    }
}

/// A valid sign-up.
#[derive(Debug)]
pub struct NewUser {
    pub name: UserName,
    pub email: Email,
    pub user_type: UserType,
    pub password: Password,
}

impl NewUser {
    pub fn parse(request: SignUpRequest) -> Result<Self, AuthError> {
        let mut violations = Violations::default();
        let name = violations.check(UserName::parse(request.name.as_deref()));
        let email = violations.check(Email::parse(request.email.as_deref()));
        let user_type = violations.check(parse_sign_up_type(request.r#type.as_deref()));
        let password = violations.check(Password::parse(request.password));
        violations.into_result()?;
        match (name, email, user_type, password) {
            (Some(_), Some(_), Some(UserType::Admin), Some(_)) => {
                Err(AuthError::Forbidden("You cannot create an admin user"))
            }
            (Some(name), Some(email), Some(user_type), Some(password)) => Ok(Self {
                name,
                email,
                user_type,
                password,
            }),
            _ => Err(AuthError::Internal(
                "validation passed without values".into(),
            )),
        }
    }
}

/// A sign-in attempt. Only presence and shape are checked: a wrong password must look like any other.
#[derive(Debug)]
pub struct Credentials {
    pub email: Email,
    pub password: Password,
}

impl Credentials {
    pub fn parse(request: SignInRequest) -> Result<Self, AuthError> {
        let mut violations = Violations::default();
        let email = violations.check(Email::parse(request.email.as_deref()));
        let password = violations.check(Password::parse(request.password));
        violations.into_result()?;
        match (email, password) {
            (Some(email), Some(password)) => Ok(Self { email, password }),
            _ => Err(AuthError::Internal(
                "validation passed without values".into(),
            )),
        }
    }
}

/// A profile update: each field is optional, and validated only when present.
#[derive(Debug, Default)]
pub struct UserChanges {
    pub name: Option<UserName>,
    pub email: Option<Email>,
    pub user_type: Option<UserType>,
    pub password: Option<Password>,
}

impl UserChanges {
    pub fn parse(request: UpdateUserRequest) -> Result<Self, AuthError> {
        let mut violations = Violations::default();
        let name =
            violations.check_optional(request.name.as_deref().map(|n| UserName::parse(Some(n))));
        let email =
            violations.check_optional(request.email.as_deref().map(|e| Email::parse(Some(e))));
        let user_type = violations.check_optional(
            request
                .r#type
                .as_deref()
                .map(|t| parse_update_type(Some(t))),
        );
        let password =
            violations.check_optional(request.password.map(|p| Password::parse(Some(p))));
        violations.into_result()?;
        if user_type == Some(UserType::Admin) {
            return Err(AuthError::Forbidden("You cannot update user type to admin"));
        }
        Ok(Self {
            name,
            email,
            user_type,
            password,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.email.is_none()
            && self.user_type.is_none()
            && self.password.is_none()
    }
}

#[cfg(test)]
mod tests;
