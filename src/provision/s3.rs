//! A minimal signed HTTP client for S3 and the MinIO admin API: only the calls the operator makes.

use std::time::Duration;

use reqwest::{Method, StatusCode};

use super::sigv4::{self, Credentials};
use super::{ProvisionError, System};

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

pub struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
}

impl Reply {
    /// The S3/MinIO error code of a failed reply (`<Code>` in XML or `"Code"` in JSON), never the body:
    /// an error body may quote the request.
    pub fn error_code(&self) -> String {
        let body = String::from_utf8_lossy(&self.body);
        let between =
            |open: &str, close: &str| body.split_once(open).and_then(|(_, rest)| rest.split_once(close)).map(|(c, _)| c.to_string());
        between("<Code>", "</Code>").or_else(|| between("\"Code\":\"", "\"")).unwrap_or_else(|| format!("HTTP {}", self.status.as_u16()))
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
        let http = super::http_client(Duration::from_secs(60)).map_err(|e| bad(e.to_string()))?;
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
        let query: Vec<(String, String)> = query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let payload_sha256 = sigv4::sha256_hex(&body);
        let headers = sigv4::sign(
            &sigv4::Request { method: method.as_str(), host: &self.host, path, query: &query, payload_sha256: &payload_sha256 },
            &Credentials { access_key: &self.access_key, secret_key: &self.secret_key },
            &self.region,
            "s3",
            &sigv4::amz_date_now(),
        );
        let mut url = self.base.clone();
        url.set_path(&sigv4::uri_encode(path, true));
        url.set_query(None);
        if !query.is_empty() {
            let q = query
                .iter()
                .map(|(k, v)| format!("{}={}", sigv4::uri_encode(k, false), sigv4::uri_encode(v, false)))
                .collect::<Vec<_>>()
                .join("&");
            url.set_query(Some(&q));
        }
        let mut req = self.http.request(method, url).body(body);
        for (k, v) in headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain(extra_headers.iter().copied()) {
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
        let body = String::from_utf8_lossy(&reply.body);
        Ok(body.split("<Key>").skip(1).filter_map(|s| s.split_once("</Key>").map(|(k, _)| xml_unescape(k))).collect())
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

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&apos;", "'").replace("&amp;", "&")
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
        assert_eq!(xml_unescape("a&amp;b&lt;"), "a&b<");
    }
}
