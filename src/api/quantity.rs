//! Parsing of the Kubernetes quantities the API accepts for sizes (`40Gi`, `50G`, `1.5Ti`).

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0:?} is not a size: use a number with an optional suffix Ki, Mi, Gi, Ti, Pi, k, M, G, T or P")]
pub struct QuantityError(pub String);

/// Same grammar as the CRD pattern on size fields, so a value the API server accepted always parses.
pub const SIZE_PATTERN: &str = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$";

/// The smallest storage quota a space may have. Below it a quota means nothing, or worse: MinIO
/// takes a hard quota of 0 for none at all and Garage a `maxSize` of 0 for no write ever, and a
/// fraction of a byte (`0.5`) rounds to 0.
pub const MIN_QUOTA: &str = "1Mi";
pub const MIN_QUOTA_BYTES: u64 = 1 << 20;
/// The largest: what S3 servers and Nextcloud's integers hold with room to spare.
pub const MAX_QUOTA: &str = "1Pi";
pub const MAX_QUOTA_BYTES: u64 = 1 << 50;

/// Parses a size into bytes. Fractions are allowed (`1.5Gi`) and rounded down to a whole byte.
pub fn parse_bytes(s: &str) -> Result<u64, QuantityError> {
    let err = || QuantityError(s.to_string());
    let split = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let multiplier: u64 = match suffix {
        "" => 1,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "T" => 1_000_000_000_000,
        "P" => 1_000_000_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "Ti" => 1 << 40,
        "Pi" => 1 << 50,
        _ => return Err(err()),
    };
    let (whole, frac) = match number.split_once('.') {
        Some((w, f)) if !w.is_empty() && !f.is_empty() && !f.contains('.') => (w, f),
        Some(_) => return Err(err()),
        None if !number.is_empty() => (number, ""),
        None => return Err(err()),
    };
    let whole: u64 = whole.parse().map_err(|_| err())?;
    let mut bytes = whole.checked_mul(multiplier).ok_or_else(err)?;
    if !frac.is_empty() {
        // Only as many digits as can matter for a byte count; the rest is rounding noise.
        let digits = &frac[..frac.len().min(15)];
        let numerator: u128 = digits.parse().map_err(|_| err())?;
        let denominator = 10u128.pow(digits.len() as u32);
        let extra = numerator * u128::from(multiplier) / denominator;
        bytes = bytes.checked_add(u64::try_from(extra).map_err(|_| err())?).ok_or_else(err)?;
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_binary_and_decimal_suffixes() {
        assert_eq!(parse_bytes("40Gi"), Ok(40 * (1 << 30)));
        assert_eq!(parse_bytes("50G"), Ok(50_000_000_000));
        assert_eq!(parse_bytes("1.5Ki"), Ok(1536));
        assert_eq!(parse_bytes("0"), Ok(0));
        assert_eq!(parse_bytes("512"), Ok(512));
    }

    #[test]
    fn rejects_what_the_schema_rejects() {
        for bad in ["", "Gi", "40GB", "4 0Gi", "-1Gi", "1..5Gi", "1.Gi", ".5Gi", "40gi", "99999999999999999999Pi"] {
            assert!(parse_bytes(bad).is_err(), "{bad} should not parse");
        }
    }
}
