//! `junqo.auth.v1.AuthService`: each handler parses its request into domain types, applies it, answers.

use std::net::IpAddr;

use chrono::Utc;
use junqo_proto::auth::v1 as pb;
use junqo_proto::auth::v1::auth_service_server::AuthService;
use jwt::{Claims, Credential, CredentialVerifier, Subject, TokenSigner, TokenVerifier, UserType};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::AuthError;
use crate::attempts::Attempts;
use crate::domain::{Credentials, NewUser, UserChanges};
use crate::events::{self, NewEvent, outbox, publisher::EventPublisher};
use crate::hashing::PasswordHasher;
use crate::revocation::{self, RevocationStore};
use crate::store::{UserRow, UserStore, UserUpdate};

pub struct AuthGrpc {
    store: UserStore,
    revocations: RevocationStore,
    publisher: EventPublisher,
    hasher: PasswordHasher,
    signer: TokenSigner,
    /// Users' tokens only: what `VerifyToken` answers for.
    verifier: TokenVerifier,
    /// Users' tokens and service tokens: who is calling a lookup.
    credentials: CredentialVerifier,
    attempts: Attempts,
}

/// The metadata in which the gateway passes the address a sign-in or sign-up came from.
pub const CLIENT_ADDRESS: &str = "x-client-address";

/// The client address the gateway passed on; none for internal callers, which no per-address limit
/// applies to.
fn client_address<T>(request: &Request<T>) -> Option<IpAddr> {
    request
        .metadata()
        .get(CLIENT_ADDRESS)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

impl AuthGrpc {
    /// Each argument is a collaborator startup builds on its own; a builder would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        store: UserStore,
        revocations: RevocationStore,
        publisher: EventPublisher,
        hasher: PasswordHasher,
        signer: TokenSigner,
        verifier: TokenVerifier,
        credentials: CredentialVerifier,
        attempts: Attempts,
    ) -> Self {
        Self {
            store,
            revocations,
            publisher,
            hasher,
            signer,
            verifier,
            credentials,
            attempts,
        }
    }

    /// A token for the user, issued no earlier than their cutoff `cutoff` (see [`revocation`]).
    fn issue(&self, row: UserRow, cutoff: Option<i64>) -> Result<pb::AuthResponse, AuthError> {
        let (token, _) = self
            .signer
            .sign_issued_at(
                &Subject {
                    id: row.id,
                    name: &row.name,
                    user_type: row.user_type()?,
                    email: &row.email,
                },
                revocation::issue_at(Utc::now(), cutoff),
            )
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok(pb::AuthResponse {
            token,
            user: Some(to_user(&row)?),
        })
    }

    /// The claims of the `authorization` metadata of the call: the acting user, from their own token,
    /// which must not have been revoked (auth asks its own tables, not the in-memory copy others keep).
    async fn caller<T>(&self, request: &Request<T>) -> Result<Claims, AuthError> {
        let header = request
            .metadata()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or(AuthError::Unauthenticated)?;
        let token = jwt::bearer(header).ok_or(AuthError::Unauthenticated)?;
        let claims = self
            .verifier
            .verify(token)
            .map_err(|_| AuthError::Unauthenticated)?;
        if self.revocations.is_revoked(&claims).await? {
            return Err(AuthError::Unauthenticated);
        }
        Ok(claims)
    }

    fn token_ttl_secs(&self) -> i64 {
        i64::try_from(self.signer.ttl().as_secs()).unwrap_or(i64::MAX)
    }

    /// Writes the events to the outbox in `tx`, commits, and hands them to the publisher.
    async fn commit_with(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
        events: &[NewEvent],
    ) -> Result<(), AuthError> {
        let ids = outbox::insert(&mut tx, events).await?;
        tx.commit().await?;
        self.publisher.publish(ids);
        Ok(())
    }

    /// Revokes every token of `user` issued until now, in `tx`. Returns the cutoff and its event.
    async fn revoke_all_in(
        tx: &mut sqlx::PgConnection,
        user: Uuid,
    ) -> Result<(i64, NewEvent), AuthError> {
        let cutoff = revocation::revoke_all(tx, user, revocation::cutoff_after(Utc::now())).await?;
        Ok((cutoff, events::all_tokens_revoked(user, cutoff)))
    }

    /// The verified credential of the call: a user's own token (not revoked) or a service token.
    async fn credential<T>(&self, request: &Request<T>) -> Result<Credential, AuthError> {
        let token =
            platform::grpc::bearer_token(request.metadata()).ok_or(AuthError::Unauthenticated)?;
        let credential = self
            .credentials
            .verify(token)
            .map_err(|_| AuthError::Unauthenticated)?;
        if let Credential::User(claims) = &credential
            && self.revocations.is_revoked(claims).await?
        {
            return Err(AuthError::Unauthenticated);
        }
        Ok(credential)
    }
}

