use super::*;

fn secret(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

fn alice() -> Subject<'static> {
    Subject {
        id: Uuid::new_v4(),
        name: "Alice",
        user_type: UserType::Student,
        email: "alice@example.com",
    }
}

/// Base64url without padding, to forge by hand a token no real signer would produce.
fn encode_segment(json: &serde_json::Value) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = json.to_string().into_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n =
            chunk.iter().fold(0u32, |acc, b| acc << 8 | u32::from(*b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(char::from(TABLE[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

fn hs256(secret: &str, claims: &serde_json::Value) -> String {
    let key = EncodingKey::from_secret(secret.as_bytes());
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &key).expect("claims serialize")
}

fn valid_claims() -> serde_json::Value {
    let now = Utc::now().timestamp();
    serde_json::json!({
        "sub": Uuid::new_v4().to_string(), "userName": "Bob", "userType": "COMPANY",
        "email": "bob@example.com", "iat": now, "exp": now + 60, "iss": ISSUER,
    })
}

#[test]
fn a_signed_token_verifies_to_the_same_claims() {
    let signer = TokenSigner::new(&secret("s3cret"), DEFAULT_TTL);
    let verifier = TokenVerifier::new(&secret("s3cret"));
    let subject = alice();
    let claims = verifier
        .verify(&signer.sign(&subject).expect("signs"))
        .expect("verifies");
    assert_eq!(claims.sub, subject.id);
    assert_eq!(claims.user_name, "Alice");
    assert_eq!(claims.user_type, UserType::Student);
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.exp - claims.iat, 7 * 24 * 3600);
}

#[test]
fn a_token_signed_with_another_secret_is_invalid() {
    let token = TokenSigner::new(&secret("other"), DEFAULT_TTL)
        .sign(&alice())
        .expect("signs");
    assert_eq!(
        TokenVerifier::new(&secret("s3cret")).verify(&token),
        Err(VerifyError::Invalid)
    );
}

#[test]
fn an_expired_token_is_invalid() {
    let mut claims = valid_claims();
    claims["exp"] = serde_json::json!(Utc::now().timestamp() - 1);
    let token = hs256("s3cret", &claims);
    assert_eq!(
        TokenVerifier::new(&secret("s3cret")).verify(&token),
        Err(VerifyError::Invalid)
    );
}

#[test]
fn a_token_is_invalid_from_the_second_of_its_exp() {
    let mut claims = valid_claims();
    claims["exp"] = serde_json::json!(Utc::now().timestamp());
    let token = hs256("s3cret", &claims);
    assert_eq!(
        TokenVerifier::new(&secret("s3cret")).verify(&token),
        Err(VerifyError::Invalid)
    );
}

#[test]
fn a_foreign_issuer_is_invalid() {
    let mut claims = valid_claims();
    claims["iss"] = serde_json::json!("someone-else");
    let token = hs256("s3cret", &claims);
    assert_eq!(
        TokenVerifier::new(&secret("s3cret")).verify(&token),
        Err(VerifyError::Invalid)
    );
}

#[test]
fn alg_none_is_refused() {
    let header = encode_segment(&serde_json::json!({"alg": "none", "typ": "JWT"}));
    let token = format!("{header}.{}.", encode_segment(&valid_claims()));
    assert_eq!(
        TokenVerifier::new(&secret("s3cret")).verify(&token),
        Err(VerifyError::Invalid)
    );
}

#[test]
fn a_missing_user_claim_is_a_payload_error() {
    let mut claims = valid_claims();
    claims.as_object_mut().expect("object").remove("userType");
    let token = hs256("s3cret", &claims);
    assert_eq!(
        TokenVerifier::new(&secret("s3cret")).verify(&token),
        Err(VerifyError::Payload)
    );

    let mut claims = valid_claims();
    claims["sub"] = serde_json::json!(42);
    let token = hs256("s3cret", &claims);
    assert_eq!(
        TokenVerifier::new(&secret("s3cret")).verify(&token),
        Err(VerifyError::Payload)
    );
}

#[test]
fn garbage_is_invalid() {
    let verifier = TokenVerifier::new(&secret("s3cret"));
    assert_eq!(verifier.verify("not-a-jwt"), Err(VerifyError::Invalid));
    assert_eq!(verifier.verify(""), Err(VerifyError::Invalid));
}

#[test]
fn bearer_takes_the_token_after_the_scheme() {
    assert_eq!(bearer("Bearer abc"), Some("abc"));
    assert_eq!(bearer("bearer  abc "), Some("abc"));
    assert_eq!(bearer("Basic abc"), None);
    assert_eq!(bearer("Bearer"), None);
    assert_eq!(bearer("Bearer "), None);
}

#[test]
fn a_service_token_opens_internal_calls_only() {
    let service = ServiceSigner::new(&secret("s3cret"), "realtime");
    let on_behalf_of = Uuid::new_v4();
    let token = service.sign(Some(on_behalf_of)).expect("signs");

    assert_eq!(
        TokenVerifier::new(&secret("s3cret")).verify(&token),
        Err(VerifyError::Invalid),
        "user-facing verification refuses the internal issuer"
    );
    match CredentialVerifier::new(&secret("s3cret")).verify(&token) {
        Ok(Credential::Service(claims)) => {
            assert_eq!(claims.service, "realtime");
            assert_eq!(claims.sub, Some(on_behalf_of));
            assert_eq!(claims.iss, INTERNAL_ISSUER);
        }
        other => panic!("expected a service credential, got {other:?}"),
    }
    let for_itself = service.sign(None).expect("signs");
    assert!(matches!(
        CredentialVerifier::new(&secret("s3cret")).verify(&for_itself),
        Ok(Credential::Service(ServiceClaims { sub: None, .. }))
    ));
}

#[test]
fn internal_verification_takes_user_tokens_and_refuses_forgeries() {
    let verifier = CredentialVerifier::new(&secret("s3cret"));
    let user = TokenSigner::new(&secret("s3cret"), DEFAULT_TTL)
        .sign(&alice())
        .expect("signs");
    assert!(matches!(verifier.verify(&user), Ok(Credential::User(_))));

    let foreign = ServiceSigner::new(&secret("other"), "realtime")
        .sign(None)
        .expect("signs");
    assert_eq!(verifier.verify(&foreign), Err(VerifyError::Invalid));

    let now = Utc::now().timestamp();
    let expired = hs256(
        "s3cret",
        &serde_json::json!({"service": "realtime", "iat": now - 120, "exp": now - 60, "iss": INTERNAL_ISSUER}),
    );
    assert_eq!(verifier.verify(&expired), Err(VerifyError::Invalid));

    let no_service = hs256(
        "s3cret",
        &serde_json::json!({"iat": now, "exp": now + 60, "iss": INTERNAL_ISSUER}),
    );
    assert_eq!(verifier.verify(&no_service), Err(VerifyError::Invalid));
    assert_eq!(verifier.verify("garbage"), Err(VerifyError::Invalid));
}

#[test]
fn every_signed_token_has_its_own_jti() {
    let signer = TokenSigner::new(&secret("s3cret"), DEFAULT_TTL);
    let verifier = TokenVerifier::new(&secret("s3cret"));
    let subject = alice();
    let first = verifier
        .verify(&signer.sign(&subject).expect("signs"))
        .expect("verifies");
    let second = verifier
        .verify(&signer.sign(&subject).expect("signs"))
        .expect("verifies");
    let (first, second) = (first.jti.expect("a jti"), second.jti.expect("a jti"));
    assert_ne!(first, second);
    assert_eq!(first.get_version_num(), 4);
}

#[test]
fn a_token_not_valid_yet_is_invalid() {
    let mut claims = valid_claims();
    claims["nbf"] = serde_json::json!(Utc::now().timestamp() + 30);
    let token = hs256("s3cret", &claims);
    assert_eq!(
        TokenVerifier::new(&secret("s3cret")).verify(&token),
        Err(VerifyError::Invalid)
    );
}

#[test]
fn a_token_valid_since_a_past_nbf_verifies() {
    let mut claims = valid_claims();
    let nbf = Utc::now().timestamp() - 5;
    claims["nbf"] = serde_json::json!(nbf);
    let token = hs256("s3cret", &claims);
    let verified = TokenVerifier::new(&secret("s3cret"))
        .verify(&token)
        .expect("verifies");
    assert_eq!(verified.nbf, Some(nbf));
}

#[test]
fn a_token_without_jti_or_nbf_still_verifies() {
    let token = hs256("s3cret", &valid_claims());
    let verified = TokenVerifier::new(&secret("s3cret"))
        .verify(&token)
        .expect("the original's tokens have neither");
    assert_eq!((verified.jti, verified.nbf), (None, None));
}

#[test]
fn a_malformed_jti_is_a_payload_error() {
    let mut claims = valid_claims();
    claims["jti"] = serde_json::json!(12);
    let token = hs256("s3cret", &claims);
    assert_eq!(
        TokenVerifier::new(&secret("s3cret")).verify(&token),
        Err(VerifyError::Payload)
    );
}

#[test]
fn sign_issued_at_sets_iat_and_exp_from_it() {
    let signer = TokenSigner::new(&secret("s3cret"), Duration::from_secs(60));
    let at = Utc::now().timestamp() + 1;
    let (token, claims) = signer.sign_issued_at(&alice(), at).expect("signs");
    assert_eq!((claims.iat, claims.exp), (at, at + 60));
    let verified = TokenVerifier::new(&secret("s3cret"))
        .verify(&token)
        .expect("verifies");
    assert_eq!(verified, claims);
}
