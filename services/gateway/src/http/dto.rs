//! The JSON shapes of the public API, with the original backend's field names. Request bodies are
//! documented here too: their schema is also the list of properties a request may carry.

use junqo_proto::auth::v1 as auth;
use junqo_proto::conversations::v1 as conv;
use serde::Serialize;
use utoipa::ToSchema;
pub use wire::{MessageDto, iso};

#[derive(Debug, Serialize, ToSchema)]
pub struct UserDto {
    pub id: String,
    pub name: String,
    pub email: String,
    /// STUDENT, SCHOOL, COMPANY or ADMIN.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub user_type: &'static str,
}

impl From<auth::User> for UserDto {
    fn from(user: auth::User) -> Self {
        let user_type = match user.r#type() {
            auth::UserType::Student | auth::UserType::Unspecified => "STUDENT",
            auth::UserType::School => "SCHOOL",
            auth::UserType::Company => "COMPANY",
            auth::UserType::Admin => "ADMIN",
        };
        Self {
            id: user.id,
            name: user.name,
            email: user.email,
            user_type,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthPayload {
    pub token: String,
    pub user: UserDto,
}

impl From<auth::AuthResponse> for AuthPayload {
    fn from(response: auth::AuthResponse) -> Self {
        Self {
            token: response.token,
            user: response.user.unwrap_or_default().into(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationDto {
    pub id: String,
    /// Every participant, the caller included.
    pub participants_ids: Vec<String>,
    pub last_message: Option<MessageDto>,
    /// The caller's own title for the conversation, else the one given at creation.
    pub title: Option<String>,
    pub offer_id: Option<String>,
    pub application_id: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The caller's read-up-to: every message with `seq` up to it is read (0 when nothing is).
    pub last_read_seq: i64,
    /// Messages from others after `lastReadSeq` (deleted ones are not counted).
    pub unread_count: i64,
}

impl From<conv::Conversation> for ConversationDto {
    fn from(conversation: conv::Conversation) -> Self {
        Self {
            created_at: iso(conversation.created_at.as_ref()),
            updated_at: iso(conversation.updated_at.as_ref()),
            id: conversation.id,
            participants_ids: conversation.participant_ids,
            last_message: conversation.last_message.map(Into::into),
            title: conversation.title,
            offer_id: conversation.offer_id,
            application_id: conversation.application_id,
            last_read_seq: conversation.last_read_seq,
            unread_count: conversation.unread_count,
        }
    }
}

/// One block: `userId` blocked `blockedUserId`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlockDto {
    pub user_id: String,
    pub blocked_user_id: String,
    pub created_at: String,
}

impl From<conv::Block> for BlockDto {
    fn from(block: conv::Block) -> Self {
        Self {
            created_at: iso(block.created_at.as_ref()),
            user_id: block.user_id,
            blocked_user_id: block.blocked_user_id,
        }
    }
}

/// A report of a message. Moderators (admins) also see the message as it was when reported.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportDto {
    pub id: String,
    pub message_id: String,
    pub reporter_id: String,
    pub reason: String,
    /// open, resolved or dismissed.
    pub status: String,
    pub created_at: String,
    /// Moderators only: the message's content when it was reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_content: Option<String>,
    /// Moderators only: who sent the message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_sender_id: Option<String>,
}

impl ReportDto {
    /// As the reporter sees it.
    pub fn filed(report: conv::Report) -> Self {
        Self {
            created_at: iso(report.created_at.as_ref()),
            id: report.id,
            message_id: report.message_id,
            reporter_id: report.reporter_id,
            reason: report.reason,
            status: report.status,
            message_content: None,
            message_sender_id: None,
        }
    }

    /// As a moderator sees it, with the message as reported.
    pub fn moderated(mut report: conv::Report) -> Self {
        let content = std::mem::take(&mut report.message_content);
        let sender = std::mem::take(&mut report.message_sender_id);
        Self {
            message_content: Some(content),
            message_sender_id: Some(sender),
            ..Self::filed(report)
        }
    }
}

/// The caller's read state in a conversation, after marking it read.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReadStateDto {
    pub conversation_id: String,
    pub user_id: String,
    pub last_read_seq: i64,
    pub unread_count: i64,
}

impl From<conv::ConversationReadState> for ReadStateDto {
    fn from(state: conv::ConversationReadState) -> Self {
        Self {
            conversation_id: state.conversation_id,
            user_id: state.user_id,
            last_read_seq: state.last_read_seq,
            unread_count: state.unread_count,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConversationTitleDto {
    pub user_id: String,
    pub conversation_id: String,
    pub title: String,
}

impl From<conv::ConversationTitle> for ConversationTitleDto {
    fn from(title: conv::ConversationTitle) -> Self {
        Self {
            user_id: title.user_id,
            conversation_id: title.conversation_id,
            title: title.title,
        }
    }
}

/// A page of results and how many there are.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rows<T: ToSchema> {
    pub rows: Vec<T>,
    pub count: u64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IsLoggedIn {
    pub is_logged_in: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletedAccount {
    pub is_successful: bool,
}

/// `{"isSuccessful": true}`: the answer of the logout routes.
pub type LoggedOut = DeletedAccount;

/// The profile as changed, with a fresh token: after an email or password change it is the user's only
/// valid token.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpdatedMe {
    pub id: String,
    pub name: String,
    pub email: String,
    /// STUDENT, SCHOOL, COMPANY or ADMIN.
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub user_type: &'static str,
    pub token: String,
}

impl From<auth::AuthResponse> for UpdatedMe {
    fn from(response: auth::AuthResponse) -> Self {
        let user = UserDto::from(response.user.unwrap_or_default());
        Self {
            id: user.id,
            name: user.name,
            email: user.email,
            user_type: user.user_type,
            token: response.token,
        }
    }
}

/// Every error: `message` is a sentence, or for validation failures one sentence per broken rule.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct ErrorDto {
    #[schema(value_type = Object, example = json!(["Name must be at least 3 characters long"]))]
    pub message: serde_json::Value,
    /// The HTTP reason phrase.
    pub error: String,
    pub status_code: u16,
}

// Request bodies. Their properties are the only ones a request may carry.

#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct RegisterBody {
    /// 3 to 255 characters.
    pub name: String,
    /// A valid address of 5 to 255 characters; unique regardless of case.
    pub email: String,
    /// STUDENT, SCHOOL or COMPANY.
    #[schema(rename = "type")]
    pub user_type: String,
    /// 8 to 72 characters.
    pub password: String,
}

#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
}

#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct UpdateMeBody {
    pub name: Option<String>,
    pub email: Option<String>,
    pub password: Option<String>,
    /// Any type but ADMIN.
    #[schema(rename = "type")]
    pub user_type: Option<String>,
    /// Required when `email` or `password` changes.
    #[schema(rename = "currentPassword")]
    pub current_password: Option<String>,
}

#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct CreateConversationBody {
    /// The other participants; the caller is always added.
    #[schema(rename = "participantsIds")]
    pub participants_ids: Vec<uuid::Uuid>,
    /// At most 50 characters.
    pub title: Option<String>,
    #[schema(rename = "offerId")]
    pub offer_id: Option<uuid::Uuid>,
    #[schema(rename = "applicationId")]
    pub application_id: Option<uuid::Uuid>,
}

#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ParticipantsBody {
    #[schema(rename = "participantsIds")]
    pub participants_ids: Vec<uuid::Uuid>,
}

#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct TitleBody {
    /// 1 to 50 characters.
    pub title: String,
}

#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ContentBody {
    /// 1 to 10,000 characters.
    pub content: String,
    /// Optional: a retry with the same id returns the first message instead of storing a second.
    #[schema(rename = "clientMessageId")]
    pub client_message_id: Option<String>,
}

#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ReadBody {
    /// Everything up to this sequence number is read: an integer from 0 to the newest message's `seq`.
    pub seq: i64,
}

#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ReportBody {
    /// Why the message is reported: 1 to 500 characters.
    pub reason: String,
}

#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct ReportStatusBody {
    /// resolved or dismissed.
    pub status: String,
}

#[derive(Debug, ToSchema)]
#[allow(dead_code)]
pub struct EditBody {
    /// 1 to 10,000 characters.
    pub content: String,
}
