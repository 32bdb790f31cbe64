//! A signed HTTP client for S3 and the MinIO admin API: only the calls the operator makes. Requests
//! are signed with AWS's own SigV4 signer (`aws-sigv4`), replies read with `quick-xml`.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest, SigningSettings, UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::{ProvisionError, System};

/// RFC 3986 unreserved characters stay as they are; everything else is percent-encoded, as SigV4
/// canonicalises them (so the URL sent is the URL signed).
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

fn uri_encode(s: &str, keep_slash: bool) -> String {
    if keep_slash {
        s.split('/').map(|seg| utf8_percent_encode(seg, UNRESERVED).to_string()).collect::<Vec<_>>().join("/")
    } else {
        utf8_percent_encode(s, UNRESERVED).to_string()
    }
}

/// S3's settings: the path encoded once and not normalised, the payload hash in
/// `x-amz-content-sha256`.
fn s3_settings() -> SigningSettings {
    let mut settings = SigningSettings::default();
    settings.percent_encoding_mode = PercentEncodingMode::Single;
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    settings
}

#[derive(Deserialize)]
struct ErrorXml {
    #[serde(rename = "Code")]
    code: String,
}

#[derive(Deserialize)]
struct ErrorJson {
    #[serde(rename = "Code")]
    code: String,
}

#[derive(Deserialize, Default)]
struct ListBucketResult {
    #[serde(rename = "Contents", default)]
    contents: Vec<ListedObject>,
}

#[derive(Deserialize)]
struct ListedObject {
    #[serde(rename = "Key")]
    key: String,
}

pub struct SignedClient {
    http: reqwest::Client,
    base: reqwest::Url,
    host: String,
    region: String,
    access_key: String,
    secret_key: String,
    system: System,
    gate: crate::gate::WriteGate,
}

