//! Whole objects moved between two S3 stores (a space's bucket and its backup bucket): streamed,
//! never held whole in the operator's memory, and small documents (a backup's manifest) read and
//! written whole.
//!
//! A copy is a GET on one store piped into a PUT on the other with the GET's `Content-Length`;
//! the PUT is signed `UNSIGNED-PAYLOAD` (its body is not known before it is sent), which MinIO
//! and Garage accept over HTTP and HTTPS alike (the SigV4 "unsigned payload" option of S3's
//! `x-amz-content-sha256`). What arrived is checked afterwards: the PUT's ETag is the MD5 of a
//! single-part body, compared with the MD5 computed while streaming.

use std::time::Duration;

use aws_sigv4::http_request::SignableBody;
use futures::StreamExt;
use md5::Digest;
use reqwest::{Method, StatusCode};

use super::s3::SignedClient;
use super::{ProvisionError, System};

/// The client of transfers: no bound on a whole request (an object may weigh gigabytes), but a
/// minute without a byte ends it.
pub fn transfer_http() -> Result<reqwest::Client, ProvisionError> {
    super::install_tls_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| ProvisionError::Failed { system: System::Minio, operation: "build the transfer client", message: e.to_string() })
}

fn unreachable(system: System, e: reqwest::Error) -> ProvisionError {
    ProvisionError::Unreachable { system, message: e.without_url().to_string() }
}

fn refused(system: System, operation: &'static str, status: StatusCode) -> ProvisionError {
    if status == StatusCode::FORBIDDEN {
        ProvisionError::Unauthorized { system, message: format!("HTTP 403 on {operation}") }
    } else {
        ProvisionError::Failed { system, operation, message: format!("HTTP {}", status.as_u16()) }
    }
}

/// Copies `from_bucket/key` to `to_bucket/to_key`, streamed; returns the bytes copied. A source
/// gone since it was listed is `Ok(None)`.
pub async fn copy(
    http: &reqwest::Client,
    from: (&SignedClient, &str, &str),
    to: (&SignedClient, &str, &str),
) -> Result<Option<u64>, ProvisionError> {
    let (source, from_bucket, key) = from;
    let (target, to_bucket, to_key) = to;
    let get = source.signed(Method::GET, &format!("/{from_bucket}/{key}"), &[], SignableBody::Bytes(&[]))?;
    let reply = rebuild(http, get)?.send().await.map_err(|e| unreachable(source.system(), e))?;
    if reply.status() == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !reply.status().is_success() {
        return Err(refused(source.system(), "read an object to copy", reply.status()));
    }
    let length = reply.content_length().unwrap_or(0);
    let hasher = std::sync::Arc::new(std::sync::Mutex::new(md5::Md5::new()));
    let fed = hasher.clone();
    let body = reply.bytes_stream().map(move |chunk| {
        if let (Ok(bytes), Ok(mut h)) = (&chunk, fed.lock()) {
            h.update(bytes);
        }
        chunk
    });
    let put = target
        .signed(Method::PUT, &format!("/{to_bucket}/{to_key}"), &[], SignableBody::UnsignedPayload)?
        .header("content-length", length.to_string());
    let reply = rebuild(http, put)?.body(reqwest::Body::wrap_stream(body)).send().await.map_err(|e| unreachable(target.system(), e))?;
    if !reply.status().is_success() {
        return Err(refused(target.system(), "write a copy", reply.status()));
    }
    let etag = reply.headers().get("etag").and_then(|v| v.to_str().ok()).unwrap_or_default().trim_matches('"').to_string();
    let sent = hasher.lock().map(|h| crate::render::config::hex(&h.clone().finalize())).unwrap_or_default();
    if !etag.is_empty() && !etag.contains('-') && etag != sent {
        return Err(ProvisionError::Failed {
            system: target.system(),
            operation: "write a copy",
            message: "the copy's ETag is not the MD5 sent".into(),
        });
    }
    Ok(Some(length))
}

/// The request on the transfer client: same method, URL and signed headers.
fn rebuild(http: &reqwest::Client, req: reqwest::RequestBuilder) -> Result<reqwest::RequestBuilder, ProvisionError> {
    let built = req.build().map_err(|e| ProvisionError::Failed {
        system: System::Minio,
        operation: "build a request",
        message: e.without_url().to_string(),
    })?;
    let mut out = http.request(built.method().clone(), built.url().clone());
    for (k, v) in built.headers() {
        out = out.header(k, v);
    }
    Ok(out)
}

/// A small object read whole (a manifest); `None` when it does not exist.
pub async fn read(client: &SignedClient, bucket: &str, key: &str) -> Result<Option<Vec<u8>>, ProvisionError> {
    let reply = client.send("read an object", Method::GET, &format!("/{bucket}/{key}"), &[], Vec::new(), &[]).await?;
    if reply.status == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    Ok(Some(client.expect_success("read an object", reply)?.body))
}

/// A small object written whole (a manifest).
pub async fn write(client: &SignedClient, bucket: &str, key: &str, body: Vec<u8>) -> Result<(), ProvisionError> {
    let reply = client.send("write an object", Method::PUT, &format!("/{bucket}/{key}"), &[], body, &[]).await?;
    client.expect_success("write an object", reply).map(|_| ())
}
