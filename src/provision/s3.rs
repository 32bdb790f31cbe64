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
    #[serde(rename = "IsTruncated", default)]
    is_truncated: bool,
    #[serde(rename = "NextContinuationToken", default)]
    next_continuation_token: Option<String>,
}

#[derive(Deserialize)]
struct ListedObject {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Size", default)]
    size: u64,
    #[serde(rename = "ETag", default)]
    etag: String,
}

/// An object as a listing gives it: its key, its ETag without quotes, its size.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredObject {
    pub key: String,
    pub etag: String,
    pub size: u64,
}

/// `ListMultipartUploadsResult`, the part read.
#[derive(Deserialize, Default)]
struct ListUploadsResult {
    #[serde(rename = "Upload", default)]
    uploads: Vec<ListedUpload>,
    #[serde(rename = "IsTruncated", default)]
    is_truncated: bool,
    #[serde(rename = "NextKeyMarker", default)]
    next_key_marker: Option<String>,
    #[serde(rename = "NextUploadIdMarker", default)]
    next_upload_id_marker: Option<String>,
}

#[derive(Deserialize)]
struct ListedUpload {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "UploadId")]
    upload_id: String,
}

/// `ListPartsResult`, the part read.
#[derive(Deserialize, Default)]
struct ListPartsResult {
    #[serde(rename = "Part", default)]
    parts: Vec<ListedPart>,
    #[serde(rename = "IsTruncated", default)]
    is_truncated: bool,
    #[serde(rename = "NextPartNumberMarker", default)]
    next_part_number_marker: Option<String>,
}

#[derive(Deserialize)]
struct ListedPart {
    #[serde(rename = "Size", default)]
    size: u64,
}

/// `Tagging` (bucket tags), the part read and written.
#[derive(Deserialize, Default)]
struct Tagging {
    #[serde(rename = "TagSet", default)]
    tag_set: TagSet,
}

#[derive(Deserialize, Default)]
struct TagSet {
    #[serde(rename = "Tag", default)]
    tags: Vec<Tag>,
}

#[derive(Deserialize)]
struct Tag {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Value", default)]
    value: String,
}

/// One unfinished multipart upload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    pub key: String,
    pub upload_id: String,
}

/// Escapes text for an XML element.
fn xml_text(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&apos;")
}

