//! auth's own instruments, beside the shared gRPC ones (`auth_grpc_*`): sign-ups and sign-ins by
//! outcome, and the password-hashing queue (`auth_password_hash_*`, kept next to the queue in
//! [`crate::hashing`]). Every name is listed in the README.

use tonic::{Code, Status};

/// `auth_sign_ups_total{outcome}`.
pub fn count_sign_up<T>(answer: &Result<T, Status>) {
    metrics::counter!("auth_sign_ups_total", "outcome" => outcome(answer)).increment(1);
}

/// `auth_sign_ins_total{outcome}`: `refused` is a wrong email or password.
pub fn count_sign_in<T>(answer: &Result<T, Status>) {
    metrics::counter!("auth_sign_ins_total", "outcome" => outcome(answer)).increment(1);
}

fn outcome<T>(answer: &Result<T, Status>) -> &'static str {
    match answer {
        Ok(_) => "success",
        Err(status) => match status.code() {
            Code::InvalidArgument => "invalid",
            Code::AlreadyExists => "email_taken",
            Code::Unauthenticated => "refused",
            // The hashing queue is full: the caller is told to come back later.
            Code::ResourceExhausted => "busy",
            _ => "error",
        },
    }
}
