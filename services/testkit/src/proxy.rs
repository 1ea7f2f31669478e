//! A TCP proxy for failure tests: services connect through it, and the test cuts every connection
//! (and refuses new ones) to simulate a broker or database going away, then restores it. It can also
//! stall: forward nothing, and close nothing, as a network partition does (a peer that stops answering).

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct TcpProxy {
    pub port: u16,
    cut: Arc<watch::Sender<bool>>,
    stalled: Arc<watch::Sender<bool>>,
    accept_task: tokio::task::JoinHandle<()>,
}

/// Copies `from` to `to`, holding what it reads while the proxy is stalled.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut stalled: watch::Receiver<bool>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let Ok(read) = from.read(&mut buffer).await else {
            return;
        };
        if stalled.wait_for(|stalled| !*stalled).await.is_err() {
            return;
        }
        if read == 0 {
            let _ = to.shutdown().await;
            return;
        }
        if to.write_all(&buffer[..read]).await.is_err() {
            return;
        }
    }
}

impl TcpProxy {
    /// Starts forwarding a free local port to `target`.
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let port = listener.local_addr().expect("bound").port();
        let (cut, _) = watch::channel(false);
        let cut = Arc::new(cut);
        let state = cut.clone();
        let (stalled, _) = watch::channel(false);
        let stalled = Arc::new(stalled);
        let stall = stalled.clone();
        let accept_task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if *state.borrow() {
                    drop(inbound);
                    continue;
                }
                let mut cut_signal = state.subscribe();
                let mut stalled = stall.subscribe();
                tokio::spawn(async move {
                    // A stalled proxy accepts but does not connect onwards: the client's handshake hangs.
                    let forward = async {
                        if stalled.wait_for(|stalled| !*stalled).await.is_err() {
                            return;
                        }
                        let Ok(outbound) = TcpStream::connect(target).await else {
                            return;
                        };
                        let (in_read, in_write) = inbound.into_split();
                        let (out_read, out_write) = outbound.into_split();
                        tokio::join!(
                            pump(in_read, out_write, stalled.clone()),
                            pump(out_read, in_write, stalled.clone()),
                        );
                    };
                    tokio::select! {
                        _ = forward => {}
                        _ = cut_signal.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Self {
            port,
            cut,
            stalled,
            accept_task,
        }
    }

    /// The local RabbitMQ's URL (guest credentials, default vhost) through this proxy, for a proxy
    /// started in front of the broker.
    pub fn amqp_url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// Drops every proxied connection and refuses new ones until [`Self::restore`].
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Undoes [`Self::cut`] and [`Self::stall`].
    pub fn restore(&self) {
        self.cut.send_replace(false);
        self.stalled.send_replace(false);
    }

    /// Forwards nothing and closes nothing until [`Self::restore`]: existing connections hang, new ones
    /// are accepted but get no answer, as when the peer is unreachable without anyone saying so.
    pub fn stall(&self) {
        self.stalled.send_replace(true);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}
