//! The transactional outbox, which is also each conversation's event log: events are inserted with the
//! change they describe, numbered per conversation (`event_seq`), marked published once the broker has
//! confirmed them, and kept for the retention period so realtime can read a gap in its live delivery
//! ([`since`]). Each unpublished row carries a claim (which replica publishes it, until when), so two
//! conversations replicas never relay the same row.

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::ConversationsError;

/// `junqo.events.v1.Event.event_seq`.
const EVENT_SEQ_FIELD: u32 = 5;

/// An event ready for the outbox: its payload is already encoded, so the outbox needs no event types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub event_id: Uuid,
    /// The conversation whose event log numbers it; `None` for an event of no conversation.
    pub conversation_id: Option<Uuid>,
    pub routing_key: String,
    /// An encoded `junqo.events.v1.Event`; once numbered (as every event this module returns is), with its
    /// `event_seq` in it.
    pub payload: Vec<u8>,
    pub traceparent: Option<String>,
}

/// An event stored in the outbox, with the row id that marks it published once confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    pub id: i64,
    pub event: NewEvent,
}

/// A replica's hold on outbox rows: no other replica's relay takes them until `lease_ms` has passed
/// (renewed by the holder's own relay while it runs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    pub by: Uuid,
    pub lease_ms: i64,
}

/// Sets `event_seq` in an encoded event stored without it, by appending the field: a scalar field that
/// occurs again in an encoding replaces the earlier value (protobuf merge semantics), and the stored
/// encoding has none (0 is not encoded). Appending rather than decoding and re-encoding keeps the
/// publisher and ListEventsSince free of event types and of a decode per event: the number is only known
/// once the insert has run, after the payload was encoded, and a row relayed or read later takes it from
/// its `event_seq` column the same way, so every copy of an event carries the same number.
pub fn with_event_seq(mut payload: Vec<u8>, event_seq: Option<i64>) -> Vec<u8> {
    if let Some(seq) = event_seq.filter(|seq| *seq > 0) {
        prost::encoding::int64::encode(EVENT_SEQ_FIELD, &seq, &mut payload);
    }
    payload
}

/// Inserts events in the caller's transaction, claimed by the replica that will publish them; returns
/// them with their outbox ids and their `event_seq` set, in the given order.
///
/// Each conversation's events get its next event numbers, in the given order, from
/// `conversations.last_event_seq`, in the same statement (no round trip added to the writer's batch). The
/// bump holds the conversation row's lock until the transaction ends, so a conversation's numbers follow
/// its commit order and a number that is visible has every lower one visible too. A caller must have
/// locked its conversation rows before touching any other row the message writer locks after them
/// (participants, messages, receipts), or two transactions could each hold what the other waits for. A
/// conversation whose row is gone (deleted in this transaction) numbers nothing: its event is published
/// with `event_seq` 0.
pub async fn insert(
    tx: &mut PgConnection,
    events: Vec<NewEvent>,
    claim: Claim,
) -> Result<Vec<OutboxEvent>, ConversationsError> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let event_ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    let conversations: Vec<Option<Uuid>> = events.iter().map(|e| e.conversation_id).collect();
    let keys: Vec<&str> = events.iter().map(|e| e.routing_key.as_str()).collect();
    let payloads: Vec<&[u8]> = events.iter().map(|e| e.payload.as_slice()).collect();
    let traceparents: Vec<Option<&str>> = events.iter().map(|e| e.traceparent.as_deref()).collect();
    let ids: Vec<(i64, Uuid, Option<i64>)> = sqlx::query_as(
        "WITH e AS (
            SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::bytea[], $5::text[])
                WITH ORDINALITY AS e(event_id, conversation_id, routing_key, payload, traceparent, n)),
         counts AS (
            SELECT conversation_id, count(*) AS k FROM e
            WHERE conversation_id IS NOT NULL GROUP BY conversation_id),
         bumped AS (
            UPDATE conversations c SET last_event_seq = c.last_event_seq + counts.k
            FROM counts WHERE c.id = counts.conversation_id
            RETURNING c.id, c.last_event_seq)
         INSERT INTO outbox (event_id, conversation_id, event_seq, routing_key, payload, traceparent,
                             claimed_by, claimed_until)
         SELECT e.event_id, e.conversation_id,
                b.last_event_seq - count(*) OVER w + row_number() OVER w,
                e.routing_key, e.payload, e.traceparent,
                $6::uuid, now() + make_interval(secs => $7::double precision / 1000)
         FROM e LEFT JOIN bumped b ON b.id = e.conversation_id
         WINDOW w AS (PARTITION BY e.conversation_id ORDER BY e.n
                      ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
         ORDER BY e.n
         RETURNING id, event_id, event_seq",
    )
    .bind(&event_ids)
    .bind(&conversations)
    .bind(&keys)
    .bind(&payloads)
    .bind(&traceparents)
    .bind(claim.by)
    .bind(claim.lease_ms)
    .fetch_all(&mut *tx)
    .await?;
    let mut outbox = Vec::with_capacity(events.len());
    for mut event in events {
        let (id, event_seq) = ids
            .iter()
            .find(|(_, event_id, _)| *event_id == event.event_id)
            .map(|(id, _, seq)| (*id, *seq))
            .ok_or_else(|| ConversationsError::Internal("outbox insert lost an event".into()))?;
        event.payload = with_event_seq(event.payload, event_seq);
        outbox.push(OutboxEvent { id, event });
    }
    Ok(outbox)
}

