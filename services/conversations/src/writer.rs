//! The message writer: the hot path of the product.
//!
//! Every new message goes through one task that commits whatever has queued up while the previous
//! transaction was committing, as one transaction: one `UPDATE` reserves sequence numbers and times for
//! every conversation in the batch, one `INSERT` stores the messages, one more their outbox events. A
//! Postgres commit is the largest single cost per message, so under load the cost is shared by the whole
//! batch, while a lone message still commits at once (a batch of one).
//!
//! If a batch fails (a conversation deleted meanwhile, a retry racing its original on another replica, a
//! deadlock with another replica's batch) each of its messages is retried alone, so one bad message never
//! fails the others. Callers get their answer only after the commit: an acknowledged message is stored.

use std::collections::{BTreeMap, HashMap};

use chrono::Duration;
use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::ConversationsError;
use crate::domain::MessageContent;
use crate::events::{self, publisher::EventPublisher};
use crate::store::outbox::{Claim, OutboxEvent};
use crate::store::{self, MessageRow, messages::Reservation};

/// Large enough to amortise a commit, small enough to keep one transaction short.
const MAX_BATCH: usize = 256;
const QUEUE: usize = 4096;

/// A message to store, already validated and authorised.
#[derive(Debug, Clone)]
pub struct Draft {
    pub conversation_id: Uuid,
    pub sender_id: Uuid,
    pub content: MessageContent,
    pub client_message_id: Option<String>,
    pub traceparent: Option<String>,
}

type Reply = oneshot::Sender<Result<MessageRow, ConversationsError>>;

struct Pending {
    draft: Draft,
    reply: Reply,
}

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
    /// message id by the same sender).
    pub async fn write(&self, draft: Draft) -> Result<MessageRow, ConversationsError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { draft, reply })
            .await
            .map_err(|_| ConversationsError::Internal("message writer stopped".into()))?;
        answer
            .await
            .map_err(|_| ConversationsError::Internal("message writer dropped a message".into()))?
    }
}

async fn run(mut receiver: mpsc::Receiver<Pending>, pool: PgPool, publisher: EventPublisher) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        metrics::histogram!("conversations_write_batch_size").record(batch.len() as f64);
        write_batch(&pool, &publisher, std::mem::take(&mut batch)).await;
    }
    tracing::debug!("message writer drained");
}

/// One message to insert, and everyone waiting for it (retries of one client message id that arrived in
/// the same batch wait on the first). Its id is fixed once, so retrying a commit whose outcome was lost
/// (the connection broke after Postgres committed) finds the stored row instead of storing it twice.
struct Job {
    id: Uuid,
    draft: Draft,
    replies: Vec<Reply>,
}

impl Job {
    fn answer(self, outcome: &Result<MessageRow, ConversationsError>) {
        for reply in self.replies {
            let copy = match outcome {
                Ok(row) => Ok(row.clone()),
                Err(error) => Err(error.duplicate()),
            };
            let _ = reply.send(copy);
        }
    }
}

async fn write_batch(pool: &PgPool, publisher: &EventPublisher, pending: Vec<Pending>) {
    let jobs = match answer_retries(pool, pending).await {
        Ok(jobs) => jobs,
        Err((error, pending)) => {
            for p in pending {
                let _ = p.reply.send(Err(error.duplicate()));
            }
            return;
        }
    };
    if jobs.is_empty() {
        return;
    }
    match commit(pool, publisher.claim(), &jobs).await {
        Ok((outcomes, outbox)) => {
            publisher.publish(outbox);
            for (job, outcome) in jobs.into_iter().zip(outcomes) {
                job.answer(&outcome);
            }
        }
        Err(error) if jobs.len() > 1 => {
            tracing::warn!(%error, size = jobs.len(), "batch failed, writing its messages one by one");
            for job in jobs {
                let outcome = write_alone(pool, publisher, &job).await;
                job.answer(&outcome);
            }
        }
        Err(error) => {
            let outcome = recover_retry(pool, &jobs[0], error).await;
            jobs.into_iter().for_each(|job| job.answer(&outcome));
        }
    }
}

