//! The encrypted request bodies of the MinIO admin API (`add-user`, policy attachment, ...).
//!
//! MinIO encrypts these bodies with the requester's secret key, as its Go client `madmin` does:
//! `salt (32) || algorithm id (1) || nonce (8) || sealed stream`. The key is PBKDF2-HMAC-SHA256
//! (secret key, salt, 8192 rounds; algorithm 0x02, madmin's FIPS mode) for what the operator sends:
//! MinIO serialises Argon2id (64 MiB) derivations behind one lock, which at thousands of spaces
//! made its admin API the bottleneck. Bodies MinIO sends back may use Argon2id(secret key, salt;
//! t=1, m=64 MiB, p=4) (algorithm 0x00); both are read. The stream is the "sio" construction: fragments of 16 KiB, each
//! sealed with AES-256-GCM under the nonce `nonce || little-endian u32 counter`. Counter 0 seals an
//! empty message whose tag becomes the stream's associated data; fragments use counters 1, 2, ...
//! with associated data `0x00 || tag`, except the last, `0x80 || tag` (truncation resistance).
//! No crate implements this, so it is written here on RustCrypto primitives.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::{Algorithm, Argon2, Params, Version};
use thiserror::Error;

const SALT_LEN: usize = 32;
const NONCE_PREFIX_LEN: usize = 8;
const ARGON2ID_AES_GCM: u8 = 0x00;
const PBKDF2_AES_GCM: u8 = 0x02;
const PBKDF2_ROUNDS: u32 = 8192;
const FRAGMENT: usize = 16 * 1024;

#[derive(Debug, Error)]
pub enum MadminError {
    #[error("deriving the body key failed")]
    Kdf,
    #[error("sealing the body failed")]
    Seal,
    #[error("opening the body failed: not authentic or truncated")]
    Open,
    #[error("random generator: {0}")]
    Random(String),
}

fn derive_key(algorithm: u8, secret: &str, salt: &[u8]) -> Result<[u8; 32], MadminError> {
    if algorithm == PBKDF2_AES_GCM {
        let mut key = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<sha2::Sha256>(secret.as_bytes(), salt, PBKDF2_ROUNDS, &mut key);
        return Ok(key);
    }
    let params = Params::new(64 * 1024, 1, 4, Some(32)).map_err(|_| MadminError::Kdf)?;
    let mut key = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into(secret.as_bytes(), salt, &mut key)
        .map_err(|_| MadminError::Kdf)?;
    Ok(key)
}

fn fragment_nonce(prefix: &[u8], counter: u32) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[..NONCE_PREFIX_LEN].copy_from_slice(prefix);
    nonce[NONCE_PREFIX_LEN..].copy_from_slice(&counter.to_le_bytes());
    nonce
}

/// `0x00 || tag`, the tag of an empty message sealed under counter 0 (the stream's own associated
/// data is empty for madmin).
fn stream_aad(cipher: &Aes256Gcm, prefix: &[u8]) -> Result<Vec<u8>, aes_gcm::Error> {
    let n = fragment_nonce(prefix, 0);
    let tag = cipher.encrypt(Nonce::from_slice(&n), Payload { msg: &[], aad: &[] })?;
    let mut aad = Vec::with_capacity(1 + tag.len());
    aad.push(0x00);
    aad.extend_from_slice(&tag);
    Ok(aad)
}

/// Encrypts with explicit salt and nonce (for tests); use [`encrypt`] otherwise.
pub fn encrypt_with(secret: &str, plaintext: &[u8], salt: [u8; SALT_LEN], nonce: [u8; NONCE_PREFIX_LEN]) -> Result<Vec<u8>, MadminError> {
    seal(PBKDF2_AES_GCM, secret, plaintext, salt, nonce)
}

