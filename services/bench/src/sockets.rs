//! `sockets`: the end-to-end message path. One member of each conversation sends at a fixed total rate;
//! every other member's `receiveMessage` closes one measurement. Every message thus goes socket ->
//! realtime -> conversations (gRPC, batched commit, outbox) -> RabbitMQ -> realtime -> sockets.
//!
//! Open loop: each send has a scheduled time (`start + offset + k * interval`), is sent at that time or
//! as soon as the generator can if it is late, never waits for earlier sends, and carries its scheduled
//! time in its content. Latency is receive time minus scheduled time, so a stalled generator or server
//! shows in the figures instead of silently sending less (no coordinated omission). Messages scheduled
//! during the warm-up are sent but not measured; CPU is read from /proc over the measured window only.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::report::{ms, percentiles, print_memory};
use crate::{BenchError, cpu, setup};
use testkit::sio;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    auth: String,
    #[arg(long, default_value = "http://127.0.0.1:50052")]
    conversations: String,
    /// Where the sockets connect: realtime itself, or the gateway (which forwards). Several realtime
    /// instances: repeat the option or separate the URLs with commas; each conversation's members are
    /// then spread over them, on different instances where possible.
    #[arg(
        long = "socket-url",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:3001"
    )]
    socket_urls: Vec<String>,
    #[arg(long, default_value_t = 100)]
    conversation_count: usize,
    /// Members per conversation: 2 for the message path, 50 for fan-out. One member of each sends;
    /// every other member receives (and is measured).
    #[arg(long, default_value_t = 2)]
    members: usize,
    /// Messages per second, all senders together.
    #[arg(long, default_value_t = 1000)]
    rate: u64,
    /// Length of the measured window.
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Sending at the full rate before the measured window starts (not measured).
    #[arg(long, default_value_t = 5)]
    warmup: u64,
    /// Reuse the users saved in this file by an earlier run against the same stack (created and saved
    /// there if it holds too few): sign-ups are slow on purpose. Conversations are always new.
    #[arg(long)]
    users_file: Option<std::path::PathBuf>,
}

/// Deliveries still in flight at the end of the window get this long to land.
const DRAIN: Duration = Duration::from_secs(3);

/// Which of `instances` socket URLs member `member` of conversation `conversation` connects to.
/// Consecutive members go to consecutive instances, so a conversation's members sit on different
/// instances wherever there are enough instances (with two members on two, every delivery crosses from
/// one instance to the other through the broker), and each conversation starts one instance further,
/// so that senders and sockets are spread evenly.
pub fn instance_of(conversation: usize, member: usize, instances: usize) -> usize {
    (conversation + member) % instances.max(1)
}

