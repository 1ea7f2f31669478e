//! The auth service over its real gRPC API, each test against a fresh database.

mod attempts;
mod helpers;
mod metrics;
mod sign_in;
mod sign_up;
mod startup;
mod tokens;
mod users;