/// A user reads their own account (an admin any); a service reads any.
fn may_read_user(credential: &Credential, id: Uuid) -> bool {
    match credential {
        Credential::User(claims) => claims.sub == id || claims.user_type == UserType::Admin,
        Credential::Service(_) => true,
    }
}

fn to_proto_type(user_type: UserType) -> pb::UserType {
    match user_type {
        UserType::Student => pb::UserType::Student,
        UserType::School => pb::UserType::School,
        UserType::Company => pb::UserType::Company,
        UserType::Admin => pb::UserType::Admin,
    }
}

fn to_user(row: &UserRow) -> Result<pb::User, AuthError> {
    Ok(pb::User {
        id: row.id.to_string(),
        name: row.name.clone(),
        email: row.email.clone(),
        r#type: to_proto_type(row.user_type()?).into(),
    })
}

fn parse_id(text: &str) -> Result<Uuid, AuthError> {
    text.parse().map_err(|_| AuthError::InvalidUserId)
}

/// Sign-up and sign-in themselves; the trait methods below count their outcomes.
impl AuthGrpc {
    async fn register(
        &self,
        request: Request<pb::SignUpRequest>,
    ) -> Result<Response<pb::AuthResponse>, Status> {
        let address = client_address(&request);
        let new_user = NewUser::parse(request.into_inner())?;
        // Counted before the email check, so that probing for taken emails counts too.
        self.attempts.sign_up(address).await?;
        // Hashing costs tens of milliseconds: skip it for an email that is certainly taken. The unique
        // index still decides races between two sign-ups with one address.
        if self.store.find_by_email(&new_user.email).await?.is_some() {
            return Err(AuthError::EmailTaken.into());
        }
        let NewUser {
            name,
            email,
            user_type,
            password,
        } = new_user;
        let hash = self
            .hasher
            .hash_for(address, password.into_secret())
            .await?;
        let row = self.store.insert(&name, &email, user_type, &hash).await?;
        tracing::info!(user_id = %row.id, "user signed up");
        // A new id has no cutoff.
        Ok(Response::new(self.issue(row, None)?))
    }

    async fn authenticate(
        &self,
        request: Request<pb::SignInRequest>,
    ) -> Result<Response<pb::AuthResponse>, Status> {
        let address = client_address(&request);
        let credentials = Credentials::parse(request.into_inner())?;
        self.attempts
            .before_sign_in(&credentials.email, address)
            .await?;
        let row = self.store.find_by_email(&credentials.email).await?;
        let stored = row.as_ref().map(|r| r.password_hash.clone());
        let matches = self
            .hasher
            .verify_for(address, credentials.password.into_secret(), stored)
            .await?;
        let Some(row) = row.filter(|_| matches) else {
            return Err(AuthError::InvalidCredentials.into());
        };
        self.attempts.signed_in(&credentials.email, address).await?;
        let cutoff = self.revocations.cutoff(row.id).await?;
        Ok(Response::new(self.issue(row, cutoff)?))
    }
}

#[tonic::async_trait]
impl AuthService for AuthGrpc {
    async fn sign_up(
        &self,
        request: Request<pb::SignUpRequest>,
    ) -> Result<Response<pb::AuthResponse>, Status> {
        let answer = self.register(request).await;
        crate::metrics::count_sign_up(&answer);
        answer
    }

    async fn sign_in(
        &self,
        request: Request<pb::SignInRequest>,
    ) -> Result<Response<pb::AuthResponse>, Status> {
        let answer = self.authenticate(request).await;
        crate::metrics::count_sign_in(&answer);
        answer
    }

