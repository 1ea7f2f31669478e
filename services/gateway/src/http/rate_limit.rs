//! REST rate limits: per user for requests with a valid token (every address of that user shares it),
//! per client address for the others. Over the limit: 429 with `Retry-After` and the usual error body.
//! Limits hold per gateway instance (process memory, governor); `RATE_LIMITS=off` turns them off.
//!
//! The client address is the TCP peer's, unless that peer is a trusted proxy (`TRUSTED_PROXIES`), in
//! which case it is the right-most address of `X-Forwarded-For` that is not a trusted proxy: the one
//! the first trusted hop saw. Addresses further left are whatever the client wrote.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderValue;
use axum::http::header::RETRY_AFTER;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use platform::rate::{KeyedLimiter, Rate};
use uuid::Uuid;

use super::Caller;
use super::extract::Verified;
use crate::error::ApiError;
use crate::state::AppState;

/// The REST limits and how to find the client's address.
pub struct RestLimits {
    per_user: Option<Arc<KeyedLimiter<Uuid>>>,
    per_address: Option<Arc<KeyedLimiter<IpAddr>>>,
    trusted_proxies: Vec<IpNet>,
}

impl RestLimits {
    /// Spawns the limiters' clean-up: call within a Tokio runtime.
    pub fn new(
        per_user: Option<Rate>,
        per_address: Option<Rate>,
        trusted_proxies: Vec<IpNet>,
    ) -> Self {
        Self {
            per_user: per_user.map(KeyedLimiter::new),
            per_address: per_address.map(KeyedLimiter::new),
            trusted_proxies,
        }
    }

    /// The address the request came from, as far as the trusted proxies tell.
    pub fn client_address(&self, request: &Request) -> IpAddr {
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |info| info.0.ip());
        let forwarded = request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        client_address(peer, &forwarded, &self.trusted_proxies)
    }

    fn check(&self, caller: Option<&Caller>, address: IpAddr) -> Result<(), Duration> {
        match caller {
            Some(caller) => self
                .per_user
                .as_ref()
                .map_or(Ok(()), |limiter| limiter.check(&caller.claims.sub)),
            None => self
                .per_address
                .as_ref()
                .map_or(Ok(()), |limiter| limiter.check(&address_key(address))),
        }
    }
}

/// The address the request came from, as set by [`rate_limit`] for handlers that pass it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// The middleware: finds the client, counts the request, refuses it with a 429 over the limit.
pub async fn rate_limit(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let limits = state.rest_limits.clone();
    let address = limits.client_address(&request);
    request.extensions_mut().insert(ClientAddress(address));
    let (mut parts, body) = request.into_parts();
    let caller = Caller::from_parts(&parts, &state);
    if let Err(wait) = limits.check(caller.as_ref(), address) {
        metrics::counter!("gateway_rate_limited_total", "by" => if caller.is_some() { "user" } else { "address" })
            .increment(1);
        return too_many_requests(wait);
    }
    // Only an answer checked against loaded revocations may stand for the extractor's own check.
    if state.revocations.is_loaded() {
        parts.extensions.insert(Verified(caller));
    }
    next.run(Request::from_parts(parts, body)).await
}

/// 429 with the error body every error has, and when to come back.
pub fn too_many_requests(wait: Duration) -> Response {
    let mut response = ApiError::new(
        axum::http::StatusCode::TOO_MANY_REQUESTS,
        "Too Many Requests",
    )
    .into_response();
    response.headers_mut().insert(
        RETRY_AFTER,
        HeaderValue::from(platform::rate::seconds_ceil(wait)),
    );
    response
}

/// An IPv6 client usually holds a whole /64: count it as one.
fn address_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

/// The right-most address of `forwarded` that is not a trusted proxy, if `peer` is one; else `peer`.
pub fn client_address(peer: IpAddr, forwarded: &str, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |address: &IpAddr| trusted.iter().any(|net| net.contains(address));
    let mut client = peer.to_canonical();
    if !is_trusted(&client) {
        return client;
    }
    for entry in forwarded
        .rsplit(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
    {
        let Ok(address) = entry.parse::<IpAddr>() else {
            // Garbage from here leftwards: the last hop that could be read is as far as anyone knows.
            return client;
        };
        client = address.to_canonical();
        if !is_trusted(&client) {
            return client;
        }
    }
    client
}

/// `TRUSTED_PROXIES`: comma-separated CIDR blocks or single addresses.
pub fn parse_trusted_proxies(list: &str) -> Result<Vec<IpNet>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{entry:?} is not an address or CIDR block"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn the_client_is_the_right_most_untrusted_forwarded_address() {
        let trusted = parse_trusted_proxies("10.0.0.0/8, 192.168.1.1").expect("valid");
        // Not from a trusted proxy: the header is the client's own writing.
        assert_eq!(
            client_address(ip("203.0.113.9"), "1.2.3.4", &trusted),
            ip("203.0.113.9")
        );
        // Through the ingress: what it appended.
        assert_eq!(
            client_address(ip("10.1.2.3"), "6.6.6.6, 198.51.100.7", &trusted),
            ip("198.51.100.7")
        );
        // Through two trusted hops.
        assert_eq!(
            client_address(ip("10.1.2.3"), "198.51.100.7, 192.168.1.1", &trusted),
            ip("198.51.100.7")
        );
        // A trusted proxy that forwarded nothing, or garbage.
        assert_eq!(client_address(ip("10.1.2.3"), "", &trusted), ip("10.1.2.3"));
        assert_eq!(
            client_address(ip("10.1.2.3"), "198.51.100.7, junk", &trusted),
            ip("10.1.2.3")
        );
        assert_eq!(
            client_address(ip("::ffff:10.1.2.3"), "198.51.100.7", &trusted),
            ip("198.51.100.7")
        );
        assert!(parse_trusted_proxies("10.0.0.0/33").is_err());
        assert_eq!(parse_trusted_proxies("").expect("empty"), []);
    }

    #[test]
    fn an_ipv6_client_counts_as_its_64() {
        assert_eq!(
            address_key(ip("2001:db8:1:2:3:4:5:6")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(address_key(ip("198.51.100.7")), ip("198.51.100.7"));
    }
}