/// A failed signature (only a malformed URL or header can cause one).
fn unsigned(system: System, e: impl std::fmt::Display) -> ProvisionError {
    ProvisionError::Failed { system, operation: "sign the request", message: e.to_string() }
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Reply {
    /// The S3/MinIO error code of a failed reply (`<Code>` in XML or `"Code"` in JSON), never the body:
    /// an error body may quote the request.
    pub fn error_code(&self) -> String {
        let xml = std::str::from_utf8(&self.body).ok().and_then(|b| quick_xml::de::from_str::<ErrorXml>(b).ok()).map(|e| e.code);
        let json = || serde_json::from_slice::<ErrorJson>(&self.body).ok().map(|e| e.code);
        xml.or_else(json).unwrap_or_else(|| format!("HTTP {}", self.status.as_u16()))
    }
}

impl SignedClient {
    pub fn new(endpoint: &str, region: &str, access_key: &str, secret_key: &str, system: System) -> Result<Self, ProvisionError> {
        let bad = |m: String| ProvisionError::Failed { system, operation: "parse the endpoint", message: m };
        let base = reqwest::Url::parse(endpoint).map_err(|e| bad(e.to_string()))?;
        let host = match (base.host_str(), base.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => return Err(bad("no host".into())),
        };
        let http = super::http_client(Duration::from_secs(10)).map_err(|e| bad(e.to_string()))?;
        Ok(SignedClient {
            http,
            base,
            host,
            region: region.into(),
            access_key: access_key.into(),
            secret_key: secret_key.into(),
            system,
            gate: crate::gate::WriteGate::always_open(),
        })
    }

    /// Every request that is not a read (GET, HEAD) asks this gate first (see `crate::gate`).
    pub fn with_gate(mut self, gate: crate::gate::WriteGate) -> Self {
        self.gate = gate;
        self
    }

    pub async fn send(
        &self,
        _operation: &'static str,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Vec<u8>,
        extra_headers: &[(&str, &str)],
    ) -> Result<Reply, ProvisionError> {
        if !matches!(method, Method::GET | Method::HEAD) {
            self.system.allow_write(&self.gate)?;
        }
        let mut url = self.base.clone();
        url.set_path(&uri_encode(path, true));
        url.set_query(None);
        if !query.is_empty() {
            let q = query.iter().map(|(k, v)| format!("{}={}", uri_encode(k, false), uri_encode(v, false))).collect::<Vec<_>>().join("&");
            url.set_query(Some(&q));
        }
        let identity = aws_credential_types::Credentials::new(&self.access_key, &self.secret_key, None, None, "pool-admin-secret").into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name("s3")
            .time(SystemTime::now())
            .settings(s3_settings())
            .build()
            .map_err(|e| unsigned(self.system, e))?;
        let signable =
            SignableRequest::new(method.as_str(), url.as_str(), std::iter::once(("host", self.host.as_str())), SignableBody::Bytes(&body))
                .map_err(|e| unsigned(self.system, e))?;
        let (instructions, _) = sign(signable, &params.into()).map_err(|e| unsigned(self.system, e))?.into_parts();
        let mut req = self.http.request(method, url).body(body);
        for (k, v) in instructions.headers().chain(extra_headers.iter().copied()) {
            req = req.header(k, v);
        }
        let resp =
            req.send().await.map_err(|e| ProvisionError::Unreachable { system: self.system, message: e.without_url().to_string() })?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| ProvisionError::Unreachable { system: self.system, message: e.without_url().to_string() })?
            .to_vec();
        let reply = Reply { status, body };
        if status == StatusCode::FORBIDDEN && reply.error_code() == "InvalidAccessKeyId" {
            return Err(ProvisionError::Unauthorized { system: self.system, message: reply.error_code() });
        }
        Ok(reply)
    }

    /// Fails unless the reply is a success, with the server's error code.
    pub fn expect_success(&self, operation: &'static str, reply: Reply) -> Result<Reply, ProvisionError> {
        if reply.status.is_success() {
            Ok(reply)
        } else if reply.status == StatusCode::FORBIDDEN && operation != "check the space's key" {
            Err(ProvisionError::Unauthorized { system: self.system, message: reply.error_code() })
        } else {
            Err(ProvisionError::Failed { system: self.system, operation, message: reply.error_code() })
        }
    }

    /// Object keys in a bucket (one page of up to 1000), for emptying it.
    pub async fn list_keys(&self, bucket: &str) -> Result<Vec<String>, ProvisionError> {
        let reply = self
            .send("list the objects", Method::GET, &format!("/{bucket}"), &[("list-type", "2"), ("max-keys", "1000")], Vec::new(), &[])
            .await?;
        let reply = self.expect_success("list the objects", reply)?;
        let body = std::str::from_utf8(&reply.body).map_err(|e| ProvisionError::Failed {
            system: self.system,
            operation: "list the objects",
            message: e.to_string(),
        })?;
        let listing: ListBucketResult = quick_xml::de::from_str(body).map_err(|e| ProvisionError::Failed {
            system: self.system,
            operation: "list the objects",
            message: e.to_string(),
        })?;
        Ok(listing.contents.into_iter().map(|o| o.key).collect())
    }

    /// The gate this client's writes ask, for a client of another key to the same store.
    pub fn gate(&self) -> crate::gate::WriteGate {
        self.gate.clone()
    }

    /// Removes one object; a missing one is no error (S3's DELETE answers 204 either way).
    pub async fn delete_object(&self, bucket: &str, key: &str) -> Result<u32, ProvisionError> {
        let reply = self.send("delete an object", Method::DELETE, &format!("/{bucket}/{key}"), &[], Vec::new(), &[]).await?;
        self.expect_success("delete an object", reply)?;
        Ok(1)
    }

    pub async fn empty_bucket(&self, bucket: &str) -> Result<u32, ProvisionError> {
        let mut writes = 0;
        loop {
            let keys = self.list_keys(bucket).await?;
            if keys.is_empty() {
                return Ok(writes);
            }
            for key in keys {
                let reply = self.send("delete an object", Method::DELETE, &format!("/{bucket}/{key}"), &[], Vec::new(), &[]).await?;
                self.expect_success("delete an object", reply)?;
                writes += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_are_extracted_not_bodies() {
        let xml = Reply {
            status: StatusCode::FORBIDDEN,
            body: b"<Error><Code>AccessDenied</Code><Message>secret stuff</Message></Error>".to_vec(),
        };
        assert_eq!(xml.error_code(), "AccessDenied");
        let json = Reply { status: StatusCode::BAD_REQUEST, body: br#"{"Code":"XMinioAdminNoSuchUser","Message":"x"}"#.to_vec() };
        assert_eq!(json.error_code(), "XMinioAdminNoSuchUser");
        let none = Reply { status: StatusCode::BAD_GATEWAY, body: b"oops".to_vec() };
        assert_eq!(none.error_code(), "HTTP 502");
    }

    #[test]
    fn object_listings_are_read_with_their_escapes() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><KeyCount>2</KeyCount>
<Contents><Key>files/a&amp;b.txt</Key><Size>3</Size></Contents><Contents><Key>x&lt;y</Key><Size>1</Size></Contents></ListBucketResult>"#;
        let listing: ListBucketResult = quick_xml::de::from_str(body).expect("a listing");
        let keys: Vec<_> = listing.contents.into_iter().map(|o| o.key).collect();
        assert_eq!(keys, ["files/a&b.txt", "x<y"]);
        let empty: ListBucketResult = quick_xml::de::from_str("<ListBucketResult><Name>b</Name></ListBucketResult>").expect("empty");
        assert!(empty.contents.is_empty());
    }

    #[test]
    fn paths_and_queries_are_encoded_as_sigv4_canonicalises_them() {
        assert_eq!(uri_encode("a b/c~d", true), "a%20b/c~d");
        assert_eq!(uri_encode("a/b=c", false), "a%2Fb%3Dc");
    }
}
