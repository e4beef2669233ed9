//! Bearer tokens: how they are made (256 random bits), how they are stored (SHA-256 only), and the
//! [`Caller`] extractor that authenticates every API request.

pub mod caller;
pub mod credentials;

pub use caller::Caller;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// A prefix that makes leaked tokens easy to recognise (secret scanners, logs).
const TOKEN_PREFIX: &str = "pb_";

/// A new random token: 32 bytes from the OS-seeded CSPRNG, URL-safe base64.
pub fn generate_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{TOKEN_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// What the database stores for a token: its SHA-256 in hex. A fast hash is right here: tokens
/// carry 256 bits of entropy, so there is nothing to brute-force.
pub fn hash_token(token: &str) -> String {
    hex::encode(sha256(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hashed() {
        let (a, b) = (generate_token(), generate_token());
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() >= 3 + 43);
        assert_eq!(hash_token(&a).len(), 64);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_ne!(hash_token(&a), hash_token(&b));
    }
}