/// Extends this replica's claim on every unpublished row it holds.
pub async fn renew_claims(db: &PgPool, claim: Claim) -> Result<(), ConversationsError> {
    sqlx::query(
        "UPDATE outbox
         SET claimed_until = now() + make_interval(secs => $2::double precision / 1000)
         WHERE published_at IS NULL AND claimed_by = $1",
    )
    .bind(claim.by)
    .bind(claim.lease_ms)
    .execute(db)
    .await?;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct StoredRow {
    id: i64,
    event_id: Uuid,
    conversation_id: Option<Uuid>,
    event_seq: Option<i64>,
    routing_key: String,
    payload: Vec<u8>,
    traceparent: Option<String>,
}

impl From<StoredRow> for OutboxEvent {
    fn from(row: StoredRow) -> Self {
        OutboxEvent {
            id: row.id,
            event: NewEvent {
                event_id: row.event_id,
                conversation_id: row.conversation_id,
                routing_key: row.routing_key,
                payload: with_event_seq(row.payload, row.event_seq),
                traceparent: row.traceparent,
            },
        }
    }
}

/// Claims unpublished rows old enough that their fast-path publish has surely failed or been lost: this
/// replica's own, and any whose claim has lapsed (its replica died or lost the broker for long). Rows
/// another replica is claiming at this very moment are skipped, not waited for. Returns them in id order,
/// with the numbers they were stored with.
pub async fn claim_stale(
    db: &PgPool,
    claim: Claim,
    older_than_ms: i64,
    limit: i64,
) -> Result<Vec<OutboxEvent>, ConversationsError> {
    let mut rows: Vec<StoredRow> = sqlx::query_as(
        "UPDATE outbox
         SET claimed_by = $1, claimed_until = now() + make_interval(secs => $2::double precision / 1000)
         WHERE id IN (
             SELECT id FROM outbox
             WHERE published_at IS NULL
               AND created_at < now() - make_interval(secs => $3::double precision / 1000)
               AND (claimed_by = $1 OR claimed_until IS NULL OR claimed_until < now())
             ORDER BY id LIMIT $4
             FOR UPDATE SKIP LOCKED)
         RETURNING id, event_id, conversation_id, event_seq, routing_key, payload, traceparent",
    )
    .bind(claim.by)
    .bind(claim.lease_ms)
    .bind(older_than_ms)
    .bind(limit)
    .fetch_all(db)
    .await?;
    rows.sort_unstable_by_key(|row| row.id);
    Ok(rows.into_iter().map(OutboxEvent::from).collect())
}

/// Marks rows the broker confirmed: the relay no longer takes them, and they are kept for
/// [`prune`] to delete once the retention has passed.
pub async fn mark_published(db: &PgPool, ids: &[i64]) -> Result<(), ConversationsError> {
    // The claim is set to one nobody holds and that never lapses: a replica of the previous build (a
    // rolling upgrade) relays lapsed claims whatever `published_at` says, and would otherwise publish
    // every kept row again, unnumbered, and then delete it.
    sqlx::query(
        "UPDATE outbox
         SET published_at = now(),
             claimed_by = '00000000-0000-0000-0000-000000000000', claimed_until = 'infinity'
         WHERE id = ANY($1) AND published_at IS NULL",
    )
    .bind(ids)
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes at most `limit` rows published more than `retention_ms` ago, oldest first; returns how many.
/// Unpublished rows are never deleted, however old. Rows another replica's pruning holds are skipped.
pub async fn prune(db: &PgPool, retention_ms: i64, limit: i64) -> Result<u64, ConversationsError> {
    let result = sqlx::query(
        "DELETE FROM outbox WHERE id IN (
             SELECT id FROM outbox
             WHERE published_at < now() - make_interval(secs => $1::double precision / 1000)
             ORDER BY published_at LIMIT $2
             FOR UPDATE SKIP LOCKED)",
    )
    .bind(retention_ms)
    .bind(limit)
    .execute(db)
    .await?;
    Ok(result.rows_affected())
}

/// Unpublished rows.
pub async fn backlog(db: &PgPool) -> Result<i64, ConversationsError> {
    Ok(
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(db)
            .await?,
    )
}

/// A conversation's kept events after `after`, as ListEventsSince answers them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventsSince {
    /// Encoded events with their `event_seq` set, in `event_seq` order, from `after + 1` on without a
    /// hole (empty when `after + 1` itself is gone).
    pub events: Vec<Vec<u8>>,
    pub latest_event_seq: i64,
    /// Whether `events` are every event after `after`, up to the latest or up to `limit`: false when
    /// some were pruned.
    pub complete: bool,
}

