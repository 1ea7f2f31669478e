//! What one HTTP client may hold: how long it may take to send a request head, how long a kept-alive
//! connection may sit idle, and how many connections a listener serves at once.
//!
//! hyper's HTTP/1 server has one timer for this: it starts when the connection is ready for a request
//! head (at accept, and again as soon as a response is done) and closes the connection when the head is
//! not complete in time. Used as is, that would make the idle allowance of a kept-alive connection the
//! same as the allowance to send a head. [`HeadTimer`] gives hyper a per-connection timer that tells the
//! two apart: a new connection must send its head within the header-read timeout; a kept-alive one may
//! stay silent for the idle timeout, and once the first byte of its next request arrives, the head must be
//! complete within the header-read timeout of it. Requests in flight (a long poll, a slow handler) and
//! upgraded connections (WebSocket) are never timed by it.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::rt::{Sleep, Timer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;

use crate::{Env, Error};

/// The limits of one HTTP listener. Every variable is documented in the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// A request head (request line and headers) must arrive within this; else the connection is closed.
    pub header_read_timeout: Duration,
    /// A kept-alive connection with no request in flight is closed after this long.
    pub idle_timeout: Duration,
    /// Connections served at once (WebSockets included, for as long as they stay open). Further clients
    /// wait in the listen backlog until one closes.
    pub max_connections: usize,
}

impl Limits {
    /// Long enough for any real client on a slow network, short enough that a trickling client holds a
    /// connection for seconds, not minutes.
    pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
    /// Above the 60 s that proxies in front (ingress-nginx's upstream keep-alive) keep an idle connection,
    /// so the proxy, not this server, closes it and never reuses a connection this side is closing.
    pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
    /// At about 30 KiB per idle Socket.IO connection (docs/benchmarks.md), 10,000 stay within a few
    /// hundred MiB and well within the usual descriptor limits of a container.
    pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
    /// Probes and scrapers open a handful; the cap only has to stop a flood.
    pub const DEFAULT_ADMIN_MAX_CONNECTIONS: usize = 100;

    /// The public listener's limits: `HTTP_HEADER_READ_TIMEOUT_MS`, `HTTP_IDLE_TIMEOUT_MS`,
    /// `HTTP_MAX_CONNECTIONS`.
    pub fn from_env(env: &Env) -> Result<Self, Error> {
        Self::read(env, "HTTP_MAX_CONNECTIONS", Self::DEFAULT_MAX_CONNECTIONS)
    }

    /// The admin port's limits: the same timeouts, with `ADMIN_MAX_CONNECTIONS`.
    pub fn admin_from_env(env: &Env) -> Result<Self, Error> {
        Self::read(
            env,
            "ADMIN_MAX_CONNECTIONS",
            Self::DEFAULT_ADMIN_MAX_CONNECTIONS,
        )
    }

    fn read(env: &Env, cap: &'static str, default_cap: usize) -> Result<Self, Error> {
        let millis = |name: &'static str, default: Duration| -> Result<Duration, Error> {
            let default = u64::try_from(default.as_millis()).unwrap_or(u64::MAX);
            match env.parse_or(name, default)? {
                0 => Err(positive(name)),
                ms => Ok(Duration::from_millis(ms)),
            }
        };
        let limits = Self {
            header_read_timeout: millis(
                "HTTP_HEADER_READ_TIMEOUT_MS",
                Self::DEFAULT_HEADER_READ_TIMEOUT,
            )?,
            idle_timeout: millis("HTTP_IDLE_TIMEOUT_MS", Self::DEFAULT_IDLE_TIMEOUT)?,
            max_connections: env.parse_or(cap, default_cap)?,
        };
        // tokio's semaphore holds at most usize::MAX >> 3 permits.
        if limits.max_connections == 0 || limits.max_connections > usize::MAX >> 3 {
            return Err(positive(cap));
        }
        Ok(limits)
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Self::DEFAULT_HEADER_READ_TIMEOUT,
            idle_timeout: Self::DEFAULT_IDLE_TIMEOUT,
            max_connections: Self::DEFAULT_MAX_CONNECTIONS,
        }
    }
}

fn positive(name: &'static str) -> Error {
    Error::Invalid {
        name,
        reason: "must be a positive number".into(),
    }
}

/// An accepted connection. It holds its place under the connection cap for as long as the socket is
/// open, through a protocol upgrade too (hyper keeps this value inside the upgraded connection), and
/// counts the reads that return bytes, for [`HeadTimer`].
pub(super) struct Connection {
    stream: TcpStream,
    reads: Arc<AtomicU64>,
    _place: OwnedSemaphorePermit,
}

