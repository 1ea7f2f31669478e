//! `grpc-send`: message inserts through the conversations service alone (no gateway, no sockets), to
//! measure the write path: the batching writer (membership check, commit, outbox), the answer and the
//! publish, with the CPU each process spent over the measured window.

use std::time::{Duration, Instant};

use junqo_proto::conversations::v1::CreateMessageRequest;
use junqo_proto::conversations::v1::messages_service_client::MessagesServiceClient;

use crate::report::{ms, percentiles, print_memory};
use crate::{BenchError, cpu, setup};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    auth: String,
    #[arg(long, default_value = "http://127.0.0.1:50052")]
    conversations: String,
    /// Two-member conversations to spread the messages over.
    #[arg(long, default_value_t = 50)]
    conversation_count: usize,
    /// Callers sending at once, each waiting for its answer before sending again.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

pub async fn run(args: Args) -> Result<(), BenchError> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let auth = setup::channel(&args.auth, "auth").await?;
    let conversations = setup::channel(&args.conversations, "conversations").await?;
    let users = setup::users(&auth, &run, args.conversation_count * 2).await?;
    let ids = setup::pairs(&conversations, &users).await?;

    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let cpu_before = cpu::snapshot();
    let workers = (0..args.concurrency).map(|worker| {
        let mut client = MessagesServiceClient::new(conversations.clone());
        let (ids, users) = (&ids, &users);
        async move {
            let mut latencies = Vec::new();
            let mut errors = 0u64;
            let mut i = worker;
            while Instant::now() < deadline {
                let conversation = i % ids.len();
                let sender = &users[conversation * 2 + (i / ids.len()) % 2];
                let request = sender.call(CreateMessageRequest {
                    conversation_id: ids[conversation].clone(),
                    content: format!("bench message {i}"),
                    client_message_id: None,
                });
                let sent = Instant::now();
                match client.create_message(request).await {
                    Ok(_) => latencies.push(sent.elapsed()),
                    Err(_) => errors += 1,
                }
                i += args.concurrency;
            }
            (latencies, errors)
        }
    });
    let results = futures::future::join_all(workers).await;
    let elapsed = started.elapsed();
    let cpu_used = cpu::usage(&cpu_before, &cpu::snapshot());
    let errors: u64 = results.iter().map(|(_, e)| e).sum();
    let mut latencies: Vec<Duration> = results.into_iter().flat_map(|(l, _)| l).collect();
    let stored = latencies.len();
    let (p50, p99, max) = percentiles(&mut latencies);

    println!(
        "grpc-send: {} conversations, concurrency {}, {:.1} s",
        ids.len(),
        args.concurrency,
        elapsed.as_secs_f64()
    );
    println!("  stored         {stored} messages ({errors} errors)");
    println!(
        "  rate           {:.0} messages/s",
        stored as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  latency        p50 {}  p99 {}  max {}",
        ms(p50),
        ms(p99),
        ms(max)
    );
    cpu::print(&cpu_used, stored as u64, "message stored");
    print_memory(&["auth", "conversations"]);
    Ok(())
}
