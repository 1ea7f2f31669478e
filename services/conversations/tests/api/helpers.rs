use junqo_proto::auth::v1::SignUpRequest;
use junqo_proto::auth::v1::auth_service_client::AuthServiceClient;
use junqo_proto::conversations::v1::conversations_service_client::ConversationsServiceClient;
use junqo_proto::conversations::v1::messages_service_client::MessagesServiceClient;
use junqo_proto::conversations::v1::{
    Actor, Conversation, CreateConversationRequest, CreateMessageRequest, Message,
};
use platform::Env;
use testkit::{Services, TestBroker, TestDatabase};
use tonic::transport::Channel;

pub struct TestService {
    pub conversations: ConversationsServiceClient<Channel>,
    pub messages: MessagesServiceClient<Channel>,
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
    let mut services = Services::new(&db, &broker, "conversations-test-secret");
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
        messages: MessagesServiceClient::new(channel),
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
        (
            Actor {
                user_id: response.user.expect("user").id,
                user_type: "STUDENT".into(),
            },
            response.token,
        )
    }

    pub async fn conversation(&self, creator: &Actor, others: &[&Actor]) -> Conversation {
        self.conversations
            .clone()
            .create_conversation(CreateConversationRequest {
                actor: Some(creator.clone()),
                participant_ids: others.iter().map(|a| a.user_id.clone()).collect(),
                ..Default::default()
            })
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
            .create_message(CreateMessageRequest {
                actor: Some(sender.clone()),
                conversation_id: conversation.id.clone(),
                content: content.into(),
                client_message_id: None,
            })
            .await
            .expect("message sent")
            .into_inner()
    }
}

pub fn admin() -> Actor {
    Actor {
        user_id: uuid::Uuid::new_v4().to_string(),
        user_type: "ADMIN".into(),
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