/// The conversation's kept events with `event_seq > after` (published or not yet), oldest first, at most
/// `limit`, and its latest number, read in one statement (one snapshot: every number up to the latest is
/// committed, so what is missing below it was pruned). `None` if the conversation does not exist.
pub async fn since(
    db: &PgPool,
    conversation: Uuid,
    after: i64,
    limit: i64,
) -> Result<Option<EventsSince>, ConversationsError> {
    let rows: Vec<(i64, Option<i64>, Option<Vec<u8>>)> = sqlx::query_as(
        "SELECT c.last_event_seq, o.event_seq, o.payload FROM conversations c
         LEFT JOIN LATERAL (
             SELECT event_seq, payload FROM outbox
             WHERE conversation_id = c.id AND event_seq > $2
             ORDER BY event_seq LIMIT $3) o ON true
         WHERE c.id = $1
         ORDER BY o.event_seq",
    )
    .bind(conversation)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await?;
    let Some(&(latest_event_seq, ..)) = rows.first() else {
        return Ok(None);
    };
    // Pruning goes by publication time, not by number: an event relayed late can outlive the one after
    // it. The page ends at the first hole, so what it holds always continues the asked-for sequence
    // (the next read, starting after the hole, is then incomplete).
    let mut events = Vec::with_capacity(rows.len());
    let mut next = after + 1;
    for (_, seq, payload) in rows {
        let (Some(seq), Some(payload)) = (seq, payload) else {
            continue;
        };
        if seq != next {
            break;
        }
        next += 1;
        events.push(with_event_seq(payload, Some(seq)));
    }
    // Every number up to the latest is committed in the snapshot read: whatever is missing below it
    // was pruned.
    let reached = next - 1;
    let complete = reached >= latest_event_seq || events.len() as i64 >= limit;
    Ok(Some(EventsSince {
        events,
        latest_event_seq,
        complete,
    }))
}

#[cfg(test)]
mod tests {
    use junqo_proto::events::v1::Event;
    use prost::Message;

    use super::*;

    #[test]
    fn an_appended_event_seq_is_the_decoded_one() {
        let event = Event {
            event_id: "e".into(),
            conversation_id: "c".into(),
            ..Event::default()
        };
        let numbered = with_event_seq(event.encode_to_vec(), Some(300));
        let decoded = Event::decode(numbered.as_slice()).expect("an event");
        assert_eq!(decoded.event_seq, 300);
        assert_eq!(decoded.event_id, "e");
        assert_eq!(
            with_event_seq(event.encode_to_vec(), None),
            event.encode_to_vec()
        );
    }
}
