//! SIGTERM, as Kubernetes sends it, to the real service processes.

use std::time::Duration;

use e2e::process::Backend;
use e2e::{JWT_SECRET, process};
use junqo_proto::auth::v1::SignUpRequest;
use junqo_proto::auth::v1::auth_service_client::AuthServiceClient;
use junqo_proto::conversations::v1::conversations_service_client::ConversationsServiceClient;
use junqo_proto::conversations::v1::messages_service_client::MessagesServiceClient;
use junqo_proto::conversations::v1::{CreateConversationRequest, CreateMessageRequest};
use secrecy::SecretString;
use testkit::{TestBroker, TestDatabase, sio};
use tokio::sync::mpsc;

/// Realtime closes every socket at the transport level (no Socket.IO DISCONNECT, which would tell clients
/// not to reconnect) and exits well within its 20 s grace period.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_on_realtime_closes_sockets_so_clients_reconnect_and_exits_in_time() {
    let backend = Backend::start().await;
    let (mut realtime, _) = backend.realtime().await;

    let signer = jwt::TokenSigner::new(&SecretString::from(JWT_SECRET), jwt::DEFAULT_TTL);
    let token = signer
        .sign(&jwt::Subject {
            id: uuid::Uuid::new_v4(),
            name: "Alice",
            user_type: jwt::UserType::Student,
            email: "alice@example.com",
        })
        .expect("signed");
    let (_socket, mut events) =
        sio::connect(&format!("http://127.0.0.1:{}", realtime.port), &token)
            .await
            .expect("connected");

    let (status, took) = realtime.terminate(Duration::from_secs(20)).await;
    assert!(status.success(), "realtime exits cleanly: {status:?}");
    assert!(took < Duration::from_secs(10), "stopped in {took:?}");
    let mut told_not_to_reconnect = false;
    while let Ok(Some((name, _))) =
        tokio::time::timeout(Duration::from_secs(5), events.recv()).await
    {
        told_not_to_reconnect |= name == "disconnect";
    }
    assert!(
        !told_not_to_reconnect,
        "the socket was closed, not disconnected by the server"
    );
    assert!(events.recv().await.is_none(), "the connection is closed");
    drop(backend);
}

/// Conversations finishes in-flight calls and commits what its writer holds: every message acknowledged
/// before (or while) it stops is in the database afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_on_conversations_under_load_loses_no_acknowledged_message() {
    let db = TestDatabase::create().await;
    let broker = TestBroker::new();
    let mut env = process::base_env(&db, &broker);
    let auth = process::start("auth", &env).await;
    env.insert("AUTH_URL".into(), format!("http://127.0.0.1:{}", auth.port));
    let mut conversations = process::start("conversations", &env).await;

    let token = AuthServiceClient::connect(format!("http://127.0.0.1:{}", auth.port))
        .await
        .expect("auth answers")
        .sign_up(SignUpRequest {
            name: Some("Alice".into()),
            email: Some("alice@example.com".into()),
            r#type: Some("STUDENT".into()),
            password: Some("password123".into()),
        })
        .await
        .expect("signed up")
        .into_inner()
        .token;
    let url = format!("http://127.0.0.1:{}", conversations.port);
    let conversation = ConversationsServiceClient::connect(url.clone())
        .await
        .expect("conversations answers")
        .create_conversation(as_user(&token, CreateConversationRequest::default()))
        .await
        .expect("created")
        .into_inner()
        .id;

    let (acknowledged, mut acks) = mpsc::unbounded_channel::<String>();
    for sender in 0..16 {
        let mut client = MessagesServiceClient::connect(url.clone())
            .await
            .expect("connects");
        let (token, conversation, acknowledged) =
            (token.clone(), conversation.clone(), acknowledged.clone());
        tokio::spawn(async move {
            for i in 0.. {
                let request = as_user(
                    &token,
                    CreateMessageRequest {
                        conversation_id: conversation.clone(),
                        content: format!("sender {sender} message {i}"),
                        client_message_id: None,
                    },
                );
                let Ok(message) = client.create_message(request).await else {
                    return;
                };
                if acknowledged.send(message.into_inner().id).is_err() {
                    return;
                }
            }
        });
    }
    drop(acknowledged);
    let mut ids = Vec::new();
    while ids.len() < 300 {
        ids.push(acks.recv().await.expect("senders are running"));
    }
    let (status, _) = conversations.terminate(Duration::from_secs(45)).await;
    assert!(status.success(), "conversations exits cleanly: {status:?}");
    while let Some(id) = acks.recv().await {
        ids.push(id);
    }

    let mut connection = db.connect().await;
    let uuids: Vec<uuid::Uuid> = ids.iter().map(|id| id.parse().expect("uuid")).collect();
    let stored: i64 =
        sqlx::query_scalar("SELECT count(*) FROM conversations.messages WHERE id = ANY($1)")
            .bind(&uuids)
            .fetch_one(&mut connection)
            .await
            .expect("count");
    assert_eq!(
        stored as usize,
        ids.len(),
        "every acknowledged message is stored"
    );
    drop(auth);
}

