use platform::Env;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use testkit::TestDatabase;
use tokio::sync::oneshot;

pub const SECRET: &str = "gateway-test-secret";

/// The gateway and the auth service behind it, each on a free port, on a fresh database.
pub struct TestStack {
    pub base: String,
    pub http: Client,
    /// Held so the database lives as long as the stack, and is dropped with it.
    _db: TestDatabase,
    _stops: Vec<oneshot::Sender<()>>,
}

fn stopper() -> (
    oneshot::Sender<()>,
    impl Future<Output = ()> + Send + 'static,
) {
    let (stop, stopped) = oneshot::channel::<()>();
    (stop, async move {
        let _ = stopped.await;
    })
}

pub async fn spawn_stack() -> TestStack {
    spawn_stack_with(|_| {}).await
}

/// Starts the stack after `customise` has had its say on the gateway's environment.
pub async fn spawn_stack_with(customise: impl FnOnce(&mut Env)) -> TestStack {
    let db = TestDatabase::create().await;
    let mut env = Env::from_pairs(db.env_pairs());
    env.set("JWT_SECRET", SECRET)
        .set("BIND_ADDRESS", "127.0.0.1")
        .set("AUTH_PORT", "0")
        .set("GATEWAY_PORT", "0");

    let auth = auth::Application::build(auth::AuthConfig::from_env(&env).expect("auth config"))
        .await
        .expect("auth starts");
    env.set("AUTH_URL", format!("http://127.0.0.1:{}", auth.port()));
    let (stop_auth, auth_stopped) = stopper();
    tokio::spawn(auth.run_until_stopped(auth_stopped));

    customise(&mut env);
    let gateway = gateway::Application::build(
        gateway::GatewayConfig::from_env(&env).expect("gateway config"),
    )
    .await
    .expect("gateway starts");
    let base = format!("http://127.0.0.1:{}", gateway.port());
    let (stop_gateway, gateway_stopped) = stopper();
    tokio::spawn(gateway.run_until_stopped(gateway_stopped));

    TestStack {
        base,
        http: Client::new(),
        _db: db,
        _stops: vec![stop_auth, stop_gateway],
    }
}

impl TestStack {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn post(&self, path: &str, body: &Value) -> Response {
        self.http
            .post(self.url(path))
            .json(body)
            .send()
            .await
            .expect("request is sent")
    }

    pub async fn get_with(&self, path: &str, token: &str) -> Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request is sent")
    }

    /// Registers a student and returns the response body (`{token, user}`).
    pub async fn register(&self, name: &str, email: &str) -> Value {
        let response = self
            .post(
                "/api/v1/auth/register",
                &json!({"name": name, "email": email, "type": "STUDENT", "password": "password123"}),
            )
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.expect("JSON body")
    }
}

pub async fn token_of(body: &Value) -> String {
    body["token"]
        .as_str()
        .expect("token is a string")
        .to_owned()
}

/// Asserts the original's error body and returns its `message`.
pub async fn error_body(response: Response, status: StatusCode) -> Value {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("JSON error body");
    assert_eq!(body["statusCode"], json!(status.as_u16()), "{body}");
    assert_eq!(
        body["error"],
        json!(status.canonical_reason().expect("known status")),
        "{body}"
    );
    body["message"].clone()
}
