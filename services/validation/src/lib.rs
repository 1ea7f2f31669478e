//! Client input checked into values, or into the sentence of every rule it breaks.
//!
//! The original backend answers a bad request with every broken rule at once, one human sentence each
//! (`"Content is required"`, `"Conversation ID must be a valid UUID"`). Every edge of ours does the same
//! in one way:
//!
//! - a rule in [`rules`] (or a service's own newtype parser) turns one field into a [`Checked`] value:
//!   the value, or the sentences of the rules it broke;
//! - [`all`] takes a tuple of checked fields and yields the tuple of values only when every field is
//!   valid, else a [`Violations`] listing every sentence in field order. No placeholder value ever
//!   stands in for a broken field, so nothing unchecked can slip past;
//! - [`Violations`] travels between services as an `INVALID_ARGUMENT` status carrying
//!   `junqo.common.v1.FieldViolations` ([`Violations::into_status`], [`Violations::from_status`]).

pub mod rules;

use junqo_proto::common::v1::FieldViolations;
use prost::Message;
use tonic::{Code, Status};

/// The sentences of the rules one field broke, in the order the original reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken(Vec<String>);

impl Broken {
    pub fn new(sentence: impl Into<String>) -> Self {
        Self(vec![sentence.into()])
    }

    pub fn from_sentences(sentences: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self(sentences.into_iter().map(Into::into).collect())
    }

    pub fn sentences(&self) -> &[String] {
        &self.0
    }
}

/// One field's value, or why it is not acceptable.
pub type Checked<T> = Result<T, Broken>;

/// Every broken rule of a request, in the order the fields were checked. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violations(Vec<String>);

impl Violations {
    /// Violations from sentences; `None` when there are none.
    pub fn from_sentences(sentences: Vec<String>) -> Option<Self> {
        (!sentences.is_empty()).then_some(Self(sentences))
    }

    pub fn one(sentence: impl Into<String>) -> Self {
        Self(vec![sentence.into()])
    }

    pub fn sentences(&self) -> &[String] {
        &self.0
    }

    pub fn into_sentences(self) -> Vec<String> {
        self.0
    }

    /// The original's single-line form, as Socket.IO error events carry it:
    /// `"Validation failed: <sentence>, <sentence>"`.
    pub fn summary(&self) -> String {
        format!("Validation failed: {}", self.0.join(", "))
    }

    /// `INVALID_ARGUMENT` with every sentence in its details; the status message is the first sentence.
    pub fn into_status(self) -> Status {
        let first = self.0.first().cloned().unwrap_or_default();
        let details = FieldViolations { messages: self.0 }.encode_to_vec();
        Status::with_details(Code::InvalidArgument, first, details.into())
    }

    /// The violations an `INVALID_ARGUMENT` status carries, if it carries any.
    pub fn from_status(status: &Status) -> Option<Self> {
        if status.code() != Code::InvalidArgument {
            return None;
        }
        FieldViolations::decode(status.details())
            .ok()
            .and_then(|details| Self::from_sentences(details.messages))
    }
}

impl std::fmt::Display for Violations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary())
    }
}

impl std::error::Error for Violations {}

impl From<Broken> for Violations {
    fn from(broken: Broken) -> Self {
        Self(broken.0)
    }
}

/// So a gRPC handler can answer a broken request with `?`, whatever its own error type.
impl From<Violations> for Status {
    fn from(violations: Violations) -> Self {
        violations.into_status()
    }
}

/// One broken field is a request's violations too.
impl From<Broken> for Status {
    fn from(broken: Broken) -> Self {
        Violations::from(broken).into_status()
    }
}

/// A tuple of checked fields.
pub trait Fields {
    type Values;
    fn all(self) -> Result<Self::Values, Violations>;
}

/// The values of every field when all are valid; else every sentence of every broken field, in field
/// order.
///
/// ```
/// use validation::{all, rules};
/// let (id, text) = all((
///     rules::uuid(Some("9b2e0c1e-7d4b-4f55-9a53-0cb1f3f0a9d1"), "Conversation ID"),
///     rules::required_text(Some("hi"), "Content", 10_000),
/// ))
/// .expect("valid");
/// assert_eq!(text, "hi");
/// # let _ = id;
/// ```
pub fn all<F: Fields>(fields: F) -> Result<F::Values, Violations> {
    fields.all()
}

macro_rules! fields_for_tuple {
    ($($name:ident),+) => {
        impl<$($name),+> Fields for ($(Checked<$name>,)+) {
            type Values = ($($name,)+);

            #[allow(non_snake_case)]
            fn all(self) -> Result<Self::Values, Violations> {
                let ($($name,)+) = self;
                let mut sentences = Vec::new();
                $(
                    if let Err(broken) = &$name {
                        sentences.extend(broken.0.iter().cloned());
                    }
                )+
                match ($($name,)+) {
                    ($(Ok($name),)+) => Ok(($($name,)+)),
                    _ => Err(Violations(sentences)),
                }
            }
        }
    };
}

fields_for_tuple!(A);
fields_for_tuple!(A, B);
fields_for_tuple!(A, B, C);
fields_for_tuple!(A, B, C, D);
fields_for_tuple!(A, B, C, D, E);
fields_for_tuple!(A, B, C, D, E, F);
fields_for_tuple!(A, B, C, D, E, F, G);
fields_for_tuple!(A, B, C, D, E, F, G, H);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_come_only_when_every_field_is_valid() {
        let good: (Checked<u8>, Checked<&str>) = (Ok(1), Ok("a"));
        assert_eq!(all(good), Ok((1, "a")));

        let bad: (Checked<u8>, Checked<&str>, Checked<bool>) = (
            Err(Broken::from_sentences([
                "A is required",
                "A must be a string",
            ])),
            Ok("fine"),
            Err(Broken::new("C must be a boolean")),
        );
        assert_eq!(
            all(bad).expect_err("two fields are broken").sentences(),
            ["A is required", "A must be a string", "C must be a boolean"]
        );
    }

    #[test]
    fn violations_survive_a_grpc_hop() {
        let violations = Violations::from_sentences(vec!["X is required".into(), "Y too".into()])
            .expect("not empty");
        let status = violations.clone().into_status();
        assert_eq!(status.code(), Code::InvalidArgument);
        assert_eq!(status.message(), "X is required");
        assert_eq!(Violations::from_status(&status), Some(violations));
        assert_eq!(Violations::from_status(&Status::not_found("nope")), None);

        let one: Status = Broken::new("Z is required").into();
        assert_eq!(
            Violations::from_status(&one).map(Violations::into_sentences),
            Some(vec!["Z is required".to_owned()])
        );
    }

    #[test]
    fn the_summary_reads_as_the_original_wrote_it() {
        let violations = Violations::from_sentences(vec!["A".into(), "B".into()]).expect("some");
        assert_eq!(violations.summary(), "Validation failed: A, B");
        assert_eq!(Violations::from_sentences(Vec::new()), None);
    }
}