/// The gateway stops accepting on SIGTERM but finishes the requests it has: here sign-ups still waiting
/// for the auth service's password hashing when the signal arrives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_on_the_gateway_finishes_requests_in_flight() {
    let db = TestDatabase::create().await;
    let broker = TestBroker::new();
    let mut env = process::base_env(&db, &broker);
    // One hashing thread: concurrent sign-ups queue behind each other, so most are still in flight when
    // the first one is answered.
    env.insert("PASSWORD_HASH_CONCURRENCY".into(), "1".into());
    let auth = process::start("auth", &env).await;
    env.insert("AUTH_URL".into(), format!("http://127.0.0.1:{}", auth.port));
    let mut gateway = process::start("gateway", &env).await;
    let url = format!("http://127.0.0.1:{}/api/v1/auth/register", gateway.port);

    let http = reqwest::Client::new();
    let mut requests = futures::stream::FuturesUnordered::new();
    for i in 0..12 {
        let body = serde_json::json!({
            "name": format!("User {i}"), "email": format!("user{i}@example.com"),
            "type": "STUDENT", "password": "password123",
        });
        requests.push(http.post(&url).json(&body).send());
    }
    use futures::StreamExt;
    let first = requests.next().await.expect("a request").expect("answered");
    assert_eq!(first.status(), 201);

    let terminating = tokio::spawn(async move { gateway.terminate(Duration::from_secs(45)).await });
    let mut answered = 1;
    while let Some(response) = requests.next().await {
        let response = response.expect("a request in flight at SIGTERM is still answered");
        assert_eq!(response.status(), 201);
        answered += 1;
    }
    assert_eq!(answered, 12);
    let (status, _) = terminating.await.expect("joined");
    assert!(status.success(), "the gateway exits cleanly: {status:?}");
    drop(auth);
}

/// A realtime instance that stops announces its users offline first: a user connected to another
/// instance who shares a conversation with them sees them go offline, rather than online forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_on_a_realtime_instance_tells_the_others_its_users_went_offline() {
    let db = TestDatabase::create().await;
    let broker = TestBroker::new();
    let mut env = process::base_env(&db, &broker);
    let auth = process::start("auth", &env).await;
    env.insert("AUTH_URL".into(), format!("http://127.0.0.1:{}", auth.port));
    let conversations = process::start("conversations", &env).await;
    env.insert(
        "CONVERSATIONS_URL".into(),
        format!("http://127.0.0.1:{}", conversations.port),
    );
    let staying = process::start("realtime", &env).await;
    let mut leaving = process::start("realtime", &env).await;

    let mut auth_client = AuthServiceClient::connect(format!("http://127.0.0.1:{}", auth.port))
        .await
        .expect("auth answers");
    let mut users = Vec::new();
    for name in ["Alice", "Bob"] {
        let response = auth_client
            .sign_up(SignUpRequest {
                name: Some(name.into()),
                email: Some(format!("{}@example.com", name.to_lowercase())),
                r#type: Some("STUDENT".into()),
                password: Some("password123".into()),
            })
            .await
            .expect("signed up")
            .into_inner();
        users.push((response.token, response.user.expect("user").id));
    }
    let (alice_token, _) = &users[0];
    let (bob_token, bob_id) = &users[1];
    ConversationsServiceClient::connect(format!("http://127.0.0.1:{}", conversations.port))
        .await
        .expect("conversations answers")
        .create_conversation(as_user(
            alice_token,
            CreateConversationRequest {
                participant_ids: vec![bob_id.clone()],
                ..Default::default()
            },
        ))
        .await
        .expect("created");

    let (_alice, mut alice_events) =
        sio::connect(&format!("http://127.0.0.1:{}", staying.port), alice_token)
            .await
            .expect("alice connects");
    let (_bob, _bob_events) =
        sio::connect(&format!("http://127.0.0.1:{}", leaving.port), bob_token)
            .await
            .expect("bob connects");
    let status_of_bob = |wanted: &'static str| {
        let bob_id = bob_id.clone();
        move |(name, payload): &(String, serde_json::Value)| {
            name == "userStatus"
                && payload["userId"] == bob_id.as_str()
                && payload["status"] == wanted
        }
    };
    let seen_online = sio::wait_for(
        &mut alice_events,
        Duration::from_secs(10),
        status_of_bob("online"),
    )
    .await;
    assert!(
        seen_online.is_some(),
        "alice sees bob come online across instances"
    );

    let (status, _) = leaving.terminate(Duration::from_secs(20)).await;
    assert!(status.success());
    let seen_offline = sio::wait_for(
        &mut alice_events,
        Duration::from_secs(10),
        status_of_bob("offline"),
    )
    .await;
    assert!(
        seen_offline.is_some(),
        "alice sees bob go offline when his instance stops"
    );
    drop((auth, conversations, staying));
}

/// A gRPC request made as the user whose token this is.
fn as_user<T>(token: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    platform::grpc::authorize(&mut request, token);
    request
}