fn seal(
    algorithm: u8,
    secret: &str,
    plaintext: &[u8],
    salt: [u8; SALT_LEN],
    nonce: [u8; NONCE_PREFIX_LEN],
) -> Result<Vec<u8>, MadminError> {
    let key = derive_key(algorithm, secret, &salt)?;
    let cipher = Aes256Gcm::new_from_slice(&key).map_err(|_| MadminError::Seal)?;
    let mut out = Vec::with_capacity(SALT_LEN + 1 + NONCE_PREFIX_LEN + plaintext.len() + 16 * (1 + plaintext.len() / FRAGMENT));
    out.extend_from_slice(&salt);
    out.push(algorithm);
    out.extend_from_slice(&nonce);
    // Every fragment but the last is full; the last may be empty.
    let (mut aad, mut counter) = (stream_aad(&cipher, &nonce).map_err(|_| MadminError::Seal)?, 1u32);
    let full = if plaintext.is_empty() { 0 } else { (plaintext.len() - 1) / FRAGMENT };
    for chunk in plaintext.chunks(FRAGMENT).take(full) {
        let n = fragment_nonce(&nonce, counter);
        let sealed = cipher.encrypt(Nonce::from_slice(&n), Payload { msg: chunk, aad: &aad }).map_err(|_| MadminError::Seal)?;
        out.extend_from_slice(&sealed);
        counter += 1;
    }
    let last = &plaintext[full * FRAGMENT..];
    aad[0] = 0x80;
    let n = fragment_nonce(&nonce, counter);
    let sealed = cipher.encrypt(Nonce::from_slice(&n), Payload { msg: last, aad: &aad }).map_err(|_| MadminError::Seal)?;
    out.extend_from_slice(&sealed);
    Ok(out)
}

pub fn encrypt(secret: &str, plaintext: &[u8]) -> Result<Vec<u8>, MadminError> {
    let mut salt = [0u8; SALT_LEN];
    let mut nonce = [0u8; NONCE_PREFIX_LEN];
    getrandom::fill(&mut salt).map_err(|e| MadminError::Random(e.to_string()))?;
    getrandom::fill(&mut nonce).map_err(|e| MadminError::Random(e.to_string()))?;
    encrypt_with(secret, plaintext, salt, nonce)
}

