//! Argon2id password hashes at OWASP's recommended parameters, computed on blocking threads.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

/// OWASP Password Storage Cheat Sheet: Argon2id, m = 19 MiB, t = 2, p = 1.
pub const M_COST_KIB: u32 = 19 * 1024;
pub const T_COST: u32 = 2;
pub const P_COST: u32 = 1;

#[derive(Clone)]
pub struct Passwords {
    argon2: Argon2<'static>,
    /// A hash of a random password: unknown emails are checked against it, so that they take as long
    /// as a wrong password.
    dummy_hash: Arc<str>,
    /// At most one hash per core at a time: each one takes 19 MiB and a core for tens of milliseconds.
    permits: Arc<Semaphore>,
}

impl Passwords {
    pub fn new() -> Result<Self, String> {
        let params = Params::new(M_COST_KIB, T_COST, P_COST, None)
            .map_err(|e| format!("Argon2 parameters: {e}"))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| format!("no randomness: {e}"))?;
        let dummy_hash = argon2
            .hash_password(&random)
            .map_err(|e| format!("Argon2: {e}"))?
            .to_string();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Ok(Self {
            argon2,
            dummy_hash: dummy_hash.into(),
            permits: Arc::new(Semaphore::new(cores)),
        })
    }

    /// The PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) of `password`, with a random salt.
    pub async fn hash(&self, password: String) -> Result<String, String> {
        let _permit = self.permits.acquire().await.map_err(|e| e.to_string())?;
        let argon2 = self.argon2.clone();
        tokio::task::spawn_blocking(move || {
            argon2
                .hash_password(password.as_bytes())
                .map(|hash| hash.to_string())
                .map_err(|e| format!("Argon2: {e}"))
        })
        .await
        .map_err(|e| format!("hashing task failed: {e}"))?
    }

    /// Whether `password` matches `hash`; with `None` (no such user) it checks against the dummy hash and
    /// returns false, taking the same time.
    pub async fn verify(&self, password: String, hash: Option<String>) -> Result<bool, String> {
        let _permit = self.permits.acquire().await.map_err(|e| e.to_string())?;
        let argon2 = self.argon2.clone();
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy_hash.to_string());
        tokio::task::spawn_blocking(move || {
            match argon2.verify_password(password.as_bytes(), hash.as_str()) {
                Ok(()) => Ok(known),
                Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
                Err(e) => Err(format!("Argon2: {e}")),
            }
        })
        .await
        .map_err(|e| format!("verifying task failed: {e}"))?
    }
}
