//! The realtime binary refuses to start without its secret, naming it in one line. (Also makes
//! `cargo test` build the binary, which the end-to-end trace test runs as a process.)

use std::process::Command;

#[test]
fn a_missing_jwt_secret_stops_start_up_naming_it() {
    let output = Command::new(env!("CARGO_BIN_EXE_realtime"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(std::env::temp_dir())
        .output()
        .expect("the realtime binary runs");
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "realtime: missing required environment variable JWT_SECRET"
    );
}

#[test]
fn production_requires_cors_origins() {
    let output = Command::new(env!("CARGO_BIN_EXE_realtime"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("NODE_ENV", "production")
        .env("JWT_SECRET", "a-production-grade-secret-of-40-characters")
        .current_dir(std::env::temp_dir())
        .output()
        .expect("the realtime binary runs");
    assert!(!output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim(),
        "realtime: missing required environment variable CORS_ORIGINS"
    );
}