#[derive(Clone)]
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

    /// A request signed for `body` (bytes, or `UNSIGNED-PAYLOAD` for a streamed one), through
    /// the write gate unless it is a read; the caller sets the body.
    pub fn signed(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: SignableBody<'_>,
    ) -> Result<reqwest::RequestBuilder, ProvisionError> {
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
        let signable = SignableRequest::new(method.as_str(), url.as_str(), std::iter::once(("host", self.host.as_str())), body)
            .map_err(|e| unsigned(self.system, e))?;
        let (instructions, _) = sign(signable, &params.into()).map_err(|e| unsigned(self.system, e))?.into_parts();
        let mut req = self.http.request(method, url);
        for (k, v) in instructions.headers() {
            req = req.header(k, v);
        }
        Ok(req)
    }

    pub fn system(&self) -> System {
        self.system
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
        let mut req = self.signed(method, path, query, SignableBody::Bytes(&body))?.body(body);
        for (k, v) in extra_headers.iter().copied() {
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

    /// A successful reply's XML body read as `T`.
    fn read_xml<T: serde::de::DeserializeOwned>(&self, operation: &'static str, reply: Reply) -> Result<T, ProvisionError> {
        let reply = self.expect_success(operation, reply)?;
        let failed = |message: String| ProvisionError::Failed { system: self.system, operation, message };
        let body = std::str::from_utf8(&reply.body).map_err(|e| failed(e.to_string()))?;
        quick_xml::de::from_str(body).map_err(|e| failed(e.to_string()))
    }

    /// One page of a bucket's listing (ListObjectsV2, up to 1000 objects).
    async fn list_page(&self, bucket: &str, token: Option<&str>) -> Result<ListBucketResult, ProvisionError> {
        self.list_page_under(bucket, "", token).await
    }

    async fn list_page_under(&self, bucket: &str, prefix: &str, token: Option<&str>) -> Result<ListBucketResult, ProvisionError> {
        let mut query = vec![("list-type", "2"), ("max-keys", "1000")];
        if let Some(t) = token {
            query.push(("continuation-token", t));
        }
        if !prefix.is_empty() {
            query.push(("prefix", prefix));
        }
        let reply = self.send("list the objects", Method::GET, &format!("/{bucket}"), &query, Vec::new(), &[]).await?;
        self.read_xml("list the objects", reply)
    }

    /// Every object under `prefix` (every page), with its ETag.
    pub async fn list_objects(&self, bucket: &str, prefix: &str) -> Result<Vec<StoredObject>, ProvisionError> {
        let mut objects = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self.list_page_under(bucket, prefix, token.as_deref()).await?;
            objects.extend(page.contents.into_iter().map(|o| StoredObject {
                etag: o.etag.trim_matches('"').to_string(),
                key: o.key,
                size: o.size,
            }));
            match (page.is_truncated, page.next_continuation_token) {
                (true, Some(next)) if !next.is_empty() => token = Some(next),
                _ => return Ok(objects),
            }
        }
    }

    /// Object keys in a bucket (one page of up to 1000), for emptying it.
    pub async fn list_keys(&self, bucket: &str) -> Result<Vec<String>, ProvisionError> {
        Ok(self.list_page(bucket, None).await?.contents.into_iter().map(|o| o.key).collect())
    }

    /// What a bucket's objects weigh, counted from a whole listing: `(bytes, objects)`. One
    /// request per 1000 objects; the figure is exact when the listing ends, whatever a scanner says.
    pub async fn usage(&self, bucket: &str) -> Result<(u64, u64), ProvisionError> {
        let (mut bytes, mut objects) = (0u64, 0u64);
        let mut token: Option<String> = None;
        loop {
            let page = self.list_page(bucket, token.as_deref()).await?;
            objects += page.contents.len() as u64;
            bytes = page.contents.iter().fold(bytes, |sum, o| sum.saturating_add(o.size));
            match (page.is_truncated, page.next_continuation_token) {
                (true, Some(next)) if !next.is_empty() => token = Some(next),
                _ => return Ok((bytes, objects)),
            }
        }
    }

    /// The bucket's unfinished multipart uploads (ListMultipartUploads, every page).
    pub async fn uploads(&self, bucket: &str) -> Result<Vec<Upload>, ProvisionError> {
        let mut out = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut query = vec![("uploads", ""), ("max-uploads", "1000")];
            if let Some((key, id)) = &markers {
                query.push(("key-marker", key));
                query.push(("upload-id-marker", id));
            }
            let reply = self.send("list the unfinished uploads", Method::GET, &format!("/{bucket}"), &query, Vec::new(), &[]).await?;
            let page: ListUploadsResult = self.read_xml("list the unfinished uploads", reply)?;
            out.extend(page.uploads.into_iter().map(|u| Upload { key: u.key, upload_id: u.upload_id }));
            match (page.is_truncated, page.next_key_marker, page.next_upload_id_marker) {
                (true, Some(key), Some(id)) if !key.is_empty() => markers = Some((key, id)),
                _ => return Ok(out),
            }
        }
    }

    /// What the parts of one unfinished upload weigh (ListParts, every page).
    pub async fn upload_bytes(&self, bucket: &str, upload: &Upload) -> Result<u64, ProvisionError> {
        let mut bytes = 0u64;
        let mut marker: Option<String> = None;
        loop {
            let mut query = vec![("uploadId", upload.upload_id.as_str())];
            if let Some(m) = &marker {
                query.push(("part-number-marker", m));
            }
            let path = format!("/{bucket}/{}", upload.key);
            let reply = self.send("list an upload's parts", Method::GET, &path, &query, Vec::new(), &[]).await?;
            if reply.status == StatusCode::NOT_FOUND {
                return Ok(bytes);
            }
            let page: ListPartsResult = self.read_xml("list an upload's parts", reply)?;
            bytes = page.parts.iter().fold(bytes, |sum, p| sum.saturating_add(p.size));
            match (page.is_truncated, page.next_part_number_marker) {
                (true, Some(next)) if !next.is_empty() && next != "0" => marker = Some(next),
                _ => return Ok(bytes),
            }
        }
    }

    /// Ends an unfinished upload and frees its parts; one already gone is no error.
    pub async fn abort_upload(&self, bucket: &str, upload: &Upload) -> Result<u32, ProvisionError> {
        let path = format!("/{bucket}/{}", upload.key);
        let reply = self
            .send("abort an unfinished upload", Method::DELETE, &path, &[("uploadId", upload.upload_id.as_str())], Vec::new(), &[])
            .await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(0);
        }
        self.expect_success("abort an unfinished upload", reply)?;
        Ok(1)
    }

    /// The bucket's tags (`GetBucketTagging`); none is an empty list (S3 answers 404 `NoSuchTagSet`).
    pub async fn bucket_tags(&self, bucket: &str) -> Result<Vec<(String, String)>, ProvisionError> {
        let reply = self.send("read the bucket's tags", Method::GET, &format!("/{bucket}"), &[("tagging", "")], Vec::new(), &[]).await?;
        if reply.status == StatusCode::NOT_FOUND && reply.error_code() == "NoSuchTagSet" {
            return Ok(Vec::new());
        }
        let tagging: Tagging = self.read_xml("read the bucket's tags", reply)?;
        Ok(tagging.tag_set.tags.into_iter().map(|t| (t.key, t.value)).collect())
    }

    /// Replaces the bucket's tags (`PutBucketTagging`).
    pub async fn set_bucket_tags(&self, bucket: &str, tags: &[(String, String)]) -> Result<u32, ProvisionError> {
        let body: String =
            tags.iter().map(|(k, v)| format!("<Tag><Key>{}</Key><Value>{}</Value></Tag>", xml_text(k), xml_text(v))).collect();
        let body = format!(r#"<Tagging xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><TagSet>{body}</TagSet></Tagging>"#);
        let reply = self.send("tag the bucket", Method::PUT, &format!("/{bucket}"), &[("tagging", "")], body.into_bytes(), &[]).await?;
        self.expect_success("tag the bucket", reply)?;
        Ok(1)
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
    fn a_truncated_listing_gives_its_sizes_and_the_next_token() {
        let body = r#"<ListBucketResult><IsTruncated>true</IsTruncated><NextContinuationToken>t/2==</NextContinuationToken>
<Contents><Key>urn:oid:7</Key><Size>614400</Size></Contents><Contents><Key>urn:oid:8</Key><Size>12</Size></Contents></ListBucketResult>"#;
        let page: ListBucketResult = quick_xml::de::from_str(body).expect("a page");
        assert!(page.is_truncated);
        assert_eq!(page.next_continuation_token.as_deref(), Some("t/2=="));
        assert_eq!(page.contents.iter().map(|o| o.size).sum::<u64>(), 614412);
        let last: ListBucketResult =
            quick_xml::de::from_str("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>").expect("last");
        assert!(!last.is_truncated && last.next_continuation_token.is_none());
    }

    #[test]
    fn uploads_parts_and_tags_are_read() {
        let uploads = r#"<ListMultipartUploadsResult><Bucket>b</Bucket><IsTruncated>false</IsTruncated>
<Upload><Key>hoard.bin</Key><UploadId>abc</UploadId></Upload><Upload><Key>x&amp;y</Key><UploadId>def</UploadId></Upload></ListMultipartUploadsResult>"#;
        let page: ListUploadsResult = quick_xml::de::from_str(uploads).expect("uploads");
        let keys: Vec<_> = page.uploads.iter().map(|u| (u.key.as_str(), u.upload_id.as_str())).collect();
        assert_eq!(keys, [("hoard.bin", "abc"), ("x&y", "def")]);
        let parts = r#"<ListPartsResult><IsTruncated>true</IsTruncated><NextPartNumberMarker>2</NextPartNumberMarker>
<Part><PartNumber>1</PartNumber><Size>5242880</Size></Part><Part><PartNumber>2</PartNumber><Size>10</Size></Part></ListPartsResult>"#;
        let page: ListPartsResult = quick_xml::de::from_str(parts).expect("parts");
        assert_eq!((page.parts.iter().map(|p| p.size).sum::<u64>(), page.next_part_number_marker.as_deref()), (5242890, Some("2")));
        let tags = r#"<Tagging><TagSet><Tag><Key>frama.space/managed-by</Key><Value>framaspace-operator</Value></Tag></TagSet></Tagging>"#;
        let t: Tagging = quick_xml::de::from_str(tags).expect("tags");
        assert_eq!(t.tag_set.tags[0].key, "frama.space/managed-by");
        assert_eq!(xml_text("a<b&'c\""), "a&lt;b&amp;&apos;c&quot;");
    }

    #[test]
    fn paths_and_queries_are_encoded_as_sigv4_canonicalises_them() {
        assert_eq!(uri_encode("a b/c~d", true), "a%20b/c~d");
        assert_eq!(uri_encode("a/b=c", false), "a%2Fb%3Dc");
    }
}
