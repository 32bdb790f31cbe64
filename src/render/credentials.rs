//! Generated credentials of a space. Generated once with the operating system's CSPRNG; an
//! existing value is always kept, so a restored or hand-set Secret is never overwritten.

use std::collections::BTreeMap;

use thiserror::Error;

use crate::api::storage_pool::StorageProvider;

pub const ADMIN_PASSWORD: &str = "admin-password";
pub const NEXTCLOUD_SECRET: &str = "nextcloud-secret";
pub const PASSWORD_SALT: &str = "nextcloud-passwordsalt";
pub const INSTANCE_ID: &str = "nextcloud-instanceid";
pub const DATABASE_PASSWORD: &str = "database-password";
pub const REDIS_PASSWORD: &str = "redis-password";
pub const S3_ACCESS_KEY: &str = "s3-access-key";
pub const S3_SECRET_KEY: &str = "s3-secret-key";
/// Copied from the OnlyOffice backend's Secret while the space uses it; never generated here.
pub const ONLYOFFICE_JWT: &str = "onlyoffice-jwt-secret";
/// The TURN secret of the space's TalkBackend, copied while the space is assigned to it.
pub const TALK_TURN_SECRET: &str = "talk-turn-secret";
/// The space's own secret with its TalkBackend's signaling server (`signaling::space_secret`).
pub const TALK_SIGNALING_SECRET: &str = "talk-signaling-secret";
/// Copied from the class's mail credentials Secret while the class has one; never generated here.
pub const SMTP_USERNAME: &str = "smtp-username";
pub const SMTP_PASSWORD: &str = "smtp-password";

#[derive(Debug, Error)]
#[error("the operating system's random generator failed: {0}")]
pub struct RandomError(String);

/// What each key holds: its length and alphabet.
struct KeySpec {
    key: &'static str,
    prefix: &'static str,
    length: usize,
    alphabet: &'static [u8],
}

const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const HEX: &[u8] = b"0123456789abcdef";

const KEYS: &[KeySpec] = &[
    KeySpec { key: ADMIN_PASSWORD, prefix: "", length: 32, alphabet: ALNUM },
    KeySpec { key: NEXTCLOUD_SECRET, prefix: "", length: 48, alphabet: ALNUM },
    KeySpec { key: PASSWORD_SALT, prefix: "", length: 30, alphabet: ALNUM },
    // Nextcloud expects an instance id that starts with "oc" and is lowercase alphanumeric.
    KeySpec { key: INSTANCE_ID, prefix: "oc", length: 10, alphabet: LOWER_ALNUM },
    KeySpec { key: DATABASE_PASSWORD, prefix: "", length: 40, alphabet: ALNUM },
    KeySpec { key: REDIS_PASSWORD, prefix: "", length: 40, alphabet: ALNUM },
];

/// S3 keys fit the store that holds the bucket: Garage imports only `GK` + 24 hex ids with 64-hex
/// secrets, MinIO takes secrets of at most 40 characters. Both accept the `GK` id form.
fn s3_keys(provider: StorageProvider) -> [KeySpec; 2] {
    let secret_length = match provider {
        StorageProvider::Minio => 40,
        StorageProvider::Garage => 64,
    };
    [
        KeySpec { key: S3_ACCESS_KEY, prefix: "GK", length: 24, alphabet: HEX },
        KeySpec { key: S3_SECRET_KEY, prefix: "", length: secret_length, alphabet: HEX },
    ]
}

/// Every key the credentials Secret holds (the S3 keys once the space has a StoragePool).
pub fn keys() -> impl Iterator<Item = &'static str> {
    KEYS.iter().map(|k| k.key).chain([S3_ACCESS_KEY, S3_SECRET_KEY])
}

/// Source of random bytes; the OS generator in production, a fixed one in tests.
pub trait RandomSource {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomError>;
}

pub struct OsRandom;

impl RandomSource for OsRandom {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomError> {
        getrandom::fill(buf).map_err(|e| RandomError(e.to_string()))
    }
}

/// A shared secret for signing office requests (OnlyOffice JWT): 48 alphanumerics, 285 bits.
pub fn office_jwt(rng: &mut dyn RandomSource) -> Result<String, RandomError> {
    random_string(rng, 48, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")
}

/// A TalkBackend's TURN secret: 64 hex digits (32 random bytes), the form spreed's `docs/TURN.md`
/// recommends (`openssl rand -hex 32`); safe in coturn's configuration file and on a shell line.
pub fn turn_secret(rng: &mut dyn RandomSource) -> Result<String, RandomError> {
    hex_secret(rng, 64)
}

/// `length` random hex digits: the signaling server's keys and master secret.
pub fn hex_secret(rng: &mut dyn RandomSource, length: usize) -> Result<String, RandomError> {
    random_string(rng, length, b"0123456789abcdef")
}

/// A uniformly random string over `alphabet` (rejection sampling: no modulo bias).
fn random_string(rng: &mut dyn RandomSource, length: usize, alphabet: &[u8]) -> Result<String, RandomError> {
    let limit = 256 - (256 % alphabet.len());
    let mut out = String::with_capacity(length);
    let mut buf = [0u8; 64];
    while out.len() < length {
        rng.fill(&mut buf)?;
        for &b in buf.iter().filter(|&&b| (b as usize) < limit) {
            if out.len() == length {
                break;
            }
            out.push(alphabet[b as usize % alphabet.len()] as char);
        }
    }
    Ok(out)
}

/// Whether `existing` already holds every key the space needs (nothing to generate or write).
pub fn is_complete(existing: &BTreeMap<String, Vec<u8>>, storage: Option<StorageProvider>) -> bool {
    let s3 = storage.map(s3_keys);
    KEYS.iter().chain(s3.iter().flatten()).all(|spec| existing.get(spec.key).is_some_and(|v| !v.is_empty()))
}

/// The full set of credentials: every existing non-empty value kept byte for byte, only missing
/// ones generated. Keys the operator does not know are kept too (they may be someone's).
/// Nextcloud's identity values: an installed Nextcloud signs sessions and encrypts stored
/// passwords with them, so new ones log everyone out and make those values unreadable.
pub const IDENTITY: [&str; 3] = [NEXTCLOUD_SECRET, PASSWORD_SALT, INSTANCE_ID];

/// The identity values `existing` lacks.
pub fn missing_identity(existing: &BTreeMap<String, Vec<u8>>) -> Vec<&'static str> {
    IDENTITY.into_iter().filter(|k| existing.get(*k).is_none_or(|v| v.is_empty())).collect()
}