async fn write_alone(
    pool: &PgPool,
    publisher: &EventPublisher,
    job: &Job,
) -> Result<MessageRow, ConversationsError> {
    match commit(pool, publisher.claim(), std::slice::from_ref(job)).await {
        Ok((mut outcomes, outbox)) => {
            publisher.publish(outbox);
            outcomes
                .pop()
                .unwrap_or_else(|| Err(ConversationsError::Internal("empty commit".into())))
        }
        Err(error) => recover_retry(pool, job, error).await,
    }
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

/// Answers messages whose client id was already stored, and merges retries within the batch.
async fn answer_retries(
    pool: &PgPool,
    pending: Vec<Pending>,
) -> Result<Vec<Job>, (ConversationsError, Vec<Pending>)> {
    type Key = (Uuid, Uuid, String);
    let keyed: Vec<(Uuid, Uuid, &str)> = pending
        .iter()
        .filter_map(|p| {
            Some((
                p.draft.sender_id,
                p.draft.conversation_id,
                p.draft.client_message_id.as_deref()?,
            ))
        })
        .collect();
    let stored: HashMap<Key, MessageRow> = if keyed.is_empty() {
        HashMap::new()
    } else {
        let senders: Vec<Uuid> = keyed.iter().map(|(s, _, _)| *s).collect();
        let conversations: Vec<Uuid> = keyed.iter().map(|(_, c, _)| *c).collect();
        let ids: Vec<&str> = keyed.iter().map(|(_, _, id)| *id).collect();
        match store::messages::find_by_client_ids(pool, &senders, &conversations, &ids).await {
            Ok(found) => found
                .into_iter()
                .map(|(row, client)| ((row.sender_id, row.conversation_id, client), row))
                .collect(),
            Err(error) => return Err((error, pending)),
        }
    };

    let mut jobs: Vec<Job> = Vec::with_capacity(pending.len());
    let mut first_of: HashMap<Key, usize> = HashMap::new();
    for Pending { draft, reply } in pending {
        let key = draft
            .client_message_id
            .clone()
            .map(|c| (draft.sender_id, draft.conversation_id, c));
        if let Some(key) = key {
            if let Some(row) = stored.get(&key) {
                let _ = reply.send(Ok(row.clone()));
                continue;
            }
            if let Some(&index) = first_of.get(&key) {
                jobs[index].replies.push(reply);
                continue;
            }
            first_of.insert(key, jobs.len());
        }
        jobs.push(Job {
            id: Uuid::new_v4(),
            draft,
            replies: vec![reply],
        });
    }
    Ok(jobs)
}

/// Commits the jobs in one transaction. Jobs whose conversation no longer exists get NotFound; the others
/// their stored row. Returns the outbox events to publish.
async fn commit(
    pool: &PgPool,
    claim: Claim,
    jobs: &[Job],
) -> Result<
    (
        Vec<Result<MessageRow, ConversationsError>>,
        Vec<OutboxEvent>,
    ),
    ConversationsError,
> {
    // Group by conversation, in id order so that concurrent batches lock rows in one order.
    let mut groups: BTreeMap<Uuid, Vec<usize>> = BTreeMap::new();
    for (index, job) in jobs.iter().enumerate() {
        groups
            .entry(job.draft.conversation_id)
            .or_default()
            .push(index);
    }
    let ids: Vec<Uuid> = jobs.iter().map(|job| job.id).collect();
    let reservations: Vec<Reservation> = groups
        .iter()
        .map(|(conversation_id, members)| Reservation {
            conversation_id: *conversation_id,
            count: i32::try_from(members.len()).unwrap_or(i32::MAX),
            last_message_id: ids[*members.last().unwrap_or(&0)],
        })
        .collect();

    let mut tx = pool.begin().await?;
    let reserved = store::messages::reserve(&mut tx, &reservations).await?;

    let mut outcomes: Vec<Option<Result<MessageRow, ConversationsError>>> =
        jobs.iter().map(|_| None).collect();
    let mut rows = Vec::with_capacity(jobs.len());
    let mut client_ids = Vec::with_capacity(jobs.len());
    let mut traceparents = Vec::with_capacity(jobs.len());
    for (conversation_id, members) in &groups {
        let Some(numbers) = reserved.iter().find(|r| r.id == *conversation_id) else {
            for &index in members {
                outcomes[index] = Some(Err(ConversationsError::ConversationNotFound(
                    *conversation_id,
                )));
            }
            continue;
        };
        let count = members.len() as i64;
        for (position, &index) in members.iter().enumerate() {
            let position = position as i64;
            let created_at = numbers.last_message_at - Duration::milliseconds(count - 1 - position);
            let draft = &jobs[index].draft;
            let row = MessageRow {
                id: ids[index],
                conversation_id: *conversation_id,
                seq: numbers.last_seq - count + 1 + position,
                sender_id: draft.sender_id,
                content: draft.content.as_str().to_owned(),
                created_at,
                updated_at: created_at,
            };
            client_ids.push(draft.client_message_id.as_deref());
            traceparents.push(draft.traceparent.as_deref());
            outcomes[index] = Some(Ok(row.clone()));
            rows.push(row);
        }
    }
    if !rows.is_empty() {
        store::messages::insert_many(&mut tx, &rows, &client_ids).await?;
    }
    let new_events = rows
        .iter()
        .zip(traceparents)
        .map(|(row, traceparent)| events::message_created(row, traceparent))
        .collect();
    let outbox = store::outbox::insert(&mut tx, new_events, claim).await?;
    tx.commit().await?;
    metrics::counter!("conversations_messages_written_total").increment(rows.len() as u64);

    let outcomes = outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| {
                Err(ConversationsError::Internal(
                    "message left unwritten".into(),
                ))
            })
        })
        .collect();
    Ok((outcomes, outbox))
}
