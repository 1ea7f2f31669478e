//! HTTP/1.1 written by hand over a TCP socket, for tests of what a misbehaving client gets: a head sent
//! in pieces, a connection left idle, one more connection than a listener accepts.

use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Opens a connection to `base` (`http://host:port`).
pub async fn connect(base: &str) -> TcpStream {
    let address = base.trim_start_matches("http://").trim_end_matches('/');
    TcpStream::connect(address)
        .await
        .unwrap_or_else(|error| panic!("cannot connect to {address}: {error}"))
}

/// A complete GET request for `path` that keeps the connection alive.
pub fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")
}

pub async fn send(stream: &mut TcpStream, bytes: &str) {
    stream
        .write_all(bytes.as_bytes())
        .await
        .expect("the request is written");
}

/// Reads one response (its head, then a `Content-Length` body) and returns its status code.
pub async fn read_response(stream: &mut TcpStream) -> u16 {
    let mut received = Vec::new();
    let head_end = loop {
        if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        let mut chunk = [0u8; 1024];
        let n = stream
            .read(&mut chunk)
            .await
            .expect("the response is readable");
        assert!(n > 0, "the connection closed before a response");
        received.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&received[..head_end]).to_string();
    let length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut body = received.len() - head_end;
    while body < length {
        let mut chunk = [0u8; 1024];
        let n = stream.read(&mut chunk).await.expect("the body is readable");
        assert!(n > 0, "the connection closed inside a response body");
        body += n;
    }
    head.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {head}"))
}

/// Waits, at most `within`, for the server to close the connection (whatever it says before), and
/// returns how long that took; `None` if it is still open.
pub async fn closed_within(
    stream: &mut (impl AsyncRead + Unpin),
    within: Duration,
) -> Option<Duration> {
    let started = Instant::now();
    let closed = async {
        let mut sink = [0u8; 1024];
        // End of stream, or a reset: either way the server let go.
        while let Ok(n) = stream.read(&mut sink).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::time::timeout(within, closed)
        .await
        .ok()
        .map(|()| started.elapsed())
}
