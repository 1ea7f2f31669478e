use junqo_proto::auth::v1::auth_service_client::AuthServiceClient;
use junqo_proto::auth::v1::{AuthResponse, SignUpRequest};
use junqo_proto::common::v1::FieldViolations;
use prost::Message;
use testkit::{Services, TestBroker, TestDatabase};
use tonic::transport::Channel;
use tonic::{Code, Status};

pub const SECRET: &str = "integration-test-secret";

pub struct TestApp {
    pub client: AuthServiceClient<Channel>,
    /// The admin endpoint: `/health`, `/ready`, `/metrics`.
    pub admin_url: String,
    pub db: TestDatabase,
    _services: Services,
}

pub async fn spawn_app() -> TestApp {
    let db = TestDatabase::create().await;
    let mut services = Services::new(&db, &TestBroker::new(), SECRET);
    let auth = services.start::<auth::Application>().await;
    let client = AuthServiceClient::connect(auth.url)
        .await
        .expect("auth service accepts connections");
    TestApp {
        client,
        admin_url: auth.admin_url.expect("auth has an admin port"),
        db,
        _services: services,
    }
}

pub fn sign_up_request(name: &str, email: &str, user_type: &str, password: &str) -> SignUpRequest {
    SignUpRequest {
        name: Some(name.into()),
        email: Some(email.into()),
        r#type: Some(user_type.into()),
        password: Some(password.into()),
    }
}

impl TestApp {
    pub async fn sign_up(&self, name: &str, email: &str) -> AuthResponse {
        self.client
            .clone()
            .sign_up(sign_up_request(name, email, "STUDENT", "password123"))
            .await
            .expect("sign-up succeeds")
            .into_inner()
    }
}

/// The sentences carried by an INVALID_ARGUMENT status.
pub fn violations(status: &Status) -> Vec<String> {
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    FieldViolations::decode(status.details())
        .expect("INVALID_ARGUMENT carries FieldViolations")
        .messages
}

pub fn bearer<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("token is ASCII"),
    );
    request
}

/// A service token, as conversations calls auth with.
pub fn service_token() -> String {
    jwt::ServiceSigner::new(&secrecy::SecretString::from(SECRET), "conversations")
        .sign(None)
        .expect("signs")
}
