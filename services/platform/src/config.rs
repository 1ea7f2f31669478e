//! Settings come from the process environment, then from a `.env` file in the working directory for
//! whatever the environment does not set (as the original backend did). Secrets may instead be given as a
//! path in `<NAME>_FILE`, the convention for Kubernetes and Docker secrets; the plain variable wins.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};

use crate::Error;

/// A snapshot of the variables a service reads. Tests build one from pairs instead of touching the
/// process environment, which is shared by every test thread.
#[derive(Clone, Default)]
pub struct Env {
    vars: HashMap<String, String>,
}

/// Names only: values include secrets (JWT_SECRET, DATABASE_PASSWORD, RABBITMQ_URL...).
impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&str> = self.vars.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("Env").field("names", &names).finish()
    }
}

impl Env {
    /// The process environment over the `.env` file of the working directory (if there is one).
    pub fn from_process() -> Self {
        let mut vars: HashMap<String, String> = dotenvy::from_path_iter(".env")
            .map(|iter| iter.filter_map(Result::ok).collect())
            .unwrap_or_default();
        vars.extend(std::env::vars());
        Self { vars }
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) -> &mut Self {
        self.vars.insert(name.into(), value.into());
        self
    }

    /// The value, treating an empty string as unset.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<&str, Error> {
        self.get(name).ok_or(Error::Missing(name))
    }

    pub fn string_or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or(default).to_owned()
    }

    /// Parses the value if set, else returns `default`.
    pub fn parse_or<T: FromStr>(&self, name: &'static str, default: T) -> Result<T, Error>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw.trim().parse().map_err(|e: T::Err| Error::Invalid {
                name,
                reason: e.to_string(),
            }),
        }
    }

    /// A secret from `name`, else from the file named by `<name>_FILE` (trailing newline trimmed).
    pub fn secret(
        &self,
        name: &'static str,
        file_var: &'static str,
    ) -> Result<Option<SecretString>, Error> {
        if let Some(value) = self.get(name) {
            return Ok(Some(SecretString::from(value.to_owned())));
        }
        match self.get(file_var) {
            None => Ok(None),
            Some(path) => read_secret_file(file_var, Path::new(path)).map(Some),
        }
    }

    /// `CORS_ORIGINS`, comma-separated; `None` (any origin) when unset, which production refuses: it
    /// would let every web page call the API with a user's token.
    pub fn cors_origins(&self) -> Result<Option<Vec<String>>, Error> {
        let origins = self.get("CORS_ORIGINS").map(|list| {
            list.split(',')
                .map(|origin| origin.trim().trim_end_matches('/').to_owned())
                .filter(|origin| !origin.is_empty())
                .collect::<Vec<_>>()
        });
        if self.environment()? == Environment::Production && origins.is_none() {
            return Err(Error::Missing("CORS_ORIGINS"));
        }
        Ok(origins)
    }

    pub fn environment(&self) -> Result<Environment, Error> {
        self.parse_or("NODE_ENV", Environment::Development)
    }

    /// `JWT_SECRET` (or `JWT_SECRET_FILE`): required everywhere. In production it must be at least
    /// [`MIN_PRODUCTION_SECRET_LEN`] bytes, since a short HMAC key can be brute-forced offline from any
    /// one token, and none of the [`SHIPPED_JWT_SECRETS`], which anyone can read in the repository.
    pub fn jwt_secret(&self) -> Result<SecretString, Error> {
        let secret = self
            .secret("JWT_SECRET", "JWT_SECRET_FILE")?
            .ok_or(Error::Missing("JWT_SECRET"))?;
        if self.environment()? == Environment::Production {
            let value = secret.expose_secret();
            if SHIPPED_JWT_SECRETS.contains(&value.trim()) {
                return Err(Error::Invalid {
                    name: "JWT_SECRET",
                    reason: "is an example published in the repository; generate your own \
                             (e.g. openssl rand -base64 48)"
                        .to_owned(),
                });
            }
            if value.len() < MIN_PRODUCTION_SECRET_LEN {
                return Err(Error::Invalid {
                    name: "JWT_SECRET",
                    reason: format!(
                        "must be at least {MIN_PRODUCTION_SECRET_LEN} bytes in production"
                    ),
                });
            }
        }
        Ok(secret)
    }
}

