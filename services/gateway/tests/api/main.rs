//! The gateway over HTTP, backed by a real auth service and a fresh Postgres database per test.

mod auth_routes;
mod blocking;
mod caps;
mod conversation_routes;
mod errors;
mod health;
mod helpers;
mod limits;
mod message_routes;
mod null_characters;
mod openapi;
mod rate_limits;
mod reports;
mod revocation;
mod search;
mod tokens;
mod unread;
mod users_me;
