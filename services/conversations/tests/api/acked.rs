//! A send is stored if and only if it was acknowledged: conversations reaches Postgres through a proxy the
//! tests cut, and every answer is checked against the history afterwards. The one allowed exception is an
//! answer saying the outcome is unknown (the connection broke during COMMIT and the writer could not find
//! out in time); such sends are counted, never treated as failed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Duration;

use conversations::ConversationsError;
use futures::StreamExt;
use junqo_proto::conversations::v1::{Conversation, CreateMessageRequest, Message};
use sqlx::Connection;
use testkit::TcpProxy;
use tonic::Code;

use crate::helpers::{Actor, TestService, spawn_with, writer_blocked};

/// How long the test's callers wait for each send: short, so a cut outlasts many deadlines.
const CALLER_TIMEOUT: Duration = Duration::from_secs(2);

async fn postgres_proxy() -> TcpProxy {
    let host = std::env::var("TEST_DATABASE_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let port: u16 = std::env::var("TEST_DATABASE_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(5432);
    let target: SocketAddr = tokio::net::lookup_host((host.as_str(), port))
        .await
        .expect("the test database's host resolves")
        .next()
        .expect("an address");
    TcpProxy::start(target).await
}

/// Conversations reaching Postgres through `proxy` (auth reaches it directly).
async fn spawn_behind(proxy: &TcpProxy) -> TestService {
    let port = proxy.port.to_string();
    spawn_with(|env| {
        env.set("DATABASE_HOST", "127.0.0.1")
            .set("DATABASE_PORT", port);
    })
    .await
}

/// What a sender was told.
#[derive(Debug)]
enum Answer {
    Stored(Message),
    /// Any error but the one below: the message must not be stored.
    Failed(tonic::Status),
    /// The writer could not find out whether the commit happened: stored or not.
    OutcomeUnknown,
}

async fn send(
    service: &TestService,
    sender: &Actor,
    conversation: &Conversation,
    content: &str,
    client_message_id: Option<String>,
    timeout: Duration,
) -> Answer {
    let mut request = sender.call(CreateMessageRequest {
        conversation_id: conversation.id.clone(),
        content: content.into(),
        client_message_id,
    });
    request.set_timeout(timeout);
    match service.messages.clone().create_message(request).await {
        Ok(message) => Answer::Stored(message.into_inner()),
        Err(status) if status.message() == ConversationsError::OutcomeUnknown.to_string() => {
            // A code of its own: the edges pass this sentence on, and only this one.
            assert_eq!(status.code(), Code::Aborted, "{status:?}");
            Answer::OutcomeUnknown
        }
        Err(status) => Answer::Failed(status),
    }
}

/// Checks every answer against the stored messages (by content, unique per send); returns how many sends
/// answered "outcome unknown" were in fact stored.
fn audit(answers: &HashMap<String, Answer>, stored: &[Message]) -> usize {
    let mut copies: HashMap<&str, Vec<&Message>> = HashMap::new();
    for message in stored {
        copies.entry(&message.content).or_default().push(message);
    }
    let mut unknown_stored = 0;
    for (content, answer) in answers {
        let found = copies.get(content.as_str()).map_or(&[][..], Vec::as_slice);
        match answer {
            Answer::Stored(acked) => {
                assert_eq!(
                    found.len(),
                    1,
                    "{content} acknowledged: stored exactly once"
                );
                assert_eq!(
                    (found[0].id.as_str(), found[0].seq),
                    (acked.id.as_str(), acked.seq)
                );
            }
            Answer::Failed(status) => {
                assert!(
                    found.is_empty(),
                    "{content} was answered {status:?} but is stored"
                );
            }
            Answer::OutcomeUnknown => {
                assert!(found.len() <= 1, "{content} stored twice");
                unknown_stored += found.len();
            }
        }
    }
    let answered: usize = copies.values().map(Vec::len).sum();
    assert_eq!(answered, stored.len(), "nothing stored that nobody sent");
    unknown_stored
}

#[tokio::test]
async fn postgres_cut_during_hundreds_of_sends_stores_exactly_the_acknowledged_ones() {
    const SENDS: usize = 400;
    let proxy = postgres_proxy().await;
    let service = spawn_behind(&proxy).await;
    let alice = service.user("Alice").await;
    let bob = service.user("Bob").await;
    let mut conversations = Vec::new();
    for _ in 0..4 {
        conversations.push(service.conversation(&alice, &[&bob]).await);
    }

    // (answered, failed) so far: the cuts follow the stream's progress.
    let (progress, mut watched) = tokio::sync::watch::channel((0usize, 0usize));
    let cutter = async {
        for round in 1..=3 {
            let _ = watched
                .wait_for(|(answered, _)| *answered >= round * 100)
                .await;
            proxy.cut();
            let failed_before = watched.borrow().1;
            // Restored once the cut has made at least one send fail (or the stream ended).
            let _ = watched
                .wait_for(|(answered, failed)| *failed > failed_before || *answered == SENDS)
                .await;
            proxy.restore();
        }
    };
    let stream = futures::stream::iter(0..SENDS)
        .map(|i| {
            let (service, conversation) = (&service, &conversations[i % 4]);
            let sender = if i % 2 == 0 { &alice } else { &bob };
            // Half carry a client message id, half do not (as clients written against the original).
            let client_id = (i % 3 == 0).then(|| format!("client-{i}"));
            async move {
                let content = format!("message {i}");
                let answer = send(
                    service,
                    sender,
                    conversation,
                    &content,
                    client_id,
                    CALLER_TIMEOUT,
                )
                .await;
                (content, answer)
            }
        })
        .buffer_unordered(64)
        .inspect(|(_, answer)| {
            progress.send_modify(|(answered, failed)| {
                *answered += 1;
                *failed += usize::from(!matches!(answer, Answer::Stored(_)));
            });
        })
        .collect::<HashMap<String, Answer>>();
    let (answers, ()) = tokio::join!(stream, cutter);
    proxy.restore();

    let mut stored = Vec::new();
    for conversation in &conversations {
        let messages = service.history(&alice, conversation).await;
        let seqs: Vec<i64> = messages.iter().map(|m| m.seq).collect();
        assert_eq!(
            seqs,
            (1..=messages.len() as i64).collect::<Vec<_>>(),
            "gap-free"
        );
        stored.extend(messages);
    }
    let unknown_stored = audit(&answers, &stored);

    let acked = answers
        .values()
        .filter(|a| matches!(a, Answer::Stored(_)))
        .count();
    let unknown = answers
        .values()
        .filter(|a| matches!(a, Answer::OutcomeUnknown))
        .count();
    let failed = SENDS - acked - unknown;
    eprintln!(
        "{acked} acknowledged, {failed} failed (none stored), {unknown} outcome unknown \
         ({unknown_stored} of them stored)"
    );
    assert!(acked > 0 && failed > 0, "the cuts happened mid-stream");
    assert_eq!(stored.len(), acked + unknown_stored);
}

#[tokio::test]
async fn a_send_whose_deadline_passes_while_postgres_is_unreachable_is_never_stored() {
    let proxy = postgres_proxy().await;
    let service = spawn_behind(&proxy).await;
    let alice = service.user("Alice").await;
    let conversation = service.conversation(&alice, &[]).await;

    // The writer gets stuck on the conversation's row, which the test holds, and then Postgres stops
    // answering altogether (nothing forwarded, nothing closed): the sends' deadlines pass meanwhile.
    let mut db = service.db.connect().await;
    let mut holder = service.db.connect().await;
    let mut held = holder.begin().await.expect("begin");
    sqlx::query("SELECT 1 FROM conversations.conversations WHERE id = $1::uuid FOR UPDATE")
        .bind(&conversation.id)
        .execute(&mut *held)
        .await
        .expect("lock the conversation");

    let late = (0..5).map(|i| {
        let (service, alice, conversation) = (&service, &alice, &conversation);
        async move {
            let content = format!("late {i}");
            let answer = send(service, alice, conversation, &content, None, CALLER_TIMEOUT).await;
            (content, answer)
        }
    });
    let stall_once_stuck = async {
        writer_blocked(&mut db).await;
        proxy.stall();
    };
    let (answers, ()) = tokio::join!(futures::future::join_all(late), stall_once_stuck);
    for (content, answer) in &answers {
        assert!(
            matches!(answer, Answer::Failed(_)),
            "{content}: told {answer:?} while Postgres was unreachable"
        );
    }
    // They reached the writer before the stall, and the writer answers them by their deadline.
    assert!(
        answers
            .iter()
            .any(|(_, a)| matches!(a, Answer::Failed(s) if s.code() == Code::DeadlineExceeded)),
        "the writer answered the late sends: {answers:?}"
    );

    // Postgres is back. The writer handles messages in order, so once a later message is stored, the
    // earlier ones have had their chance to be (wrongly) committed.
    held.rollback().await.expect("release the conversation");
    proxy.restore();
    let later = send(
        &service,
        &alice,
        &conversation,
        "after the outage",
        None,
        Duration::from_secs(10),
    )
    .await;
    let Answer::Stored(later) = later else {
        panic!("a send after the outage is stored: {later:?}");
    };
    assert_eq!(later.seq, 1, "no earlier message took a number");
    let stored = service.history(&alice, &conversation).await;
    assert_eq!(
        stored
            .iter()
            .map(|m| m.content.as_str())
            .collect::<Vec<_>>(),
        ["after the outage"]
    );
}

#[tokio::test]
async fn a_batch_that_fails_half_way_still_stores_the_others() {
    let service = spawn_with(|_| {}).await;
    let alice = service.user("Alice").await;
    let conversation = service.conversation(&alice, &[]).await;
    let mut db = service.db.connect().await;
    // One message Postgres refuses, as a broken row or a constraint would.
    sqlx::raw_sql(
        "CREATE FUNCTION conversations.refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF NEW.content = 'poison' THEN RAISE EXCEPTION 'poisoned message'; END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER refuse_poison BEFORE INSERT ON conversations.messages
             FOR EACH ROW EXECUTE FUNCTION conversations.refuse_poison();",
    )
    .execute(&mut db)
    .await
    .expect("trigger installed");

    // The writer is held on the conversation's row while the sends queue, so they share a batch.
    let mut holder = service.db.connect().await;
    let mut held = holder.begin().await.expect("begin");
    sqlx::query("SELECT 1 FROM conversations.conversations WHERE id = $1::uuid FOR UPDATE")
        .bind(&conversation.id)
        .execute(&mut *held)
        .await
        .expect("lock the conversation");
    let first = send(
        &service,
        &alice,
        &conversation,
        "first",
        None,
        Duration::from_secs(10),
    );
    let contents: Vec<String> = (0..30)
        .map(|i| {
            if i == 15 {
                "poison".to_owned()
            } else {
                format!("good {i}")
            }
        })
        .collect();
    let batch = contents.iter().map(|content| {
        let (service, alice, conversation) = (&service, &alice, &conversation);
        async move {
            let answer = send(
                service,
                alice,
                conversation,
                content,
                None,
                Duration::from_secs(10),
            )
            .await;
            (content.clone(), answer)
        }
    });
    let release = async {
        writer_blocked(&mut db).await;
        held.rollback().await.expect("release");
    };
    let (first, answers, ()) = tokio::join!(first, futures::future::join_all(batch), release);
    let mut answers: HashMap<String, Answer> = answers.into_iter().collect();
    answers.insert("first".into(), first);
    assert!(
        matches!(&answers["poison"], Answer::Failed(s) if s.code() == Code::Internal),
        "{:?}",
        answers["poison"]
    );
    for (content, answer) in &answers {
        if content != "poison" {
            assert!(matches!(answer, Answer::Stored(_)), "{content}: {answer:?}");
        }
    }
    let stored = service.history(&alice, &conversation).await;
    assert_eq!(stored.len(), 30, "the first and the 29 good ones");
    assert_eq!(audit(&answers, &stored), 0);
    assert_eq!(
        stored.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (1..=30).collect::<Vec<i64>>()
    );
}

#[tokio::test]
async fn a_commit_whose_answer_is_lost_is_looked_up_and_answered_truthfully() {
    let proxy = postgres_proxy().await;
    let service = spawn_behind(&proxy).await;
    let alice = service.user("Alice").await;
    let conversation = service.conversation(&alice, &[]).await;
    let mut db = service.db.connect().await;
    // COMMIT waits on an advisory lock the test holds (a deferred trigger runs at COMMIT), so the test can
    // break the connection while COMMIT runs.
    sqlx::raw_sql(
        "CREATE FUNCTION conversations.hold_commit() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN PERFORM pg_advisory_xact_lock(4242); RETURN NULL; END $$;
         CREATE CONSTRAINT TRIGGER hold_commit AFTER INSERT ON conversations.messages
             DEFERRABLE INITIALLY DEFERRED
             FOR EACH ROW EXECUTE FUNCTION conversations.hold_commit();",
    )
    .execute(&mut db)
    .await
    .expect("trigger installed");
    let mut holder = service.db.connect().await;
    let lock = "SELECT pg_advisory_lock(4242)";
    let unlock = "SELECT pg_advisory_unlock(4242)";

    // The connection breaks during COMMIT, which then succeeds: the writer finds the message stored.
    sqlx::query(lock).execute(&mut holder).await.expect("lock");
    let sent = send(
        &service,
        &alice,
        &conversation,
        "committed unseen",
        None,
        Duration::from_secs(5),
    );
    let break_during_commit = async {
        writer_blocked(&mut db).await;
        proxy.cut();
        sqlx::query(unlock)
            .execute(&mut holder)
            .await
            .expect("unlock");
        proxy.restore();
    };
    let (answer, ()) = tokio::join!(sent, break_during_commit);
    assert!(matches!(answer, Answer::Stored(_)), "{answer:?}");

    // Same, but Postgres stays unreachable past the deadline: the sender hears that the outcome is
    // unknown, and the message is in fact stored (the documented window).
    sqlx::query(lock).execute(&mut holder).await.expect("lock");
    let sent = send(
        &service,
        &alice,
        &conversation,
        "outcome unknown",
        None,
        CALLER_TIMEOUT,
    );
    let break_during_commit = async {
        writer_blocked(&mut db).await;
        proxy.cut();
    };
    let (unknown, ()) = tokio::join!(sent, break_during_commit);
    assert!(matches!(unknown, Answer::OutcomeUnknown), "{unknown:?}");
    sqlx::query(unlock)
        .execute(&mut holder)
        .await
        .expect("unlock");
    proxy.restore();
    let after = send(
        &service,
        &alice,
        &conversation,
        "after",
        None,
        Duration::from_secs(10),
    )
    .await;
    assert!(matches!(after, Answer::Stored(_)), "{after:?}");

    let mut answers = HashMap::new();
    answers.insert("committed unseen".to_owned(), answer);
    answers.insert("outcome unknown".to_owned(), unknown);
    answers.insert("after".to_owned(), after);
    let stored = service.history(&alice, &conversation).await;
    assert_eq!(audit(&answers, &stored), 1, "the unknown one was committed");
    assert_eq!(stored.len(), 3);
}
