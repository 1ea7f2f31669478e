//! Keeps [`Revocations`] current: consume `junqo.auth`, reload from auth after every (re)connect.

use std::sync::Arc;
use std::time::Duration;

use broker::Exchanges;
use broker::lapin::options::{
    BasicAckOptions, BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions,
};
use broker::lapin::types::FieldTable;
use futures::StreamExt;
use junqo_proto::auth::v1::ListRevocationsRequest;
use junqo_proto::auth::v1::auth_service_client::AuthServiceClient;
use junqo_proto::events::v1::{AuthEvent, auth_event::Payload};
use jwt::ServiceSigner;
use prost::Message;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use uuid::Uuid;

use crate::Revocations;

#[derive(Debug, Clone)]
pub struct FeedSettings {
    pub rabbitmq_url: String,
    pub exchanges: Exchanges,
    /// Named on the broker connection, so operators can tell them apart.
    pub service: &'static str,
    /// Signs the service token the snapshot is asked with: the list of revoked token ids and cutoffs
    /// is for services only, never for a user.
    pub signer: Arc<ServiceSigner>,
}

/// Starts the feed. The state is empty and not loaded ([`Revocations::is_loaded`]) until the first
/// snapshot arrives; the caller decides whether to wait ([`Revocations::wait_loaded`]) or to answer 503
/// meanwhile.
pub fn start(
    settings: FeedSettings,
    auth: Channel,
    stop: CancellationToken,
) -> (Revocations, JoinHandle<()>) {
    let revocations = Revocations::new();
    let task = tokio::spawn(run(
        settings,
        AuthServiceClient::new(auth),
        revocations.clone(),
        stop,
    ));
    (revocations, task)
}

async fn run(
    settings: FeedSettings,
    mut auth: AuthServiceClient<Channel>,
    revocations: Revocations,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let session = follow(&settings, &mut auth, &revocations, &stop);
        match session.await {
            Ok(()) => return,
            Err(error) => {
                tracing::warn!(%error, retry_in = ?backoff, "revocation feed interrupted; reloading")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = stop.cancelled() => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error(transparent)]
    Broker(#[from] broker::Error),
    #[error("RabbitMQ: {0}")]
    Lapin(#[from] broker::lapin::Error),
    #[error("auth ListRevocations: {0}")]
    Auth(#[from] tonic::Status),
    #[error("cannot sign the service token: {0}")]
    Sign(#[from] jwt::SignError),
    #[error("the revocation queue was cancelled")]
    Cancelled,
}

/// One connected stretch: queue first, then the snapshot, then events until the broker goes away.
async fn follow(
    settings: &FeedSettings,
    auth: &mut AuthServiceClient<Channel>,
    revocations: &Revocations,
    stop: &CancellationToken,
) -> Result<(), SessionError> {
    let connection = broker::connect(&settings.rabbitmq_url, settings.service).await?;
    let channel = connection.create_channel().await?;
    broker::declare_auth(&channel, &settings.exchanges).await?;
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
    channel
        .queue_bind(
            queue.name().clone(),
            settings.exchanges.auth.as_str().into(),
            "#".into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let mut consumer = channel
        .basic_consume(
            queue.name().clone(),
            "".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;

    // Consuming already: whatever is revoked from here on reaches the queue, whatever came before is in
    // the snapshot.
    let token = settings.signer.sign(None)?;
    let mut request = tonic::Request::new(ListRevocationsRequest {});
    platform::grpc::authorize(&mut request, &token);
    let snapshot = auth.list_revocations(request).await?.into_inner();
    let parse = |text: &str| text.parse::<Uuid>().ok();
    revocations.load(
        snapshot
            .cutoffs
            .iter()
            .filter_map(|c| Some((parse(&c.user_id)?, c.valid_after)))
            .collect(),
        snapshot
            .tokens
            .iter()
            .filter_map(|t| Some((parse(&t.jti)?, t.expires_at)))
            .collect(),
    );
    tracing::info!(
        cutoffs = snapshot.cutoffs.len(),
        tokens = snapshot.tokens.len(),
        "revocations loaded"
    );

    loop {
        let delivery = tokio::select! {
            () = stop.cancelled() => {
                let _ = connection.close(200, "shutting down".into()).await;
                return Ok(());
            }
            delivery = consumer.next() => delivery,
        };
        let delivery = delivery.ok_or(SessionError::Cancelled)??;
        apply(revocations, &delivery.data);
        delivery.ack(BasicAckOptions::default()).await?;
    }
}

/// Applies one event; an undecodable one is logged and dropped (it cannot become decodable later).
fn apply(revocations: &Revocations, body: &[u8]) {
    let Ok(event) = AuthEvent::decode(body) else {
        tracing::warn!("dropping an undecodable auth event");
        return;
    };
    match event.payload {
        Some(Payload::TokensRevoked(revoked)) => {
            let Ok(user) = revoked.user_id.parse::<Uuid>() else {
                tracing::warn!("dropping a tokens.revoked event without a user id");
                return;
            };
            if revoked.jti.is_empty() {
                revocations.revoke_all_before(user, revoked.valid_after);
            } else if let Ok(jti) = revoked.jti.parse::<Uuid>() {
                revocations.revoke_token(user, jti, revoked.expires_at);
            }
        }
        // Its tokens came with their own `tokens.revoked` event; services that clean up after a deleted
        // user (conversations) listen for this one themselves.
        Some(Payload::UserDeleted(_)) | None => {}
    }
}

/// Start-up gave up waiting for the first snapshot.
#[derive(Debug, thiserror::Error)]
#[error("revocations not loaded from auth within {0:?}: is auth reachable?")]
pub struct NotLoaded(pub Duration);
