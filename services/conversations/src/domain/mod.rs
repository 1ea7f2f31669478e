//! Request input, parsed once into types that cannot hold an invalid value. Each parser returns a
//! [`Checked`] value, so a handler gathers every broken rule of a request with [`validation::all`]. The
//! sentences are the original backend's where it had one.

mod content;
mod search;
mod title;

pub use content::{MAX_CONTENT_CHARS, MessageContent};
pub use search::{MAX_QUERY_CHARS, SearchQuery};
pub use title::Title;

use jwt::{Claims, Credential, ServiceClaims, UserType};
use tonic::Request;
use uuid::Uuid;
use validation::rules::{self, Raw};
use validation::{Broken, Checked};

use crate::ConversationsError;

/// Who is asking, taken from the call's credential that [`crate::authn`] verified: never from a field
/// of the request, which any caller could fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Uuid,
    pub is_admin: bool,
}

impl Actor {
    /// The user whose own token the call carries. A service token is refused: services act for users
    /// only where [`Self::of_user_or_service`] says so.
    pub fn of<T>(request: &Request<T>) -> Result<Self, ConversationsError> {
        Self::of_credential(request.extensions().get::<Credential>())
    }

    /// As [`Self::of`], from a credential verified elsewhere (an item of a batch carries its own).
    pub fn of_credential(credential: Option<&Credential>) -> Result<Self, ConversationsError> {
        match credential {
            Some(Credential::User(claims)) => Ok(Self::from_claims(claims)),
            _ => Err(ConversationsError::NoActor),
        }
    }

    /// As [`Self::of`], or the user a service token acts for, never with an admin's rights. For what a
    /// service asks about a user after the user's own token may have ended (presence).
    pub fn of_user_or_service<T>(request: &Request<T>) -> Result<Self, ConversationsError> {
        match request.extensions().get::<Credential>() {
            Some(Credential::User(claims)) => Ok(Self::from_claims(claims)),
            Some(Credential::Service(ServiceClaims {
                sub: Some(user_id), ..
            })) => Ok(Self {
                user_id: *user_id,
                is_admin: false,
            }),
            _ => Err(ConversationsError::NoActor),
        }
    }

    fn from_claims(claims: &Claims) -> Self {
        Self {
            user_id: claims.sub,
            is_admin: claims.user_type == UserType::Admin,
        }
    }
}

/// A path or body id; `what` names it in the sentence ("Conversation ID", "Message ID"). An empty one is
/// simply not a UUID: the calling edge has already answered for a missing one.
pub fn parse_id(text: &str, what: &str) -> Checked<Uuid> {
    rules::uuid(Raw::Text(text), what)
}

/// An optional id, where protobuf's empty string means none.
pub fn parse_optional_id(text: Option<&str>, what: &str) -> Checked<Option<Uuid>> {
    rules::optional_uuid(text.map_or(Raw::Absent, Raw::proto), what)
}

/// Client message ids are stored to recognise retries; any client's id scheme fits in this.
pub const MAX_CLIENT_MESSAGE_ID: usize = 128;

/// The client's id for a message, if it sent one (empty means none).
pub fn parse_client_message_id(text: Option<&str>) -> Checked<Option<String>> {
    rules::optional_text(
        text.map_or(Raw::Absent, Raw::proto),
        "Client message ID",
        1,
        MAX_CLIENT_MESSAGE_ID,
    )
}

/// A read-up-to position: a sequence number, 0 meaning nothing read.
pub fn parse_seq(seq: i64) -> Checked<i64> {
    if seq < 0 {
        return Err(Broken::new("Seq must be at least 0"));
    }
    Ok(seq)
}

/// A position in a conversation's event log (`event_seq`), 0 meaning before the first event.
pub fn parse_event_seq(seq: i64) -> Checked<i64> {
    if seq < 0 {
        return Err(Broken::new("After event seq must be at least 0"));
    }
    Ok(seq)
}

/// Why a message is reported: 1 to 500 characters.
pub const MAX_REASON_CHARS: usize = 500;

pub fn parse_reason(text: &str) -> Checked<String> {
    rules::required_text(Raw::Text(text), "Reason", MAX_REASON_CHARS)
}

/// Where a report stands. A report is filed open; a moderator closes it as resolved or dismissed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportStatus {
    Open,
    Resolved,
    Dismissed,
}

