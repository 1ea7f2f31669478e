//! `sockets`: the end-to-end message path. Two sockets per two-member conversation; one member of each
//! sends at a fixed total rate, and the other member's `receiveMessage` closes the measurement. Every
//! message thus goes socket -> realtime -> conversations (gRPC, batched commit, outbox) -> RabbitMQ ->
//! realtime -> socket.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::report::{ms, percentiles, print_memory};
use testkit::sio;

use crate::{BenchError, setup};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    auth: String,
    #[arg(long, default_value = "http://127.0.0.1:50052")]
    conversations: String,
    /// Where the sockets connect: realtime itself, or the gateway (which forwards).
    #[arg(long, default_value = "http://127.0.0.1:3001")]
    socket_url: String,
    #[arg(long, default_value_t = 100)]
    conversation_count: usize,
    /// Messages per second, all senders together.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
}

pub async fn run(args: Args) -> Result<(), BenchError> {
    let run = uuid::Uuid::new_v4().simple().to_string();
    let auth = setup::channel(&args.auth, "auth").await?;
    let conversations = setup::channel(&args.conversations, "conversations").await?;
    let users = setup::users(&auth, &run, args.conversation_count * 2).await?;
    let ids = setup::pairs(&conversations, &users).await?;

    let base = Instant::now();
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for (pair, conversation) in users.chunks_exact(2).zip(&ids) {
        let (sender, _) = sio::connect(&args.socket_url, &pair[0].token).await?;
        let (receiver, events) = sio::connect(&args.socket_url, &pair[1].token).await?;
        for client in [&sender, &receiver] {
            let joined = client
                .ask("joinRoom", json!({ "conversationId": conversation }))
                .await?;
            if joined["success"] != true {
                return Err(BenchError::Refused(joined.to_string()));
            }
        }
        senders.push((sender, conversation.clone()));
        receivers.push((receiver, events));
    }
    println!(
        "sockets: {} conversations joined by {} sockets",
        ids.len(),
        ids.len() * 2
    );

    let per_sender = args.rate as f64 / senders.len() as f64;
    let interval = Duration::from_secs_f64(1.0 / per_sender.max(0.001));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    // Deliveries still in flight at the deadline get this long to land.
    let drained = deadline + Duration::from_secs(3);

    // Each receiving socket measures what reaches it, until the drain deadline.
    let collectors: Vec<_> = receivers
        .into_iter()
        .map(|(client, mut events)| {
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while let Ok(Some((name, payload))) =
                    tokio::time::timeout_at(drained.into(), events.recv()).await
                {
                    if name != "receiveMessage" {
                        continue;
                    }
                    let sent = payload["content"]
                        .as_str()
                        .and_then(|c| c.strip_prefix("t:"))
                        .and_then(|t| t.parse::<u64>().ok());
                    if let Some(sent) = sent {
                        latencies.push(base.elapsed().saturating_sub(Duration::from_micros(sent)));
                    }
                }
                drop(client);
                latencies
            })
        })
        .collect();

    let failed = Arc::new(AtomicU64::new(0));
    let sending: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(i, (client, conversation))| {
            let failed = failed.clone();
            let spread = interval.mul_f64(i as f64 / ids.len() as f64);
            tokio::spawn(async move {
                // Senders start spread over one interval instead of all at once.
                tokio::time::sleep(spread).await;
                let mut tick = tokio::time::interval(interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                let mut acks = Vec::new();
                while Instant::now() < deadline {
                    tick.tick().await;
                    let payload = json!({ "conversationId": conversation, "content": format!("t:{}", base.elapsed().as_micros()) });
                    let (client, failed) = (client.clone(), failed.clone());
                    acks.push(tokio::spawn(async move {
                        match client.ask("sendMessage", payload).await {
                            Ok(ack) if ack["success"] == true => {}
                            _ => {
                                failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }));
                }
                let sent = acks.len() as u64;
                for ack in acks {
                    let _ = ack.await;
                }
                tokio::time::sleep_until(drained.into()).await;
                drop(client);
                sent
            })
        })
        .collect();

    let mut sent = 0u64;
    for task in sending {
        sent += task.await.unwrap_or_default();
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for collector in collectors {
        latencies.extend(collector.await.unwrap_or_default());
    }
    let failed = failed.load(Ordering::Relaxed);
    let delivered = latencies.len();
    let (p50, p99, max) = percentiles(&mut latencies);
    let seconds = args.seconds as f64;
    println!(
        "  target rate    {} messages/s for {} s",
        args.rate, args.seconds
    );
    println!("  sent           {sent} ({failed} refused or unacknowledged)");
    println!(
        "  delivered      {delivered} ({:.2}% of sent)",
        100.0 * delivered as f64 / sent.max(1) as f64
    );
    println!("  delivered/s    {:.0}", delivered as f64 / seconds);
    println!(
        "  latency        p50 {}  p99 {}  max {}  (send to receive)",
        ms(p50),
        ms(p99),
        ms(max)
    );
    print_memory(&["realtime", "conversations", "gateway"]);
    Ok(())
}
