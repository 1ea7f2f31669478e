//! Each service owns one Postgres schema. Its connections put that schema alone on the `search_path`, so
//! its tables, and sqlx's `_sqlx_migrations` bookkeeping, never collide with another service's even when
//! both use one database.

use std::time::Duration;

use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, PgPool};

use crate::{DatabaseSettings, Error};

/// A pooled connection idle for at least this long is pinged before it is handed out; one used more
/// recently is handed out as it is. See [`connect_with`].
pub const PING_IDLE_AFTER: Duration = Duration::from_secs(1);

/// Opens a pool whose connections live in `schema`, creating the schema first if needed.
pub async fn connect(settings: &DatabaseSettings, schema: &str) -> Result<PgPool, Error> {
    connect_with(settings, schema, PING_IDLE_AFTER).await
}

/// [`connect`], pinging connections idle for at least `ping_idle_after` before handing them out.
///
/// sqlx pings (a `Sync` round trip) on every acquire by default and on every release always: two
/// round trips per query on the hot path. Here the acquire ping is kept only for connections that sat
/// idle, the ones a database restart or a network cut may have broken unseen. A connection that breaks
/// while in steady use is still detected and replaced: the query running on it fails, the ping sqlx
/// makes when it comes back to the pool fails too, and sqlx closes it and opens a fresh one on demand.
/// Only that one query fails, as it would if the connection broke between a ping and the query.
pub async fn connect_with(
    settings: &DatabaseSettings,
    schema: &str,
    ping_idle_after: Duration,
) -> Result<PgPool, Error> {
    let base = connect_options(settings);
    // The schema must exist before a connection can use it as its search_path.
    // The name is a constant of the calling service, never input; the assertion keeps it that way.
    assert!(
        schema.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
        "schema names are lower-case identifiers"
    );
    let mut bootstrap = sqlx::ConnectOptions::connect(&base).await?;
    sqlx::raw_sql(AssertSqlSafe(format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}"
    )))
    .execute(&mut bootstrap)
    .await?;
    sqlx::Connection::close(bootstrap).await?;

    let options = base.options([("search_path", schema)]);
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(Duration::from_secs(5))
        .test_before_acquire(false)
        .before_acquire(move |connection, meta| {
            Box::pin(async move {
                if meta.idle_for >= ping_idle_after {
                    // An error closes this connection; the pool then tries another or opens one.
                    connection.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_with(options)
        .await?)
}

fn connect_options(settings: &DatabaseSettings) -> PgConnectOptions {
    let options = PgConnectOptions::new()
        .host(&settings.host)
        .port(settings.port)
        .username(&settings.user)
        .database(&settings.name)
        .application_name("junqo");
    match &settings.password {
        Some(password) => options.password(password.expose_secret()),
        None => options,
    }
}

/// Checks the database every few seconds and reports whether it answers, so a service can flip its
/// readiness. Returns when the pool is closed.
pub async fn watch<F, Fut>(pool: PgPool, mut report: F)
where
    F: FnMut(bool) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    let mut was_up = true;
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        let up = sqlx::query("SELECT 1").execute(&pool).await.is_ok();
        if up != was_up {
            if up {
                tracing::info!("database reachable again");
            } else {
                tracing::warn!("database unreachable; reporting not ready");
            }
            report(up).await;
            was_up = up;
        }
    }
}
