//! A minimal Socket.IO v4 client over a WebSocket (Engine.IO v4, no polling): enough to connect with a
//! token, answer heartbeats, emit events with acks and receive events. One task per connection, so the
//! load generator costs little next to the server it measures.

use std::collections::HashMap;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// An event the server emitted: its name and first argument. A server-side namespace DISCONNECT arrives
/// as the event `disconnect`; the channel closes when the connection does.
pub type Incoming = (String, Value);

/// The sending half of a connection; events arrive on the receiver returned by [`connect`].
#[derive(Clone)]
pub struct Client {
    outgoing: mpsc::UnboundedSender<Outgoing>,
}

enum Outgoing {
    Event {
        name: String,
        payload: Value,
        ack: Option<oneshot::Sender<Value>>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SioError {
    #[error("websocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("handshake refused: {0}")]
    Refused(String),
    #[error("connection closed")]
    Closed,
    #[error("no ack within 10 s")]
    NoAck,
}

/// Connects to `base` (http://host:port) as the token's user.
pub async fn connect(
    base: &str,
    token: &str,
) -> Result<(Client, mpsc::UnboundedReceiver<Incoming>), SioError> {
    let url = format!(
        "{}/socket.io/?EIO=4&transport=websocket",
        base.replacen("http", "ws", 1)
    );
    let (mut stream, _) = tokio_tungstenite::connect_async(url).await?;
    // Engine.IO open packet, then the namespace CONNECT with the auth object.
    expect_prefix(&mut stream, "0").await?;
    let connect = format!("40{}", serde_json::json!({ "token": token }));
    stream.send(Message::text(connect)).await?;
    let answer = next_text(&mut stream).await?;
    if !answer.starts_with("40") {
        return Err(SioError::Refused(answer));
    }

    let (outgoing, mut to_send) = mpsc::unbounded_channel::<Outgoing>();
    let (events, received) = mpsc::unbounded_channel::<Incoming>();
    tokio::spawn(async move {
        let mut next_ack: u64 = 0;
        let mut acks: HashMap<u64, oneshot::Sender<Value>> = HashMap::new();
        loop {
            tokio::select! {
                frame = stream.next() => {
                    let Some(Ok(Message::Text(text))) = frame else { break };
                    let text = text.as_str();
                    if text == "41" {
                        // A Socket.IO DISCONNECT from the server: clients take it as "do not reconnect".
                        let _ = events.send(("disconnect".to_owned(), Value::Null));
                    } else if text == "2" {
                        if stream.send(Message::text("3")).await.is_err() { break }
                    } else if let Some(rest) = text.strip_prefix("42") {
                        if let Ok(Value::Array(mut args)) = serde_json::from_str::<Value>(rest)
                            && let Some(Value::String(name)) = args.first().cloned()
                        {
                            let payload = if args.len() > 1 { args.swap_remove(1) } else { Value::Null };
                            let _ = events.send((name, payload));
                        }
                    } else if let Some(rest) = text.strip_prefix("43") {
                        let digits = rest.chars().take_while(char::is_ascii_digit).count();
                        if let (Ok(id), Ok(Value::Array(mut args))) = (rest[..digits].parse::<u64>(), serde_json::from_str::<Value>(&rest[digits..]))
                            && let Some(waiter) = acks.remove(&id)
                        {
                            let _ = waiter.send(if args.is_empty() { Value::Null } else { args.swap_remove(0) });
                        }
                    }
                }
                command = to_send.recv() => {
                    let Some(Outgoing::Event { name, payload, ack }) = command else { break };
                    let body = serde_json::json!([name, payload]);
                    let frame = match ack {
                        Some(waiter) => {
                            next_ack += 1;
                            acks.insert(next_ack, waiter);
                            format!("42{next_ack}{body}")
                        }
                        None => format!("42{body}"),
                    };
                    if stream.send(Message::text(frame)).await.is_err() { break }
                }
            }
        }
        let _ = stream.close(None).await;
    });
    Ok((Client { outgoing }, received))
}

impl Client {
    /// Emits without asking for an ack. Frames leave in the order they were emitted, and before the
    /// connection closes when the last `Client` is dropped.
    pub fn emit(&self, name: &str, payload: Value) -> Result<(), SioError> {
        self.outgoing
            .send(Outgoing::Event {
                name: name.to_owned(),
                payload,
                ack: None,
            })
            .map_err(|_| SioError::Closed)
    }

    /// Emits and waits (at most 10 s) for the server's ack.
    pub async fn ask(&self, name: &str, payload: Value) -> Result<Value, SioError> {
        let (ack, answer) = oneshot::channel();
        self.outgoing
            .send(Outgoing::Event {
                name: name.to_owned(),
                payload,
                ack: Some(ack),
            })
            .map_err(|_| SioError::Closed)?;
        match tokio::time::timeout(std::time::Duration::from_secs(10), answer).await {
            Ok(answer) => answer.map_err(|_| SioError::Closed),
            Err(_) => Err(SioError::NoAck),
        }
    }
}

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text frame that is not a heartbeat; heartbeats are answered on the way (the server may send
/// its first ping before it answers the namespace CONNECT).
async fn next_text(stream: &mut Stream) -> Result<String, SioError> {
    loop {
        match stream.next().await {
            Some(Ok(Message::Text(text))) if text.as_str() == "2" => {
                stream.send(Message::text("3")).await?
            }
            Some(Ok(Message::Text(text))) => return Ok(text.as_str().to_owned()),
            Some(Ok(_)) => continue,
            Some(Err(error)) => return Err(error.into()),
            None => return Err(SioError::Closed),
        }
    }
}

async fn expect_prefix(stream: &mut Stream, prefix: &str) -> Result<(), SioError> {
    let text = next_text(stream).await?;
    if text.starts_with(prefix) {
        Ok(())
    } else {
        Err(SioError::Refused(text))
    }
}

/// The next event that `wanted` accepts, waiting at most `within`; `None` if none came or the connection
/// closed first.
pub async fn wait_for(
    events: &mut mpsc::UnboundedReceiver<Incoming>,
    within: std::time::Duration,
    wanted: impl Fn(&Incoming) -> bool,
) -> Option<Incoming> {
    tokio::time::timeout(within, async {
        while let Some(event) = events.recv().await {
            if wanted(&event) {
                return Some(event);
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}
