//! Garage: a bucket per space with a size quota, and a key (imported with the space's own id and
//! secret, so the Secret stays the source of truth) allowed to read and write that bucket only.
//! Through Garage's admin API v2 (bearer token); objects are emptied over S3 with the space's key.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::s3::SignedClient;
use super::{BucketFacts, ProvisionError, StorageUsage, System, Writes};
use crate::provision::minio::{Bucket, Ownership, foreign_bucket};

/// The name of the key whose namespace marks the operator's buckets: every bucket the operator
/// creates gets a local alias (its own name) there, in the same CreateBucket call (garage
/// api/admin/bucket.rs `CreateBucketRequest::handle`). The key has no permission on any bucket;
/// only the admin token can give a bucket an alias in it.
pub const MARKER_KEY_NAME: &str = "framaspace-operator-marker";

/// The name of the operator's own key on a store of purpose `Backups`: the only key allowed on
/// the spaces' backup buckets. Its secret stays in Garage (read with the admin token).
pub const BACKUP_KEY_NAME: &str = "framaspace-operator-backups";

pub fn backup_key_id() -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(BACKUP_KEY_NAME.as_bytes());
    format!("GK{}", crate::render::config::hex(&digest[..12]))
}

/// The marker key's id: fixed, so every operator reads it with one GetKeyInfo.
pub fn marker_key_id() -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(MARKER_KEY_NAME.as_bytes());
    format!("GK{}", crate::render::config::hex(&digest[..12]))
}

/// The lifecycle rule every space bucket carries: Garage's quota leaves unfinished multipart
/// uploads out (hostile pass 2, F5), its lifecycle worker aborts them once a day
/// (garage model/s3/lifecycle_worker.rs, `abort_incomplete_mpu_days`). The admin API takes the
/// S3 XML types as JSON (api/common/xml/lifecycle.rs); their `$value` newtypes are plain values.
pub const ABORT_RULE_ID: &str = "framaspace-abort-unfinished-uploads";

fn abort_rule() -> Value {
    json!({
        "ID": ABORT_RULE_ID,
        "Status": "Enabled",
        "AbortIncompleteMultipartUpload": { "DaysAfterInitiation": 1 }
    })
}

fn has_abort_rule(bucket: &Value) -> bool {
    bucket.get("lifecycleRules").and_then(Value::as_array).into_iter().flatten().any(|r| {
        r.get("ID").and_then(Value::as_str) == Some(ABORT_RULE_ID)
            && r.get("Status").and_then(Value::as_str) == Some("Enabled")
            && r.pointer("/AbortIncompleteMultipartUpload/DaysAfterInitiation").and_then(Value::as_i64) == Some(1)
    })
}

/// The admin endpoints the operator calls.
pub const NEEDED_ENDPOINTS: [&str; 14] = [
    "GetClusterHealth",
    "GetClusterStatus",
    "GetBucketInfo",
    "CreateBucket",
    "UpdateBucket",
    "DeleteBucket",
    "AddBucketAlias",
    "AllowBucketKey",
    "DenyBucketKey",
    "GetKeyInfo",
    "ImportKey",
    "DeleteKey",
    "ListKeys",
    "GetCurrentAdminTokenInfo",
];

pub struct GarageAdmin {
    http: reqwest::Client,
    admin_url: String,
    token: String,
    s3_endpoint: String,
    region: String,
    gate: crate::gate::WriteGate,
    /// The marker key, once known to exist.
    marker: tokio::sync::OnceCell<String>,
}

fn failed(operation: &'static str, message: String) -> ProvisionError {
    ProvisionError::Failed { system: System::Garage, operation, message }
}

impl GarageAdmin {
    pub fn new(admin_url: &str, token: &str, s3_endpoint: &str, region: &str) -> Result<Self, ProvisionError> {
        let http = super::http_client(Duration::from_secs(10)).map_err(|e| failed("build the client", e.to_string()))?;
        Ok(GarageAdmin {
            http,
            admin_url: admin_url.trim_end_matches('/').into(),
            token: token.into(),
            s3_endpoint: s3_endpoint.into(),
            region: region.into(),
            gate: crate::gate::WriteGate::always_open(),
            marker: tokio::sync::OnceCell::new(),
        })
    }