pub const MIN_PRODUCTION_SECRET_LEN: usize = 32;

/// Every JWT secret that is, or was, written in this repository (deployment examples, the development
/// overlay, the README): production refuses them all. A test checks that the files that ship one are
/// listed here.
pub const SHIPPED_JWT_SECRETS: &[&str] = &[
    // deploy/secrets/jwt_secret.example, as Docker Compose used to mount it.
    "change-me-to-32-random-characters-at-least-00000000",
    // k8s/overlays/dev/kustomization.yaml
    "dev-only-jwt-secret-0123456789abcdef0123",
];

fn read_secret_file(var: &'static str, path: &Path) -> Result<SecretString, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Invalid {
        name: var,
        reason: format!("cannot read {}: {e}", path.display()),
    })?;
    Ok(SecretString::from(
        text.trim_end_matches(['\r', '\n']).to_owned(),
    ))
}

/// `NODE_ENV`, kept under the seed's name so existing deployments configure us unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

impl FromStr for Environment {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "development" | "dev" | "test" => Ok(Self::Development),
            "production" | "prod" => Ok(Self::Production),
            other => Err(format!("expected development or production, got {other:?}")),
        }
    }
}

/// The seed's database variables with the seed's defaults.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub name: String,
    pub password: Option<SecretString>,
    pub max_connections: u32,
}

/// Where the seed looked for the password when `DATABASE_PASSWORD_FILE` is not set.
const DEFAULT_PASSWORD_FILE: &str = "./../db_password.conf";

