//! The pool hands out connections used moments ago without pinging them, and still finds and replaces a
//! broken one: pinged first after sitting idle, or discarded after the query that hit it failed.

use std::time::Duration;

use platform::DatabaseSettings;
use sqlx::{Connection, PgConnection, PgPool};
use testkit::TestDatabase;

fn settings(db: &TestDatabase) -> DatabaseSettings {
    DatabaseSettings {
        host: db.host.clone(),
        port: db.port,
        user: db.user.clone(),
        name: db.name.clone(),
        password: None,
        // One connection: every query below runs on the same one until it is replaced.
        max_connections: 1,
    }
}

async fn backend(pool: &PgPool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(pool)
        .await
}

/// Ends the backend from another session, as a database restart or an administrator would, and waits
/// until Postgres reports it gone.
async fn terminate(admin: &mut PgConnection, pid: i32) {
    let signalled: bool = sqlx::query_scalar("SELECT pg_terminate_backend($1, 5000)")
        .bind(pid)
        .fetch_one(&mut *admin)
        .await
        .expect("pg_terminate_backend");
    assert!(signalled, "backend {pid} was terminated");
}

#[tokio::test]
async fn a_connection_broken_while_idle_is_pinged_and_replaced_before_use() {
    let db = TestDatabase::create().await;
    let pool =
        platform::database::connect_with(&settings(&db), "pool_test", Duration::from_millis(50))
            .await
            .expect("pool");
    let first = backend(&pool).await.expect("first query");
    let mut admin = db.connect().await;
    terminate(&mut admin, first).await;
    // The connection must have sat idle past the threshold for the pool to ping it: a duration is the
    // condition here, not a stand-in for an event.
    tokio::time::sleep(Duration::from_millis(100)).await;

    let second = backend(&pool)
        .await
        .expect("the query after the break succeeds");
    assert_ne!(first, second, "served by a new connection");
    admin.close().await.ok();
}

#[tokio::test]
async fn a_connection_broken_while_busy_fails_one_query_then_is_replaced() {
    let db = TestDatabase::create().await;
    // Never idle long enough to be pinged on acquire: only the failed query can reveal the break.
    let pool =
        platform::database::connect_with(&settings(&db), "pool_test", Duration::from_secs(3600))
            .await
            .expect("pool");
    let first = backend(&pool).await.expect("first query");
    let mut admin = db.connect().await;
    terminate(&mut admin, first).await;

    assert!(
        backend(&pool).await.is_err(),
        "the query on the broken connection fails"
    );
    let second = backend(&pool).await.expect("the next query succeeds");
    assert_ne!(first, second, "served by a new connection");
    admin.close().await.ok();
}
