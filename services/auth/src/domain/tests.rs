use super::*;

fn sign_up(
    name: Option<&str>,
    email: Option<&str>,
    user_type: Option<&str>,
    password: Option<&str>,
) -> SignUpRequest {
    SignUpRequest {
        name: name.map(Into::into),
        email: email.map(Into::into),
        r#type: user_type.map(Into::into),
        password: password.map(Into::into),
    }
}

fn messages(result: Result<impl std::fmt::Debug, AuthError>) -> Vec<String> {
    match result {
        Err(AuthError::Validation(violations)) => violations.into_sentences(),
        other => panic!("expected a validation failure, got {other:?}"),
    }
}

#[test]
fn a_valid_sign_up_parses() {
    let user = NewUser::parse(sign_up(
        Some("Alice"),
        Some("alice@example.com"),
        Some("STUDENT"),
        Some("password1"),
    ))
    .expect("valid");
    assert_eq!(user.name.as_str(), "Alice");
    assert_eq!(user.user_type, UserType::Student);
}

#[test]
fn an_empty_sign_up_reports_every_rule_of_every_field() {
    assert_eq!(
        messages(NewUser::parse(sign_up(None, None, None, None))),
        [
            "Name must be at most 255 characters long",
            "Name must be at least 3 characters long",
            "Name must be a string",
            "Name is required",
            "Email must be at most 255 characters long",
            "Email must be at least 5 characters long",
            "Email must be a valid email address",
            "Email is required",
            "User type must be a valid UserType enum value",
            "User type is required",
            "Password must be at most 72 characters long",
            "Password must be at least 8 characters long",
            "Password must be a string",
            "Password is required",
        ]
    );
}

#[test]
fn each_broken_rule_is_named() {
    let long = "x".repeat(256);
    let cases: [(SignUpRequest, &[&str]); 7] = [
        (
            sign_up(
                Some("Al"),
                Some("a@b.co"),
                Some("STUDENT"),
                Some("password1"),
            ),
            &["Name must be at least 3 characters long"],
        ),
        (
            sign_up(
                Some(&long),
                Some("a@b.co"),
                Some("STUDENT"),
                Some("password1"),
            ),
            &["Name must be at most 255 characters long"],
        ),
        (
            sign_up(
                Some("Alice"),
                Some("not-an-email"),
                Some("STUDENT"),
                Some("password1"),
            ),
            &["Email must be a valid email address"],
        ),
        (
            sign_up(
                Some("Alice"),
                Some("a@b"),
                Some("STUDENT"),
                Some("password1"),
            ),
            &[
                "Email must be at least 5 characters long",
                "Email must be a valid email address",
            ],
        ),
        (
            sign_up(
                Some("Alice"),
                Some("a@b.co"),
                Some("PIRATE"),
                Some("password1"),
            ),
            &["User type must be a valid UserType enum value"],
        ),
        (
            sign_up(
                Some("Alice"),
                Some("a@b.co"),
                Some("STUDENT"),
                Some("short"),
            ),
            &["Password must be at least 8 characters long"],
        ),
        (
            sign_up(
                Some("Alice"),
                Some("a@b.co"),
                Some("STUDENT"),
                Some(&"p".repeat(73)),
            ),
            &["Password must be at most 72 characters long"],
        ),
    ];
    for (request, expected) in cases {
        assert_eq!(messages(NewUser::parse(request)), expected);
    }
}

#[test]
fn nobody_signs_up_as_admin() {
    let outcome = NewUser::parse(sign_up(
        Some("Eve"),
        Some("eve@example.com"),
        Some("ADMIN"),
        Some("password1"),
    ));
    assert!(
        matches!(
            outcome,
            Err(AuthError::Forbidden("You cannot create an admin user"))
        ),
        "{outcome:?}"
    );
}

#[test]
fn an_update_checks_only_what_it_changes() {
    let changes = UserChanges::parse(UpdateUserRequest {
        name: Some("Bobby".into()),
        ..Default::default()
    })
    .expect("valid");
    assert_eq!(
        changes.name.map(|n| n.as_str().to_owned()).as_deref(),
        Some("Bobby")
    );
    assert!(changes.email.is_none() && changes.password.is_none());

    let bad = UserChanges::parse(UpdateUserRequest {
        email: Some("not-an-address".into()),
        r#type: Some("PIRATE".into()),
        current_password: Some("password123".into()),
        ..Default::default()
    });
    assert_eq!(
        messages(bad),
        [
            "Email must be a valid email address",
            "User type must be a valid enum value"
        ]
    );

    let admin = UserChanges::parse(UpdateUserRequest {
        r#type: Some("ADMIN".into()),
        ..Default::default()
    });
    assert!(matches!(
        admin,
        Err(AuthError::Forbidden("You cannot update user type to admin"))
    ));
}

#[test]
fn stored_text_refuses_nul_and_names_the_field() {
    assert_eq!(
        messages(NewUser::parse(sign_up(
            Some("Al\u{0}ce"),
            Some("alice@exa\u{0}mple.com"),
            Some("STUDENT"),
            Some("pass\u{0}word1"),
        ))),
        [
            "Name must not contain null characters",
            "Email must be a valid email address",
            "Email must not contain null characters",
        ]
    );
    assert_eq!(
        messages(UserChanges::parse(UpdateUserRequest {
            name: Some("Bob\u{0}".into()),
            ..Default::default()
        })),
        ["Name must not contain null characters"]
    );
}

#[test]
fn a_password_is_only_hashed_so_any_character_is_fine() {
    let user = NewUser::parse(sign_up(
        Some("Alice"),
        Some("alice@example.com"),
        Some("STUDENT"),
        Some("pass\u{0}word1"),
    ));
    assert!(user.is_ok(), "{user:?}");
}

#[test]
fn changing_a_credential_needs_the_current_password() {
    for request in [
        UpdateUserRequest {
            email: Some("new@example.com".into()),
            ..Default::default()
        },
        UpdateUserRequest {
            password: Some("new-password-1".into()),
            current_password: Some(String::new()),
            ..Default::default()
        },
    ] {
        assert_eq!(
            messages(UserChanges::parse(request)),
            [CURRENT_PASSWORD_REQUIRED]
        );
    }
    let with_it = UserChanges::parse(UpdateUserRequest {
        password: Some("new-password-1".into()),
        current_password: Some("password123".into()),
        ..Default::default()
    })
    .expect("valid");
    assert!(with_it.changes_credentials() && with_it.current_password.is_some());
    let name_only = UserChanges::parse(UpdateUserRequest {
        name: Some("Bobby".into()),
        ..Default::default()
    })
    .expect("a name needs no password");
    assert!(!name_only.changes_credentials());
}
