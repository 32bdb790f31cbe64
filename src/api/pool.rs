//! Pieces shared by the three pool kinds (DatabasePool, CachePool, StoragePool).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::conditions::{Condition, conditions_schema};

/// Secret with the pool's admin credentials, in the operator's own namespace: pools are
/// cluster-scoped, and no other namespace may hold credentials the operator acts with.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdminSecretRef {
    /// Name of the Secret in the operator's namespace.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"))]
    pub name: String,
}

/// A private CA's certificate (PEM) in a Secret of the operator's namespace: the CA that signed
/// the server's certificate (cert-manager's `ca.crt`, CloudNativePG's `<cluster>-ca`). The
/// operator trusts it for its own connections, and hands the certificates (only blocks that
/// parse as X.509 certificates, never the rest of the Secret) to every client of the pool in
/// the spaces' namespaces.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CaSecretRef {
    /// Name of the Secret in the operator's namespace.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"))]
    pub name: String,
    /// The key that holds the PEM certificates (default `ca.crt`).
    #[serde(default = "default_ca_key")]
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[-._a-zA-Z0-9]+$"))]
    pub key: String,
}

fn default_ca_key() -> String {
    "ca.crt".to_string()
}

/// How many spaces a pool may hold.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolCapacity {
    /// Maximum number of spaces placed on the pool; placement prefers the pool with the most room.
    #[schemars(range(min = 0, max = 1000000))]
    pub max_spaces: i32,
}

/// Observed state of a pool, computed from the spaces placed on it (never a counter that drifts).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PoolStatus {
    /// Spaces placed on the pool.
    #[serde(default)]
    pub assigned_spaces: i64,
    /// Spaces that can still be placed on it.
    #[serde(default)]
    pub free_capacity: i64,
    /// Version the server reported at the last health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
    /// CachePool: the server's logical databases, one per space (database 0 is never given), so
    /// the pool holds at most this number less one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub databases: Option<i64>,
    /// DatabasePool: how many spaces the server's `max_connections` holds at
    /// `tenantConnectionLimit` each, room kept for the superusers and the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_capacity: Option<i64>,
    /// CachePool: the server's `run_id` at the last check, so a second pool on the same server
    /// (under another address) is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_id: Option<String>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the operator reaches the server with the admin credentials.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
}

impl PoolStatus {
    /// The major of the server's version (`15.18 (Debian 15.18-0+deb12u1)` → 15).
    pub fn server_major(&self) -> Option<u32> {
        let v = self.server_version.as_deref()?;
        let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    }
}
