//! Garage: a bucket per space with a size quota, and a key (imported with the space's own id and
//! secret, so the Secret stays the source of truth) allowed to read and write that bucket only.
//! Through Garage's admin API v2 (bearer token); objects are emptied over S3 with the space's key.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::s3::SignedClient;
use super::{ProvisionError, System, Writes};
use crate::provision::minio::Bucket;

pub struct GarageAdmin {
    http: reqwest::Client,
    admin_url: String,
    token: String,
    s3_endpoint: String,
    region: String,
    gate: crate::gate::WriteGate,
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

    pub async fn bucket_exists(&self, name: &str) -> Result<bool, ProvisionError> {
        Ok(self.bucket(name).await?.is_some())
    }

    async fn bucket(&self, name: &str) -> Result<Option<Value>, ProvisionError> {
        self.call("read the bucket", Method::GET, "GetBucketInfo", &[("globalAlias", name)], None).await
    }

    pub async fn ensure(&self, b: &Bucket<'_>) -> Result<Writes, ProvisionError> {
        b.check_quota(System::Garage)?;
        if b.access_key.is_empty() || b.secret_key.is_empty() {
            return Err(failed("import the key", "the space has no S3 key in its credentials".into()));
        }
        let mut writes = Writes::default();
        let bucket = match self.bucket(b.bucket).await? {
            Some(v) => v,
            None => {
                writes.add(1);
                self.call("create the bucket", Method::POST, "CreateBucket", &[], Some(json!({ "globalAlias": b.bucket })))
                    .await?
                    .ok_or_else(|| failed("create the bucket", "no bucket returned".into()))?
            }
        };
        let id = bucket.get("id").and_then(Value::as_str).ok_or_else(|| failed("read the bucket", "no id".into()))?.to_string();
        if bucket.pointer("/quotas/maxSize").and_then(Value::as_u64) != Some(b.quota_bytes) {
            self.call(
                "set the bucket quota",
                Method::POST,
                "UpdateBucket",
                &[("id", &id)],
                Some(json!({ "quotas": { "maxSize": b.quota_bytes, "maxObjects": null } })),
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
        let Some(bucket) = self.bucket(b.bucket).await? else {
            return Ok(Writes(0));
        };
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

    /// Removes one object of the space's bucket, with the space's own key.
    pub async fn remove_object(&self, b: &Bucket<'_>, key: &str) -> Result<u32, ProvisionError> {
        let own =
            SignedClient::new(&self.s3_endpoint, &self.region, b.access_key, b.secret_key, System::Garage)?.with_gate(self.gate.clone());
        own.delete_object(b.bucket, key).await
    }

    /// Delete: every object (over S3, with the space's key), the bucket, its keys.
    pub async fn delete(&self, b: &Bucket<'_>) -> Result<Writes, ProvisionError> {
        let mut writes = Writes::default();
        if let Some(bucket) = self.bucket(b.bucket).await? {
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
