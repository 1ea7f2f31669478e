//! The request head a socket keeps. engineioxide keeps the head (`http::request::Parts`) of the request
//! that opened a socket for the socket's whole life (`socket.req_parts()`). hyper parses a head without
//! copying: the URI and every header value are slices of the connection's read buffer (8 KiB), so a kept
//! head keeps that buffer, a third of what an idle socket cost (docs/benchmarks.md).
//!
//! [`compact`] rebuilds each request's head before Socket.IO sees it: the URI and the few headers a
//! socket reads, copied into allocations of their own, and the extensions it needs; hyper's buffer goes
//! once the request is parsed. The headers kept are the only ones read after this point: the token's
//! `Authorization` ([`crate::handshake`]), `Sec-WebSocket-Key` (engineioxide answers the upgrade with it)
//! and `Content-Type` (engineioxide reads it on polling POSTs). Cookies, user agents and the like were
//! kept for nothing. CORS, the only layer that reads `Origin`, runs before this one.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use http::header::{AUTHORIZATION, CONTENT_TYPE, SEC_WEBSOCKET_KEY};
use http::{HeaderMap, HeaderName, HeaderValue, Request, Uri};
use hyper::upgrade::OnUpgrade;

/// The headers a socket reads once Socket.IO has the request (see the module doc).
const KEPT: [HeaderName; 3] = [AUTHORIZATION, SEC_WEBSOCKET_KEY, CONTENT_TYPE];

/// The request with its head rebuilt from copies: the same method, version and URI, the [`KEPT`]
/// headers, hyper's upgrade handle (a WebSocket needs it) and the peer's address.
pub fn compact<B>(request: Request<B>) -> Request<B> {
    let (mut parts, body) = request.into_parts();
    let mut compacted = Request::new(body);
    *compacted.method_mut() = parts.method;
    *compacted.version_mut() = parts.version;
    *compacted.uri_mut() = copy_uri(parts.uri);
    *compacted.headers_mut() = copy_headers(&parts.headers);
    let extensions = compacted.extensions_mut();
    if let Some(upgrade) = parts.extensions.remove::<OnUpgrade>() {
        extensions.insert(upgrade);
    }
    if let Some(peer) = parts.extensions.remove::<ConnectInfo<SocketAddr>>() {
        extensions.insert(peer);
    }
    compacted
}

/// The URI in an allocation of its own (`Uri::try_from(&str)` copies).
fn copy_uri(uri: Uri) -> Uri {
    // Reparsing what `Uri` printed cannot fail; the original (sharing hyper's buffer) is the fallback.
    Uri::try_from(uri.to_string().as_str()).unwrap_or(uri)
}

/// Sized to what is kept: a map grown by its first insert reserves room for six headers (~640 bytes that
/// every socket kept for one or two).
fn copy_headers(headers: &HeaderMap) -> HeaderMap {
    let kept = KEPT
        .iter()
        .map(|name| headers.get_all(name).iter().count())
        .sum();
    let mut copied = HeaderMap::with_capacity(kept);
    for name in &KEPT {
        for value in headers.get_all(name) {
            // `from_bytes` copies; it accepts every value hyper's parser does.
            if let Ok(mut copy) = HeaderValue::from_bytes(value.as_bytes()) {
                copy.set_sensitive(value.is_sensitive());
                copied.append(name.clone(), copy);
            }
        }
    }
    copied
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_keeps_what_a_socket_reads_and_nothing_else() {
        let peer: SocketAddr = "127.0.0.1:4242".parse().expect("an address");
        let mut request = Request::post("/socket.io/?EIO=4&transport=polling&token=a%2Eb")
            .header("authorization", "Bearer t")
            .header("content-type", "text/plain")
            .header("cookie", "session=0123456789")
            .header("user-agent", "a browser")
            .body(())
            .expect("a request");
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(7_u32);

        let compacted = compact(request);

        assert_eq!(compacted.method(), http::Method::POST);
        assert_eq!(
            compacted.uri(),
            "/socket.io/?EIO=4&transport=polling&token=a%2Eb"
        );
        let names: Vec<_> = compacted.headers().keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["authorization", "content-type"]);
        assert_eq!(compacted.headers()["authorization"], "Bearer t");
        assert_eq!(
            compacted
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0),
            Some(peer)
        );
        assert_eq!(compacted.extensions().get::<u32>(), None);
    }

    #[test]
    fn the_kept_values_no_longer_share_the_parsed_buffer() {
        let buffer = bytes_of("Bearer token");
        let value = HeaderValue::from_maybe_shared(buffer.clone()).expect("a value");
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, value);

        let copied = copy_headers(&headers);

        let original = headers[AUTHORIZATION].as_bytes().as_ptr();
        let copy = copied[AUTHORIZATION].as_bytes().as_ptr();
        assert_eq!(
            original,
            buffer.as_ptr(),
            "the original is a slice of the buffer"
        );
        assert_ne!(copy, buffer.as_ptr(), "the copy is not");
    }

    #[test]
    fn the_copied_map_holds_room_for_the_kept_headers_only() {
        let mut headers = HeaderMap::new();
        headers.insert(SEC_WEBSOCKET_KEY, HeaderValue::from_static("a key"));
        headers.insert("cookie", HeaderValue::from_static("session=0123456789"));

        let copied = copy_headers(&headers);

        assert_eq!(copied.len(), 1);
        // A map grown by its first insert has room for six.
        assert!(
            copied.capacity() < 6,
            "capacity {} for one header",
            copied.capacity()
        );
        assert_eq!(copy_headers(&HeaderMap::new()).capacity(), 0);
    }

    fn bytes_of(text: &str) -> axum::body::Bytes {
        axum::body::Bytes::copy_from_slice(text.as_bytes())
    }
}
