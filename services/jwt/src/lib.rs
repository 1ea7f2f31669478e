//! The Junqo access token.
//!
//! Tokens are HS256 JWTs signed with `JWT_SECRET`, carrying the original backend's claims (`sub`,
//! `userName`, `userType`, `email`, `iat`, `exp`) plus `iss = "junqo-auth"`. Only the auth service signs
//! ([`TokenSigner`]); the gateway and realtime verify locally ([`TokenVerifier`]) so no request pays a
//! network hop for authentication.
//!
//! Every token the signer issues carries a `jti` (a UUID v4) so that one token can be revoked alone.
//!
//! Verification is strict: the algorithm is pinned to HS256 (so `alg: none` and asymmetric-key confusion
//! are refused), the signature, expiry (no leeway), `nbf` when present (no leeway) and issuer are checked. A token that passes those checks
//! but lacks a usable user claim is reported apart ([`VerifyError::Payload`]) because the Socket.IO
//! handshake answers it with its own message.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

mod internal;

pub use internal::{
    Credential, CredentialVerifier, INTERNAL_ISSUER, SERVICE_TOKEN_TTL, ServiceClaims,
    ServiceSigner,
};

pub const ISSUER: &str = "junqo-auth";
/// The original backend's token lifetime.
pub const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The kinds of user on the platform, spelled as on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UserType {
    Student,
    School,
    Company,
    Admin,
}

impl UserType {
    pub const ALL: [UserType; 4] = [Self::Student, Self::School, Self::Company, Self::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Student => "STUDENT",
            Self::School => "SCHOOL",
            Self::Company => "COMPANY",
            Self::Admin => "ADMIN",
        }
    }
}

impl fmt::Display for UserType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for UserType {
    type Err = UnknownUserType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or(UnknownUserType)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown user type")]
pub struct UnknownUserType;

/// The verified contents of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Claims {
    pub sub: Uuid,
    pub user_name: String,
    pub user_type: UserType,
    pub email: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    /// The token's own id. Absent only from tokens this crate did not sign.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<Uuid>,
    /// Not valid before this instant (seconds). Our signer never sets it; a verifier honours it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
}

/// Who a token is for: what the signer needs to know.
#[derive(Debug, Clone)]
pub struct Subject<'a> {
    pub id: Uuid,
    pub name: &'a str,
    pub user_type: UserType,
    pub email: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Bad signature, expired, wrong algorithm or issuer, or not a JWT at all.
    #[error("invalid token")]
    Invalid,
    /// Authentic and current, but a required user claim is missing or unusable.
    #[error("invalid token payload")]
    Payload,
}

#[derive(Debug, thiserror::Error)]
#[error("cannot sign token: {0}")]
pub struct SignError(#[from] jsonwebtoken::errors::Error);

pub struct TokenSigner {
    key: EncodingKey,
    ttl: Duration,
}

impl TokenSigner {
    pub fn new(secret: &SecretString, ttl: Duration) -> Self {
        Self {
            key: EncodingKey::from_secret(secret.expose_secret().as_bytes()),
            ttl,
        }
    }

    pub fn sign(&self, subject: &Subject<'_>) -> Result<String, SignError> {
        self.sign_issued_at(subject, Utc::now().timestamp())
            .map(|(token, _)| token)
    }

    /// Signs a token whose `iat` is `issued_at` (seconds), returning it with its claims. The auth service
    /// uses it to issue a token no earlier than a user's "tokens valid after" instant, which may be up to
    /// one second ahead of the clock (see the auth crate's `revocation` module).
    pub fn sign_issued_at(
        &self,
        subject: &Subject<'_>,
        issued_at: i64,
    ) -> Result<(String, Claims), SignError> {
        let now = issued_at;
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let claims = Claims {
            sub: subject.id,
            user_name: subject.name.to_owned(),
            user_type: subject.user_type,
            email: subject.email.to_owned(),
            iat: now,
            exp: now.saturating_add(ttl),
            iss: ISSUER.to_owned(),
            jti: Some(Uuid::new_v4()),
            nbf: None,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)?;
        Ok((token, claims))
    }

    /// How long the tokens this signer issues live.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

impl fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenSigner")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    validation: Validation,
}

/// The claims as found, before the user claims are checked. Loose types so that a wrongly typed user
/// claim is reported as a payload problem, not as a forged token.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UncheckedClaims {
    sub: Option<serde_json::Value>,
    user_name: Option<serde_json::Value>,
    user_type: Option<serde_json::Value>,
    email: Option<serde_json::Value>,
    iat: Option<serde_json::Value>,
    exp: i64,
    iss: String,
    jti: Option<serde_json::Value>,
    nbf: Option<serde_json::Value>,
}

impl TokenVerifier {
    pub fn new(secret: &SecretString) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        // Checked only when the token has one: the original's tokens never did.
        validation.validate_nbf = true;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss"]);
        Self {
            key: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            validation,
        }
    }

    pub fn verify(&self, token: &str) -> Result<Claims, VerifyError> {
        let data = jsonwebtoken::decode::<UncheckedClaims>(token, &self.key, &self.validation)
            .map_err(|_| VerifyError::Invalid)?;
        let raw = data.claims;
        // jsonwebtoken still accepts a token during the second of its `exp`; RFC 7519 says not on or
        // after it, which is also when realtime ends the token's sockets.
        if raw.exp <= Utc::now().timestamp() {
            return Err(VerifyError::Invalid);
        }
        let text = |v: Option<serde_json::Value>| match v {
            Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s),
            _ => Err(VerifyError::Payload),
        };
        Ok(Claims {
            sub: text(raw.sub)?.parse().map_err(|_| VerifyError::Payload)?,
            user_name: text(raw.user_name)?,
            user_type: text(raw.user_type)?
                .parse()
                .map_err(|_| VerifyError::Payload)?,
            email: text(raw.email)?,
            iat: raw.iat.and_then(|v| v.as_i64()).unwrap_or_default(),
            exp: raw.exp,
            iss: raw.iss,
            jti: match raw.jti {
                None => None,
                Some(serde_json::Value::String(s)) => {
                    Some(s.parse().map_err(|_| VerifyError::Payload)?)
                }
                Some(_) => return Err(VerifyError::Payload),
            },
            // jsonwebtoken has already refused a malformed or future `nbf`.
            nbf: raw.nbf.and_then(|v| v.as_f64()).map(|v| v as i64),
        })
    }
}

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenVerifier").finish_non_exhaustive()
    }
}

/// The token of an `Authorization: Bearer <token>` header value, if it has that form.
pub fn bearer(header_value: &str) -> Option<&str> {
    let (scheme, token) = header_value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests;
