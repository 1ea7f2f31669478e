use std::process::ExitCode;

/// Argon2id allocates 19 MiB per hash. glibc's allocator raises its mmap threshold after the first such
/// free and then keeps every later buffer in its heaps (160+ MiB resident after a burst of sign-ups);
/// mimalloc hands large blocks back, so memory follows the work in progress.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let env = platform::Env::from_process();
    let migrate_only = std::env::args().nth(1).as_deref() == Some("migrate");
    match auth::startup::run(env, migrate_only, platform::shutdown::signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("auth: {error}");
            ExitCode::FAILURE
        }
    }
}
