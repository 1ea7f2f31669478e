//! The message writer: the hot path of the product.
//!
//! Every new message goes through one task that commits whatever has queued up while the previous
//! transaction was committing, as one transaction: `BEGIN` with the lock of every conversation row of the
//! batch (one round trip), one statement that checks and stores every message of the batch, one that
//! inserts their outbox events, and `COMMIT`. A Postgres commit is the largest single cost per message, so
//! under load the cost is shared by the whole batch, while a lone message still commits at once (a batch
//! of one). Measured and not kept (docs/benchmarks.md, 2026-12-08): several tasks each owning a share of
//! the conversations (on a saturated machine the smaller batches cost Postgres more CPU per message than
//! the overlap saved), and reserving the event numbers in the message statement (no measurable change).
//!
//! Whether a sender may send is decided here, in the batch's statement, not by the caller: the sender
//! takes part in the conversation (admins too: an admin who is not a participant cannot send), the
//! conversation still exists, and it is not a conversation of two kept apart by a block. The statement
//! runs under the conversation rows' locks and takes its snapshot after them, so a participant removed, a
//! conversation deleted or a block made (each of which locks the conversation rows) before the batch
//! commits is seen, and cannot slip a message in; one made after waits for the commit. A refused message
//! is answered NotFound (not a participant, or no such conversation) or Forbidden (kept apart) and takes
//! no sequence number; the others of the batch are stored all the same.
//!
//! If a batch fails (a retry racing its original on another replica, a deadlock, a row Postgres refuses)
//! each of its messages is retried alone, so one bad message never fails the others.
//!
//! A message is stored if and only if its sender is told so, as far as the writer can know:
//! - Callers get their answer only after the commit: an acknowledged message is stored.
//! - Each message carries its caller's deadline ([`Draft::answer_by`]). `COMMIT` is sent only while every
//!   message of the batch has a caller still waiting and at least [`COMMIT_MARGIN`] left; otherwise the
//!   transaction is rolled back, the late ones are answered [`ConversationsError::NotStored`] (or not at
//!   all if their caller left) and the others are tried again. Everything before `COMMIT` (waiting for a
//!   connection, the statements, the retries of a failed batch) is bounded by the deadlines, so a caller
//!   is never told "failed" about a message committed later.
//! - The message ids are made here, before the commit. When `COMMIT` fails or gets no answer in time, the
//!   outcome is unknown: the writer waits on a fresh connection for the batch's transaction to end (its
//!   row locks) and looks the ids up, then answers the truth. If it cannot find out before a caller's
//!   deadline, that caller is answered [`ConversationsError::OutcomeUnknown`]: the message may be stored,
//!   and a retry with the same `clientMessageId` is safe.
//! - The remaining window: a commit that succeeded but whose answer cannot reach the caller (the caller
//!   disconnected or the answer was lost on the way back while `COMMIT` ran). Then the message is stored
//!   and the caller saw an error; `conversations_messages_stored_unanswered_total` counts the cases the
//!   writer sees (the caller gone when the answer is sent).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration as StdDuration;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout_at};
use uuid::Uuid;

use crate::ConversationsError;
use crate::access::may_send;
use crate::domain::MessageContent;
use crate::events::{self, publisher::EventPublisher};
use crate::store::messages::{Submitted, Verdict};
use crate::store::outbox::{Claim, OutboxEvent};
use crate::store::{self, MessageRow};

/// Large enough to amortise a commit, small enough to keep one transaction short.
const MAX_BATCH: usize = 256;
const QUEUE: usize = 4096;
/// `COMMIT` is sent only if every message of the batch has at least this long left before its answer is
/// due: a commit takes milliseconds, so this leaves room for a slow one and for finding out the outcome
/// of a broken one before the caller stops waiting.
pub const COMMIT_MARGIN: StdDuration = StdDuration::from_millis(500);
/// Pause between attempts at finding out a broken commit's outcome while the database is unreachable.
const SETTLE_PAUSE: StdDuration = StdDuration::from_millis(100);

