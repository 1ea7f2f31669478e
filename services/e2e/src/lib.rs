//! A whole Junqo stack in one process, for end-to-end tests: auth, conversations, two realtime instances
//! (A and B, to prove that instances behave as one) and the gateway, each on a free port, against a fresh
//! Postgres database and fresh RabbitMQ exchange names. Everything stops and is cleaned up on drop.
//! [`process`] runs the same services as separate processes instead, for signals and per-process
//! telemetry.

pub mod chat;
pub mod process;
pub mod users;

use platform::Env;
use testkit::{Services, TestBroker, TestDatabase};

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
    _services: Services,
}

impl Stack {
    /// Starts the stack; `customise` may adjust the environment every service reads.
    pub async fn start(customise: impl FnOnce(&mut Env)) -> Self {
        let db = TestDatabase::create().await;
        let broker = TestBroker::new();
        let mut services = Services::new(&db, &broker, JWT_SECRET);
        customise(&mut services.env);
        let auth = services.start::<auth::Application>().await;
        let conversations = services.start::<conversations::Application>().await;
        let census = |app: &realtime::Application| app.census();
        let (realtime_a, census_a) = services
            .start_and_inspect::<realtime::Application, _>(census)
            .await;
        let (realtime_b, census_b) = services
            .start_and_inspect::<realtime::Application, _>(census)
            .await;
        // The gateway forwards /socket.io/ to instance A.
        services.env.set("REALTIME_URL", realtime_a.url.clone());
        let gateway = services.start::<gateway::Application>().await;
        Self {
            gateway_url: gateway.url,
            auth_url: auth.url,
            auth_admin_url: auth.admin_url.expect("auth has an admin port"),
            conversations_admin_url: conversations
                .admin_url
                .expect("conversations has an admin port"),
            realtime_a_url: realtime_a.url,
            realtime_b_url: realtime_b.url,
            realtime_a: census_a,
            realtime_b: census_b,
            db,
            broker,
            _services: services,
        }
    }

    /// Runs `node --test` with `args` in `services/e2e/js` against this stack (its addresses and secret,
    /// plus `env`), prints what node printed, and fails the test unless every node test passed. Returns
    /// node's output for further checks.
    pub async fn node_tests(&self, args: &[&str], env: &[(&str, &str)]) -> String {
        let js = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("js");
        assert!(
            js.join("node_modules/socket.io-client").is_dir(),
            "socket.io-client is not installed: run `npm ci --prefix services/e2e/js` (scripts/test.sh does)"
        );
        let output = tokio::process::Command::new("node")
            .arg("--test")
            .args(args)
            .current_dir(&js)
            .env("GATEWAY_URL", &self.gateway_url)
            .env("REALTIME_A_URL", &self.realtime_a_url)
            .env("REALTIME_B_URL", &self.realtime_b_url)
            .env("JWT_SECRET", JWT_SECRET)
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .expect("node runs (Node.js 20 or later must be installed)");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        println!("{stdout}");
        eprintln!("{}", String::from_utf8_lossy(&output.stderr));
        assert!(
            output.status.success(),
            "the node tests {args:?} failed (output above)"
        );
        assert!(stdout.contains("# fail 0"), "node reported failures");
        stdout
    }
}
