//! Token revocation: per-user cutoffs and revoked token ids, in Postgres (`token_cutoffs`,
//! `revoked_tokens`).
//!
//! ## The cutoff rule, and tokens issued in the same second
//!
//! A token's `iat` has whole-second precision, so "issued before the revocation" cannot be decided within
//! the second the revocation happens in. A revocation at instant `t` therefore stores the cutoff
//! `floor(t) + 1`, the first whole second *after* it, and a token is revoked when `iat < cutoff`: every
//! token issued up to `t`, including earlier in the same second, is refused. Every token auth issues
//! afterwards gets `iat = max(now, cutoff)` ([`issue_at`]), so the fresh token of a password change, or a
//! sign-in in the same second as a logout-all, is valid although its `iat` may be up to one second ahead
//! of the clock (its `exp` moves with it; `iat` itself is never checked against the clock).
//!
//! A sign-in that read the cutoff just before a concurrent revocation committed may issue a token the
//! revocation refuses: the user signs in again. The opposite, an old token surviving, cannot happen.

use chrono::{DateTime, Utc};
use jwt::Claims;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::AuthError;

/// The cutoff stored by a revocation happening at `now`: the first whole second after it (seconds).
pub fn cutoff_after(now: DateTime<Utc>) -> i64 {
    now.timestamp() + 1
}

/// The `iat` of a token issued at `now` for a user whose cutoff is `cutoff`: never before the cutoff.
pub fn issue_at(now: DateTime<Utc>, cutoff: Option<i64>) -> i64 {
    now.timestamp().max(cutoff.unwrap_or(i64::MIN))
}

/// The state gateway and realtime load at start.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// (user, cutoff in seconds)
    pub cutoffs: Vec<(Uuid, i64)>,
    /// (jti, user, expiry in seconds)
    pub tokens: Vec<(Uuid, Uuid, i64)>,
}

#[derive(Clone)]
pub struct RevocationStore {
    pool: PgPool,
}

impl RevocationStore {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The user's cutoff (seconds), if they ever revoked their tokens.
    pub async fn cutoff(&self, user: Uuid) -> Result<Option<i64>, AuthError> {
        Ok(sqlx::query_scalar(
            "SELECT extract(epoch FROM valid_after)::bigint FROM token_cutoffs WHERE user_id = $1",
        )
        .bind(user)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// Whether verified claims were revoked since: by a cutoff after their `iat`, or by their `jti`.
    pub async fn is_revoked(&self, claims: &Claims) -> Result<bool, AuthError> {
        Ok(sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM token_cutoffs
                            WHERE user_id = $1 AND valid_after > to_timestamp($2))
                 OR EXISTS (SELECT 1 FROM revoked_tokens WHERE jti = $3)",
        )
        .bind(claims.sub)
        .bind(claims.iat as f64)
        .bind(claims.jti)
        .fetch_one(&self.pool)
        .await?)
    }

    /// Everything still relevant: cutoffs that can still refuse an unexpired token (newer than now minus
    /// the token lifetime) and revoked tokens not expired yet. Prunes what no longer matters first.
    pub async fn snapshot(&self, token_ttl_secs: i64) -> Result<Snapshot, AuthError> {
        self.prune(token_ttl_secs).await?;
        let cutoffs = sqlx::query_as(
            "SELECT user_id, extract(epoch FROM valid_after)::bigint FROM token_cutoffs
             WHERE valid_after > now() - make_interval(secs => $1::double precision)",
        )
        .bind(token_ttl_secs as f64)
        .fetch_all(&self.pool)
        .await?;
        let tokens = sqlx::query_as(
            "SELECT jti, user_id, extract(epoch FROM expires_at)::bigint FROM revoked_tokens
             WHERE expires_at > now()",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(Snapshot { cutoffs, tokens })
    }

    /// Deletes revoked tokens past their expiry and cutoffs older than any unexpired token. A cutoff is
    /// kept one extra second, as the newest token it refuses may have been issued that much ahead.
    pub async fn prune(&self, token_ttl_secs: i64) -> Result<(), AuthError> {
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at <= now()")
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "DELETE FROM token_cutoffs
             WHERE valid_after < now() - make_interval(secs => $1::double precision + 1)",
        )
        .bind(token_ttl_secs as f64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}

/// Moves the user's cutoff to `cutoff` (seconds) in the caller's transaction, never backwards.
/// Returns the cutoff in force afterwards.
pub async fn revoke_all(tx: &mut PgConnection, user: Uuid, cutoff: i64) -> Result<i64, AuthError> {
    Ok(sqlx::query_scalar(
        "INSERT INTO token_cutoffs (user_id, valid_after) VALUES ($1, to_timestamp($2))
         ON CONFLICT (user_id) DO UPDATE
             SET valid_after = GREATEST(token_cutoffs.valid_after, EXCLUDED.valid_after)
         RETURNING extract(epoch FROM valid_after)::bigint",
    )
    .bind(user)
    .bind(cutoff as f64)
    .fetch_one(&mut *tx)
    .await?)
}

/// Revokes one token until its expiry, in the caller's transaction. Whether it was not revoked already.
pub async fn revoke_one(
    tx: &mut PgConnection,
    jti: Uuid,
    user: Uuid,
    expires_at: i64,
) -> Result<bool, AuthError> {
    let result = sqlx::query(
        "INSERT INTO revoked_tokens (jti, user_id, expires_at) VALUES ($1, $2, to_timestamp($3))
         ON CONFLICT (jti) DO NOTHING",
    )
    .bind(jti)
    .bind(user)
    .bind(expires_at as f64)
    .execute(&mut *tx)
    .await?;
    Ok(result.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(secs: i64, millis: u32) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, millis * 1_000_000)
            .single()
            .expect("a valid instant")
    }

    /// The rule as gateway and realtime apply it.
    fn refused(iat: i64, cutoff: i64) -> bool {
        iat < cutoff
    }

    #[test]
    fn tokens_issued_in_the_revocation_second_are_refused_and_later_ones_pass() {
        let revoked_at = at(1_000, 400);
        let cutoff = cutoff_after(revoked_at);
        // Issued earlier in the same second, and exactly on a second boundary before it.
        assert!(refused(at(1_000, 100).timestamp(), cutoff));
        assert!(refused(at(1_000, 0).timestamp(), cutoff));
        // The fresh token of the same operation, and a sign-in in the same second.
        assert!(!refused(issue_at(revoked_at, Some(cutoff)), cutoff));
        assert!(!refused(issue_at(at(1_000, 900), Some(cutoff)), cutoff));
        // Later, the clock alone decides.
        assert_eq!(issue_at(at(1_005, 0), Some(cutoff)), 1_005);
    }

    #[test]
    fn a_revocation_exactly_on_a_second_still_refuses_that_second() {
        let cutoff = cutoff_after(at(2_000, 0));
        assert!(refused(2_000, cutoff));
        assert!(!refused(issue_at(at(2_000, 0), Some(cutoff)), cutoff));
    }

    #[test]
    fn without_a_cutoff_tokens_are_issued_at_the_clock() {
        assert_eq!(issue_at(at(3_000, 999), None), 3_000);
    }
}