pub async fn run(args: Args) -> Result<(), BenchError> {
    if args.members < 2 {
        return Err(BenchError::Refused(
            "--members must be at least 2".to_owned(),
        ));
    }
    let run = uuid::Uuid::new_v4().simple().to_string();
    let auth = setup::channel(&args.auth, "auth").await?;
    let conversations = setup::channel(&args.conversations, "conversations").await?;
    let users = setup::reused_users(
        &auth,
        &run,
        args.conversation_count * args.members,
        args.users_file.as_deref(),
    )
    .await?;
    let ids = setup::groups(&conversations, &users, args.members).await?;

    let urls = &args.socket_urls;
    let mut per_instance = vec![0usize; urls.len()];
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for (c, (group, conversation)) in users.chunks_exact(args.members).zip(&ids).enumerate() {
        let sender_instance = instance_of(c, 0, urls.len());
        for (i, member) in group.iter().enumerate() {
            let instance = instance_of(c, i, urls.len());
            per_instance[instance] += 1;
            let (client, events) = sio::connect(&urls[instance], &member.token).await?;
            let joined = client
                .ask("joinRoom", json!({ "conversationId": conversation }))
                .await?;
            if joined["success"] != true {
                return Err(BenchError::Refused(joined.to_string()));
            }
            if i == 0 {
                // The sender's own copy of each message is received and dropped, unmeasured.
                senders.push((client, events, conversation.clone()));
            } else {
                receivers.push((client, events, instance != sender_instance));
            }
        }
    }
    println!(
        "sockets: {} conversations of {} members, {} sockets joined",
        ids.len(),
        args.members,
        ids.len() * args.members
    );
    for (url, count) in urls.iter().zip(&per_instance) {
        println!("  instance       {url}: {count} sockets");
    }

    let window_start = Duration::from_secs(args.warmup);
    let window_end = window_start + Duration::from_secs(args.seconds);
    let base = Instant::now();
    let drained = base + window_end + DRAIN;
    let in_window = move |scheduled: Duration| scheduled >= window_start && scheduled < window_end;

    // Each receiving socket records the latency of every measured message that reaches it.
    let collectors: Vec<_> = receivers
        .into_iter()
        .map(|(client, mut events, across)| {
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while let Ok(Some((name, payload))) =
                    tokio::time::timeout_at(drained.into(), events.recv()).await
                {
                    if name != "receiveMessage" {
                        continue;
                    }
                    let scheduled = payload["content"]
                        .as_str()
                        .and_then(|c| c.strip_prefix("t:"))
                        .and_then(|t| t.parse::<u64>().ok())
                        .map(Duration::from_micros);
                    if let Some(scheduled) = scheduled.filter(|s| in_window(*s)) {
                        latencies.push(base.elapsed().saturating_sub(scheduled));
                    }
                }
                drop(client);
                (latencies, across)
            })
        })
        .collect();

    let cpu_window = tokio::spawn(async move {
        tokio::time::sleep_until((base + window_start).into()).await;
        let before = cpu::snapshot();
        tokio::time::sleep_until((base + window_end).into()).await;
        cpu::usage(&before, &cpu::snapshot())
    });

    let failed = Arc::new(AtomicU64::new(0));
    let worst_lateness = Arc::new(AtomicU64::new(0));
    let interval = Duration::from_secs_f64(senders.len() as f64 / args.rate.max(1) as f64);
    let sender_count = senders.len();
    let sending: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(i, (client, mut own_copies, conversation))| {
            let (failed, worst_lateness) = (failed.clone(), worst_lateness.clone());
            // Senders are spread evenly over one interval instead of all firing at once.
            let offset = interval.mul_f64(i as f64 / sender_count as f64);
            tokio::spawn(async move {
                let drop_copies =
                    tokio::spawn(async move { while own_copies.recv().await.is_some() {} });
                let mut acks = Vec::new();
                let mut measured = 0u64;
                for k in 0u32.. {
                    let scheduled = offset + interval * k;
                    if scheduled >= window_end {
                        break;
                    }
                    tokio::time::sleep_until((base + scheduled).into()).await;
                    let late = base.elapsed().saturating_sub(scheduled);
                    worst_lateness.fetch_max(late.as_micros() as u64, Ordering::Relaxed);
                    measured += u64::from(in_window(scheduled));
                    let payload = json!({
                        "conversationId": conversation,
                        "content": format!("t:{}", scheduled.as_micros()),
                    });
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
                for ack in acks {
                    let _ = ack.await;
                }
                tokio::time::sleep_until(drained.into()).await;
                drop(client);
                drop_copies.abort();
                measured
            })
        })
        .collect();

    let mut sent = 0u64;
    for task in sending {
        sent += task.await.unwrap_or_default();
    }
    let mut latencies: Vec<Duration> = Vec::new();
    let mut delivered_across = 0u64;
    for collector in collectors {
        let (received, across) = collector.await.unwrap_or_default();
        if across {
            delivered_across += received.len() as u64;
        }
        latencies.extend(received);
    }
    let usage = cpu_window
        .await
        .map_err(|e| BenchError::Refused(e.to_string()))?;

    let failed = failed.load(Ordering::Relaxed);
    let expected = sent * (args.members as u64 - 1);
    let delivered = latencies.len() as u64;
    let (p50, p99, max) = percentiles(&mut latencies);
    let seconds = args.seconds as f64;
    println!(
        "  target rate    {} messages/s; {} s warm-up, then {} s measured",
        args.rate, args.warmup, args.seconds
    );
    println!(
        "  sent           {sent} in the window ({:.0}/s; {failed} refused or unacknowledged over the run)",
        sent as f64 / seconds
    );
    println!(
        "  generator      latest send {} behind its schedule",
        ms(Duration::from_micros(
            worst_lateness.load(Ordering::Relaxed)
        ))
    );
    println!(
        "  delivered      {delivered} of {expected} ({:.2}%), {:.0} deliveries/s",
        100.0 * delivered as f64 / expected.max(1) as f64,
        delivered as f64 / seconds
    );
    if urls.len() > 1 {
        println!(
            "  across         {delivered_across} of them to a socket on another instance than the sender's"
        );
    }
    println!(
        "  latency        p50 {}  p99 {}  max {}  (scheduled send to receive)",
        ms(p50),
        ms(p99),
        ms(max)
    );
    cpu::print(&usage, sent, "message sent");
    if args.members > 2 {
        let total: f64 = usage.groups.iter().map(|(_, s, _)| s).sum();
        println!(
            "  CPU per delivery, all above: {:.0} us",
            total * 1e6 / delivered.max(1) as f64
        );
    }
    print_memory(&["realtime", "conversations", "gateway"]);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn urls(argv: &[&str]) -> Vec<String> {
        let argv = std::iter::once("bench").chain(argv.iter().copied());
        Cli::try_parse_from(argv)
            .map(|cli| cli.args.socket_urls)
            .unwrap_or_default()
    }

    #[test]
    fn socket_urls_come_one_repeated_or_comma_separated() {
        assert_eq!(urls(&[]), ["http://127.0.0.1:3001"]);
        assert_eq!(urls(&["--socket-url", "http://a:1"]), ["http://a:1"]);
        assert_eq!(
            urls(&["--socket-url", "http://a:1", "--socket-url", "http://b:2"]),
            ["http://a:1", "http://b:2"]
        );
        assert_eq!(
            urls(&["--socket-url", "http://a:1,http://b:2"]),
            ["http://a:1", "http://b:2"]
        );
    }

    #[test]
    fn one_instance_takes_every_socket() {
        for conversation in 0..5 {
            for member in 0..50 {
                assert_eq!(instance_of(conversation, member, 1), 0);
            }
        }
    }

    #[test]
    fn members_of_a_conversation_sit_on_different_instances_where_possible() {
        for (instances, members) in [(2, 2), (2, 50), (3, 2), (3, 3), (3, 50)] {
            for conversation in 0..10 {
                let placed: Vec<usize> = (0..members)
                    .map(|member| instance_of(conversation, member, instances))
                    .collect();
                let mut distinct = placed.clone();
                distinct.sort_unstable();
                distinct.dedup();
                assert_eq!(distinct.len(), members.min(instances), "{placed:?}");
            }
        }
    }

    #[test]
    fn sockets_and_senders_are_spread_evenly() {
        for (instances, members, conversations) in [(2, 2, 100), (2, 50, 20), (3, 2, 99)] {
            let mut sockets = vec![0usize; instances];
            let mut senders = vec![0usize; instances];
            for conversation in 0..conversations {
                senders[instance_of(conversation, 0, instances)] += 1;
                for member in 0..members {
                    sockets[instance_of(conversation, member, instances)] += 1;
                }
            }
            let even = |counts: &[usize]| counts.iter().max() == counts.iter().min();
            assert!(even(&sockets), "{sockets:?}");
            assert!(even(&senders), "{senders:?}");
        }
    }
}
