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
    /// CachePool of a cluster: how many nodes its last check found (masters and replicas).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_count: Option<i64>,
    /// CachePool of a cluster: every node its last check found, and whether each space's user
    /// is in place there (ACL users are per node, never replicated).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<CacheNodeStatus>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the operator reaches the server with the admin credentials (a cluster: every
    /// node, each holding every space's user). `Available` (clusters only): the spaces are
    /// served even while `Ready` is False because a node is down or still being given its users.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
}

/// One node of a cluster CachePool, as its last check saw it.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CacheNodeStatus {
    /// `host:port` as the cluster announces it.
    pub address: String,
    /// The node's cluster id.
    pub id: String,
    /// `master` or `replica`.
    pub role: String,
    /// For a replica, the id of its master.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_id: Option<String>,
    /// Whether the operator reached it with the admin credentials at the last check.
    pub reachable: bool,
    /// The spaces of the pool whose user this node holds with the rules the operator gave.
    pub users_in_place: i64,
    /// The spaces of the pool whose user it lacks (or holds with other rules) after the check.
    pub users_missing: i64,
    /// Users the check gave back to this node (copied from a node that holds them).
    #[serde(default)]
    pub users_restored: i64,
    /// Whether its users survive a restart: the node has an `aclfile` that `ACL SAVE` writes.
    pub persisted: bool,
    /// Why it is unreachable, not contacted, or not persisted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl PoolStatus {
    /// The major of the server's version (`15.18 (Debian 15.18-0+deb12u1)` → 15).
    pub fn server_major(&self) -> Option<u32> {
        let v = self.server_version.as_deref()?;
        let digits: String = v.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    }
}