pub fn complete(
    existing: &BTreeMap<String, Vec<u8>>,
    storage: Option<StorageProvider>,
    rng: &mut dyn RandomSource,
) -> Result<BTreeMap<String, Vec<u8>>, RandomError> {
    let mut out = existing.clone();
    let s3 = storage.map(s3_keys);
    for spec in KEYS.iter().chain(s3.iter().flatten()) {
        if existing.get(spec.key).is_none_or(|v| v.is_empty()) {
            let value = format!("{}{}", spec.prefix, random_string(rng, spec.length, spec.alphabet)?);
            out.insert(spec.key.to_string(), value.into_bytes());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter(u8);
    impl RandomSource for Counter {
        fn fill(&mut self, buf: &mut [u8]) -> Result<(), RandomError> {
            for b in buf {
                *b = self.0;
                self.0 = self.0.wrapping_add(1);
            }
            Ok(())
        }
    }

    #[test]
    fn generates_every_key_with_its_shape() {
        let creds = complete(&BTreeMap::new(), Some(StorageProvider::Garage), &mut OsRandom).expect("random");
        assert_eq!(creds.len(), KEYS.len() + 2);
        assert!(creds[S3_ACCESS_KEY].starts_with(b"GK") && creds[S3_ACCESS_KEY].len() == 26);
        assert_eq!(creds[S3_SECRET_KEY].len(), 64);
        let minio = complete(&BTreeMap::new(), Some(StorageProvider::Minio), &mut OsRandom).expect("random");
        assert_eq!(minio[S3_SECRET_KEY].len(), 40, "MinIO secrets are at most 40 characters");
        assert!(!complete(&BTreeMap::new(), None, &mut OsRandom).expect("random").contains_key(S3_ACCESS_KEY));
        assert_eq!(creds[ADMIN_PASSWORD].len(), 32);
        let id = String::from_utf8(creds[INSTANCE_ID].clone()).expect("ascii");
        assert!(id.starts_with("oc") && id.len() == 12);
        assert!(id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert!(creds[S3_SECRET_KEY].iter().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn existing_values_are_never_regenerated() {
        let existing = BTreeMap::from([
            (ADMIN_PASSWORD.to_string(), vec![0xff, 0x00, b'k']),
            (REDIS_PASSWORD.to_string(), Vec::new()),
            ("restored-extra".to_string(), b"x".to_vec()),
        ]);
        let creds = complete(&existing, None, &mut OsRandom).expect("random");
        assert_eq!(creds[ADMIN_PASSWORD], vec![0xff, 0x00, b'k'], "kept byte for byte, even when not UTF-8");
        assert_eq!(creds[REDIS_PASSWORD].len(), 40, "an empty value counts as missing");
        assert_eq!(creds["restored-extra"], b"x".to_vec());
    }

    #[test]
    fn completeness_follows_the_storage_provider() {
        let base = complete(&BTreeMap::new(), None, &mut OsRandom).expect("random");
        assert!(is_complete(&base, None));
        assert!(!is_complete(&base, Some(StorageProvider::Minio)), "a StoragePool adds the S3 keys");
        let mut empty = base.clone();
        empty.insert(ADMIN_PASSWORD.into(), Vec::new());
        assert!(!is_complete(&empty, None), "an empty value counts as missing");
    }

    #[test]
    fn two_spaces_never_share_a_password() {
        let a = complete(&BTreeMap::new(), None, &mut OsRandom).expect("random");
        let b = complete(&BTreeMap::new(), None, &mut OsRandom).expect("random");
        assert_ne!(a[DATABASE_PASSWORD], b[DATABASE_PASSWORD]);
    }

    #[test]
    fn sampling_has_no_modulo_bias() {
        // Bytes at or above the largest multiple of the alphabet size must be skipped.
        let s = random_string(&mut Counter(240), 20, ALNUM).expect("random");
        // 240..=247 map to the end of the alphabet, 248..=255 are rejected, then 0.. restart at 'A'.
        assert!(s.starts_with("23456789AB"), "{s}");
    }
}
