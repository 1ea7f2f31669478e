//! Who is calling. Every RPC of the two services passes [`Authenticate`] first: the `authorization`
//! metadata must hold a credential this service verifies itself (a user's own token forwarded by the
//! gateway or realtime, or a service token; see [`jwt::CredentialVerifier`]), else the call ends
//! UNAUTHENTICATED before any handler runs. The verified [`jwt::Credential`] rides in the request's
//! extensions, where [`crate::domain::Actor`] reads it.

use std::sync::Arc;

use jwt::CredentialVerifier;
use tonic::service::Interceptor;
use tonic::{Request, Status};

#[derive(Clone)]
pub struct Authenticate {
    verifier: Arc<CredentialVerifier>,
}

impl Authenticate {
    pub fn new(verifier: CredentialVerifier) -> Self {
        Self {
            verifier: Arc::new(verifier),
        }
    }
}

impl Interceptor for Authenticate {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let credential = platform::grpc::bearer_token(request.metadata())
            .and_then(|token| self.verifier.verify(token).ok())
            .ok_or_else(|| Status::unauthenticated("Unauthorized"))?;
        request.extensions_mut().insert(credential);
        Ok(request)
    }
}
