use junqo_proto::auth::v1::SignUpRequest;
use junqo_proto::auth::v1::auth_service_client::AuthServiceClient;
use junqo_proto::conversations::v1::conversations_service_client::ConversationsServiceClient;
use junqo_proto::conversations::v1::messages_service_client::MessagesServiceClient;
use junqo_proto::conversations::v1::{
    Conversation, CreateConversationRequest, CreateMessageRequest, ListMessagesRequest, Message,
};
use platform::Env;
use secrecy::SecretString;
use testkit::{Services, TestBroker, TestDatabase};
use tonic::transport::Channel;

pub const SECRET: &str = "conversations-test-secret";

/// A user as the tests drive them: their id, and the token every call made as them carries (the
/// service takes the acting user from it).
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: String,
    pub token: String,
}

impl Actor {
    /// A gRPC request made as this user.
    pub fn call<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        platform::grpc::authorize(&mut request, &self.token);
        request
    }
}

pub struct TestService {
    pub conversations: ConversationsServiceClient<Channel>,
    pub messages: MessagesServiceClient<Channel>,
    /// The connection to conversations, for calls the generated clients cannot make.
    pub channel: Channel,
    auth: AuthServiceClient<Channel>,
    pub db: TestDatabase,
    pub broker: TestBroker,
    _services: Services,
}

pub async fn spawn() -> TestService {
    spawn_with(|_| {}).await
}

/// Starts auth and conversations after `customise` has adjusted the environment.
pub async fn spawn_with(customise: impl FnOnce(&mut Env)) -> TestService {
    let db = TestDatabase::create().await;
    let broker = TestBroker::new();
    let mut services = Services::new(&db, &broker, SECRET);
    services
        .env
        .set("OUTBOX_RELAY_INTERVAL_MS", "200")
        .set("OUTBOX_RELAY_GRACE_MS", "300");
    let auth = services.start::<auth::Application>().await;
    customise(&mut services.env);
    let conversations = services.start::<conversations::Application>().await;

    let channel = Channel::from_shared(conversations.url)
        .expect("valid url")
        .connect()
        .await
        .expect("conversations answers");
    TestService {
        conversations: ConversationsServiceClient::new(channel.clone()),
        messages: MessagesServiceClient::new(channel.clone()),
        channel,
        auth: AuthServiceClient::connect(auth.url)
            .await
            .expect("auth answers"),
        db,
        broker,
        _services: services,
    }
}

impl TestService {
    /// Signs up a user (a student) and returns them as an actor.
    pub async fn user(&self, name: &str) -> Actor {
        self.user_with_token(name).await.0
    }

    /// Deletes the user's account through auth, as `DELETE /users/me` does.
    pub async fn delete_account(&self, token: &str) {
        let mut request = tonic::Request::new(junqo_proto::auth::v1::DeleteUserRequest {});
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("ASCII"),
        );
        self.auth
            .clone()
            .delete_user(request)
            .await
            .expect("account deleted");
    }

    /// Signs up a user (a student); returns them as an actor, with their token.
    pub async fn user_with_token(&self, name: &str) -> (Actor, String) {
        let response = self
            .auth
            .clone()
            .sign_up(SignUpRequest {
                name: Some(name.into()),
                email: Some(format!(
                    "{}-{}@example.com",
                    name.to_lowercase(),
                    uuid::Uuid::new_v4().simple()
                )),
                r#type: Some("STUDENT".into()),
                password: Some("password123".into()),
            })
            .await
            .expect("sign-up succeeds")
            .into_inner();
        let token = response.token;
        let actor = Actor {
            user_id: response.user.expect("user").id,
            token: token.clone(),
        };
        (actor, token)
    }

    pub async fn conversation(&self, creator: &Actor, others: &[&Actor]) -> Conversation {
        self.conversations
            .clone()
            .create_conversation(creator.call(CreateConversationRequest {
                participant_ids: others.iter().map(|a| a.user_id.clone()).collect(),
                ..Default::default()
            }))
            .await
            .expect("conversation created")
            .into_inner()
    }

    pub async fn send(
        &self,
        sender: &Actor,
        conversation: &Conversation,
        content: &str,
    ) -> Message {
        self.messages
            .clone()
            .create_message(sender.call(CreateMessageRequest {
                conversation_id: conversation.id.clone(),
                content: content.into(),
                client_message_id: None,
            }))
            .await
            .expect("message sent")
            .into_inner()
    }

    /// Every stored message of the conversation, in `seq` order (paged through).
    pub async fn history(&self, reader: &Actor, conversation: &Conversation) -> Vec<Message> {
        let mut all: Vec<Message> = Vec::new();
        loop {
            let page = self
                .messages
                .clone()
                .list_messages(reader.call(ListMessagesRequest {
                    conversation_id: conversation.id.clone(),
                    limit: 100,
                    before: None,
                    after_seq: Some(all.last().map_or(0, |m| m.seq)),
                }))
                .await
                .expect("history")
                .into_inner();
            if page.messages.is_empty() {
                return all;
            }
            all.extend(page.messages);
        }
    }
}

/// An admin (nobody can sign up as one): a token signed with the deployment's secret.
pub fn admin() -> Actor {
    let id = uuid::Uuid::new_v4();
    let token = jwt::TokenSigner::new(&SecretString::from(SECRET), jwt::DEFAULT_TTL)
        .sign(&jwt::Subject {
            id,
            name: "Admin",
            user_type: jwt::UserType::Admin,
            email: "admin@example.com",
        })
        .expect("signs");
    Actor {
        user_id: id.to_string(),
        token,
    }
}

pub fn violations(status: &tonic::Status) -> Vec<String> {
    use prost::Message as _;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    junqo_proto::common::v1::FieldViolations::decode(status.details())
        .expect("INVALID_ARGUMENT carries FieldViolations")
        .messages
}

/// A message time as (seconds, nanos), comparable.
pub fn at(timestamp: &Option<prost_types::Timestamp>) -> (i64, i32) {
    let t = timestamp.as_ref().expect("timestamps are always set");
    (t.seconds, t.nanos)
}

/// Waits until one of the test database's backends waits on a lock: the writer is stuck behind the test.
pub async fn writer_blocked(db: &mut sqlx::PgConnection) {
    loop {
        let waiting: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                            WHERE datname = current_database() AND wait_event_type = 'Lock')",
        )
        .fetch_one(&mut *db)
        .await
        .expect("pg_stat_activity");
        if waiting {
            return;
        }
        tokio::task::yield_now().await;
    }
}
