//! Test support shared by the services' integration tests: real infrastructure, isolated per test.
//!
//! - [`TestDatabase`]: a Postgres database per test.
//! - [`TestBroker`]: RabbitMQ exchange names per test, and taps that receive what services publish.
//! - [`Services`]: services started in the test's process on port 0, each reaching the ones started
//!   before it, stopped on drop.
//! - [`TcpProxy`]: a proxy a test can cut and restore, to break a service's connection for real.
//! - [`sio`]: a minimal Socket.IO v4 client over WebSocket (also used by the bench tool).
//! - [`raw_http`]: HTTP/1.1 by hand, for tests of slow, idle and surplus connections.
//!
//! [`TestDatabase`] creates a fresh Postgres database with a random name and drops it (forcibly closing
//! whatever connections the test's services left open) when the test ends, pass or fail. Tests therefore
//! run in parallel and leave nothing behind. A Postgres that cannot be reached fails the test with a
//! message saying so; nothing is ever skipped silently.
//!
//! The server is `TEST_DATABASE_HOST`/`TEST_DATABASE_PORT`/`TEST_DATABASE_USER` (default
//! `127.0.0.1:5432` as `postgres`, the machine's trust-auth set-up).

mod broker_support;
mod proxy;
pub mod raw_http;
mod services;
pub mod sio;

pub use broker_support::{EventTap, TapEvent, TestBroker};
pub use proxy::TcpProxy;
pub use services::{Services, Started};

use sqlx::{AssertSqlSafe, Connection, PgConnection};

pub struct TestDatabase {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub name: String,
}

impl TestDatabase {
    pub async fn create() -> Self {
        let host = std::env::var("TEST_DATABASE_HOST").unwrap_or_else(|_| "127.0.0.1".into());
        let port = std::env::var("TEST_DATABASE_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(5432);
        let user = std::env::var("TEST_DATABASE_USER").unwrap_or_else(|_| "postgres".into());
        let name = format!("junqo_test_{}", uuid::Uuid::new_v4().simple());
        let db = Self {
            host,
            port,
            user,
            name,
        };
        let mut admin = db.admin_connection().await;
        sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE \"{}\"", db.name)))
            .execute(&mut admin)
            .await
            .unwrap_or_else(|e| panic!("cannot create test database {}: {e}", db.name));
        admin.close().await.ok();
        db
    }

    /// The environment a service reads to reach this database.
    pub fn env_pairs(&self) -> Vec<(String, String)> {
        vec![
            ("DATABASE_HOST".into(), self.host.clone()),
            ("DATABASE_PORT".into(), self.port.to_string()),
            ("DATABASE_USER".into(), self.user.clone()),
            ("DATABASE_NAME".into(), self.name.clone()),
            ("DATABASE_MAX_CONNECTIONS".into(), "5".into()),
        ]
    }

    /// A direct connection for assertions on what the services stored.
    pub async fn connect(&self) -> PgConnection {
        let url = format!(
            "postgres://{}@{}:{}/{}",
            self.user, self.host, self.port, self.name
        );
        PgConnection::connect(&url)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to test database {}: {e}", self.name))
    }

    async fn admin_connection(&self) -> PgConnection {
        let url = format!(
            "postgres://{}@{}:{}/postgres",
            self.user, self.host, self.port
        );
        PgConnection::connect(&url).await.unwrap_or_else(|e| {
            panic!(
                "Postgres is not reachable at {}:{} as {} ({e}). Start it (see README) before running tests.",
                self.host, self.port, self.user
            )
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let host = self.host.clone();
        let port = self.port;
        let user = self.user.clone();
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on; a short-lived thread with its
        // own runtime does the clean-up and is joined so the database is gone when the test returns.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let Ok(runtime) = runtime else { return };
            runtime.block_on(async move {
                let url = format!("postgres://{user}@{host}:{port}/postgres");
                if let Ok(mut admin) = PgConnection::connect(&url).await {
                    let drop = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                    if let Err(e) = sqlx::raw_sql(AssertSqlSafe(drop)).execute(&mut admin).await {
                        eprintln!("warning: could not drop test database {name}: {e}");
                    }
                    admin.close().await.ok();
                }
            });
        });
        let _ = cleanup.join();
    }
}
