//! Users in SQLite: one connection behind a mutex, used from blocking threads.

use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::config::Database;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
";

/// A user as the API shows it (never with the password hash).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    pub id: String,
    pub email: String,
    pub name: String,
    /// RFC 3339, UTC.
    pub created_at: String,
}

#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

/// Why a user could not be created.
pub enum CreateError {
    EmailTaken,
    Db(String),
}

impl Store {
    /// Opens (or creates) the database and its schema.
    pub fn open(database: &Database) -> Result<Self, String> {
        let conn = match database {
            Database::Memory => Connection::open_in_memory(),
            Database::File(path) => Connection::open(path),
        }
        .map_err(|e| format!("DATABASE_URL: cannot open {}: {e}", describe(database)))?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .and_then(|()| conn.execute_batch(SCHEMA))
            .map_err(|e| {
                format!(
                    "DATABASE_URL: cannot create the schema in {}: {e}",
                    describe(database)
                )
            })?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `f` with the connection on a blocking thread.
    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> T + Send + 'static,
    ) -> Result<T, String> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock leaves the connection usable: SQLite rolls back.
            let conn = conn.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&conn)
        })
        .await
        .map_err(|e| format!("database task failed: {e}"))
    }

    pub async fn create(
        &self,
        id: String,
        email: String,
        name: String,
        password_hash: String,
        created_at: u64,
    ) -> Result<User, CreateError> {
        let result = self
            .with(move |conn| {
                conn.execute(
                    "INSERT INTO users (id, email, name, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, email, name, password_hash, created_at as i64],
                )
                .map(|_| User {
                    id,
                    email,
                    name,
                    created_at: crate::time::rfc3339(created_at),
                })
            })
            .await
            .map_err(CreateError::Db)?;
        result.map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::ConstraintViolation) => CreateError::EmailTaken,
            _ => CreateError::Db(e.to_string()),
        })
    }

    /// The user with this (normalized) email and their password hash.
    pub async fn by_email(&self, email: String) -> Result<Option<(User, String)>, String> {
        self.with(move |conn| {
            conn.query_row(
                "SELECT id, email, name, created_at, password_hash FROM users WHERE email = ?1",
                params![email],
                |row| Ok((user_of(row)?, row.get::<_, String>(4)?)),
            )
            .optional()
        })
        .await?
        .map_err(|e| e.to_string())
    }

    pub async fn by_id(&self, id: String) -> Result<Option<User>, String> {
        self.with(move |conn| {
            conn.query_row(
                "SELECT id, email, name, created_at FROM users WHERE id = ?1",
                params![id],
                user_of,
            )
            .optional()
        })
        .await?
        .map_err(|e| e.to_string())
    }
}

fn user_of(row: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: row.get(0)?,
        email: row.get(1)?,
        name: row.get(2)?,
        created_at: crate::time::rfc3339(row.get::<_, i64>(3)?.max(0) as u64),
    })
}

/// The database as logs and errors show it: an absolute path when it can be had.
pub fn describe(database: &Database) -> String {
    match database {
        Database::Memory => "an in-memory database (users are lost when the server stops)".into(),
        Database::File(path) => std::path::absolute(path)
            .unwrap_or_else(|_| path.clone())
            .display()
            .to_string(),
    }
}
