//! Sign-in and sign-up limits held in Postgres: two auth processes on one database count together.

use junqo_proto::auth::v1::SignInRequest;
use junqo_proto::auth::v1::auth_service_client::AuthServiceClient;
use testkit::{Services, TestBroker, TestDatabase};
use tonic::Code;
use tonic::transport::Channel;

use crate::helpers::{SECRET, sign_up_request};

/// Two auth instances on one fresh database.
async fn two_replicas(
    customise: impl FnOnce(&mut platform::Env),
) -> ([AuthServiceClient<Channel>; 2], TestDatabase, Services) {
    let db = TestDatabase::create().await;
    let mut services = Services::new(&db, &TestBroker::new(), SECRET);
    customise(&mut services.env);
    let first = services.start::<auth::Application>().await;
    let second = services.start::<auth::Application>().await;
    let connect = |url: String| async move {
        AuthServiceClient::connect(url)
            .await
            .expect("auth accepts connections")
    };
    (
        [connect(first.url).await, connect(second.url).await],
        db,
        services,
    )
}

fn from(address: &str, email: &str, password: &str) -> tonic::Request<SignInRequest> {
    let mut request = tonic::Request::new(SignInRequest {
        email: Some(email.into()),
        password: Some(password.into()),
    });
    request
        .metadata_mut()
        .insert("x-client-address", address.parse().expect("ASCII"));
    request
}

fn retry_after(status: &tonic::Status) -> u64 {
    status
        .metadata()
        .get("retry-after")
        .expect("retry-after is set")
        .to_str()
        .expect("ASCII")
        .parse()
        .expect("whole seconds")
}

#[tokio::test]
async fn a_hundred_wrong_passwords_across_two_replicas_meet_the_account_limit() {
    let (replicas, _db, _services) = two_replicas(|_| {}).await;
    let email = "victim@example.com";
    replicas[0]
        .clone()
        .sign_up(sign_up_request("Victim", email, "STUDENT", "password123"))
        .await
        .expect("signed up");

    let mut refused = Vec::new();
    for attempt in 0..100 {
        // Alternating replicas, and a different address each time: only the account's count can stop it.
        let address = format!("198.51.100.{}", attempt % 250 + 1);
        let status = replicas[attempt % 2]
            .clone()
            .sign_in(from(&address, email, "wrong password"))
            .await
            .expect_err("never signed in");
        if status.code() == Code::ResourceExhausted {
            refused.push(attempt);
            let seconds = retry_after(&status);
            assert!((1..=15 * 60).contains(&seconds), "Retry-After {seconds}");
        } else {
            assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
        }
    }
    assert_eq!(
        refused,
        (5..100).collect::<Vec<_>>(),
        "the sixth and every later attempt"
    );
    // Even the right password waits for the window to end.
    let status = replicas[1]
        .clone()
        .sign_in(from("203.0.113.7", email, "password123"))
        .await
        .expect_err("refused while the window lasts");
    assert_eq!(status.code(), Code::ResourceExhausted);
}

#[tokio::test]
async fn a_success_clears_the_account_count() {
    let (replicas, _db, _services) = two_replicas(|env| {
        env.set("AUTH_SIGN_IN_FAILURES_PER_ACCOUNT", "3/15min");
    })
    .await;
    let email = "forgetful@example.com";
    replicas[0]
        .clone()
        .sign_up(sign_up_request(
            "Forgetful",
            email,
            "STUDENT",
            "password123",
        ))
        .await
        .expect("signed up");
    for round in 0..3 {
        for attempt in 0..2 {
            let status = replicas[(round + attempt) % 2]
                .clone()
                .sign_in(from("198.51.100.1", email, "wrong password"))
                .await
                .expect_err("wrong password");
            assert_eq!(status.code(), Code::Unauthenticated, "round {round}");
        }
        replicas[round % 2]
            .clone()
            .sign_in(from("198.51.100.1", email, "password123"))
            .await
            .expect("two failures then the right password");
    }
}

#[tokio::test]
async fn failures_from_one_address_are_limited_across_accounts() {
    let (replicas, _db, _services) = two_replicas(|env| {
        env.set("AUTH_SIGN_IN_FAILURES_PER_ADDRESS", "4/15min");
    })
    .await;
    for attempt in 0..4 {
        let status = replicas[attempt % 2]
            .clone()
            .sign_in(from(
                "203.0.113.9",
                &format!("user{attempt}@example.com"),
                "a wrong guess",
            ))
            .await
            .expect_err("unknown");
        assert_eq!(status.code(), Code::Unauthenticated);
    }
    let status = replicas[0]
        .clone()
        .sign_in(from("203.0.113.9", "another@example.com", "a wrong guess"))
        .await
        .expect_err("refused");
    assert_eq!(status.code(), Code::ResourceExhausted);
    // Another address is unaffected.
    let status = replicas[1]
        .clone()
        .sign_in(from("203.0.113.10", "another@example.com", "a wrong guess"))
        .await
        .expect_err("unknown");
    assert_eq!(status.code(), Code::Unauthenticated);
}

#[tokio::test]
async fn sign_ups_are_limited_per_address_across_replicas() {
    let (replicas, _db, _services) = two_replicas(|env| {
        env.set("AUTH_SIGN_UPS_PER_ADDRESS", "3/h");
    })
    .await;
    let sign_up = |i: usize| {
        let mut request = tonic::Request::new(sign_up_request(
            "Pupil",
            &format!("pupil{i}@example.com"),
            "STUDENT",
            "password123",
        ));
        request
            .metadata_mut()
            .insert("x-client-address", "192.0.2.1".parse().expect("ASCII"));
        request
    };
    for i in 0..3 {
        replicas[i % 2]
            .clone()
            .sign_up(sign_up(i))
            .await
            .expect("within the limit");
    }
    let status = replicas[1]
        .clone()
        .sign_up(sign_up(3))
        .await
        .expect_err("over the limit");
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(retry_after(&status) > 60 * 59, "most of the hour is left");
}

#[tokio::test]
async fn rate_limits_off_counts_nothing() {
    let (replicas, _db, _services) = two_replicas(|env| {
        env.set("RATE_LIMITS", "off")
            .set("AUTH_SIGN_IN_FAILURES_PER_ACCOUNT", "1/15min");
    })
    .await;
    for attempt in 0..5 {
        let status = replicas[attempt % 2]
            .clone()
            .sign_in(from("198.51.100.1", "nobody@example.com", "a wrong guess"))
            .await
            .expect_err("unknown");
        assert_eq!(status.code(), Code::Unauthenticated);
    }
}
