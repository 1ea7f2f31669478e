use std::process::ExitCode;

use platform::service::{Command, run};

#[tokio::main]
async fn main() -> ExitCode {
    let env = platform::Env::from_process();
    match run::<gateway::Application>(env, Command::from_args(), platform::shutdown::signal()).await
    {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("gateway: {error}");
            ExitCode::FAILURE
        }
    }
}
