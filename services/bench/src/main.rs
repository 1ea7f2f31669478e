//! `bench`: drives a running Junqo stack and prints the figures recorded in docs/benchmarks.md.
//!
//! Modes (one subcommand each, in its own module):
//! - `grpc-send`: message inserts straight through the conversations service's gRPC API.
//! - `sockets`: the whole message path, socket to socket, at a fixed rate (open loop), with the CPU each
//!   process spent per message; `--members 50` measures fan-out.
//! - `idle`: many idle connections, and the realtime service's memory per connection.
//!
//! Every mode creates its own users and conversations (named after a random run id), so runs never
//! interfere, and stops by itself after the given duration.

mod cpu;
mod grpc_send;
mod idle;
mod report;
mod setup;
mod sockets;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "Load generator for the Junqo messaging backend")]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Sends messages through conversations.CreateMessage as fast as `concurrency` callers allow.
    GrpcSend(grpc_send::Args),
    /// Sends through Socket.IO at a fixed rate and measures delivery latency and CPU per message.
    Sockets(sockets::Args),
    /// Holds idle Socket.IO connections and reports memory per connection.
    Idle(idle::Args),
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("cannot reach {what}: {source}")]
    Connect {
        what: &'static str,
        source: tonic::transport::Error,
    },
    #[error("{what} failed: {status}")]
    Call {
        what: &'static str,
        status: tonic::Status,
    },
    #[error("socket: {0}")]
    Socket(#[from] testkit::sio::SioError),
    #[error("refused: {0}")]
    Refused(String),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let outcome = match Cli::parse().mode {
        Mode::GrpcSend(args) => grpc_send::run(args).await,
        Mode::Sockets(args) => sockets::run(args).await,
        Mode::Idle(args) => idle::run(args).await,
    };
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("bench: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
