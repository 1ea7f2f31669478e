use std::process::ExitCode;

use platform::service::{Command, run};

/// Argon2id allocates 19 MiB per hash. glibc's allocator raises its mmap threshold after the first such
/// free and then keeps every later buffer in its heaps (160+ MiB resident after a burst of sign-ups);
/// mimalloc hands large blocks back, so memory follows the work in progress.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let env = platform::Env::from_process();
    match run::<auth::Application>(env, Command::from_args(), platform::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("auth: {error}");
            ExitCode::FAILURE
        }
    }
}
