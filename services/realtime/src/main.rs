use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let env = platform::Env::from_process();
    match realtime::startup::run(env, platform::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("realtime: {error}");
            ExitCode::FAILURE
        }
    }
}