    /// Every call that changes the store (POST) asks this gate first (see `crate::gate`).
    pub fn with_gate(mut self, gate: crate::gate::WriteGate) -> Self {
        self.gate = gate;
        self
    }

    /// One admin call; `Ok(None)` when the object does not exist.
    async fn call(
        &self,
        operation: &'static str,
        method: Method,
        call: &str,
        query: &[(&str, &str)],
        body: Option<Value>,
    ) -> Result<Option<Value>, ProvisionError> {
        if !matches!(method, Method::GET | Method::HEAD) {
            System::Garage.allow_write(&self.gate)?;
        }
        let mut req = self.http.request(method, format!("{}/v2/{call}", self.admin_url)).bearer_auth(&self.token).query(query);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp =
            req.send().await.map_err(|e| ProvisionError::Unreachable { system: System::Garage, message: e.without_url().to_string() })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        match status {
            s if s.is_success() => Ok(Some(serde_json::from_str(&text).unwrap_or(Value::Null))),
            StatusCode::NOT_FOUND => Ok(None),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                Err(ProvisionError::Unauthorized { system: System::Garage, message: format!("HTTP {}", status.as_u16()) })
            }
            // Garage's error bodies are `{"code": ..., "message": ...}`; the code is enough and never echoes a secret.
            _ => {
                let code = serde_json::from_str::<Value>(&text).ok().and_then(|v| v.get("code").and_then(Value::as_str).map(String::from));
                Err(failed(operation, code.unwrap_or_else(|| format!("HTTP {}", status.as_u16()))))
            }
        }
    }

    pub async fn server_version(&self) -> Result<String, ProvisionError> {
        let health = self.call("check health", Method::GET, "GetClusterHealth", &[], None).await?.unwrap_or(Value::Null);
        match health.get("status").and_then(Value::as_str) {
            Some("healthy") | Some("degraded") => {}
            other => {
                return Err(ProvisionError::Unreachable {
                    system: System::Garage,
                    message: format!("cluster status {}", other.unwrap_or("unknown")),
                });
            }
        }
        let status = self.call("check health", Method::GET, "GetClusterStatus", &[], None).await?.unwrap_or(Value::Null);
        Ok(status.pointer("/nodes/0/garageVersion").and_then(Value::as_str).unwrap_or("unknown").to_string())
    }

    /// What the admin token may not do of what the operator needs, if anything: a token scoped to
    /// fewer endpoints (Garage 2's admin tokens, `GetCurrentAdminTokenInfo`) would take spaces it
    /// cannot provision (hostile pass 2, F8).
    pub async fn cannot_provision(&self) -> Result<Option<String>, ProvisionError> {
        let info = self.call("check the token's scope", Method::GET, "GetCurrentAdminTokenInfo", &[], None).await?.unwrap_or(Value::Null);
        if info.get("expired").and_then(Value::as_bool) == Some(true) {
            return Ok(Some("its admin token has expired".into()));
        }
        let scope: Vec<&str> = info.get("scope").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        if scope.contains(&"*") {
            return Ok(None);
        }
        let missing: Vec<&str> = NEEDED_ENDPOINTS.iter().copied().filter(|e| !scope.contains(e)).collect();
        Ok((!missing.is_empty()).then(|| format!("its admin token may not call {}", missing.join(", "))))
    }

    pub async fn bucket_exists(&self, name: &str) -> Result<bool, ProvisionError> {
        Ok(self.bucket(name).await?.is_some())
    }

    async fn bucket(&self, name: &str) -> Result<Option<Value>, ProvisionError> {
        self.call("read the bucket", Method::GET, "GetBucketInfo", &[("globalAlias", name)], None).await
    }

    /// The marker key's id, the key imported first if it is missing (with a secret nobody keeps:
    /// it is never used to sign).
    async fn marker_key(&self) -> Result<String, ProvisionError> {
        self.marker
            .get_or_try_init(|| async {
                let id = marker_key_id();
                if self.call("read the marker key", Method::GET, "GetKeyInfo", &[("id", &id)], None).await?.is_none() {
                    let mut secret = [0u8; 32];
                    getrandom::fill(&mut secret).map_err(|e| failed("create the marker key", e.to_string()))?;
                    let body =
                        json!({ "accessKeyId": id, "secretAccessKey": crate::render::config::hex(&secret), "name": MARKER_KEY_NAME });
                    self.call("create the marker key", Method::POST, "ImportKey", &[], Some(body)).await?;
                }
                Ok(id)
            })
            .await
            .cloned()
    }

    /// Who holds the bucket: the marker key's local alias, else whether the space's own key,
    /// named for the bucket, already reads and writes it.
    fn ownership_of(bucket: Option<&Value>, b: &Bucket<'_>, marker: &str) -> Ownership {
        let Some(bucket) = bucket else { return Ownership::Absent };
        let keys = || bucket.get("keys").and_then(Value::as_array).into_iter().flatten();
        let marked = keys().any(|k| {
            k.get("accessKeyId").and_then(Value::as_str) == Some(marker)
                && k.get("bucketLocalAliases").and_then(Value::as_array).into_iter().flatten().any(|a| a.as_str() == Some(b.bucket))
        });
        if marked {
            return Ownership::Marked;
        }
        let held = !b.access_key.is_empty()
            && keys().any(|k| {
                k.get("accessKeyId").and_then(Value::as_str) == Some(b.access_key)
                    && k.get("name").and_then(Value::as_str) == Some(b.bucket)
                    && k.pointer("/permissions/read").and_then(Value::as_bool) == Some(true)
                    && k.pointer("/permissions/write").and_then(Value::as_bool) == Some(true)
            });
        if held { Ownership::Held } else { Ownership::Foreign }
    }

    pub async fn ownership(&self, b: &Bucket<'_>) -> Result<Ownership, ProvisionError> {
        let marker = self.marker_key().await?;
        Ok(Self::ownership_of(self.bucket(b.bucket).await?.as_ref(), b, &marker))
    }

    fn marker_text() -> String {
        format!("local alias in the namespace of key {MARKER_KEY_NAME}")
    }

    /// A space's bucket on a store of purpose `Backups`: created and marked if missing (a bucket
    /// the operator did not mark is refused), and a client with the operator's backup key
    /// (`BACKUP_KEY_NAME`), allowed on it. No space key is ever allowed there: a space cannot
    /// remove its own backups.
    pub async fn ensure_backup_bucket(&self, bucket: &str) -> Result<(Writes, SignedClient), ProvisionError> {
        let b = Bucket { bucket, access_key: "", secret_key: "", quota_bytes: 0, writable: false };
        let mut writes = Writes::default();
        let marker = self.marker_key().await?;
        let found = self.bucket(bucket).await?;
        let info = match (Self::ownership_of(found.as_ref(), &b, &marker), found) {
            (Ownership::Marked, Some(v)) => v,
            (Ownership::Absent, _) => {
                writes.add(1);
                let body = json!({ "globalAlias": bucket, "localAlias": { "accessKeyId": marker, "alias": bucket } });
                match self.call("create the bucket", Method::POST, "CreateBucket", &[], Some(body)).await {
                    Ok(Some(v)) => v,
                    Ok(None) => return Err(failed("create the bucket", "no bucket returned".into())),
                    Err(ProvisionError::Failed { message, .. }) if message == "BucketAlreadyExists" => {
                        return Err(foreign_bucket(System::Garage, bucket, &Self::marker_text()));
                    }
                    Err(e) => return Err(e),
                }
            }
            _ => return Err(foreign_bucket(System::Garage, bucket, &Self::marker_text())),
        };
        let id = info.get("id").and_then(Value::as_str).ok_or_else(|| failed("read the bucket", "no id".into()))?.to_string();
        let key_id = backup_key_id();
        let query = [("id", key_id.as_str()), ("showSecretKey", "true")];
        let read_key = || self.call("read the backup key", Method::GET, "GetKeyInfo", &query, None);
        let key = match read_key().await? {
            Some(k) => k,
            None => {
                let mut secret = [0u8; 32];
                getrandom::fill(&mut secret).map_err(|e| failed("create the backup key", e.to_string()))?;
                let body =
                    json!({ "accessKeyId": key_id, "secretAccessKey": crate::render::config::hex(&secret), "name": BACKUP_KEY_NAME });
                self.call("create the backup key", Method::POST, "ImportKey", &[], Some(body)).await?;
                writes.add(1);
                read_key().await?.ok_or_else(|| failed("read the backup key", "not found after its import".into()))?
            }
        };
        let secret = key.get("secretAccessKey").and_then(Value::as_str).unwrap_or_default().to_string();
        let allowed = info.get("keys").and_then(Value::as_array).into_iter().flatten().any(|k| {
            k.get("accessKeyId").and_then(Value::as_str) == Some(key_id.as_str())
                && k.pointer("/permissions/read").and_then(Value::as_bool) == Some(true)
                && k.pointer("/permissions/write").and_then(Value::as_bool) == Some(true)
        });
        if !allowed {
            let body = json!({ "bucketId": id, "accessKeyId": key_id, "permissions": { "read": true, "write": true, "owner": false } });
            self.call("allow the backup key on the bucket", Method::POST, "AllowBucketKey", &[], Some(body)).await?;
            writes.add(1);
        }
        let client = SignedClient::new(&self.s3_endpoint, &self.region, &key_id, &secret, System::Garage)?.with_gate(self.gate.clone());
        Ok((writes, client))
    }

    pub async fn ensure(&self, b: &Bucket<'_>) -> Result<Writes, ProvisionError> {
        b.check_quota(System::Garage)?;
        if b.access_key.is_empty() || b.secret_key.is_empty() {
            return Err(failed("import the key", "the space has no S3 key in its credentials".into()));
        }
        let mut writes = Writes::default();
        let marker = self.marker_key().await?;
        let found = self.bucket(b.bucket).await?;
        let bucket = match (Self::ownership_of(found.as_ref(), b, &marker), found) {
            (Ownership::Foreign, _) => return Err(foreign_bucket(System::Garage, b.bucket, &Self::marker_text())),
            (Ownership::Marked, Some(v)) => v,
            (Ownership::Held, Some(v)) => {
                let id = v.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
                let body = json!({ "bucketId": id, "localAlias": b.bucket, "accessKeyId": marker });
                writes.add(1);
                self.call("mark the bucket", Method::POST, "AddBucketAlias", &[], Some(body))
                    .await?
                    .ok_or_else(|| failed("mark the bucket", "no bucket returned".into()))?
            }
            _ => {
                writes.add(1);
                // Created and marked in one call: no bucket of the operator's is ever unmarked.
                let body = json!({ "globalAlias": b.bucket, "localAlias": { "accessKeyId": marker, "alias": b.bucket } });
                match self.call("create the bucket", Method::POST, "CreateBucket", &[], Some(body)).await {
                    Ok(Some(v)) => v,
                    Ok(None) => return Err(failed("create the bucket", "no bucket returned".into())),
                    // Someone else's, created since the read.
                    Err(ProvisionError::Failed { message, .. }) if message == "BucketAlreadyExists" => {
                        return Err(foreign_bucket(System::Garage, b.bucket, &Self::marker_text()));
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let id = bucket.get("id").and_then(Value::as_str).ok_or_else(|| failed("read the bucket", "no id".into()))?.to_string();
        if bucket.pointer("/quotas/maxSize").and_then(Value::as_u64) != Some(b.quota_bytes) || !has_abort_rule(&bucket) {
            self.call(
                "set the bucket quota",
                Method::POST,
                "UpdateBucket",
                &[("id", &id)],
                Some(json!({ "quotas": { "maxSize": b.quota_bytes, "maxObjects": null }, "lifecycleRules": [abort_rule()] })),
            )
            .await?;
            writes.add(1);
        }
        let key = self.call("read the key", Method::GET, "GetKeyInfo", &[("id", b.access_key), ("showSecretKey", "true")], None).await?;
        let secret_matches = key.as_ref().and_then(|k| k.get("secretAccessKey")).and_then(Value::as_str) == Some(b.secret_key);
        if key.is_some() && !secret_matches {
            // A key's secret cannot be changed: replace the key with the space's own.
            self.call("replace the key", Method::POST, "DeleteKey", &[("id", b.access_key)], None).await?;
            writes.add(1);
        }
        if key.is_none() || !secret_matches {
            let body = json!({ "accessKeyId": b.access_key, "secretAccessKey": b.secret_key, "name": b.bucket });
            self.call("import the key", Method::POST, "ImportKey", &[], Some(body)).await.map_err(|e| match e {
                ProvisionError::Failed { operation, .. } => failed(operation, "ImportKey refused".into()),
                other => other,
            })?;
            writes.add(1);
        }
        let allowed = bucket
            .get("keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|k| k.get("accessKeyId").and_then(Value::as_str) == Some(b.access_key))
            .map(|k| (k.pointer("/permissions/read").and_then(Value::as_bool), k.pointer("/permissions/write").and_then(Value::as_bool)));
        if allowed != Some((Some(true), Some(true))) || !secret_matches {
            let body =
                json!({ "bucketId": id, "accessKeyId": b.access_key, "permissions": { "read": true, "write": true, "owner": false } });
            self.call("allow the key on the bucket", Method::POST, "AllowBucketKey", &[], Some(body)).await?;
            writes.add(1);
        }
        // A key replaced in the space's Secret leaves its former key allowed on the bucket. The
        // operator names its keys for the bucket: one of those is a former key of this space and
        // goes; a key someone else named keeps existing but loses the bucket.
        for (stale, ours) in granted_keys(&bucket).into_iter().filter(|(k, _)| k != b.access_key) {
            if ours == b.bucket {
                self.call("remove a former key", Method::POST, "DeleteKey", &[("id", &stale)], None).await?;
            } else {
                self.deny(&id, &stale).await?;
            }
            writes.add(1);
        }
        Ok(writes)
    }

    async fn deny(&self, bucket_id: &str, access_key: &str) -> Result<(), ProvisionError> {
        let body =
            json!({ "bucketId": bucket_id, "accessKeyId": access_key, "permissions": { "read": true, "write": true, "owner": true } });
        self.call("deny the key on the bucket", Method::POST, "DenyBucketKey", &[], Some(body)).await.map(|_| ())
    }

    /// Retain: every key allowed on the bucket loses its permissions (Garage keys cannot be
    /// disabled, and a deleted key id can never be imported again); the bucket and objects stay,
    /// and ensuring the space again gives the space's key its permissions back.
    pub async fn revoke(&self, b: &Bucket<'_>) -> Result<Writes, ProvisionError> {
        let marker = self.marker_key().await?;
        let Some(bucket) = self.bucket(b.bucket).await? else {
            return Ok(Writes(0));
        };
        // Someone else's bucket: its keys are not the space's to take away.
        if Self::ownership_of(Some(&bucket), b, &marker) == Ownership::Foreign {
            return Ok(Writes(0));
        }
        let id = bucket.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
        let mut writes = Writes::default();
        for (key, _) in granted_keys(&bucket) {
            self.deny(&id, &key).await?;
            writes.add(1);
        }
        Ok(writes)
    }

    /// The space's key and every former one (the keys the operator named for the bucket).
    async fn delete_keys(&self, b: &Bucket<'_>) -> Result<Writes, ProvisionError> {
        let listed = self.call("list the keys", Method::GET, "ListKeys", &[], None).await?.unwrap_or(Value::Null);
        let mut keys: Vec<String> = listed
            .as_array()
            .into_iter()
            .flatten()
            .filter(|k| k.get("name").and_then(Value::as_str) == Some(b.bucket))
            .filter_map(|k| k.get("id").and_then(Value::as_str).map(String::from))
            .collect();
        if !b.access_key.is_empty()
            && !keys.iter().any(|k| k == b.access_key)
            && self.call("read the key", Method::GET, "GetKeyInfo", &[("id", b.access_key)], None).await?.is_some()
        {
            keys.push(b.access_key.to_string());
        }
        let mut writes = Writes::default();
        for key in keys {
            self.call("remove the key", Method::POST, "DeleteKey", &[("id", &key)], None).await?;
            writes.add(1);
        }
        Ok(writes)
    }

    /// What the space's bucket holds (GetBucketInfo counts it exactly). Unfinished multipart
    /// uploads that take it over its quota are aborted with the space's own key: Garage leaves
    /// them out of the quota, and refuses to complete them over it anyway.
    pub async fn measure(&self, b: &Bucket<'_>) -> Result<StorageUsage, ProvisionError> {
        let marker = self.marker_key().await?;
        let Some(bucket) = self.bucket(b.bucket).await? else { return Ok(StorageUsage::default()) };
        if Self::ownership_of(Some(&bucket), b, &marker) != Ownership::Marked {
            return Ok(StorageUsage::default());
        }
        let number = |k: &str| bucket.get(k).and_then(Value::as_i64).and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
        let mut usage = StorageUsage {
            bytes: number("bytes"),
            objects: number("objects"),
            unfinished_bytes: number("unfinishedMultipartUploadBytes"),
            aborted_uploads: 0,
        };
        if number("unfinishedMultipartUploads") > 0 && usage.bytes.saturating_add(usage.unfinished_bytes) > b.quota_bytes {
            let own = SignedClient::new(&self.s3_endpoint, &self.region, b.access_key, b.secret_key, System::Garage)?
                .with_gate(self.gate.clone());
            for u in own.uploads(b.bucket).await? {
                usage.aborted_uploads += own.abort_upload(b.bucket, &u).await?;
            }
            usage.unfinished_bytes = 0;
        }
        Ok(usage)
    }

    /// A read-only look at a bucket: its info (exact counters), and whether the space's key is
    /// allowed to read it. Nothing is written (the marker key is only read here).
    pub async fn inspect(&self, b: &Bucket<'_>) -> Result<BucketFacts, ProvisionError> {
        let Some(bucket) = self.bucket(b.bucket).await? else { return Ok(BucketFacts::default()) };
        let number = |k: &str| bucket.get(k).and_then(Value::as_i64).and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
        let keys = || bucket.get("keys").and_then(Value::as_array).into_iter().flatten();
        let key_reads = !b.access_key.is_empty()
            && keys().any(|k| {
                k.get("accessKeyId").and_then(Value::as_str) == Some(b.access_key)
                    && k.pointer("/permissions/read").and_then(Value::as_bool) == Some(true)
            });
        let marker = marker_key_id();
        let marked = keys().any(|k| {
            k.get("accessKeyId").and_then(Value::as_str) == Some(marker.as_str())
                && k.get("bucketLocalAliases").and_then(Value::as_array).into_iter().flatten().any(|a| a.as_str() == Some(b.bucket))
        });
        Ok(BucketFacts { exists: true, bytes: number("bytes"), objects: number("objects"), key_reads, marked })
    }

    /// Removes one object of the space's bucket, with the space's own key.
    pub async fn remove_object(&self, b: &Bucket<'_>, key: &str) -> Result<u32, ProvisionError> {
        let own =
            SignedClient::new(&self.s3_endpoint, &self.region, b.access_key, b.secret_key, System::Garage)?.with_gate(self.gate.clone());
        own.delete_object(b.bucket, key).await
    }

    /// Delete: every object (over S3, with the space's key), the bucket, its keys.
    pub async fn delete(&self, b: &Bucket<'_>) -> Result<Writes, ProvisionError> {
        let mut writes = Writes::default();
        let marker = self.marker_key().await?;
        // Only the operator's bucket is emptied and deleted; someone else's stays whole.
        let found = self.bucket(b.bucket).await?.filter(|v| Self::ownership_of(Some(v), b, &marker) != Ownership::Foreign);
        if let Some(bucket) = found {
            // The space's key may have been revoked already: bring it back to empty the bucket.
            writes.add(self.ensure(b).await?.0);
            let own = SignedClient::new(&self.s3_endpoint, &self.region, b.access_key, b.secret_key, System::Garage)?
                .with_gate(self.gate.clone());
            writes.add(own.empty_bucket(b.bucket).await?);
            let id = bucket.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
            self.call("delete the bucket", Method::POST, "DeleteBucket", &[("id", &id)], None).await?;
            writes.add(1);
        }
        writes.add(self.delete_keys(b).await?.0);
        Ok(writes)
    }
}

/// The keys with any permission on the bucket, with the name each was given.
fn granted_keys(bucket: &Value) -> Vec<(String, String)> {
    bucket
        .get("keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|k| {
            ["read", "write", "owner"].iter().any(|p| k.pointer(&format!("/permissions/{p}")).and_then(Value::as_bool) == Some(true))
        })
        .filter_map(|k| {
            let id = k.get("accessKeyId").and_then(Value::as_str)?;
            Some((id.to_string(), k.get("name").and_then(Value::as_str).unwrap_or_default().to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(keys: Value) -> Value {
        json!({ "id": "b1", "globalAliases": ["space-a"], "keys": keys })
    }

    #[test]
    fn a_bucket_is_the_operators_only_with_its_mark_or_the_spaces_own_key() {
        let b = Bucket { bucket: "space-a", access_key: "GKspace", secret_key: "s", quota_bytes: 1 << 20, writable: true };
        let marker = marker_key_id();
        assert_eq!(GarageAdmin::ownership_of(None, &b, &marker), Ownership::Absent);
        let marked =
            bucket(json!([{ "accessKeyId": marker, "name": MARKER_KEY_NAME, "permissions": {}, "bucketLocalAliases": ["space-a"] }]));
        assert_eq!(GarageAdmin::ownership_of(Some(&marked), &b, &marker), Ownership::Marked);
        let held = bucket(
            json!([{ "accessKeyId": "GKspace", "name": "space-a", "permissions": { "read": true, "write": true }, "bucketLocalAliases": [] }]),
        );
        assert_eq!(GarageAdmin::ownership_of(Some(&held), &b, &marker), Ownership::Held);
        let foreign = bucket(
            json!([{ "accessKeyId": "GKtheirs", "name": "backup-tool", "permissions": { "read": true, "write": true, "owner": true }, "bucketLocalAliases": [] }]),
        );
        assert_eq!(GarageAdmin::ownership_of(Some(&foreign), &b, &marker), Ownership::Foreign);
        let renamed = bucket(
            json!([{ "accessKeyId": "GKspace", "name": "someone-else", "permissions": { "read": true, "write": true }, "bucketLocalAliases": [] }]),
        );
        assert_eq!(
            GarageAdmin::ownership_of(Some(&renamed), &b, &marker),
            Ownership::Foreign,
            "a key the operator did not name for the bucket"
        );
        assert!(marker.starts_with("GK") && marker.len() == 26, "Garage's key id format");
    }

    #[test]
    fn the_abort_rule_is_recognised_as_garage_prints_it() {
        let printed = json!({ "lifecycleRules": [{ "ID": ABORT_RULE_ID, "Status": "Enabled", "AbortIncompleteMultipartUpload": { "DaysAfterInitiation": 1 } }] });
        assert!(has_abort_rule(&printed));
        assert!(!has_abort_rule(&json!({ "lifecycleRules": [] })));
        assert_eq!(abort_rule(), printed["lifecycleRules"][0]);
    }
}