/// A message to store, already validated; the writer checks that its sender may send it.
#[derive(Debug, Clone)]
pub struct Draft {
    pub conversation_id: Uuid,
    pub sender_id: Uuid,
    pub content: MessageContent,
    pub client_message_id: Option<String>,
    pub traceparent: Option<String>,
    /// When the caller stops waiting (less the time the answer needs to reach it): the message is
    /// committed before this, with [`COMMIT_MARGIN`] to spare, or not at all.
    pub answer_by: Instant,
}

type Outcome = Result<MessageRow, ConversationsError>;
type Reply = oneshot::Sender<Outcome>;

struct Pending {
    draft: Draft,
    /// When it was handed over: its wait for a batch shows in `conversations_write_queued_seconds`.
    queued_at: Instant,
    reply: Reply,
    state: Arc<AtomicU8>,
}

/// Who decides a message's fate once its deadline is near. The writer moves a message from `WAITING` to
/// `COMMITTING` just before sending `COMMIT`; a caller giving up moves it from `WAITING` to `ABANDONED`.
/// Only one of them can win, so a caller told "not stored" is never in a commit, and a caller whose
/// message is being committed waits for the outcome.
const WAITING: u8 = 0;
const COMMITTING: u8 = 1;
const ABANDONED: u8 = 2;

#[derive(Clone)]
pub struct MessageWriter {
    queue: mpsc::Sender<Pending>,
}

impl MessageWriter {
    /// Starts the writer task. It ends once every handle is dropped and the queue is drained, so stopping
    /// the server first and then awaiting the task loses no accepted message.
    pub fn spawn(pool: PgPool, publisher: EventPublisher) -> (Self, JoinHandle<()>) {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let task = tokio::spawn(run(receiver, pool, publisher));
        (Self { queue }, task)
    }

    /// Stores a message and answers it as stored (or the first message stored with the same client
    /// message id by the same sender). If the draft's deadline comes first, answers
    /// [`ConversationsError::NotStored`] and the message is never stored; unless its `COMMIT` is under
    /// way, then the writer's answer (due by the deadline) is awaited.
    pub async fn write(&self, draft: Draft) -> Result<MessageRow, ConversationsError> {
        let answer_by = draft.answer_by;
        let state = Arc::new(AtomicU8::new(WAITING));
        let (reply, mut answer) = oneshot::channel();
        let pending = Pending {
            draft,
            queued_at: Instant::now(),
            reply,
            state: state.clone(),
        };
        match timeout_at(answer_by, self.queue.send(pending)).await {
            Err(_) => return Err(ConversationsError::NotStored),
            Ok(Err(_)) => {
                return Err(ConversationsError::Internal(
                    "message writer stopped".into(),
                ));
            }
            Ok(Ok(())) => {}
        }
        let answered = match timeout_at(answer_by, &mut answer).await {
            Ok(answered) => answered,
            Err(_) if abandon(&state) => return Err(ConversationsError::NotStored),
            Err(_) => answer.await,
        };
        answered
            .map_err(|_| ConversationsError::Internal("message writer dropped a message".into()))?
    }
}

async fn run(mut receiver: mpsc::Receiver<Pending>, pool: PgPool, publisher: EventPublisher) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        metrics::histogram!("conversations_write_batch_size").record(batch.len() as f64);
        let started = Instant::now();
        let queued = metrics::histogram!("conversations_write_queued_seconds");
        for pending in &batch {
            queued.record(
                started
                    .saturating_duration_since(pending.queued_at)
                    .as_secs_f64(),
            );
        }
        write_batch(&pool, &publisher, std::mem::take(&mut batch)).await;
        metrics::histogram!("conversations_write_batch_seconds")
            .record(started.elapsed().as_secs_f64());
    }
    tracing::debug!("message writer drained");
}

