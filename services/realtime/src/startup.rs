//! Start-up: the Socket.IO server on axum, the RabbitMQ fan-out task, and an orderly stop: on SIGTERM
//! every socket is closed at the transport level, which Socket.IO clients treat as a lost connection and
//! answer by reconnecting (to another instance, behind a load balancer). How every service starts and
//! stops is `platform::service`; this file says what realtime is and the order it stops in.

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use junqo_proto::conversations::v1::conversations_service_client::ConversationsServiceClient;
use junqo_proto::conversations::v1::conversations_service_server;
use junqo_proto::conversations::v1::messages_service_client::MessagesServiceClient;
use jwt::{ServiceSigner, TokenVerifier};
use platform::service::{Limits, Listener, Service};
use platform::telemetry::LogFormat;
use platform::{Env, Error};
use secrecy::ExposeSecret;
use socketioxide::SocketIo;
use socketioxide::handler::ConnectHandler;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tower::util::MapRequestLayer;

use crate::census::Census;
use crate::dispatch::Dispatcher;
use crate::events::Table;
use crate::fanout::{self, FanoutSettings};
use crate::hub::Hub;
use crate::liveness;
use crate::presence::Presence;
use crate::rooms::Rooms;
use crate::sequencer::Sequencer;
use crate::tokens::token_watch;
use crate::typing::Typing;
use crate::upstream::send_batch::SendBatcher;
use crate::{RealtimeConfig, handshake, head, lifecycle, membership};

/// Outgoing packets buffered per socket before emits to it fail (a client that stops reading).
const SOCKET_BUFFER: usize = 64;
/// Initial WebSocket read buffer per connection; it grows for larger messages.
const WS_READ_BUFFER: usize = 1024;

pub struct Application {
    listener: Listener,
    limits: Limits,
    router: Router,
    io: SocketIo,
    hub: Arc<Hub>,
    fanout_task: JoinHandle<()>,
    /// Heartbeats, expiry and snapshots of presence; stopped with the fan-out.
    liveness_task: JoinHandle<()>,
    stop_fanout: CancellationToken,
    /// Stopped with the fan-out: its fills emit no more once the namespace closes.
    sequencer: Sequencer,
    /// The revocation feed and the token watch.
    token_tasks: [JoinHandle<()>; 2],
    stop_tokens: CancellationToken,
}

impl Service for Application {
    const NAME: &'static str = "realtime";
    const PROTOCOL: &'static str = "Socket.IO";
    type Config = RealtimeConfig;

    fn config(env: &Env) -> Result<RealtimeConfig, Error> {
        RealtimeConfig::from_env(env)
    }

    fn log_format(config: &RealtimeConfig) -> LogFormat {
        config.log_format
    }

