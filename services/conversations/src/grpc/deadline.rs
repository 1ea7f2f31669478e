//! When a caller stops waiting. gRPC carries the caller's timeout in the `grpc-timeout` header (tonic sets
//! it from `Request::set_timeout`; gateway and realtime set it on every call); tonic's server cancels the
//! call when it runs out. The writer needs the same instant, a little earlier, so that it answers before
//! that cancellation and never commits a message whose caller has already been told it failed.

use std::time::Duration;

use tokio::time::Instant;
use tonic::Request;

/// A caller that sent no `grpc-timeout` waits at most this long (the timeout gateway and realtime use).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The caller's answer must leave before its timeout runs out: time for the answer to travel back, and for
/// the caller's clock having started a little before ours.
const REPLY_MARGIN: Duration = Duration::from_millis(200);

/// The instant by which the answer to `request` must be sent, counted from now (call it first thing in
/// the handler). A timeout above the server's own limit is capped at it, since tonic enforces both.
pub fn answer_by<T>(request: &Request<T>) -> Instant {
    let timeout = request
        .metadata()
        .get("grpc-timeout")
        .and_then(|value| value.to_str().ok())
        .and_then(parse_grpc_timeout)
        .unwrap_or(DEFAULT_TIMEOUT)
        .min(platform::grpc::SERVER_TIMEOUT);
    Instant::now() + timeout.saturating_sub(REPLY_MARGIN)
}

/// The instant by which one item of a batch must be answered: its own timeout (`timeout_ms`, counted
/// from `arrived`, when the call was received) less the same margin, and never after the call's own
/// `call_answer_by`, when tonic cancels the whole call. 0 means the call's own.
pub fn item_answer_by(arrived: Instant, timeout_ms: u32, call_answer_by: Instant) -> Instant {
    if timeout_ms == 0 {
        return call_answer_by;
    }
    let timeout = Duration::from_millis(u64::from(timeout_ms)).min(platform::grpc::SERVER_TIMEOUT);
    (arrived + timeout.saturating_sub(REPLY_MARGIN)).min(call_answer_by)
}

/// `grpc-timeout`: at most eight digits and a unit (H, M, S, m, u, n), as the gRPC HTTP/2 spec says.
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.checked_mul(3600)?),
        "M" => Duration::from_secs(amount.checked_mul(60)?),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_are_read_in_every_unit_and_nonsense_is_ignored() {
        assert_eq!(parse_grpc_timeout("10S"), Some(Duration::from_secs(10)));
        assert_eq!(
            parse_grpc_timeout("9999m"),
            Some(Duration::from_millis(9999))
        );
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_grpc_timeout("500u"), Some(Duration::from_micros(500)));
        assert_eq!(parse_grpc_timeout("7n"), Some(Duration::from_nanos(7)));
        for nonsense in ["", "S", "10", "10s", "-1S", "123456789S", "1.5S"] {
            assert_eq!(parse_grpc_timeout(nonsense), None, "{nonsense}");
        }
    }

    #[tokio::test]
    async fn the_answer_is_due_before_the_callers_timeout_and_within_the_servers_cap() {
        let mut request = Request::new(());
        request.set_timeout(Duration::from_secs(3));
        let due = answer_by(&request) - Instant::now();
        assert!(
            due < Duration::from_secs(3) && due > Duration::from_secs(2),
            "{due:?}"
        );

        let unset = answer_by(&Request::new(())) - Instant::now();
        assert!(unset <= DEFAULT_TIMEOUT, "{unset:?}");

        let mut patient = Request::new(());
        patient.set_timeout(Duration::from_secs(3600));
        let capped = answer_by(&patient) - Instant::now();
        assert!(capped <= platform::grpc::SERVER_TIMEOUT, "{capped:?}");
    }

    #[tokio::test]
    async fn an_item_keeps_its_own_deadline_within_the_calls() {
        let now = Instant::now();
        let call = now + Duration::from_secs(5);
        assert_eq!(item_answer_by(now, 0, call), call, "0: the call's own");
        assert_eq!(
            item_answer_by(now, 2_000, call),
            now + Duration::from_secs(2) - REPLY_MARGIN
        );
        assert_eq!(
            item_answer_by(now, 9_000, call),
            call,
            "never after the call's"
        );
    }
}
