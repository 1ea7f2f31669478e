//! The JSON shapes of responses, with the original backend's field names.

use junqo_proto::auth::v1 as pb;
use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct UserDto {
    pub id: String,
    pub name: String,
    pub email: String,
    #[serde(rename = "type")]
    pub user_type: &'static str,
}

impl From<pb::User> for UserDto {
    fn from(user: pb::User) -> Self {
        let user_type = match user.r#type() {
            pb::UserType::Student => "STUDENT",
            pb::UserType::School => "SCHOOL",
            pb::UserType::Company => "COMPANY",
            pb::UserType::Admin => "ADMIN",
            pb::UserType::Unspecified => "STUDENT",
        };
        Self {
            id: user.id,
            name: user.name,
            email: user.email,
            user_type,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct AuthPayload {
    pub token: String,
    pub user: UserDto,
}

impl From<pb::AuthResponse> for AuthPayload {
    fn from(response: pb::AuthResponse) -> Self {
        Self {
            token: response.token,
            user: response.user.unwrap_or_default().into(),
        }
    }
}
