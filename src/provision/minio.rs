//! MinIO: a bucket per space with a hard quota, a user whose only policy is that bucket, all
//! through the MinIO admin API (`/minio/admin/v3`, SigV4-signed, some bodies madmin-encrypted).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::madmin;
use super::s3::SignedClient;
use super::{BucketFacts, ProvisionError, StorageUsage, System, Writes};

const ADMIN: &str = "/minio/admin/v3";

/// The tag that marks a bucket as the operator's, as `postgres::ROLE_MARKER` marks a role: set
/// with the admin key (a space's policy has no `s3:PutBucketTagging`). A bucket without it is
/// never written, emptied or deleted.
pub const BUCKET_MARKER: (&str, &str) = ("frama.space/managed-by", "framaspace-operator");

pub struct MinioAdmin {
    client: SignedClient,
    endpoint: String,
    region: String,
    admin_secret: String,
}

/// A space's share of the store.
pub struct Bucket<'a> {
    pub bucket: &'a str,
    pub access_key: &'a str,
    pub secret_key: &'a str,
    pub quota_bytes: u64,
    /// False while the space is over its quota: its key may read, list and delete, not write
    /// (MinIO; Garage's own quota refuses writes over it).
    pub writable: bool,
}

impl Bucket<'_> {
    /// A hard quota below 1Mi is never sent: MinIO stores 0 as no quota at all, Garage as no write.
    pub fn check_quota(&self, system: System) -> Result<(), ProvisionError> {
        if self.quota_bytes < crate::api::quantity::MIN_QUOTA_BYTES {
            return Err(ProvisionError::Failed {
                system,
                operation: "set the bucket quota",
                message: format!("a quota of {} bytes is below the minimum of 1Mi; nothing was written", self.quota_bytes),
            });
        }
        Ok(())
    }
}

/// Only what Nextcloud's object store needs, on its own bucket; without `s3:PutObject` (uploads,
/// copies, parts) while the space is over its quota, so deleting files still frees room.
pub fn policy(bucket: &str, writable: bool) -> Value {
    let mut objects = vec!["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:ListMultipartUploadParts"];
    if writable {
        objects.push("s3:PutObject");
    }
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                "Resource": [format!("arn:aws:s3:::{bucket}")]
            },
            {
                // A key may mint service accounts for itself unless a policy denies it
                // (cmd/admin-handlers-users.go: `DenyOnly` when the target is the caller); they
                // die with their parent, and this keeps them from being made at all.
                "Effect": "Deny",
                "Action": ["admin:CreateServiceAccount"]
            },
            {
                "Effect": "Allow",
                "Action": objects,
                "Resource": [format!("arn:aws:s3:::{bucket}/*")]
            }
        ]
    })
}

/// A policy with its `Action` and `Resource` lists sorted: MinIO stores them as sets and prints them
/// in any order, so two policies are the same when their normalised forms are equal.
pub fn normalize_policy(policy: &Value) -> Value {
    match policy {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("Action" | "Resource", Value::Array(items)) => {
                            let mut items = items.clone();
                            items.sort_by_key(|a| a.to_string());
                            Value::Array(items)
                        }
                        ("Action" | "Resource", Value::String(s)) => Value::Array(vec![Value::String(s.clone())]),
                        _ => normalize_policy(v),
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(normalize_policy).collect()),
        other => other.clone(),
    }
}

/// What `/idp/builtin/policy-entities` answers (madmin-go `PolicyEntitiesResult`), the part read.
#[derive(serde::Deserialize)]
struct PolicyEntities {
    #[serde(rename = "policyMappings", default)]
    policy_mappings: Vec<PolicyMapping>,
}

#[derive(serde::Deserialize)]
struct PolicyMapping {
    policy: String,
    /// A Go nil slice is `null`.
    users: Option<Vec<String>>,
}

fn policy_name(bucket: &str) -> String {
    format!("framaspace-{bucket}")
}

fn failed(operation: &'static str, message: String) -> ProvisionError {
    ProvisionError::Failed { system: System::Minio, operation, message }
}

