//! Users for end-to-end tests: written straight into auth's table (signing them up would spend seconds
//! hashing passwords these tests never use), with tokens signed as auth signs them.

use secrecy::SecretString;
use testkit::TestDatabase;
use uuid::Uuid;

use crate::JWT_SECRET;

pub struct User {
    pub id: Uuid,
    pub token: String,
}

impl User {
    /// A gRPC request made as this user.
    pub fn call<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        platform::grpc::authorize(&mut request, &self.token);
        request
    }
}

/// `count` new students, named `User <id>`, with emails `<id>@example.com`.
pub async fn insert(db: &TestDatabase, count: usize) -> Vec<User> {
    let ids: Vec<Uuid> = (0..count).map(|_| Uuid::new_v4()).collect();
    let mut connection = db.connect().await;
    sqlx::query(
        "INSERT INTO auth.users (id, name, email, type, password_hash) \
         SELECT id, 'User ' || id, id || '@example.com', 'STUDENT', 'never used' FROM unnest($1::uuid[]) AS u(id)",
    )
    .bind(&ids)
    .execute(&mut connection)
    .await
    .expect("users inserted");
    let signer = jwt::TokenSigner::new(&SecretString::from(JWT_SECRET), jwt::DEFAULT_TTL);
    ids.iter()
        .map(|id| User {
            id: *id,
            token: signer
                .sign(&jwt::Subject {
                    id: *id,
                    name: &format!("User {id}"),
                    user_type: jwt::UserType::Student,
                    email: &format!("{id}@example.com"),
                })
                .expect("a token"),
        })
        .collect()
}