/// Decrypts a body MinIO encrypted for us (e.g. a listing of service accounts).
pub fn decrypt(secret: &str, data: &[u8]) -> Result<Vec<u8>, MadminError> {
    let header = SALT_LEN + 1 + NONCE_PREFIX_LEN;
    if data.len() < header + 16 || ![ARGON2ID_AES_GCM, PBKDF2_AES_GCM].contains(&data[SALT_LEN]) {
        return Err(MadminError::Open);
    }
    let key = derive_key(data[SALT_LEN], secret, &data[..SALT_LEN])?;
    let cipher = Aes256Gcm::new_from_slice(&key).map_err(|_| MadminError::Open)?;
    let prefix = &data[SALT_LEN + 1..header];
    let body = &data[header..];
    let sealed_fragment = FRAGMENT + 16;
    let full = if body.len() <= sealed_fragment { 0 } else { (body.len() - 1) / sealed_fragment };
    let mut out = Vec::with_capacity(body.len());
    let (mut aad, mut counter) = (stream_aad(&cipher, prefix).map_err(|_| MadminError::Open)?, 1u32);
    for chunk in body.chunks(sealed_fragment).take(full) {
        let n = fragment_nonce(prefix, counter);
        out.extend(cipher.decrypt(Nonce::from_slice(&n), Payload { msg: chunk, aad: &aad }).map_err(|_| MadminError::Open)?);
        counter += 1;
    }
    aad[0] = 0x80;
    let n = fragment_nonce(prefix, counter);
    out.extend(
        cipher
            .decrypt(Nonce::from_slice(&n), Payload { msg: &body[full * sealed_fragment..], aad: &aad })
            .map_err(|_| MadminError::Open)?,
    );
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Produced by MinIO's own Go client, madmin-go v3.0.109 (`tests/vectors/madmin`): bodies it
    /// sealed, and one sealed here that its `DecryptData` opened. Password and plaintext of all three:
    const VECTOR_PASSWORD: &str = "minio-admin-secret";
    const VECTOR_PLAINTEXT: &[u8] = br#"{"secretKey":"space-secret","status":"enabled"}"#;
    /// `madmin.EncryptData` (Argon2id, AES-256-GCM: `go run . seal`).
    const MADMIN_ARGON2ID: &[&str] = &[
        "57ecc80951ef6d4e4877b24df0d7f0b2b875744e0cbbaaf4cf1945cbd2c08a67004f5a8e92ae881cd0db24ebac0eaa85",
        "c8a446f7b28a71aecc04d204051eb99530671a39a27b4c9915edff2a4cd0f5c61d8fa095d6287c119c93273504356162",
        "a54a6376e3374953",
    ];
    /// `madmin.EncryptData` built with `-tags fips` (PBKDF2, AES-256-GCM).
    const MADMIN_PBKDF2: &[&str] = &[
        "724b413e048ad35546c81f209230e9244d2ba3f02f6c3cfbc92ada8432d07d32029e021ab61a47b01f5c090ee10ac119",
        "7744908792f3119371c16f795c65435f86c16539d02a24b7c234593e813c9b552e0d93134bc8a93eadb4c6d94c1eb7bb",
        "2ba24c77354ae00a",
    ];
    /// `encrypt_with(VECTOR_PASSWORD, VECTOR_PLAINTEXT, [0x11; 32], [0x22; 8])`, which
    /// `go run . open` (madmin.DecryptData) turned back into the plaintext.
    const OPENED_BY_MADMIN: &[&str] = &[
        "111111111111111111111111111111111111111111111111111111111111111102222222222222222220144d49f1d9d8",
        "a5275d9444c9a0544dc475cb88ff0e4183886ad38a7fb384adeaf8b77ba7aab24a31aa58cab9e088e6a3e590113a4c5b",
        "b1b4675ea5b3443f",
    ];

    fn unhex(parts: &[&str]) -> Vec<u8> {
        let h: String = parts.concat();
        (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).expect("hex")).collect()
    }

    #[test]
    fn bodies_sealed_by_minio_s_madmin_are_opened() {
        assert_eq!(decrypt(VECTOR_PASSWORD, &unhex(MADMIN_ARGON2ID)).expect("Argon2id"), VECTOR_PLAINTEXT);
        assert_eq!(decrypt(VECTOR_PASSWORD, &unhex(MADMIN_PBKDF2)).expect("PBKDF2"), VECTOR_PLAINTEXT);
        assert!(decrypt("another-secret", &unhex(MADMIN_PBKDF2)).is_err());
    }

    #[test]
    fn what_is_sealed_here_is_byte_for_byte_what_madmin_opened() {
        let sealed = encrypt_with(VECTOR_PASSWORD, VECTOR_PLAINTEXT, [0x11; 32], [0x22; 8]).expect("encrypts");
        assert_eq!(sealed, unhex(OPENED_BY_MADMIN));
    }

    #[test]
    fn round_trip_small_and_multi_fragment() {
        for len in [0usize, 1, 100, FRAGMENT, FRAGMENT + 1, 3 * FRAGMENT + 17] {
            let plain: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let sealed = encrypt_with("secret", &plain, [7; 32], [9; 8]).expect("encrypts");
            assert_eq!(sealed.len(), 41 + len + 16 * (1 + len.saturating_sub(1) / FRAGMENT), "len {len}");
            assert_eq!(decrypt("secret", &sealed).expect("decrypts"), plain, "len {len}");
        }
    }

    #[test]
    fn header_layout() {
        let sealed = encrypt_with("k", b"{}", [1; 32], [2; 8]).expect("encrypts");
        assert_eq!(&sealed[..32], &[1; 32]);
        assert_eq!(sealed[32], PBKDF2_AES_GCM, "PBKDF2: MinIO derives it without its Argon2 lock");
        assert_eq!(&sealed[33..41], &[2; 8]);
    }

    #[test]
    fn argon2id_bodies_from_minio_are_read_too() {
        let sealed = seal(ARGON2ID_AES_GCM, "k", b"{\"a\":1}", [3; 32], [4; 8]).expect("encrypts");
        assert_eq!(sealed[32], ARGON2ID_AES_GCM);
        assert_eq!(decrypt("k", &sealed).expect("decrypts"), b"{\"a\":1}");
        let mut unknown = sealed.clone();
        unknown[32] = 0x01;
        assert!(decrypt("k", &unknown).is_err(), "ChaCha20 bodies are not produced for AES-capable clients");
    }

    #[test]
    fn wrong_key_truncation_and_tampering_are_detected() {
        let plain = vec![5u8; 2 * FRAGMENT + 3];
        let sealed = encrypt("right", &plain).expect("encrypts");
        assert!(decrypt("wrong", &sealed).is_err());
        assert!(decrypt("right", &sealed[..sealed.len() - (FRAGMENT + 16 + 3)]).is_err(), "a dropped last fragment");
        let mut tampered = sealed.clone();
        tampered[50] ^= 1;
        assert!(decrypt("right", &tampered).is_err());
    }
}