/// A bucket under the space's name that the operator did not create.
pub fn foreign_bucket(system: System, bucket: &str, marker: &str) -> ProvisionError {
    ProvisionError::Conflict {
        system,
        message: format!(
            "bucket {bucket} exists and was not created by the operator (no {marker}); nothing was read, written or granted: \
             rename the space, or mark the bucket if it is this space's"
        ),
    }
}

/// Who holds a bucket, as far as the operator can tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    Absent,
    /// Marked as the operator's.
    Marked,
    /// Unmarked, but the space's own key reaches it through what the operator gave it (a bucket
    /// made before the marker, or an ensure cut between creating the bucket and marking it).
    Held,
    Foreign,
}

impl MinioAdmin {
    pub fn new(endpoint: &str, region: &str, access_key: &str, secret_key: &str) -> Result<Self, ProvisionError> {
        Ok(MinioAdmin {
            client: SignedClient::new(endpoint, region, access_key, secret_key, System::Minio)?,
            endpoint: endpoint.into(),
            region: region.into(),
            admin_secret: secret_key.into(),
        })
    }

    /// Every request that changes the store asks this gate first (see `crate::gate`).
    pub fn with_gate(mut self, gate: crate::gate::WriteGate) -> Self {
        self.client = self.client.with_gate(gate);
        self
    }

