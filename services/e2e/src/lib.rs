//! A whole Junqo stack in one process, for end-to-end tests: auth, conversations, two realtime instances
//! (A and B, to prove that instances behave as one) and the gateway, each on a free port, against a fresh
//! Postgres database and fresh RabbitMQ exchange names. Everything stops and is cleaned up on drop.
//! [`process`] runs the same services as separate processes instead, for signals and per-process
//! telemetry.

pub mod process;

use std::future::Future;

use platform::Env;
use testkit::{TestBroker, TestDatabase};
use tokio::sync::oneshot;

pub const JWT_SECRET: &str = "end-to-end-test-secret";

pub struct Stack {
    pub gateway_url: String,
    pub auth_url: String,
    pub auth_admin_url: String,
    pub conversations_admin_url: String,
    pub realtime_a_url: String,
    pub realtime_b_url: String,
    /// What each realtime instance holds right now (its sockets, its hosted rooms).
    pub realtime_a: realtime::Census,
    pub realtime_b: realtime::Census,
    pub db: TestDatabase,
    pub broker: TestBroker,
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

impl Stack {
    /// Starts the stack; `customise` may adjust the environment every service reads.
    pub async fn start(customise: impl FnOnce(&mut Env)) -> Self {
        let db = TestDatabase::create().await;
        let broker = TestBroker::new();
        let mut env = Env::from_pairs(db.env_pairs().into_iter().chain(broker.env_pairs()));
        env.set("JWT_SECRET", JWT_SECRET)
            .set("BIND_ADDRESS", "127.0.0.1")
            .set("AUTH_PORT", "0")
            .set("CONVERSATIONS_PORT", "0")
            .set("ADMIN_PORT", "0")
            .set("REALTIME_PORT", "0")
            .set("GATEWAY_PORT", "0");
        customise(&mut env);
        let mut stops = Vec::new();

        let auth = auth::Application::build(auth::AuthConfig::from_env(&env).expect("auth config"))
            .await
            .expect("auth starts");
        let auth_url = format!("http://127.0.0.1:{}", auth.port());
        let auth_admin_url = format!("http://127.0.0.1:{}", auth.admin_port());
        env.set("AUTH_URL", auth_url.clone());
        let (stop, stopped) = stopper();
        stops.push(stop);
        tokio::spawn(auth.run_until_stopped(stopped));

        let conversations = conversations::Application::build(
            conversations::ConversationsConfig::from_env(&env).expect("conversations config"),
        )
        .await
        .expect("conversations starts");
        let conversations_admin_url = format!("http://127.0.0.1:{}", conversations.admin_port());
        env.set(
            "CONVERSATIONS_URL",
            format!("http://127.0.0.1:{}", conversations.port()),
        );
        let (stop, stopped) = stopper();
        stops.push(stop);
        tokio::spawn(conversations.run_until_stopped(stopped));

        let mut realtime_urls = Vec::new();
        let mut censuses = Vec::new();
        for _ in 0..2 {
            let instance = realtime::Application::build(
                realtime::RealtimeConfig::from_env(&env).expect("realtime config"),
            )
            .await
            .expect("realtime starts");
            realtime_urls.push(format!("http://127.0.0.1:{}", instance.port()));
            censuses.push(instance.census());
            let (stop, stopped) = stopper();
            stops.push(stop);
            tokio::spawn(instance.run_until_stopped(stopped));
        }
        env.set("REALTIME_URL", realtime_urls[0].clone());

        let gateway = gateway::Application::build(
            gateway::GatewayConfig::from_env(&env).expect("gateway config"),
        )
        .await
        .expect("gateway starts");
        let gateway_url = format!("http://127.0.0.1:{}", gateway.port());
        let (stop, stopped) = stopper();
        stops.push(stop);
        tokio::spawn(gateway.run_until_stopped(stopped));

        let realtime_b_url = realtime_urls.pop().expect("two instances");
        let realtime_a_url = realtime_urls.pop().expect("two instances");
        let realtime_b = censuses.pop().expect("two instances");
        let realtime_a = censuses.pop().expect("two instances");
        Self {
            gateway_url,
            auth_url,
            auth_admin_url,
            conversations_admin_url,
            realtime_a_url,
            realtime_b_url,
            realtime_a,
            realtime_b,
            db,
            broker,
            _stops: stops,
        }
    }
}
