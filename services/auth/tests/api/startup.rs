use std::process::Command;

use testkit::TestDatabase;

/// The real binary, started without JWT_SECRET, stops at once with one line naming the variable.
#[test]
fn a_missing_jwt_secret_stops_start_up_naming_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_auth"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(std::env::temp_dir())
        .output()
        .expect("the auth binary runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim(),
        "auth: missing required environment variable JWT_SECRET"
    );
}

/// `auth migrate` creates the schema and exits, for a Kubernetes Job to run before the pods start.
#[tokio::test]
async fn the_migrate_command_creates_the_schema_and_exits() {
    let db = TestDatabase::create().await;
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_auth"))
        .arg("migrate")
        .env_clear()
        .envs(db.env_pairs())
        .env("JWT_SECRET", "irrelevant-for-migrations")
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .expect("the auth binary runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut conn = db.connect().await;
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'auth' AND table_name = 'users'",
    )
    .fetch_one(&mut conn)
    .await
    .expect("catalog query");
    assert_eq!(tables, 1);
}
