//! Bearer tokens (random, stored as SHA-256), passwords (argon2id) and
//! constant-time comparison.

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
}
