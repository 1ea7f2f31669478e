//! The service binaries as separate processes, for tests that need what only a process has: its own
//! telemetry set-up, real signals, a real exit.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// A service binary built by `cargo test --workspace`, next to the running test's executable.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is not built: run the workspace tests (cargo test --workspace)",
        path.display()
    );
    path
}

pub struct Service {
    pub child: Child,
    pub port: u16,
    /// The admin endpoint's port, for services that have one.
    pub admin_port: Option<u16>,
}

/// Starts a service binary with `env` (JSON logs are forced) and waits for its "listening" log line.
pub async fn start(name: &str, env: &HashMap<String, String>) -> Service {
    let mut child = Command::new(binary(name))
        .env_clear()
        .envs(env)
        .env("LOG_FORMAT", "json")
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("the service starts");
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    let (port, admin_port) = loop {
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap_or_else(|_| panic!("{name} did not report listening within 30 s"))
            .expect("log is readable")
            .unwrap_or_else(|| panic!("{name} exited before listening"));
        if let Ok(entry) = serde_json::from_str::<Value>(&line)
            && entry["message"]
                .as_str()
                .is_some_and(|m| m.contains("listening"))
            && let Some(port) = entry["port"].as_u64()
        {
            let admin_port = entry["admin_port"]
                .as_u64()
                .map(|port| u16::try_from(port).expect("a port"));
            break (u16::try_from(port).expect("a port"), admin_port);
        }
    };
    // Keep draining the log so the child never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Service {
        child,
        port,
        admin_port,
    }
}

impl Service {
    /// Sends SIGTERM, as Kubernetes does, and returns how the process ended and how long it took.
    pub async fn terminate(&mut self, within: Duration) -> (std::process::ExitStatus, Duration) {
        let pid = self.child.id().expect("the process is running");
        let started = std::time::Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await
            .expect("kill runs");
        assert!(sent.success(), "SIGTERM delivered");
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("the process did not exit within {within:?} of SIGTERM"))
            .expect("the process is waited for");
        (status, started.elapsed())
    }
}

/// The environment every service process of a test shares.
pub fn base_env(
    db: &testkit::TestDatabase,
    broker: &testkit::TestBroker,
) -> HashMap<String, String> {
    let mut env: HashMap<String, String> = db
        .env_pairs()
        .into_iter()
        .chain(broker.env_pairs())
        .collect();
    for (key, value) in [
        ("PATH", std::env::var("PATH").unwrap_or_default()),
        ("JWT_SECRET", crate::JWT_SECRET.to_owned()),
        ("BIND_ADDRESS", "127.0.0.1".into()),
        ("RUST_LOG", "info".into()),
        ("AUTH_PORT", "0".into()),
        ("CONVERSATIONS_PORT", "0".into()),
        ("REALTIME_PORT", "0".into()),
        ("GATEWAY_PORT", "0".into()),
        ("ADMIN_PORT", "0".into()),
    ] {
        env.insert(key.into(), value);
    }
    env
}

/// Auth and conversations as processes, on a fresh database and fresh exchange names, and the environment
/// a realtime process started beside them needs (their addresses included).
pub struct Backend {
    pub env: HashMap<String, String>,
    pub conversations_url: String,
    pub auth: Service,
    pub conversations: Service,
    pub db: testkit::TestDatabase,
    pub broker: testkit::TestBroker,
}

impl Backend {
    pub async fn start() -> Self {
        let db = testkit::TestDatabase::create().await;
        let broker = testkit::TestBroker::new();
        let mut env = base_env(&db, &broker);
        let auth = start("auth", &env).await;
        env.insert("AUTH_URL".into(), format!("http://127.0.0.1:{}", auth.port));
        let conversations = start("conversations", &env).await;
        let conversations_url = format!("http://127.0.0.1:{}", conversations.port);
        env.insert("CONVERSATIONS_URL".into(), conversations_url.clone());
        Self {
            env,
            conversations_url,
            auth,
            conversations,
            db,
            broker,
        }
    }

    /// A realtime process on this backend, and its address.
    pub async fn realtime(&self) -> (Service, String) {
        let service = start("realtime", &self.env).await;
        let url = format!("http://127.0.0.1:{}", service.port);
        (service, url)
    }
}
