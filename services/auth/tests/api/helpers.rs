use auth::{Application, AuthConfig};
use junqo_proto::auth::v1::auth_service_client::AuthServiceClient;
use junqo_proto::auth::v1::{AuthResponse, SignUpRequest};
use junqo_proto::common::v1::FieldViolations;
use platform::Env;
use prost::Message;
use testkit::TestDatabase;
use tonic::transport::Channel;
use tonic::{Code, Status};

pub const SECRET: &str = "integration-test-secret";

pub struct TestApp {
    pub client: AuthServiceClient<Channel>,
    pub db: TestDatabase,
    _stop: tokio::sync::oneshot::Sender<()>,
}

pub fn env_for(db: &TestDatabase) -> Env {
    let mut env = Env::from_pairs(db.env_pairs());
    env.set("JWT_SECRET", SECRET)
        .set("AUTH_PORT", "0")
        .set("ADMIN_PORT", "0")
        .set("BIND_ADDRESS", "127.0.0.1");
    env
}

pub async fn spawn_app() -> TestApp {
    let db = TestDatabase::create().await;
    let config = AuthConfig::from_env(&env_for(&db)).expect("test configuration is valid");
    let app = Application::build(config)
        .await
        .expect("auth service starts");
    let port = app.port();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    let client = AuthServiceClient::connect(format!("http://127.0.0.1:{port}"))
        .await
        .expect("auth service accepts connections");
    TestApp {
        client,
        db,
        _stop: stop,
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
