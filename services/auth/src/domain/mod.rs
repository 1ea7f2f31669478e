//! User input, parsed once at the edge into types that cannot hold an invalid value.
//!
//! The rules and their sentences are the original backend's, so clients show the same messages. Each
//! field's parser returns a [`Checked`] value and [`validation::all`] gathers them, so when a field
//! breaks several rules every sentence is reported, and a missing field breaks all of its rules. Within
//! one field the sentences come in the original's order (the last-declared rule first); the rule against
//! NUL characters, which the original lacked, comes last.

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
use validation::{Broken, Checked, rules};

use crate::AuthError;

/// A format rule beyond length (the email address shape): its sentence and its check.
pub(crate) type FormatRule = (&'static str, fn(&str) -> bool);

/// The sentences of one text field's rules, as the original declares them.
pub(crate) struct TextRules {
    /// The field as our own sentences name it ("Name").
    pub label: &'static str,
    pub required: &'static str,
    pub not_string: &'static str,
    pub min: (usize, &'static str),
    pub max: (usize, &'static str),
    /// Whether the text is stored as such: Postgres refuses NUL in text, so stored text must not hold
    /// one. A password is only ever hashed, so any character is fine in it.
    pub stored: bool,
}

impl TextRules {
    /// The text if it keeps every rule. `format` is a rule declared between "required" and the length
    /// rules (the email shape), reported in its declared place.
    pub(crate) fn check<'a>(
        &self,
        value: Option<&'a str>,
        format: Option<FormatRule>,
    ) -> Checked<&'a str> {
        let Some(value) = value else {
            let mut all = vec![self.max.1, self.min.1];
            all.extend(format.map(|(sentence, _)| sentence));
            if format.is_none() {
                all.push(self.not_string);
            }
            all.push(self.required);
            return Err(Broken::from_sentences(all));
        };
        let length = value.chars().count();
        let mut broken: Vec<String> = Vec::new();
        if length > self.max.0 {
            broken.push(self.max.1.into());
        }
        if length < self.min.0 {
            broken.push(self.min.1.into());
        }
        if let Some((sentence, valid)) = format
            && !valid(value)
        {
            broken.push(sentence.into());
        }
        if value.is_empty() {
            broken.push(self.required.into());
        }
        if self.stored
            && let Err(nul) = rules::no_nul(value, self.label)
        {
            broken.extend(nul.sentences().iter().cloned());
        }
        if broken.is_empty() {
            Ok(value)
        } else {
            Err(Broken::from_sentences(broken))
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
        let (name, email, user_type, password) = validation::all((
            UserName::parse(request.name.as_deref()),
            Email::parse(request.email.as_deref()),
            parse_sign_up_type(request.r#type.as_deref()),
            Password::parse(request.password),
        ))?;
        if user_type == UserType::Admin {
            return Err(AuthError::Forbidden("You cannot create an admin user"));
        }
        Ok(Self {
            name,
            email,
            user_type,
            password,
        })
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
        let (email, password) = validation::all((
            Email::parse(request.email.as_deref()),
            Password::parse(request.password),
        ))?;
        Ok(Self { email, password })
    }
}

/// Why `currentPassword` is needed, in the original's style of sentence, naming the body field.
pub const CURRENT_PASSWORD_REQUIRED: &str =
    "currentPassword is required to change the email or password";

/// A profile update: each field is optional, and validated only when present. Changing a credential
/// (email or password) also needs the current password, checked against the stored hash by the caller.
#[derive(Debug)]
pub struct UserChanges {
    pub name: Option<UserName>,
    pub email: Option<Email>,
    pub user_type: Option<UserType>,
    pub password: Option<Password>,
    /// Present whenever `email` or `password` is; never validated beyond that, as any stored password
    /// must be typeable here.
    pub current_password: Option<secrecy::SecretString>,
}

impl UserChanges {
    pub fn parse(request: UpdateUserRequest) -> Result<Self, AuthError> {
        let changes_credentials = request.email.is_some() || request.password.is_some();
        let current_password = match request.current_password {
            Some(current) if !current.is_empty() => Ok(Some(secrecy::SecretString::from(current))),
            _ if changes_credentials => Err(Broken::new(CURRENT_PASSWORD_REQUIRED)),
            _ => Ok(None),
        };
        let (name, email, user_type, password, current_password) = validation::all((
            request
                .name
                .as_deref()
                .map(|name| UserName::parse(Some(name)))
                .transpose(),
            request
                .email
                .as_deref()
                .map(|email| Email::parse(Some(email)))
                .transpose(),
            request
                .r#type
                .as_deref()
                .map(|user_type| parse_update_type(Some(user_type)))
                .transpose(),
            request
                .password
                .map(|password| Password::parse(Some(password)))
                .transpose(),
            current_password,
        ))?;
        if user_type == Some(UserType::Admin) {
            return Err(AuthError::Forbidden("You cannot update user type to admin"));
        }
        Ok(Self {
            name,
            email,
            user_type,
            password,
            current_password,
        })
    }

    /// Whether the update changes what signs the user in, which needs the current password and revokes
    /// the user's other tokens.
    pub fn changes_credentials(&self) -> bool {
        self.email.is_some() || self.password.is_some()
    }
}

#[cfg(test)]
mod tests;