impl DatabaseSettings {
    pub fn from_env(env: &Env) -> Result<Self, Error> {
        let password = match env.secret("DATABASE_PASSWORD", "DATABASE_PASSWORD_FILE")? {
            Some(password) => Some(password),
            // The seed's default file is optional: a local database with trust auth needs none.
            None => match Path::new(DEFAULT_PASSWORD_FILE) {
                p if p.is_file() => Some(read_secret_file("DATABASE_PASSWORD_FILE", p)?),
                _ => None,
            },
        };
        Ok(Self {
            host: env.string_or("DATABASE_HOST", "localhost"),
            port: env.parse_or("DATABASE_PORT", 5432)?,
            user: env.string_or("DATABASE_USER", "junqo"),
            name: env.string_or("DATABASE_NAME", "junqo"),
            password,
            max_connections: env.parse_or("DATABASE_MAX_CONNECTIONS", 10)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_defaults_are_the_seeds() {
        let settings = DatabaseSettings::from_env(&Env::default()).expect("defaults are valid");
        assert_eq!(settings.host, "localhost");
        assert_eq!(settings.port, 5432);
        assert_eq!(settings.user, "junqo");
        assert_eq!(settings.name, "junqo");
    }

    #[test]
    fn password_file_is_read_and_the_plain_variable_wins() {
        let path = std::env::temp_dir().join(format!("junqo-pw-{}", std::process::id()));
        std::fs::write(&path, "from-file\n").expect("temp dir is writable");
        let mut env =
            Env::from_pairs([("DATABASE_PASSWORD_FILE", path.to_string_lossy().to_string())]);
        let from_file = DatabaseSettings::from_env(&env).expect("file is readable");
        assert_eq!(
            from_file.password.expect("set").expose_secret(),
            "from-file"
        );

        env.set("DATABASE_PASSWORD", "plain");
        let plain = DatabaseSettings::from_env(&env).expect("valid");
        assert_eq!(plain.password.expect("set").expose_secret(), "plain");
        std::fs::remove_file(path).ok();
    }

    #[test]
    fn an_unreadable_password_file_names_the_variable() {
        let env = Env::from_pairs([("DATABASE_PASSWORD_FILE", "/nonexistent/junqo/pw")]);
        let err = DatabaseSettings::from_env(&env).expect_err("file is missing");
        assert!(err.to_string().contains("DATABASE_PASSWORD_FILE"), "{err}");
    }

    #[test]
    fn a_bad_port_names_the_variable_without_echoing_secrets() {
        let env = Env::from_pairs([("DATABASE_PORT", "http")]);
        let err = DatabaseSettings::from_env(&env).expect_err("not a port");
        assert!(
            err.to_string()
                .starts_with("invalid environment variable DATABASE_PORT"),
            "{err}"
        );
    }

    #[test]
    fn jwt_secret_is_required_and_named() {
        let err = Env::default().jwt_secret().expect_err("unset");
        assert_eq!(
            err.to_string(),
            "missing required environment variable JWT_SECRET"
        );
    }

    #[test]
    fn production_refuses_every_jwt_secret_shipped_in_the_repository() {
        for shipped in SHIPPED_JWT_SECRETS {
            let mut env = Env::from_pairs([("JWT_SECRET", *shipped)]);
            assert!(env.jwt_secret().is_ok(), "development takes {shipped}");
            env.set("NODE_ENV", "production");
            let err = env.jwt_secret().expect_err("a published secret");
            assert_eq!(
                err.to_string(),
                "invalid environment variable JWT_SECRET: is an example published in the repository; \
                 generate your own (e.g. openssl rand -base64 48)"
            );
        }
    }

    /// The list is the one place: every file of the repository that ships a JWT secret is in it.
    #[test]
    fn the_shipped_secrets_list_covers_the_repository() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let overlay = std::fs::read_to_string(root.join("k8s/overlays/dev/kustomization.yaml"))
            .expect("the dev overlay");
        let literal = overlay
            .split("literals: [secret=")
            .nth(1)
            .and_then(|rest| rest.split(']').next())
            .expect("the dev overlay's junqo-jwt literal");
        assert!(SHIPPED_JWT_SECRETS.contains(&literal), "{literal}");
        let secrets = root.join("deploy/secrets");
        for entry in std::fs::read_dir(&secrets).expect("deploy/secrets") {
            let path = entry.expect("an entry").path();
            if path.to_string_lossy().contains("jwt") {
                let value = std::fs::read_to_string(&path).expect("readable");
                assert!(
                    SHIPPED_JWT_SECRETS.contains(&value.trim()),
                    "{} is not listed",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn a_weak_jwt_secret_is_refused_in_production_only() {
        let mut env = Env::from_pairs([("JWT_SECRET", "short")]);
        assert!(env.jwt_secret().is_ok());
        env.set("NODE_ENV", "production");
        let err = env.jwt_secret().expect_err("too short for production");
        assert!(err.to_string().contains("at least 32 bytes"), "{err}");
        assert!(
            !err.to_string().contains("short"),
            "the secret must not be echoed: {err}"
        );
        env.set("JWT_SECRET", "x".repeat(32));
        assert!(env.jwt_secret().is_ok());
    }

    #[test]
    fn debug_output_shows_names_not_values() {
        let env = Env::from_pairs([("JWT_SECRET", "do-not-print-me")]);
        let printed = format!("{env:?}");
        assert!(
            printed.contains("JWT_SECRET") && !printed.contains("do-not-print-me"),
            "{printed}"
        );
    }

    #[test]
    fn node_env_parses_both_spellings() {
        let env = Env::from_pairs([("NODE_ENV", "production")]);
        assert_eq!(env.environment().expect("valid"), Environment::Production);
        assert_eq!(
            Env::default().environment().expect("valid"),
            Environment::Development
        );
        assert!(
            Env::from_pairs([("NODE_ENV", "staging")])
                .environment()
                .is_err()
        );
    }
}
