//! Bearer tokens (random, stored as SHA-256), passwords (argon2id) and
//! constant-time comparison.

use std::sync::{Arc, LazyLock};

use argon2::{Argon2, PasswordHasher};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new random token: `prefix_` + 64 hex characters (256 bits).
pub fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}_{}", hex::encode(bytes))
}

/// What is stored for a token: its SHA-256, hex. Tokens carry 256 bits of
/// entropy, so a fast hash is enough (no dictionary to attack).
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The last characters of a token, to tell tokens apart in listings.
pub fn token_hint(token: &str) -> String {
    let n = token.len().saturating_sub(4);
    format!("…{}", token.get(n..).unwrap_or_default())
}

pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// An argon2id PHC string for a password.
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Hashes running at once in this process: one per core. argon2 takes tens
/// of milliseconds of a core and 19 MiB per hash, so a burst of passwords
/// (a `/Bulk` of password PATCHes, many IdPs at once) queues here instead
/// of taking every core, the blocking thread pool and memory.
static HASHING: LazyLock<Arc<tokio::sync::Semaphore>> =
    LazyLock::new(|| Arc::new(tokio::sync::Semaphore::new(hashing_slots())));

/// How many hashes run at once: the cores available to the process, read
/// once (std reads the cgroup's CPU quota from `/proc` and `/sys` on each
/// call: a dozen system calls).
pub fn hashing_slots() -> usize {
    static SLOTS: LazyLock<usize> =
        LazyLock::new(|| std::thread::available_parallelism().map_or(1, std::num::NonZero::get));
    *SLOTS
}

/// [`hash_password`] on a blocking thread, at most [`hashing_slots`] at a
/// time process-wide (FIFO: a request waits its turn behind the hashes
/// queued before it). Call it before a transaction opens.
pub async fn hash_password_bounded(password: String) -> Result<String, String> {
    let permit = Arc::clone(&HASHING)
        .acquire_owned()
        .await
        .map_err(|e| e.to_string())?;
    // The permit lives as long as the hash, even when the request that
    // asked for it is dropped meanwhile.
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        crate::cpus::keep_off_writer_cpu();
        hash_password(&password)
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Hashes `passwords` in order with [`hash_password_bounded`]. One request
/// keeps at most [`hashing_slots`] hashes queued at once, so another
/// request's single hash waits behind a few of them, not all.
pub async fn hash_passwords_bounded(passwords: Vec<String>) -> Result<Vec<String>, String> {
    use futures_util::stream::{self, StreamExt, TryStreamExt};
    if passwords.is_empty() {
        return Ok(Vec::new());
    }
    stream::iter(passwords)
        .map(hash_password_bounded)
        .buffered(hashing_slots())
        .try_collect()
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashes_stable() {
        let a = new_token("scim");
        let b = new_token("scim");
        assert_ne!(a, b);
        assert!(a.starts_with("scim_") && a.len() == 69);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert!(constant_time_eq(&token_hash(&a), &token_hash(&a)));
        assert!(!constant_time_eq(&token_hash(&a), &token_hash(&b)));
    }

    #[test]
    fn passwords_hash_to_argon2id() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("correct horse"));
    }

    #[tokio::test]
    async fn bounded_hashes_keep_their_order() {
        let out = hash_passwords_bounded(vec!["a".into(), "b".into(), "c".into()])
            .await
            .unwrap();
        assert_eq!(out.len(), 3);
        for (h, p) in out.iter().zip(["a", "b", "c"]) {
            let parsed = argon2::PasswordHash::new(h).unwrap();
            use argon2::PasswordVerifier;
            assert!(
                Argon2::default()
                    .verify_password(p.as_bytes(), &parsed)
                    .is_ok()
            );
        }
    }
}
