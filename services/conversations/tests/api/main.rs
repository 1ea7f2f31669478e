//! The conversations service over its real gRPC API, with the real auth service, a fresh Postgres
//! database and fresh RabbitMQ exchange names per test.

mod acked;
mod authn;
mod blocks;
mod concurrency;
mod conversations;
mod event_log;
mod events;
mod helpers;
mod idempotency;
mod messages;
mod read_state;
mod replicas;
mod send_batch;
mod send_checks;
mod sequence;
mod user_deleted;
mod writer_batches;
