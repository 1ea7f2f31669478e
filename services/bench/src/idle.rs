//! `idle`: holds many connected, authenticated sockets doing nothing, and reports the realtime service's
//! resident memory per connection (the growth from before the first socket to after the last), and the
//! handshake rate: with `--concurrency 1` each socket waits for the previous one, so the figure is the
//! generator's own round trip; with more, that many handshakes are in flight at once and the figure is
//! the server's rate.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};

use crate::report::{print_memory, rss_kib};
use testkit::sio;

use crate::{BenchError, setup};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    auth: String,
    #[arg(long, default_value = "http://127.0.0.1:3001")]
    socket_url: String,
    #[arg(long, default_value_t = 5000)]
    connections: usize,
    /// The sockets are spread over this many users (realtime holds at most `SOCKET_MAX_PER_USER`, 10 by
    /// default, per user).
    #[arg(long, default_value_t = 500)]
    users: usize,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    concurrency: u16,
    /// The name of the realtime process whose memory is read.
    #[arg(long, default_value = "realtime")]
    process: String,
}

pub async fn run(args: Args) -> Result<(), BenchError> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let auth = setup::channel(&args.auth, "auth").await?;
    let users = setup::users(&auth, &run, args.users).await?;
    let before = rss_kib(&args.process);

    let started = std::time::Instant::now();
    let held: Vec<_> = futures::stream::iter(0..args.connections)
        .map(|i| sio::connect(&args.socket_url, &users[i % users.len()].token))
        .buffer_unordered(usize::from(args.concurrency))
        .try_collect()
        .await?;
    let handshakes = started.elapsed();
    // Let allocations settle (heartbeats have started, buffers sized) before reading memory.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(&args.process);

    println!("idle: {} sockets over {} users", held.len(), users.len());
    println!(
        "  handshakes     {:.0}/s ({} at a time, each with JWT verification)",
        held.len() as f64 / handshakes.as_secs_f64(),
        args.concurrency
    );
    match (before, after) {
        (Some(before), Some(after)) => {
            let per = (after.saturating_sub(before) as f64 * 1024.0) / held.len() as f64;
            println!(
                "  {} RSS    {:.1} MiB -> {:.1} MiB",
                args.process,
                before as f64 / 1024.0,
                after as f64 / 1024.0
            );
            println!("  per connection {:.1} KiB", per / 1024.0);
        }
        _ => println!(
            "  ({} is not running on this machine: no memory figures)",
            args.process
        ),
    }
    print_memory(&["gateway"]);
    Ok(())
}