    async fn admin(
        &self,
        operation: &'static str,
        method: Method,
        call: &str,
        query: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<super::s3::Reply, ProvisionError> {
        self.client.send(operation, method, &format!("{ADMIN}/{call}"), query, body, &[]).await
    }

    fn encrypted(&self, value: &Value) -> Result<Vec<u8>, ProvisionError> {
        madmin::encrypt(&self.admin_secret, value.to_string().as_bytes()).map_err(|e| failed("encrypt the request", e.to_string()))
    }

    pub async fn server_version(&self) -> Result<String, ProvisionError> {
        let reply = self.admin("check health", Method::GET, "info", &[], Vec::new()).await?;
        let reply = self.client.expect_success("check health", reply)?;
        let info: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
        Ok(info.pointer("/servers/0/version").and_then(Value::as_str).unwrap_or("unknown").to_string())
    }

    /// Removes one object of the space's bucket, with the space's own key.
    pub async fn remove_object(&self, b: &Bucket<'_>, key: &str) -> Result<u32, ProvisionError> {
        let own = SignedClient::new(&self.endpoint, &self.region, b.access_key, b.secret_key, System::Minio)?.with_gate(self.client.gate());
        own.delete_object(b.bucket, key).await
    }

    /// Whether the space's own key reaches its bucket (a read).
    pub async fn key_works(&self, b: &Bucket<'_>) -> Result<bool, ProvisionError> {
        let own = SignedClient::new(&self.endpoint, &self.region, b.access_key, b.secret_key, System::Minio)?;
        let reply = match own.send("check the space's key", Method::HEAD, &format!("/{}", b.bucket), &[], Vec::new(), &[]).await {
            Ok(r) => r,
            Err(ProvisionError::Unauthorized { .. }) => return Ok(false),
            Err(e) => return Err(e),
        };
        Ok(reply.status.is_success())
    }

    /// Who holds the bucket: its tags, else whether the space's key already has the operator's
    /// policy for it.
    pub async fn ownership(&self, b: &Bucket<'_>) -> Result<Ownership, ProvisionError> {
        let head = self.client.send("read the bucket", Method::HEAD, &format!("/{}", b.bucket), &[], Vec::new(), &[]).await?;
        if head.status == StatusCode::NOT_FOUND {
            return Ok(Ownership::Absent);
        }
        self.client.expect_success("read the bucket", head)?;
        let tags = self.client.bucket_tags(b.bucket).await?;
        if tags.iter().any(|(k, v)| k == BUCKET_MARKER.0 && v == BUCKET_MARKER.1) {
            return Ok(Ownership::Marked);
        }
        if tags.iter().any(|(k, _)| k == BUCKET_MARKER.0) {
            return Ok(Ownership::Foreign);
        }
        if b.access_key.is_empty() {
            return Ok(Ownership::Foreign);
        }
        let reply = self.admin("read the user", Method::GET, "user-info", &[("accessKey", b.access_key)], Vec::new()).await?;
        let user: Value = if reply.status.is_success() { serde_json::from_slice(&reply.body).unwrap_or(Value::Null) } else { Value::Null };
        let name = policy_name(b.bucket);
        let held = user.get("policyName").and_then(Value::as_str).is_some_and(|p| p.split(',').any(|p| p == name));
        Ok(if held { Ownership::Held } else { Ownership::Foreign })
    }

    /// Marks the bucket as the operator's, keeping the tags it has.
    async fn mark(&self, bucket: &str) -> Result<u32, ProvisionError> {
        let mut tags = self.client.bucket_tags(bucket).await?;
        tags.retain(|(k, _)| k != BUCKET_MARKER.0);
        tags.push((BUCKET_MARKER.0.into(), BUCKET_MARKER.1.into()));
        self.client.set_bucket_tags(bucket, &tags).await
    }

    fn marker() -> String {
        format!("tag {}={}", BUCKET_MARKER.0, BUCKET_MARKER.1)
    }

    /// A space's bucket on a store of purpose `Backups`: created and marked if missing (a bucket
    /// the operator did not mark is refused), and the client that reads and writes it, the
    /// admin key's own. No space key ever reaches it: a space cannot remove its own backups.
    pub async fn ensure_backup_bucket(&self, bucket: &str) -> Result<(Writes, SignedClient), ProvisionError> {
        let b = Bucket { bucket, access_key: "", secret_key: "", quota_bytes: 0, writable: false };
        let mut writes = Writes::default();
        match self.ownership(&b).await? {
            Ownership::Marked => {}
            Ownership::Absent => {
                let reply = self.client.send("create the bucket", Method::PUT, &format!("/{bucket}"), &[], Vec::new(), &[]).await?;
                if reply.status == StatusCode::CONFLICT {
                    return Err(foreign_bucket(System::Minio, bucket, &Self::marker()));
                }
                self.client.expect_success("create the bucket", reply)?;
                writes.add(1 + self.mark(bucket).await?);
            }
            Ownership::Foreign | Ownership::Held => return Err(foreign_bucket(System::Minio, bucket, &Self::marker())),
        }
        Ok((writes, self.client.clone()))
    }

    pub async fn ensure(&self, b: &Bucket<'_>) -> Result<Writes, ProvisionError> {
        b.check_quota(System::Minio)?;
        if b.access_key.is_empty() || b.secret_key.is_empty() {
            return Err(failed("create the user", "the space has no S3 key in its credentials".into()));
        }
        let mut writes = Writes::default();
        let ownership = self.ownership(b).await?;
        match ownership {
            Ownership::Foreign => return Err(foreign_bucket(System::Minio, b.bucket, &Self::marker())),
            Ownership::Marked => {}
            Ownership::Held => writes.add(self.mark(b.bucket).await?),
            Ownership::Absent => {
                // The key gets its policy before the bucket exists, so a bucket created and not
                // yet marked (an ensure cut in between) is recognised as held next time.
                writes.add(self.ensure_access(b).await?.0);
                let reply = self.client.send("create the bucket", Method::PUT, &format!("/{}", b.bucket), &[], Vec::new(), &[]).await?;
                if reply.status == StatusCode::CONFLICT {
                    // Someone else's, created since the read: what was just given goes.
                    self.withdraw(b).await?;
                    return Err(foreign_bucket(System::Minio, b.bucket, &Self::marker()));
                }
                self.client.expect_success("create the bucket", reply)?;
                writes.add(1 + self.mark(b.bucket).await?);
            }
        }
        // Its hard quota (a bound on single writes: MinIO checks against its scanner's figure, so
        // the operator measures the bucket itself, `measure`).
        let reply = self.admin("read the bucket quota", Method::GET, "get-bucket-quota", &[("bucket", b.bucket)], Vec::new()).await?;
        let current: Value =
            serde_json::from_slice(&self.client.expect_success("read the bucket quota", reply)?.body).unwrap_or(Value::Null);
        let size = current.get("size").or_else(|| current.get("quota")).and_then(Value::as_u64).unwrap_or(0);
        if size != b.quota_bytes || current.get("quotatype").and_then(Value::as_str) != Some("hard") {
            let body = json!({ "quota": b.quota_bytes, "size": b.quota_bytes, "quotatype": "hard" }).to_string().into_bytes();
            let reply = self.admin("set the bucket quota", Method::PUT, "set-bucket-quota", &[("bucket", b.bucket)], body).await?;
            self.client.expect_success("set the bucket quota", reply)?;
            writes.add(1);
        }
        if ownership != Ownership::Absent {
            writes.add(self.ensure_access(b).await?.0);
        }
        Ok(writes)
    }

    /// The policy that names only this bucket, and the space's user, enabled, with that policy
    /// and the space's secret.
    async fn ensure_access(&self, b: &Bucket<'_>) -> Result<Writes, ProvisionError> {
        let mut writes = Writes::default();
        let name = policy_name(b.bucket);
        let wanted = policy(b.bucket, b.writable);
        let reply = self.admin("read the policy", Method::GET, "info-canned-policy", &[("name", &name), ("v", "2")], Vec::new()).await?;
        let existing: Option<Value> = if reply.status.is_success() {
            serde_json::from_slice::<Value>(&reply.body).ok().and_then(|v| v.get("Policy").cloned().or(Some(v)))
        } else {
            None
        };
        if existing.as_ref().map(normalize_policy) != Some(normalize_policy(&wanted)) {
            let reply =
                self.admin("set the policy", Method::PUT, "add-canned-policy", &[("name", &name)], wanted.to_string().into_bytes()).await?;
            self.client.expect_success("set the policy", reply)?;
            writes.add(1);
        }
        let reply = self.admin("read the user", Method::GET, "user-info", &[("accessKey", b.access_key)], Vec::new()).await?;
        let user: Option<Value> = reply.status.is_success().then(|| serde_json::from_slice(&reply.body).unwrap_or(Value::Null));
        let secret_ok = user.is_some() && self.key_works(b).await?;
        let enabled = user.as_ref().and_then(|u| u.get("status")).and_then(Value::as_str) == Some("enabled");
        if user.is_none() || !secret_ok || !enabled {
            let body = self.encrypted(&json!({ "secretKey": b.secret_key, "status": "enabled" }))?;
            let reply = self.admin("create the user", Method::PUT, "add-user", &[("accessKey", b.access_key)], body).await?;
            self.client.expect_success("create the user", reply)?;
            writes.add(1);
        }
        let attached =
            user.as_ref().and_then(|u| u.get("policyName")).and_then(Value::as_str).is_some_and(|p| p.split(',').any(|p| p == name));
        if !attached {
            // A key not yet attached is a new key (a first provisioning, or one replaced in the
            // space's Secret: regenerated, a namespace re-created, a re-attach). Any other user on
            // a policy that existed before is a former key of this space (the policy is the
            // operator's own, named for the bucket): it would keep reaching the bucket and would
            // block removing the policy. Swept before the attachment, so an ensure cut anywhere
            // sweeps again next time; and only then, because MinIO seals the listing with Argon2id
            // (a costly call on both sides) that an unchanged space never needs.
            if existing.is_some() {
                for stale in self.policy_users(&name).await?.iter().filter(|u| u.as_str() != b.access_key) {
                    self.remove_user(stale).await?;
                    writes.add(1);
                }
            }
            let reply = self
                .admin(
                    "attach the policy",
                    Method::PUT,
                    "set-user-or-group-policy",
                    &[("policyName", &name), ("userOrGroup", b.access_key), ("isGroup", "false")],
                    Vec::new(),
                )
                .await?;
            self.client.expect_success("attach the policy", reply)?;
            writes.add(1);
        }
        Ok(writes)
    }

    /// Undoes `ensure_access` for a bucket that turned out to be someone else's.
    async fn withdraw(&self, b: &Bucket<'_>) -> Result<(), ProvisionError> {
        self.remove_user(b.access_key).await?;
        let name = policy_name(b.bucket);
        if self.policy_exists(&name).await? && self.policy_users(&name).await?.is_empty() {
            let reply = self.admin("remove the policy", Method::DELETE, "remove-canned-policy", &[("name", &name)], Vec::new()).await?;
            self.client.expect_success("remove the policy", reply)?;
        }
        Ok(())
    }

    /// What the space's bucket holds, counted from a listing with the admin key (MinIO's own
    /// figure is its scanner's, minutes behind). Unfinished uploads that would take the bucket
    /// over its quota are aborted: no part of them could ever be completed within it.
    pub async fn measure(&self, b: &Bucket<'_>) -> Result<StorageUsage, ProvisionError> {
        if self.ownership(b).await? != Ownership::Marked {
            return Ok(StorageUsage::default());
        }
        let (bytes, objects) = self.client.usage(b.bucket).await?;
        let mut usage = StorageUsage { bytes, objects, ..Default::default() };
        let uploads = self.client.uploads(b.bucket).await?;
        for u in &uploads {
            usage.unfinished_bytes = usage.unfinished_bytes.saturating_add(self.client.upload_bytes(b.bucket, u).await?);
        }
        if !uploads.is_empty() && bytes.saturating_add(usage.unfinished_bytes) > b.quota_bytes {
            for u in &uploads {
                usage.aborted_uploads += self.client.abort_upload(b.bucket, u).await?;
            }
            usage.unfinished_bytes = 0;
        }
        Ok(usage)
    }

    /// A read-only look at a bucket: HEAD and a listing with the admin key (MinIO's own figure is
    /// its scanner's), a HEAD with the space's key. Nothing is written.
    pub async fn inspect(&self, b: &Bucket<'_>) -> Result<BucketFacts, ProvisionError> {
        let head = self.client.send("read the bucket", Method::HEAD, &format!("/{}", b.bucket), &[], Vec::new(), &[]).await?;
        if head.status == StatusCode::NOT_FOUND {
            return Ok(BucketFacts::default());
        }
        self.client.expect_success("read the bucket", head)?;
        let tags = self.client.bucket_tags(b.bucket).await?;
        let marked = tags.iter().any(|(k, v)| k == BUCKET_MARKER.0 && v == BUCKET_MARKER.1);
        let (bytes, objects) = self.client.usage(b.bucket).await?;
        let key_reads = !b.access_key.is_empty() && self.key_works(b).await?;
        Ok(BucketFacts { exists: true, bytes, objects, key_reads, marked })
    }

    /// The users the policy is attached to (`/idp/builtin/policy-entities`, a madmin-sealed reply:
    /// cmd/admin-handlers-users.go `ListPolicyMappingEntities`, madmin-go `PolicyEntitiesResult`).
    pub async fn policy_users(&self, policy: &str) -> Result<Vec<String>, ProvisionError> {
        let reply =
            self.admin("list the policy's users", Method::GET, "idp/builtin/policy-entities", &[("policy", policy)], Vec::new()).await?;
        let reply = self.client.expect_success("list the policy's users", reply)?;
        let plain = madmin::decrypt(&self.admin_secret, &reply.body).map_err(|e| failed("list the policy's users", e.to_string()))?;
        let entities: PolicyEntities =
            serde_json::from_slice(&plain).map_err(|e| failed("list the policy's users", format!("unreadable reply: {e}")))?;
        Ok(entities.policy_mappings.into_iter().filter(|m| m.policy == policy).flat_map(|m| m.users.unwrap_or_default()).collect())
    }

    async fn remove_user(&self, access_key: &str) -> Result<(), ProvisionError> {
        let reply = self.admin("remove the user", Method::DELETE, "remove-user", &[("accessKey", access_key)], Vec::new()).await?;
        if reply.status == StatusCode::NOT_FOUND {
            return Ok(());
        }
        self.client.expect_success("remove the user", reply).map(|_| ())
    }

    async fn policy_exists(&self, name: &str) -> Result<bool, ProvisionError> {
        let reply = self.admin("read the policy", Method::GET, "info-canned-policy", &[("name", name), ("v", "2")], Vec::new()).await?;
        Ok(reply.status.is_success())
    }

    pub async fn bucket_exists(&self, bucket: &str) -> Result<bool, ProvisionError> {
        let head = self.client.send("read the bucket", Method::HEAD, &format!("/{bucket}"), &[], Vec::new(), &[]).await?;
        Ok(head.status.is_success())
    }

    /// Retain: the space's user, and any former key still attached to its policy, disabled; the
    /// bucket and its objects stay.
    pub async fn revoke(&self, b: &Bucket<'_>) -> Result<Writes, ProvisionError> {
        let name = policy_name(b.bucket);
        let mut users = if self.policy_exists(&name).await? { self.policy_users(&name).await? } else { Vec::new() };
        if !b.access_key.is_empty() && !users.iter().any(|u| u == b.access_key) {
            users.push(b.access_key.to_string());
        }
        let mut writes = Writes::default();
        for user in &users {
            let reply = self.admin("read the user", Method::GET, "user-info", &[("accessKey", user)], Vec::new()).await?;
            if !reply.status.is_success() {
                continue;
            }
            let info: Value = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
            if info.get("status").and_then(Value::as_str) == Some("disabled") {
                continue;
            }
            let reply = self
                .admin("disable the user", Method::PUT, "set-user-status", &[("accessKey", user), ("status", "disabled")], Vec::new())
                .await?;
            self.client.expect_success("disable the user", reply)?;
            writes.add(1);
        }
        Ok(writes)
    }

    /// Delete: the bucket with every object (only the operator's: a bucket it did not create
    /// stays whole), the user and its policy.
    pub async fn delete(&self, b: &Bucket<'_>) -> Result<Writes, ProvisionError> {
        let mut writes = Writes::default();
        if matches!(self.ownership(b).await?, Ownership::Marked | Ownership::Held) {
            writes.add(self.client.empty_bucket(b.bucket).await?);
            let reply = self.client.send("delete the bucket", Method::DELETE, &format!("/{}", b.bucket), &[], Vec::new(), &[]).await?;
            self.client.expect_success("delete the bucket", reply)?;
            writes.add(1);
        }
        // Every user ever given the space's policy goes with it: MinIO refuses to remove a policy
        // still attached (XMinioIAMPolicyInUse).
        let name = policy_name(b.bucket);
        let policy_exists = self.policy_exists(&name).await?;
        let mut users = if policy_exists { self.policy_users(&name).await? } else { Vec::new() };
        if !b.access_key.is_empty() && !users.iter().any(|u| u == b.access_key) {
            users.push(b.access_key.to_string());
        }
        for user in &users {
            let reply = self.admin("read the user", Method::GET, "user-info", &[("accessKey", user)], Vec::new()).await?;
            if reply.status.is_success() {
                self.remove_user(user).await?;
                writes.add(1);
            }
        }
        if policy_exists {
            let reply = self.admin("remove the policy", Method::DELETE, "remove-canned-policy", &[("name", &name)], Vec::new()).await?;
            self.client.expect_success("remove the policy", reply)?;
            writes.add(1);
        }
        Ok(writes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quota_below_1mi_is_never_sent() {
        let b = |quota_bytes| Bucket { bucket: "b", access_key: "k", secret_key: "s", quota_bytes, writable: true };
        assert!(b(0).check_quota(System::Minio).is_err(), "MinIO takes 0 for no quota at all");
        assert!(b((1 << 20) - 1).check_quota(System::Garage).is_err());
        assert!(b(1 << 20).check_quota(System::Minio).is_ok());
    }

    #[test]
    fn policies_compare_as_sets() {
        let stored = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"], "Resource": "arn:aws:s3:::b/*"}]});
        let wanted = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": ["arn:aws:s3:::b/*"]}]});
        assert_eq!(normalize_policy(&stored), normalize_policy(&wanted));
        let other = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::b/*"]}]});
        assert_ne!(normalize_policy(&other), normalize_policy(&wanted));
    }

    #[test]
    fn policy_names_only_its_bucket() {
        let p = policy("space-a", true).to_string();
        assert!(p.contains("arn:aws:s3:::space-a\"") && p.contains("arn:aws:s3:::space-a/*"));
        assert!(!p.contains("s3:*") && !p.contains("DeleteBucket") && !p.contains("PutBucketPolicy"));
        assert!(!p.contains("Tagging"), "a space may not mark or unmark its bucket");
        assert!(p.contains("s3:PutObject"));
    }

    #[test]
    fn a_space_over_its_quota_may_read_and_delete_not_write() {
        let p = policy("space-a", false).to_string();
        assert!(!p.contains("s3:PutObject"), "no upload, copy or part");
        assert!(p.contains("s3:DeleteObject") && p.contains("s3:GetObject") && p.contains("s3:AbortMultipartUpload"));
    }
}
