use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let env = platform::Env::from_process();
    let migrate_only = std::env::args().nth(1).as_deref() == Some("migrate");
    match conversations::startup::run(env, migrate_only, platform::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("conversations: {error}");
            ExitCode::FAILURE
        }
    }
}
