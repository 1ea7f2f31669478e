//! The handshake: who is connecting. The token is taken, first found wins, from the client's `auth`
//! object (`auth.token`), the query string (`?token=`), or the `Authorization` header, and verified
//! locally. A refused client gets `connect_error` with one of the original's three sentences; an accepted
//! one has its [`Session`] attached. A revoked token is refused as an invalid one; a token that is not
//! valid yet (`nbf`) is invalid to the verifier already. An accepted socket's token is then watched until
//! it expires or is revoked ([`crate::tokens`]).

use std::fmt;
use std::sync::Arc;

use jwt::VerifyError;
use serde_json::Value;
use socketioxide::extract::{SocketRef, State, TryData};
use uuid::Uuid;

use crate::hub::Hub;
use crate::rooms::user_room;
use crate::session::{Peer, Session};

/// Why a handshake was refused; its text is what the client's `connect_error` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Missing,
    Payload,
    Invalid,
    /// The user already holds `SOCKET_MAX_PER_USER` sockets here.
    TooManySockets,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Missing => "Authentication failed - token missing",
            Self::Payload => "Authentication failed - invalid token payload",
            Self::Invalid => "Authentication failed - invalid token",
            Self::TooManySockets => "Too many connections for this user; close one first",
        })
    }
}

/// The first connect middleware of the default namespace: who is connecting.
pub async fn authenticate(
    socket: SocketRef,
    TryData(auth): TryData<Value>,
    State(hub): State<Arc<Hub>>,
) -> Result<(), Refusal> {
    let parts = socket.req_parts();
    let header = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let token =
        find_token(auth.ok().as_ref(), parts.uri.query(), header).ok_or(Refusal::Missing)?;
    let claims = hub.verifier.verify(&token).map_err(|error| match error {
        VerifyError::Payload => Refusal::Payload,
        VerifyError::Invalid => Refusal::Invalid,
    })?;
    if hub.revocations.is_revoked(&claims) {
        return Err(Refusal::Invalid);
    }
    hub.tokens.watch(socket.id, claims.clone());
    let session = Session {
        user_id: claims.sub,
        user_name: claims.user_name,
        user_type: claims.user_type,
        token,
    };
    let user = session.user_id;
    Peer::attach(&socket, session);
    within_socket_cap(&socket, &hub, user)
}

/// Counts the user's sockets here and, if there is room, puts this one in the user's room, where it is
/// counted from then on (socketioxide takes it out when it goes, however it goes).
fn within_socket_cap(socket: &SocketRef, hub: &Hub, user: Uuid) -> Result<(), Refusal> {
    let _counting = hub
        .admission
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let room = user_room(user);
    if socket.within(room.clone()).sockets().len() >= hub.sockets_per_user {
        metrics::counter!("realtime_sockets_refused_total", "reason" => "per_user_cap")
            .increment(1);
        return Err(Refusal::TooManySockets);
    }
    socket.join(room);
    Ok(())
}

/// The token from the first place that has one, in the original's order.
pub fn find_token(
    auth: Option<&Value>,
    query: Option<&str>,
    authorization: Option<&str>,
) -> Option<String> {
    let from_auth = auth
        .and_then(|a| a.get("token"))
        .and_then(Value::as_str)
        .filter(|t| !t.is_empty());
    let from_query = || {
        query.and_then(|q| {
            url_pairs(q)
                .into_iter()
                .find(|(name, value)| name == "token" && !value.is_empty())
                .map(|(_, value)| value)
        })
    };
    let from_header = || {
        authorization
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(|h| jwt::bearer(h).unwrap_or(h).to_owned())
    };
    from_auth
        .map(str::to_owned)
        .or_else(from_query)
        .or_else(from_header)
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            Some((decode(name)?, decode(value)?))
        })
        .collect()
}

/// Percent-decoding of a query component (`+` is a space).
fn decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_auth_object_wins_then_the_query_then_the_header() {
        let auth = json!({"token": "from-auth"});
        assert_eq!(
            find_token(Some(&auth), Some("token=q"), Some("Bearer h")).as_deref(),
            Some("from-auth")
        );
        assert_eq!(
            find_token(
                Some(&json!({})),
                Some("EIO=4&token=q%2Eq"),
                Some("Bearer h")
            )
            .as_deref(),
            Some("q.q")
        );
        assert_eq!(
            find_token(None, Some("EIO=4"), Some("Bearer h")).as_deref(),
            Some("h")
        );
        assert_eq!(
            find_token(None, None, Some("raw-token")).as_deref(),
            Some("raw-token")
        );
        assert_eq!(
            find_token(Some(&json!({"token": ""})), Some("token="), None),
            None
        );
    }

    #[test]
    fn refusals_read_as_the_original_wrote_them() {
        assert_eq!(
            Refusal::Missing.to_string(),
            "Authentication failed - token missing"
        );
        assert_eq!(
            Refusal::Payload.to_string(),
            "Authentication failed - invalid token payload"
        );
        assert_eq!(
            Refusal::Invalid.to_string(),
            "Authentication failed - invalid token"
        );
    }
}
