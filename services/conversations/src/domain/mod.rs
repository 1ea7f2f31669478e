//! Request input, parsed once into types that cannot hold an invalid value. The sentences are the
//! original backend's where it had one.

mod content;
mod title;

pub use content::{MAX_CONTENT_CHARS, MessageContent};
pub use title::Title;

use junqo_proto::conversations::v1 as pb;
use uuid::Uuid;

use crate::ConversationsError;

/// Who is asking, as the calling service verified from the user's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Uuid,
    pub is_admin: bool,
}

impl Actor {
    pub fn parse(actor: Option<&pb::Actor>) -> Result<Self, ConversationsError> {
        let actor = actor.ok_or(ConversationsError::NoActor)?;
        let user_id = actor
            .user_id
            .parse()
            .map_err(|_| ConversationsError::NoActor)?;
        Ok(Self {
            user_id,
            is_admin: actor.user_type == "ADMIN",
        })
    }
}

/// A path or body id; `what` names it in the error ("Conversation ID", "Message ID").
pub fn parse_id(text: &str, what: &'static str) -> Result<Uuid, ConversationsError> {
    text.parse()
        .map_err(|_| ConversationsError::Validation(vec![format!("{what} must be a valid UUID")]))
}

pub fn parse_optional_id(
    text: Option<&str>,
    what: &'static str,
) -> Result<Option<Uuid>, ConversationsError> {
    text.filter(|t| !t.is_empty())
        .map(|t| parse_id(t, what))
        .transpose()
}

/// Which form a participant list comes from: the original words each form's sentence differently.
#[derive(Debug, Clone, Copy)]
pub enum ParticipantsForm {
    Create,
    Add,
    Remove,
}

/// Parses a list of participant ids, deduplicated, in the order given.
pub fn parse_participants(
    ids: &[String],
    form: ParticipantsForm,
) -> Result<Vec<Uuid>, ConversationsError> {
    let message = match form {
        ParticipantsForm::Create => "Each participant ID must be a valid UUID",
        ParticipantsForm::Add => "Each participant ID to add must be a valid UUID",
        ParticipantsForm::Remove => "Each participant ID to remove must be a valid UUID",
    };
    let mut parsed = Vec::with_capacity(ids.len());
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    for id in ids {
        let id: Uuid = id
            .parse()
            .map_err(|_| ConversationsError::Validation(vec![message.to_owned()]))?;
        if seen.insert(id) {
            parsed.push(id);
        }
    }
    Ok(parsed)
}

/// History page sizes: the original's default, and a ceiling so one request cannot ask for everything.
pub const MAX_PAGE: u32 = 100;

pub fn page_limit(requested: u32, default: u32) -> u32 {
    match requested {
        0 => default,
        n => n.min(MAX_PAGE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn participant_lists_are_deduplicated_and_each_form_names_its_rule() {
        let a = Uuid::new_v4();
        let ids = vec![a.to_string(), a.to_string()];
        assert_eq!(
            parse_participants(&ids, ParticipantsForm::Create).expect("valid"),
            [a]
        );

        let bad = vec!["not-a-uuid".to_owned()];
        let message = |form| match parse_participants(&bad, form) {
            Err(ConversationsError::Validation(m)) => m,
            other => panic!("expected a validation error, got {other:?}"),
        };
        assert_eq!(
            message(ParticipantsForm::Create),
            ["Each participant ID must be a valid UUID"]
        );
        assert_eq!(
            message(ParticipantsForm::Add),
            ["Each participant ID to add must be a valid UUID"]
        );
        assert_eq!(
            message(ParticipantsForm::Remove),
            ["Each participant ID to remove must be a valid UUID"]
        );
    }

    #[test]
    fn only_the_admin_type_is_admin() {
        let id = Uuid::new_v4().to_string();
        let actor = |user_type: &str| {
            Actor::parse(Some(&pb::Actor {
                user_id: id.clone(),
                user_type: user_type.into(),
            }))
            .expect("valid actor")
        };
        assert!(actor("ADMIN").is_admin);
        assert!(!actor("COMPANY").is_admin);
        assert!(Actor::parse(None).is_err());
    }

    #[test]
    fn page_limits_default_and_cap() {
        assert_eq!(page_limit(0, 20), 20);
        assert_eq!(page_limit(5, 20), 5);
        assert_eq!(page_limit(5000, 20), MAX_PAGE);
    }
}
