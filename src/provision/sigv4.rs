//! AWS Signature Version 4 for the S3 and MinIO admin requests the operator sends: the canonical
//! request, the string to sign and the derived signing key, over `hmac` and `sha2`.

use hmac::{Hmac, Mac};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

use crate::render::config::hex;

type HmacSha256 = Hmac<Sha256>;

/// RFC 3986 unreserved characters stay as they are; everything else is percent-encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    if keep_slash {
        s.split('/').map(|seg| utf8_percent_encode(seg, UNRESERVED).to_string()).collect::<Vec<_>>().join("/")
    } else {
        utf8_percent_encode(s, UNRESERVED).to_string()
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

pub struct Credentials<'a> {
    pub access_key: &'a str,
    pub secret_key: &'a str,
}

/// What to sign: the method, the path (unencoded), query pairs, headers that must be signed
/// (besides host, x-amz-date and x-amz-content-sha256) and the payload hash.
pub struct Request<'a> {
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub query: &'a [(String, String)],
    pub payload_sha256: &'a str,
}

/// The headers to add: `x-amz-date`, `x-amz-content-sha256` and `authorization`.
pub fn sign(req: &Request<'_>, creds: &Credentials<'_>, region: &str, service: &str, amz_date: &str) -> Vec<(String, String)> {
    let date = &amz_date[..8];
    let mut query: Vec<(String, String)> = req.query.iter().map(|(k, v)| (uri_encode(k, false), uri_encode(v, false))).collect();
    query.sort();
    let canonical_query = query.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
    let signed_headers = "host;x-amz-content-sha256;x-amz-date";
    let canonical_headers = format!("host:{}\nx-amz-content-sha256:{}\nx-amz-date:{}\n", req.host, req.payload_sha256, amz_date);
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        uri_encode(req.path, true),
        canonical_query,
        canonical_headers,
        signed_headers,
        req.payload_sha256
    );
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign = format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", sha256_hex(canonical_request.as_bytes()));
    let k_date = hmac(format!("AWS4{}", creds.secret_key).as_bytes(), date.as_bytes());
    let k_region = hmac(&k_date, region.as_bytes());
    let k_service = hmac(&k_region, service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    let signature = hex(&hmac(&k_signing, string_to_sign.as_bytes()));
    vec![
        ("x-amz-date".into(), amz_date.into()),
        ("x-amz-content-sha256".into(), req.payload_sha256.into()),
        (
            "authorization".into(),
            format!("AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}", creds.access_key),
        ),
    ]
}

pub fn amz_date_now() -> String {
    jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_signing_key_matches_the_aws_documentation() {
        // Worked example of the AWS SigV4 documentation ("Deriving the signing key").
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let k_date = hmac(format!("AWS4{secret}").as_bytes(), b"20120215");
        let k_region = hmac(&k_date, b"us-east-1");
        let k_service = hmac(&k_region, b"iam");
        let k_signing = hmac(&k_service, b"aws4_request");
        assert_eq!(hex(&k_signing), "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
    }

    #[test]
    fn query_and_path_are_canonicalised() {
        assert_eq!(uri_encode("a b/c~d", true), "a%20b/c~d");
        assert_eq!(uri_encode("a/b=c", false), "a%2Fb%3Dc");
        let headers = sign(
            &Request { method: "GET", host: "h:9000", path: "/", query: &[], payload_sha256: &sha256_hex(b"") },
            &Credentials { access_key: "AK", secret_key: "SK" },
            "us-east-1",
            "s3",
            "20261121T120000Z",
        );
        let auth = &headers[2].1;
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AK/20261121/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="));
        assert_eq!(auth.rsplit('=').next().map(str::len), Some(64));
    }
}
