use platform::Env;
use reqwest::{Client, Response, StatusCode};
use serde_json::{Value, json};
use testkit::{Services, TestBroker, TestDatabase};

pub const SECRET: &str = "gateway-test-secret";

/// The gateway and the auth and conversations services behind it, each on a free port, on a fresh
/// database and fresh broker names.
pub struct TestStack {
    pub base: String,
    pub http: Client,
    pub db: TestDatabase,
    pub broker: TestBroker,
    _services: Services,
}

pub async fn spawn_stack() -> TestStack {
    spawn_stack_with(|_| {}).await
}

/// Starts the stack after `customise` has had its say on the gateway's environment.
pub async fn spawn_stack_with(customise: impl FnOnce(&mut Env)) -> TestStack {
    let db = TestDatabase::create().await;
    let broker = TestBroker::new();
    let mut services = Services::new(&db, &broker, SECRET);
    services.start::<auth::Application>().await;
    services.start::<conversations::Application>().await;
    customise(&mut services.env);
    let gateway = services.start::<gateway::Application>().await;
    TestStack {
        base: gateway.url,
        http: Client::new(),
        db,
        broker,
        _services: services,
    }
}

/// Starts the stack after `customise` has had its say on every service's environment.
pub async fn spawn_stack_with_every(customise: impl FnOnce(&mut Env)) -> TestStack {
    let db = TestDatabase::create().await;
    let broker = TestBroker::new();
    let mut services = Services::new(&db, &broker, SECRET);
    customise(&mut services.env);
    services.start::<auth::Application>().await;
    services.start::<conversations::Application>().await;
    let gateway = services.start::<gateway::Application>().await;
    TestStack {
        base: gateway.url,
        http: Client::new(),
        db,
        broker,
        _services: services,
    }
}

impl TestStack {
    /// One more gateway in front of the same services: the base URL it answers on.
    pub async fn another_gateway(&mut self) -> String {
        self._services.start::<gateway::Application>().await.url
    }

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

    /// Sends `method path` with the token and an optional JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> Response {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.expect("request is sent")
    }

    /// Registers a user and returns `(token, user id)`.
    pub async fn user(&self, name: &str) -> (String, String) {
        let email = format!(
            "{}-{}@example.com",
            name.to_lowercase(),
            uuid::Uuid::new_v4().simple()
        );
        let body = self.register(name, &email).await;
        (
            token_of(&body).await,
            body["user"]["id"].as_str().expect("id").to_owned(),
        )
    }

    /// Registers a user, makes them an admin in the database, and returns a token that says so.
    pub async fn admin(&self) -> String {
        let email = format!("admin-{}@example.com", uuid::Uuid::new_v4().simple());
        self.register("Admin", &email).await;
        let mut db = self.db.connect().await;
        sqlx::query("UPDATE auth.users SET type = 'ADMIN' WHERE email = $1")
            .bind(&email)
            .execute(&mut db)
            .await
            .expect("promoted");
        let response = self
            .post(
                "/api/v1/auth/login",
                &json!({"email": email, "password": "password123"}),
            )
            .await;
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["user"]["type"], "ADMIN");
        token_of(&body).await
    }

    /// Sends `method path` and returns the status and the JSON body (`null` when there is none).
    pub async fn json(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let response = self.call(method, path, token, body).await;
        let status = response.status();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Starts a conversation of the caller and `others`; returns its id.
    pub async fn conversation(&self, token: &str, others: &[&str]) -> String {
        let (status, created) = self
            .json(
                reqwest::Method::POST,
                "/api/v1/conversations",
                token,
                Some(json!({"participantsIds": others})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        created["id"].as_str().expect("id").to_owned()
    }

    /// Posts a message; returns it.
    pub async fn send(&self, token: &str, conversation: &str, content: &str) -> Value {
        let (status, message) = self
            .json(
                reqwest::Method::POST,
                &format!("/api/v1/conversations/{conversation}/messages"),
                token,
                Some(json!({"content": content})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{message}");
        message
    }

    pub async fn get_with(&self, path: &str, token: &str) -> Response {
        self.http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request is sent")
    }

    /// GETs `path` with the token until it answers `wanted` or one second has passed; the last status.
    /// Revocations reach the gateway through the broker, so a test awaits their effect, never sleeps.
    pub async fn status_within(&self, path: &str, token: &str, wanted: StatusCode) -> StatusCode {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
        loop {
            let status = self.get_with(path, token).await.status();
            if status == wanted || tokio::time::Instant::now() >= deadline {
                return status;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
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
