//! `junqo.auth.v1.AuthService`: each handler parses its request into domain types, applies it, answers.

use junqo_proto::auth::v1 as pb;
use junqo_proto::auth::v1::auth_service_server::AuthService;
use jwt::{Credential, CredentialVerifier, Subject, TokenSigner, TokenVerifier, UserType};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::AuthError;
use crate::domain::{Credentials, NewUser, UserChanges};
use crate::hashing::PasswordHasher;
use crate::store::{UserRow, UserStore, UserUpdate};

pub struct AuthGrpc {
    store: UserStore,
    hasher: PasswordHasher,
    signer: TokenSigner,
    /// Users' tokens only: what `VerifyToken` answers for.
    verifier: TokenVerifier,
    /// Users' tokens and service tokens: who is calling a lookup.
    credentials: CredentialVerifier,
}

impl AuthGrpc {
    pub fn new(
        store: UserStore,
        hasher: PasswordHasher,
        signer: TokenSigner,
        verifier: TokenVerifier,
        credentials: CredentialVerifier,
    ) -> Self {
        Self {
            store,
            hasher,
            signer,
            verifier,
            credentials,
        }
    }

    fn issue(&self, row: UserRow) -> Result<pb::AuthResponse, AuthError> {
        let token = self
            .signer
            .sign(&Subject {
                id: row.id,
                name: &row.name,
                user_type: row.user_type()?,
                email: &row.email,
            })
            .map_err(|e| AuthError::Internal(e.to_string()))?;
        Ok(pb::AuthResponse {
            token,
            user: Some(to_user(&row)?),
        })
    }

    /// The user named by the `authorization` metadata of the call: the acting user, from their own token.
    fn caller<T>(&self, request: &Request<T>) -> Result<Uuid, AuthError> {
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
        Ok(claims.sub)
    }

    /// The verified credential of the call: a user's own token or a service token.
    fn credential<T>(&self, request: &Request<T>) -> Result<Credential, AuthError> {
        let token =
            platform::grpc::bearer_token(request.metadata()).ok_or(AuthError::Unauthenticated)?;
        self.credentials
            .verify(token)
            .map_err(|_| AuthError::Unauthenticated)
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
        let new_user = NewUser::parse(request.into_inner())?;
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
        let hash = self.hasher.hash(password.into_secret()).await?;
        let row = self.store.insert(&name, &email, user_type, &hash).await?;
        tracing::info!(user_id = %row.id, "user signed up");
        Ok(Response::new(self.issue(row)?))
    }

    async fn authenticate(
        &self,
        request: Request<pb::SignInRequest>,
    ) -> Result<Response<pb::AuthResponse>, Status> {
        let credentials = Credentials::parse(request.into_inner())?;
        let row = self.store.find_by_email(&credentials.email).await?;
        let stored = row.as_ref().map(|r| r.password_hash.clone());
        if !self
            .hasher
            .verify(credentials.password.into_secret(), stored)
            .await?
        {
            return Err(AuthError::InvalidCredentials.into());
        }
        let row = row.ok_or(AuthError::InvalidCredentials)?;
        Ok(Response::new(self.issue(row)?))
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
        let credential = self.credential(&request)?;
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
        if !matches!(self.credential(&request)?, Credential::Service(_)) {
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
    ) -> Result<Response<pb::User>, Status> {
        let id = self.caller(&request)?;
        let changes = UserChanges::parse(request.into_inner())?;
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
        let row = self
            .store
            .update(id, update)
            .await?
            .ok_or(AuthError::UserNotFound(id))?;
        Ok(Response::new(to_user(&row)?))
    }

    async fn delete_user(
        &self,
        request: Request<pb::DeleteUserRequest>,
    ) -> Result<Response<pb::DeleteUserResponse>, Status> {
        let id = self.caller(&request)?;
        if !self.store.delete(id).await? {
            return Err(AuthError::UserNotFound(id).into());
        }
        tracing::info!(user_id = %id, "user deleted");
        Ok(Response::new(pb::DeleteUserResponse {}))
    }
}