    async fn build(config: RealtimeConfig) -> Result<Self, Error> {
        let conversations = platform::grpc::channel(&config.conversations_url)?;
        let stop_tokens = CancellationToken::new();
        let (revocations, revocation_feed) = revocation::start(
            revocation::FeedSettings {
                rabbitmq_url: config.rabbitmq_url.expose_secret().to_owned(),
                exchanges: config.exchanges.clone(),
                service: "realtime",
                signer: Arc::new(ServiceSigner::new(&config.jwt_secret, "realtime")),
            },
            platform::grpc::channel(&config.auth_url)?,
            stop_tokens.clone(),
        );
        // A handshake cannot tell a revoked token without them: start only once they are loaded.
        if !revocations
            .wait_loaded(config.revocations_load_timeout)
            .await
        {
            stop_tokens.cancel();
            return Err(Error::service(revocation::feed::NotLoaded(
                config.revocations_load_timeout,
            )));
        }
        let (tokens, token_runner) = token_watch(revocations.clone(), stop_tokens.clone());
        let instance_id = uuid::Uuid::new_v4().simple().to_string();
        let stop_fanout = CancellationToken::new();
        let settings = FanoutSettings {
            url: config.rabbitmq_url.expose_secret().to_owned(),
            exchanges: config.exchanges.clone(),
            shards: config.event_shards,
            instance_id: instance_id.clone(),
            queue_expires: config.event_queue_expires,
        };
        let (fanout, runner) = fanout::spawn(settings, stop_fanout.clone());
        let presence = Arc::new(Presence::new(
            &instance_id,
            config.presence_heartbeat,
            config.presence_expiry,
        ));
        let (liveness, liveness_runner) = liveness::channel(config.presence_heartbeat);
        let typing = Typing::new(fanout.clone(), config.typing_timeout);
        let conversations_client = ConversationsServiceClient::new(conversations.clone());
        let sequencer = Sequencer::new(
            MessagesServiceClient::new(conversations.clone()),
            ServiceSigner::new(&config.jwt_secret, Self::NAME),
        );
        let rooms = Rooms::new(
            fanout.clone(),
            sequencer.clone(),
            typing.clone(),
            conversations_client.clone(),
            config.socket_limits.rooms_per_socket,
        );
        let hub = Arc::new(Hub {
            verifier: TokenVerifier::new(&config.jwt_secret),
            service: ServiceSigner::new(&config.jwt_secret, Self::NAME),
            revocations,
            tokens,
            conversations: conversations_client,
            messages: MessagesServiceClient::new(conversations.clone()),
            sends: SendBatcher::spawn(
                MessagesServiceClient::new(conversations.clone()),
                ServiceSigner::new(&config.jwt_secret, Self::NAME),
            ),
            fanout: fanout.clone(),
            presence: presence.clone(),
            rooms: rooms.clone(),
            typing,
            instance_id: instance_id.clone(),
            sockets_per_user: config.socket_limits.sockets_per_user,
            admission: std::sync::Mutex::new(()),
        });
        // Installed before the event table, whose metric handles would otherwise record nowhere.
        platform::metrics::install();
        let events = Arc::new(Table::new(&config.socket_limits));

        let (layer, io) = SocketIo::builder()
            .ping_interval(config.ping_interval)
            .ping_timeout(config.ping_timeout)
            .max_payload(config.max_payload_bytes as u64)
            .ws_max_message_size(config.max_payload_bytes)
            .ws_max_frame_size(config.max_payload_bytes)
            .ws_read_buffer_size(WS_READ_BUFFER)
            .max_buffer_size(SOCKET_BUFFER)
            .with_state(hub.clone())
            .with_state(events)
            .build_layer();
        // Middlewares run last-added first: the handshake, then admission (handlers attached).
        io.ns(
            "/",
            lifecycle::on_connect
                .with(lifecycle::admit)
                .with(handshake::authenticate),
        );
        sequencer.attach(io.clone());
        // Ends with the runtime: it only evicts, through the same paths as a removal event.
        tokio::spawn(membership::run(
            sequencer.suspects(),
            rooms.clone(),
            sequencer.clone(),
        ));
        tokio::spawn(rooms.clone().evict_removed(sequencer.evictions()));
        let fanout_task = runner.start(Dispatcher::new(
            io.clone(),
            presence,
            rooms,
            sequencer.clone(),
            liveness,
            instance_id,
        ));
        let liveness_task = liveness_runner.start(hub.clone(), io.clone(), stop_fanout.clone());
        let token_tasks = [revocation_feed, token_runner.start(io.clone())];

        let router = Router::new()
            .route("/health", get(|| async { "ok" }))
            .route("/metrics", get(|| async { platform::metrics::render() }))
            .route("/ready", get(ready))
            .with_state(conversations)
            .layer(layer)
            // Before Socket.IO: the head a socket keeps holds copies, not hyper's read buffer.
            .layer(MapRequestLayer::new(head::compact::<Body>))
            .layer(platform::http::cors(config.cors_origins.as_deref()));
        let listener = platform::service::listen(config.listen).await?;
        Ok(Self {
            listener,
            limits: config.limits,
            router,
            io,
            hub,
            fanout_task,
            liveness_task,
            stop_fanout,
            sequencer,
            token_tasks,
            stop_tokens,
        })
    }

    fn port(&self) -> u16 {
        self.listener.port
    }

    /// Serves until `shutdown` resolves, then closes every socket (clients reconnect elsewhere) and the
    /// broker connection.
    async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), Error> {
        let (io, hub, stop_fanout, fanout_task, liveness_task, sequencer) = (
            self.io,
            self.hub,
            self.stop_fanout,
            self.fanout_task,
            self.liveness_task,
            self.sequencer,
        );
        let (stop_tokens, token_tasks) = (self.stop_tokens, self.token_tasks);
        let stopping = async move {
            shutdown.await;
            // Sockets are closed below anyway; no token check may race the namespace closing.
            stop_tokens.cancel();
            for task in token_tasks {
                let _ = task.await;
            }
            // Before the sockets close: the other instances learn this one's users are gone.
            lifecycle::depart(&hub).await;
            // Then no more deliveries or presence emits: emitting into a closed namespace would panic.
            stop_fanout.cancel();
            let _ = fanout_task.await;
            let _ = liveness_task.await;
            sequencer.close();
            tracing::info!("closing every socket; clients will reconnect");
            io.close().await;
        };
        platform::service::serve(self.listener.listener, self.router, self.limits, stopping).await;
        Ok(())
    }
}

/// Ready while the conversations service answers: without it no room can be joined.
async fn ready(State(conversations): State<Channel>) -> StatusCode {
    if platform::grpc::is_serving(conversations, conversations_service_server::SERVICE_NAME).await {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

impl Application {
    /// What this instance holds right now (sockets, hosted rooms).
    pub fn census(&self) -> Census {
        Census {
            io: self.io.clone(),
            fanout: self.hub.fanout.clone(),
        }
    }
}