/// The caller gives up on its message, unless the writer is committing it.
fn abandon(state: &AtomicU8) -> bool {
    state
        .compare_exchange(WAITING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

/// A caller waiting for a message, and when it stops waiting.
struct Waiter {
    reply: Reply,
    answer_by: Instant,
    state: Arc<AtomicU8>,
}

impl Waiter {
    /// Whether a commit sent at `now` may include this caller's message.
    fn may_commit(&self, now: Instant) -> bool {
        !self.reply.is_closed()
            && self.state.load(Ordering::Acquire) != ABANDONED
            && now + COMMIT_MARGIN < self.answer_by
    }

    /// Takes the message out of its caller's hands for a commit, unless the caller gave up.
    fn hold(&self) -> bool {
        self.state
            .compare_exchange(WAITING, COMMITTING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The commit was not sent, or did not happen: the caller may give up again.
    fn release(&self) {
        let _ =
            self.state
                .compare_exchange(COMMITTING, WAITING, Ordering::AcqRel, Ordering::Acquire);
    }

    fn send(self, outcome: Outcome) {
        let stored = outcome.is_ok();
        if self.reply.send(outcome).is_err() && stored {
            metrics::counter!("conversations_messages_stored_unanswered_total").increment(1);
        }
    }
}

/// One message to insert, and everyone waiting for it (retries of one client message id that arrived in
/// the same batch wait on the first). Its id is fixed here, before any commit, so a commit whose outcome
/// was lost can be looked up.
struct Job {
    id: Uuid,
    draft: Draft,
    waiters: Vec<Waiter>,
}

impl Job {
    fn answer(self, outcome: &Outcome) {
        for waiter in self.waiters {
            let copy = match outcome {
                Ok(row) => Ok(row.clone()),
                Err(error) => Err(error.duplicate()),
            };
            waiter.send(copy);
        }
    }

    /// The latest moment any of its callers still waits.
    fn answer_by(&self) -> Instant {
        self.waiters
            .iter()
            .map(|w| w.answer_by)
            .max()
            .unwrap_or(self.draft.answer_by)
    }

    /// Holds every caller that still waits long enough for a commit sent now; whether there was one.
    fn hold(&self, now: Instant) -> bool {
        let mut held = false;
        for waiter in &self.waiters {
            held |= waiter.may_commit(now) && waiter.hold();
        }
        held
    }

    fn release(&self) {
        self.waiters.iter().for_each(Waiter::release);
    }

    /// Answers NotStored to the callers it is too late to commit for, forgets those who left; whether
    /// anyone is still waiting.
    fn prune(&mut self, now: Instant) -> bool {
        let waiters = std::mem::take(&mut self.waiters);
        for waiter in waiters {
            if waiter.may_commit(now) {
                self.waiters.push(waiter);
            } else {
                waiter.send(Err(ConversationsError::NotStored));
            }
        }
        !self.waiters.is_empty()
    }
}

async fn write_batch(pool: &PgPool, publisher: &EventPublisher, pending: Vec<Pending>) {
    // Messages whose callers left or are about to give up are not even looked at.
    let now = Instant::now();
    let mut waiting = Vec::with_capacity(pending.len());
    for p in pending {
        if p.reply.is_closed() || p.state.load(Ordering::Acquire) == ABANDONED {
            continue;
        }
        if now + COMMIT_MARGIN < p.draft.answer_by {
            waiting.push(p);
        } else {
            let _ = p.reply.send(Err(ConversationsError::NotStored));
        }
    }
    let pending = waiting;
    if pending.is_empty() {
        return;
    }
    let jobs = merge_retries(pending);
    let Some((mut jobs, error)) = commit_and_answer(pool, publisher, jobs).await else {
        return;
    };
    if jobs.len() > 1 {
        tracing::warn!(%error, size = jobs.len(), "batch failed, writing its messages one by one");
        for job in jobs {
            if let Some((mut alone, error)) = commit_and_answer(pool, publisher, vec![job]).await
                && let Some(job) = alone.pop()
            {
                answer_failure(pool, job, error).await;
            }
        }
    } else if let Some(job) = jobs.pop() {
        answer_failure(pool, job, error).await;
    }
}

/// What one attempt at committing jobs together came to.
enum Attempt {
    /// Committed: each job's outcome (its row, or its refusal) and the events to publish.
    Committed(Prepared),
    /// Failed before `COMMIT` was sent: nothing is stored.
    Failed(ConversationsError),
    /// A caller's deadline came, or a caller left, before `COMMIT` was sent: nothing is stored; the
    /// others may be tried again.
    Late,
    /// `COMMIT` was sent and its answer was lost or late: stored or not, to be found out.
    Unknown(ConversationsError, Prepared),
}

struct Prepared {
    outcomes: Vec<Outcome>,
    outbox: Vec<OutboxEvent>,
    /// The conversations it inserted messages in (their rows locked by the transaction), and the ids of
    /// the messages it inserted.
    conversations: Vec<Uuid>,
    ids: Vec<Uuid>,
}

/// Commits `jobs` as one transaction and answers them. If that fails with nothing stored, returns the
/// jobs still waiting and the error, unanswered. Callers whose deadline comes first are answered
/// NotStored (or OutcomeUnknown when a broken commit's outcome cannot be found out in time).
async fn commit_and_answer(
    pool: &PgPool,
    publisher: &EventPublisher,
    mut jobs: Vec<Job>,
) -> Option<(Vec<Job>, ConversationsError)> {
    loop {
        let now = Instant::now();
        jobs.retain_mut(|job| job.prune(now));
        if jobs.is_empty() {
            return None;
        }
        let prepared = match attempt(pool, publisher.claim(), &jobs).await {
            Attempt::Committed(prepared) => prepared,
            Attempt::Late => continue,
            Attempt::Failed(error) => return Some((jobs, error)),
            Attempt::Unknown(error, prepared) => {
                tracing::warn!(%error, size = jobs.len(), "commit outcome unknown; finding it out");
                match settle(pool, &mut jobs, &prepared).await {
                    Some(true) => prepared,
                    Some(false) => {
                        jobs.iter().for_each(Job::release);
                        return Some((jobs, error));
                    }
                    None => return None,
                }
            }
        };
        metrics::counter!("conversations_messages_written_total")
            .increment(prepared.ids.len() as u64);
        publisher.publish(prepared.outbox);
        for (job, outcome) in jobs.into_iter().zip(prepared.outcomes) {
            job.answer(&outcome);
        }
        return None;
    }
}

/// One attempt at committing `jobs` in one transaction. Everything before `COMMIT` gives up once the
/// earliest caller has less than [`COMMIT_MARGIN`] left (nothing is stored then); `COMMIT` itself is
/// awaited until the earliest caller's deadline, then its outcome is unknown.
async fn attempt(pool: &PgPool, claim: Claim, jobs: &[Job]) -> Attempt {
    let Some(answer_by) = jobs.iter().map(Job::answer_by).min() else {
        return Attempt::Late;
    };
    let Some(commit_by) = answer_by.checked_sub(COMMIT_MARGIN) else {
        return Attempt::Late;
    };
    let mut conn = match timeout_at(commit_by, pool.acquire()).await {
        Err(_) => return Attempt::Late,
        Ok(Err(error)) => return Attempt::Failed(error.into()),
        Ok(Ok(conn)) => conn,
    };
    let (attempt, broken) = attempt_on(&mut conn, claim, jobs, commit_by, answer_by).await;
    if broken {
        // Abandoned mid-statement, or COMMIT without an answer: the connection's state is unknown, so
        // it is closed rather than reused.
        conn.close_on_drop();
    }
    attempt
}

/// [`attempt`] on a connection; also says whether the connection must be closed.
async fn attempt_on(
    conn: &mut sqlx::PgConnection,
    claim: Claim,
    jobs: &[Job],
    commit_by: Instant,
    answer_by: Instant,
) -> (Attempt, bool) {
    let conversations: Vec<Uuid> = jobs
        .iter()
        .map(|job| job.draft.conversation_id)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let begun = timeout_at(commit_by, async {
        // A failed BEGIN leaves the connection in an unknown state: it is closed.
        let mut tx = store::messages::begin_locked(&mut *conn, &conversations)
            .await
            .map_err(|error| (error, true))?;
        let prepared = prepare(&mut tx, claim, jobs)
            .await
            .map_err(|error| (error, false))?;
        Ok((tx, prepared))
    })
    .await;
    let (tx, prepared) = match begun {
        Err(_) => return (Attempt::Late, true),
        Ok(Err((error, broken))) => return (Attempt::Failed(error), broken),
        Ok(Ok(begun)) => begun,
    };
    // The last moment at which giving up stores nothing: dropping the transaction rolls it back.
    let now = Instant::now();
    let held: Vec<bool> = jobs.iter().map(|job| job.hold(now)).collect();
    if held.contains(&false) {
        jobs.iter().for_each(Job::release);
        return (Attempt::Late, false);
    }
    match timeout_at(answer_by, tx.commit()).await {
        Ok(Ok(())) => (Attempt::Committed(prepared), false),
        Ok(Err(error)) => (Attempt::Unknown(error.into(), prepared), true),
        Err(_) => (
            Attempt::Unknown(
                ConversationsError::Internal("no answer to COMMIT in time".into()),
                prepared,
            ),
            true,
        ),
    }
}

/// Finds out whether a transaction whose `COMMIT` got no answer committed, retrying until the callers'
/// deadlines. `Some(true)`: it did, the prepared outcomes stand; `Some(false)`: it did not, nothing is
/// stored; `None`: every caller had to be answered OutcomeUnknown first.
async fn settle(pool: &PgPool, jobs: &mut [Job], prepared: &Prepared) -> Option<bool> {
    if prepared.ids.is_empty() {
        // Nothing was inserted (every conversation was gone): the outcomes stand either way.
        return Some(true);
    }
    loop {
        let until = jobs
            .iter()
            .filter(|job| !job.waiters.is_empty())
            .map(Job::answer_by)
            .min()?;
        let lock_wait = until.saturating_duration_since(Instant::now());
        let found = match timeout_at(until, pool.acquire()).await {
            Err(elapsed) => Err(elapsed),
            Ok(Err(error)) => Ok(Err(error.into())),
            Ok(Ok(mut conn)) => {
                let looked_up = timeout_at(until, async {
                    let mut tx = sqlx::Connection::begin(&mut *conn).await?;
                    let stored = store::messages::batch_committed(
                        &mut tx,
                        &prepared.conversations,
                        &prepared.ids,
                        lock_wait,
                    )
                    .await?;
                    tx.rollback().await?;
                    Ok::<_, ConversationsError>(stored)
                })
                .await;
                if looked_up.is_err() {
                    conn.close_on_drop();
                }
                looked_up
            }
        };
        match found {
            Ok(Ok(stored)) => return Some(stored),
            Ok(Err(error)) => {
                tracing::debug!(%error, "cannot find out the commit's outcome yet");
                tokio::time::sleep_until(until.min(Instant::now() + SETTLE_PAUSE)).await;
            }
            Err(_) => {}
        }
        // Callers out of time hear that the outcome is unknown; the others wait on. The jobs stay in
        // place (without callers), in step with the prepared outcomes.
        let now = Instant::now();
        for job in jobs.iter_mut() {
            if !job.waiters.is_empty() && job.answer_by() <= now {
                metrics::counter!("conversations_messages_outcome_unknown_total").increment(1);
                for waiter in std::mem::take(&mut job.waiters) {
                    waiter.send(Err(ConversationsError::OutcomeUnknown));
                }
            }
        }
    }
}

/// Answers a job whose commit failed with nothing stored.
async fn answer_failure(pool: &PgPool, job: Job, error: ConversationsError) {
    let outcome = timeout_at(job.answer_by(), recover_retry(pool, &job, error))
        .await
        .unwrap_or(Err(ConversationsError::NotStored));
    job.answer(&outcome);
}

/// A commit refused by a unique index stored nothing new: either this very message is already stored (an
/// earlier commit succeeded but its answer was lost), or a retry raced its original. Either way the
/// stored message is the answer.
async fn recover_retry(
    pool: &PgPool,
    job: &Job,
    error: ConversationsError,
) -> Result<MessageRow, ConversationsError> {
    if !matches!(&error, ConversationsError::Database(e) if store::is_unique_violation(e)) {
        return Err(error);
    }
    if let Some(stored) = store::messages::find(pool, job.id).await? {
        return Ok(stored);
    }
    let Some(client_id) = &job.draft.client_message_id else {
        return Err(error);
    };
    let draft = &job.draft;
    let found = store::messages::find_by_client_ids(
        pool,
        &[draft.sender_id],
        &[draft.conversation_id],
        &[client_id.as_str()],
    )
    .await?;
    found.into_iter().next().map(|(row, _)| row).ok_or(error)
}

/// One job per message, except that retries of one client message id within the batch wait on the first
/// (a client id stored by an earlier batch is found by the batch's statement).
fn merge_retries(pending: Vec<Pending>) -> Vec<Job> {
    let mut jobs: Vec<Job> = Vec::with_capacity(pending.len());
    let mut first_of: HashMap<(Uuid, Uuid, String), usize> = HashMap::new();
    for Pending {
        draft,
        reply,
        state,
        ..
    } in pending
    {
        let waiter = Waiter {
            reply,
            answer_by: draft.answer_by,
            state,
        };
        if let Some(client_id) = &draft.client_message_id {
            let key = (draft.sender_id, draft.conversation_id, client_id.clone());
            if let Some(&index) = first_of.get(&key) {
                jobs[index].waiters.push(waiter);
                continue;
            }
            first_of.insert(key, jobs.len());
        }
        jobs.push(Job {
            id: Uuid::new_v4(),
            draft,
            waiters: vec![waiter],
        });
    }
    jobs
}

/// The answer to a message its sender may not send: a conversation they do not take part in (or that
/// does not exist) is not found, as everywhere; a pair kept apart is told so.
fn refusal(verdict: &Verdict, conversation_id: Uuid) -> Option<ConversationsError> {
    if !may_send(verdict.is_participant) {
        Some(ConversationsError::ConversationNotFound(conversation_id))
    } else if verdict.kept_apart {
        Some(ConversationsError::Forbidden(
            "You cannot message this user",
        ))
    } else {
        None
    }
}

/// Writes the jobs in the transaction `tx` (begun with their conversations locked), up to its commit:
/// each job's outcome is its refusal, the message stored before under its client id, or the row it will
/// have once committed.
async fn prepare(
    tx: &mut sqlx::PgConnection,
    claim: Claim,
    jobs: &[Job],
) -> Result<Prepared, ConversationsError> {
    let submitted: Vec<Submitted<'_>> = jobs
        .iter()
        .map(|job| Submitted {
            id: job.id,
            conversation_id: job.draft.conversation_id,
            sender_id: job.draft.sender_id,
            content: job.draft.content.as_str(),
            client_message_id: job.draft.client_message_id.as_deref(),
        })
        .collect();
    let verdicts = store::messages::insert_allowed(tx, &submitted).await?;
    if verdicts.len() != jobs.len() {
        return Err(ConversationsError::Internal(
            "a message of the batch got no verdict".into(),
        ));
    }

    let mut outcomes = Vec::with_capacity(jobs.len());
    let mut new_events = Vec::new();
    let mut conversations = BTreeSet::new();
    let mut ids = Vec::new();
    for ((job, message), verdict) in jobs.iter().zip(&submitted).zip(&verdicts) {
        if let Some(refused) = refusal(verdict, message.conversation_id) {
            outcomes.push(Err(refused));
            continue;
        }
        let Some(row) = verdict.stored(message) else {
            return Err(ConversationsError::Internal(
                "an allowed message was not stored".into(),
            ));
        };
        if verdict.inserted {
            new_events.push(events::message_created(
                &row,
                job.draft.traceparent.as_deref(),
            ));
            conversations.insert(row.conversation_id);
            ids.push(row.id);
        }
        outcomes.push(Ok(row));
    }
    let outbox = store::outbox::insert(tx, new_events, claim).await?;
    Ok(Prepared {
        outcomes,
        outbox,
        conversations: conversations.into_iter().collect(),
        ids,
    })
}