impl ReportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Resolved => "resolved",
            Self::Dismissed => "dismissed",
        }
    }

    /// A filter on the list: any status, or none (empty).
    pub fn parse_filter(text: &str) -> Checked<Option<Self>> {
        match text {
            "" => Ok(None),
            "open" => Ok(Some(Self::Open)),
            "resolved" => Ok(Some(Self::Resolved)),
            "dismissed" => Ok(Some(Self::Dismissed)),
            _ => Err(Broken::new(
                "Status must be one of the following values: open, resolved, dismissed",
            )),
        }
    }

    /// How a moderator closes a report.
    pub fn parse_closing(text: &str) -> Checked<Self> {
        match text {
            "resolved" => Ok(Self::Resolved),
            "dismissed" => Ok(Self::Dismissed),
            _ => Err(Broken::new(
                "Status must be one of the following values: resolved, dismissed",
            )),
        }
    }
}

/// Which form a participant list comes from: the original words each form's sentence differently.
#[derive(Debug, Clone, Copy)]
pub enum ParticipantsForm {
    Create,
    Add,
    Remove,
}

/// Parses a list of participant ids, deduplicated, in the order given.
pub fn parse_participants(ids: &[String], form: ParticipantsForm) -> Checked<Vec<Uuid>> {
    let sentence = match form {
        ParticipantsForm::Create => "Each participant ID must be a valid UUID",
        ParticipantsForm::Add => "Each participant ID to add must be a valid UUID",
        ParticipantsForm::Remove => "Each participant ID to remove must be a valid UUID",
    };
    let mut parsed = Vec::with_capacity(ids.len());
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    for id in ids {
        let id: Uuid = id.parse().map_err(|_| Broken::new(sentence))?;
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
        let message = |form| {
            parse_participants(&bad, form)
                .expect_err("not a UUID")
                .sentences()
                .to_vec()
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

    fn user(user_type: UserType) -> Credential {
        Credential::User(Claims {
            sub: Uuid::new_v4(),
            user_name: "Someone".into(),
            user_type,
            email: "someone@example.com".into(),
            iat: 0,
            exp: 0,
            iss: jwt::ISSUER.into(),
            jti: None,
            nbf: None,
        })
    }

    fn service(sub: Option<Uuid>) -> Credential {
        Credential::Service(ServiceClaims {
            service: "realtime".into(),
            sub,
            iat: 0,
            exp: 0,
            iss: jwt::INTERNAL_ISSUER.into(),
        })
    }

    fn call(credential: Option<Credential>) -> Request<()> {
        let mut request = Request::new(());
        if let Some(credential) = credential {
            request.extensions_mut().insert(credential);
        }
        request
    }

    #[test]
    fn the_actor_is_the_verified_user_and_only_the_admin_type_is_admin() {
        assert!(
            Actor::of(&call(Some(user(UserType::Admin))))
                .expect("user")
                .is_admin
        );
        assert!(
            !Actor::of(&call(Some(user(UserType::Company))))
                .expect("user")
                .is_admin
        );
        assert!(Actor::of(&call(None)).is_err());
    }

    #[test]
    fn a_service_acts_for_a_user_only_where_allowed_and_never_as_admin() {
        let someone = Uuid::new_v4();
        assert!(Actor::of(&call(Some(service(Some(someone))))).is_err());
        assert_eq!(
            Actor::of_user_or_service(&call(Some(service(Some(someone))))).expect("acts for"),
            Actor {
                user_id: someone,
                is_admin: false
            }
        );
        assert!(Actor::of_user_or_service(&call(Some(service(None)))).is_err());
        assert!(Actor::of_user_or_service(&call(None)).is_err());
    }

    #[test]
    fn ids_name_their_field_and_empty_optional_ones_are_none() {
        assert_eq!(
            parse_id("", "Message ID").expect_err("empty").sentences(),
            ["Message ID must be a valid UUID"]
        );
        assert_eq!(parse_optional_id(Some(""), "Offer ID"), Ok(None));
        assert_eq!(parse_optional_id(None, "Offer ID"), Ok(None));
        assert_eq!(parse_client_message_id(Some("")), Ok(None));
        assert_eq!(
            parse_client_message_id(Some(&"c".repeat(MAX_CLIENT_MESSAGE_ID + 1)))
                .expect_err("long")
                .sentences(),
            ["Client message ID must be at most 128 characters long"]
        );
        assert_eq!(
            parse_client_message_id(Some("c\u{0}"))
                .expect_err("NUL")
                .sentences(),
            ["Client message ID must not contain null characters"]
        );
    }

    #[test]
    fn page_limits_default_and_cap() {
        assert_eq!(page_limit(0, 20), 20);
        assert_eq!(page_limit(5, 20), 5);
        assert_eq!(page_limit(5000, 20), MAX_PAGE);
    }
}