impl Connection {
    pub(super) fn new(stream: TcpStream, place: OwnedSemaphorePermit) -> (Self, Arc<AtomicU64>) {
        let reads = Arc::new(AtomicU64::new(0));
        let connection = Self {
            stream,
            reads: reads.clone(),
            _place: place,
        };
        (connection, reads)
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.reads.fetch_add(1, Ordering::Relaxed);
        }
        polled
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// hyper's head timer for one connection (see the module doc). hyper asks it for one sleep per request
/// head it waits for; the deadline hyper computes is replaced by the one the limits give.
#[derive(Clone)]
pub(super) struct HeadTimer {
    limits: Limits,
    reads: Arc<AtomicU64>,
    heads: Arc<AtomicU64>,
}

impl HeadTimer {
    pub(super) fn new(limits: Limits, reads: Arc<AtomicU64>) -> Self {
        Self {
            limits,
            reads,
            heads: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl Timer for HeadTimer {
    /// Not used by hyper's HTTP/1 server; a plain sleep, should a later hyper ask for one.
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        hyper_util::rt::TokioTimer::new().sleep(duration)
    }

    fn sleep_until(&self, _hyper_deadline: Instant) -> Pin<Box<dyn Sleep>> {
        let started = Instant::now();
        let kept_alive = self.heads.fetch_add(1, Ordering::Relaxed) > 0;
        let reads_at_start = self.reads.load(Ordering::Relaxed);
        Box::pin(HeadWait {
            started,
            kept_alive,
            reads: self.reads.clone(),
            reads_at_start,
            first_byte: None,
            limits: self.limits,
            sleep: Box::pin(tokio::time::sleep_until(
                (started + self.limits.header_read_timeout).into(),
            )),
        })
    }
}

/// Waiting for one request head; resolves when the connection has waited too long.
struct HeadWait {
    started: Instant,
    /// Whether a request was served before on this connection (so the wait starts idle).
    kept_alive: bool,
    reads: Arc<AtomicU64>,
    reads_at_start: u64,
    /// When the first byte of this head arrived, on a kept-alive connection.
    first_byte: Option<Instant>,
    limits: Limits,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl HeadWait {
    fn deadline(&mut self) -> Instant {
        if !self.kept_alive {
            return self.started + self.limits.header_read_timeout;
        }
        // hyper polls this right after each read that did not complete the head, so "now" is when the
        // first byte arrived, within a poll.
        if self.first_byte.is_none() && self.reads.load(Ordering::Relaxed) != self.reads_at_start {
            self.first_byte = Some(Instant::now());
        }
        match self.first_byte {
            None => self.started + self.limits.idle_timeout,
            Some(at) => at + self.limits.header_read_timeout,
        }
    }
}

impl std::future::Future for HeadWait {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let deadline = tokio::time::Instant::from_std(self.deadline());
        if self.sleep.deadline() != deadline {
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

impl Sleep for HeadWait {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_apply_and_variables_override_them() {
        let env = Env::default();
        assert_eq!(Limits::from_env(&env).expect("defaults"), Limits::default());
        assert_eq!(
            Limits::admin_from_env(&env)
                .expect("defaults")
                .max_connections,
            Limits::DEFAULT_ADMIN_MAX_CONNECTIONS
        );
        let env = Env::from_pairs([
            ("HTTP_HEADER_READ_TIMEOUT_MS", "250"),
            ("HTTP_IDLE_TIMEOUT_MS", "1500"),
            ("HTTP_MAX_CONNECTIONS", "3"),
        ]);
        assert_eq!(
            Limits::from_env(&env).expect("valid"),
            Limits {
                header_read_timeout: Duration::from_millis(250),
                idle_timeout: Duration::from_millis(1500),
                max_connections: 3,
            }
        );
    }

    #[test]
    fn zero_is_refused_naming_the_variable() {
        for name in [
            "HTTP_HEADER_READ_TIMEOUT_MS",
            "HTTP_IDLE_TIMEOUT_MS",
            "HTTP_MAX_CONNECTIONS",
        ] {
            let error = Limits::from_env(&Env::from_pairs([(name, "0")])).expect_err("zero");
            assert_eq!(
                error.to_string(),
                format!("invalid environment variable {name}: must be a positive number")
            );
        }
    }
}
