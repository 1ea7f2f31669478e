//! Users and conversations for a run, created through the real APIs.

use junqo_proto::auth::v1::SignUpRequest;
use junqo_proto::auth::v1::auth_service_client::AuthServiceClient;
use junqo_proto::conversations::v1::CreateConversationRequest;
use junqo_proto::conversations::v1::conversations_service_client::ConversationsServiceClient;
use tonic::transport::Channel;

use crate::BenchError;

pub struct BenchUser {
    pub user_id: String,
    /// Sent with every call made as this user: services take the acting user from it.
    pub token: String,
}

impl BenchUser {
    /// A gRPC request made as this user.
    pub fn call<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        if let Ok(value) = format!("Bearer {}", self.token).parse() {
            request.metadata_mut().insert("authorization", value);
        }
        request
    }
}

pub async fn channel(url: &str, what: &'static str) -> Result<Channel, BenchError> {
    Channel::from_shared(url.to_owned())
        .map_err(|_| BenchError::Call {
            what,
            status: tonic::Status::invalid_argument("bad url"),
        })?
        .connect()
        .await
        .map_err(|source| BenchError::Connect { what, source })
}

/// Signs up `count` users, a few at a time (password hashing is deliberately slow).
pub async fn users(auth: &Channel, run: &str, count: usize) -> Result<Vec<BenchUser>, BenchError> {
    let mut users = Vec::with_capacity(count);
    for chunk in (0..count).collect::<Vec<_>>().chunks(8) {
        let signups = chunk.iter().map(|i| {
            let mut client = AuthServiceClient::new(auth.clone());
            let request = SignUpRequest {
                name: Some(format!("Bench user {i}")),
                email: Some(format!("bench-{run}-{i}@example.com")),
                r#type: Some("STUDENT".into()),
                password: Some("bench-password".into()),
            };
            async move { client.sign_up(request).await }
        });
        for response in futures::future::join_all(signups).await {
            let response = response
                .map_err(|status| BenchError::Call {
                    what: "sign-up",
                    status,
                })?
                .into_inner();
            let user = response.user.unwrap_or_default();
            users.push(BenchUser {
                user_id: user.id,
                token: response.token,
            });
        }
    }
    Ok(users)
}

/// Users saved by an earlier run in `file` (one `id token` per line) when it holds enough of them,
/// else `count` new users, saved there for the next run. Sign-ups hash passwords on purpose slowly, and
/// the same users in fresh conversations measure the same path.
pub async fn reused_users(
    auth: &Channel,
    run: &str,
    count: usize,
    file: Option<&std::path::Path>,
) -> Result<Vec<BenchUser>, BenchError> {
    let Some(file) = file else {
        return users(auth, run, count).await;
    };
    let saved: Vec<BenchUser> = std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| {
            let (id, token) = line.split_once(' ')?;
            Some(BenchUser {
                user_id: id.to_owned(),
                token: token.to_owned(),
            })
        })
        .collect();
    if saved.len() >= count {
        return Ok(saved.into_iter().take(count).collect());
    }
    let fresh = users(auth, run, count).await?;
    let lines: String = fresh
        .iter()
        .map(|u| format!("{} {}\n", u.user_id, u.token))
        .collect();
    if let Err(error) = std::fs::write(file, lines) {
        eprintln!("bench: cannot save users to {}: {error}", file.display());
    }
    Ok(fresh)
}

/// Pairs users up into two-member conversations; returns their ids.
pub async fn pairs(
    conversations: &Channel,
    users: &[BenchUser],
) -> Result<Vec<String>, BenchError> {
    groups(conversations, users, 2).await
}

/// Splits users into conversations of `members` each, created by the first of each group; returns
/// their ids.
pub async fn groups(
    conversations: &Channel,
    users: &[BenchUser],
    members: usize,
) -> Result<Vec<String>, BenchError> {
    let mut ids = Vec::new();
    for group in users.chunks_exact(members) {
        let request = group[0].call(CreateConversationRequest {
            participant_ids: group[1..].iter().map(|u| u.user_id.clone()).collect(),
            ..Default::default()
        });
        let created = ConversationsServiceClient::new(conversations.clone())
            .create_conversation(request)
            .await
            .map_err(|status| BenchError::Call {
                what: "create conversation",
                status,
            })?;
        ids.push(created.into_inner().id);
    }
    Ok(ids)
}