    async fn verify_token(
        &self,
        request: Request<pb::VerifyTokenRequest>,
    ) -> Result<Response<pb::VerifyTokenResponse>, Status> {
        let claims = self
            .verifier
            .verify(&request.into_inner().token)
            .map_err(|e| Status::unauthenticated(e.to_string()))?;
        Ok(Response::new(pb::VerifyTokenResponse {
            claims: Some(pb::Claims {
                sub: claims.sub.to_string(),
                user_name: claims.user_name,
                user_type: to_proto_type(claims.user_type).into(),
                email: claims.email,
                iat: claims.iat,
                exp: claims.exp,
                iss: claims.iss,
            }),
        }))
    }

    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let credential = self.credential(&request).await?;
        let id = parse_id(&request.into_inner().user_id)?;
        if !may_read_user(&credential, id) {
            return Err(AuthError::Forbidden("You may only read your own account").into());
        }
        let row = self
            .store
            .find(id)
            .await?
            .ok_or(AuthError::UserNotFound(id))?;
        Ok(Response::new(to_user(&row)?))
    }

    async fn get_users(
        &self,
        request: Request<pb::GetUsersRequest>,
    ) -> Result<Response<pb::GetUsersResponse>, Status> {
        // Batches of other people's accounts are for services (conversations checking participants).
        if !matches!(self.credential(&request).await?, Credential::Service(_)) {
            return Err(AuthError::Forbidden("Only services look up users in batches").into());
        }
        let ids = request
            .into_inner()
            .user_ids
            .iter()
            .map(|id| parse_id(id))
            .collect::<Result<Vec<_>, _>>()?;
        let users = self
            .store
            .find_many(&ids)
            .await?
            .iter()
            .map(to_user)
            .collect::<Result<_, _>>()?;
        Ok(Response::new(pb::GetUsersResponse { users }))
    }

    async fn update_user(
        &self,
        request: Request<pb::UpdateUserRequest>,
    ) -> Result<Response<pb::AuthResponse>, Status> {
        let id = self.caller(&request).await?.sub;
        let mut changes = UserChanges::parse(request.into_inner())?;
        let changes_credentials = changes.changes_credentials();
        if let Some(current) = changes.current_password.take() {
            let stored = self
                .store
                .find(id)
                .await?
                .ok_or(AuthError::UserNotFound(id))?
                .password_hash;
            if !self.hasher.verify(current, Some(stored)).await? {
                return Err(AuthError::WrongCurrentPassword.into());
            }
        }
        let password_hash = match changes.password {
            Some(password) => Some(self.hasher.hash(password.into_secret()).await?),
            None => None,
        };
        let update = UserUpdate {
            name: changes.name.as_ref(),
            email: changes.email.as_ref(),
            user_type: changes.user_type,
            password_hash,
        };
        let mut tx = self.store.pool().begin().await.map_err(AuthError::from)?;
        let row = UserStore::update(&mut tx, id, update)
            .await?
            .ok_or(AuthError::UserNotFound(id))?;
        // A new email or password ends every other session: the fresh token below is the only one left.
        let (cutoff, events) = if changes_credentials {
            let (cutoff, event) = Self::revoke_all_in(&mut tx, id).await?;
            (Some(cutoff), vec![event])
        } else {
            (self.revocations.cutoff(id).await?, Vec::new())
        };
        self.commit_with(tx, &events).await?;
        if changes_credentials {
            tracing::info!(user_id = %id, "credentials changed; other tokens revoked");
        }
        // Every update answers a fresh token, as the old one holds the old name, email or type.
        Ok(Response::new(self.issue(row, cutoff)?))
    }

    async fn delete_user(
        &self,
        request: Request<pb::DeleteUserRequest>,
    ) -> Result<Response<pb::DeleteUserResponse>, Status> {
        let id = self.caller(&request).await?.sub;
        let mut tx = self.store.pool().begin().await.map_err(AuthError::from)?;
        if !UserStore::delete(&mut tx, id).await? {
            return Err(AuthError::UserNotFound(id).into());
        }
        let (_, revoked) = Self::revoke_all_in(&mut tx, id).await?;
        self.commit_with(tx, &[revoked, events::user_deleted(id)])
            .await?;
        tracing::info!(user_id = %id, "user deleted");
        Ok(Response::new(pb::DeleteUserResponse {}))
    }

    async fn logout(
        &self,
        request: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        let claims = self.caller(&request).await?;
        let mut tx = self.store.pool().begin().await.map_err(AuthError::from)?;
        let event = match claims.jti {
            Some(jti) => {
                revocation::revoke_one(&mut tx, jti, claims.sub, claims.exp).await?;
                events::token_revoked(claims.sub, jti, claims.exp)
            }
            // A token without an id (not one we issued) cannot be revoked alone: end them all.
            None => Self::revoke_all_in(&mut tx, claims.sub).await?.1,
        };
        self.commit_with(tx, &[event]).await?;
        tracing::info!(user_id = %claims.sub, "logged out");
        Ok(Response::new(pb::LogoutResponse {}))
    }

    async fn logout_all(
        &self,
        request: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        let user = self.caller(&request).await?.sub;
        let mut tx = self.store.pool().begin().await.map_err(AuthError::from)?;
        let (_, event) = Self::revoke_all_in(&mut tx, user).await?;
        self.commit_with(tx, &[event]).await?;
        tracing::info!(user_id = %user, "logged out everywhere");
        Ok(Response::new(pb::LogoutResponse {}))
    }

    async fn list_revocations(
        &self,
        request: Request<pb::ListRevocationsRequest>,
    ) -> Result<Response<pb::ListRevocationsResponse>, Status> {
        // Who logged out and when is the services' business (gateway and realtime load it), never a user's.
        if !matches!(self.credential(&request).await?, Credential::Service(_)) {
            return Err(AuthError::Forbidden("Only services list revocations").into());
        }
        let snapshot = self.revocations.snapshot(self.token_ttl_secs()).await?;
        Ok(Response::new(pb::ListRevocationsResponse {
            cutoffs: snapshot
                .cutoffs
                .into_iter()
                .map(|(user, valid_after)| pb::TokenCutoff {
                    user_id: user.to_string(),
                    valid_after,
                })
                .collect(),
            tokens: snapshot
                .tokens
                .into_iter()
                .map(|(jti, user, expires_at)| pb::RevokedToken {
                    jti: jti.to_string(),
                    user_id: user.to_string(),
                    expires_at,
                })
                .collect(),
        }))
    }
}
