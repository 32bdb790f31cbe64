//! `CachePool`: a Valkey server, or a Valkey/Redis Cluster, spaces are placed on.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::pool::{AdminSecretRef, PoolCapacity, PoolStatus};

/// A Redis server on which each space gets an ACL user limited to its own key prefix.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "frama.space",
    version = "v1alpha1",
    kind = "CachePool",
    plural = "cachepools",
    singular = "cachepool",
    shortname = "cachepool",
    category = "framaspace",
    status = "PoolStatus",
    derive = "PartialEq",
    doc = "A Redis server that holds the cache and file locks of Framaspace spaces.",
    printcolumn(name = "Host", type_ = "string", json_path = ".spec.host"),
    printcolumn(name = "Nodes", type_ = "integer", json_path = ".status.nodeCount", priority = 1),
    printcolumn(name = "Assigned", type_ = "integer", json_path = ".status.assignedSpaces"),
    printcolumn(name = "Free", type_ = "integer", json_path = ".status.freeCapacity"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.caSecretRef) || (has(self.tls) && self.tls)").message("spec.caSecretRef needs spec.tls: a CA is only trusted over TLS"))]
pub struct CachePoolSpec {
    /// Host of the Redis server.
    #[schemars(length(min = 1, max = 253))]
    pub host: String,
    /// Port of the Redis server.
    #[serde(default = "default_redis_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Connect with TLS.
    #[serde(default)]
    pub tls: bool,
    /// The private CA of the server's certificate, with `tls`: trusted by the operator and by
    /// the spaces' Nextcloud (`redis` `ssl_context` `cafile`). Without it, the system's public
    /// roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<super::pool::CaSecretRef>,
    /// Secret with keys `username` and `password` of an ACL user allowed to run `ACL` commands.
    pub admin_secret_ref: AdminSecretRef,
    /// How many spaces the pool takes.
    pub capacity: PoolCapacity,
    /// Most admin operations run at once against this server (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 64))]
    pub max_concurrent_operations: Option<i32>,
    /// The most memory the server may hold for all its spaces together (e.g. `512Mi`): the
    /// operator sets Valkey's `maxmemory` to it, with `evictionPolicy`, at every pool check. Valkey
    /// has no bound per user or per database, so a space that writes more makes the server evict
    /// cache entries (its own and others', which Nextcloud computes again) instead of growing
    /// without end. Unset, the server's own setting is left as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new("isQuantity(self) && quantity(self).compareTo(quantity('16Mi')) >= 0 && quantity(self).compareTo(quantity('1Ti')) <= 0").message("spec.maxMemory must be a quantity between 16Mi and 1Ti (e.g. 512Mi)"))]
    pub max_memory: Option<String>,
    /// A Valkey/Redis Cluster rather than one server: `host`/`port` is then its first seed (a
    /// Service in front of the nodes, or one node). The operator finds every node (masters and
    /// replicas) from `CLUSTER NODES` and gives each space's user to each of them; each node
    /// the operator contacts must be listed in the admin Secret's `frama.space/endpoints`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<CacheClusterSpec>,
    /// What the server evicts once `maxMemory` is reached. `allkeys-lru` (the default) also evicts
    /// keys written without a TTL, which Nextcloud never writes (`Memcache\Redis::set()` is a SETEX)
    /// but a hostile tenant could, to pin memory no eviction would give back.
    #[serde(default)]
    pub eviction_policy: EvictionPolicy,
}

/// How the spaces reach a cluster.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct CacheClusterSpec {
    /// More seeds (`host:port`) besides `host`/`port`, tried in order by Nextcloud (phpredis
    /// `RedisCluster` maps the slots from the first that answers) and by the operator.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16), inner(length(max = 261)))]
    #[x_kube(validation = Rule::new("self.all(s, s.matches('^[A-Za-z0-9.-]+:[0-9]{1,5}$'))").message("spec.cluster.seeds are host:port"))]
    pub seeds: Vec<String>,
    /// Where Nextcloud reads when a master fails (phpredis `RedisCluster::OPT_SLAVE_FAILOVER`):
    /// `Error` (the default) reads from a replica only while its master is unreachable; `None`
    /// never does; `Distribute` spreads reads over masters and replicas; `DistributeReplicas`
    /// over the replicas only. A replica may serve a value its master already changed, which
    /// file locks tolerate less than caches do.
    #[serde(default)]
    pub failover_mode: FailoverMode,
}

/// phpredis' `RedisCluster::FAILOVER_*` constants.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum FailoverMode {
    None,
    #[default]
    Error,
    Distribute,
    DistributeReplicas,
}

impl FailoverMode {
    /// The constant's name in `config.php`.
    pub fn php_constant(self) -> &'static str {
        match self {
            FailoverMode::None => "\\RedisCluster::FAILOVER_NONE",
            FailoverMode::Error => "\\RedisCluster::FAILOVER_ERROR",
            FailoverMode::Distribute => "\\RedisCluster::FAILOVER_DISTRIBUTE",
            FailoverMode::DistributeReplicas => "\\RedisCluster::FAILOVER_DISTRIBUTE_SLAVES",
        }
    }
}

impl CachePoolSpec {
    /// Every seed of a cluster pool, `host`/`port` first; the one address of a server pool.
    pub fn seeds(&self) -> Vec<String> {
        let mut seeds = vec![format!("{}:{}", self.host, self.port)];
        if let Some(c) = &self.cluster {
            seeds.extend(c.seeds.iter().filter(|s| !seeds.contains(s)).cloned().collect::<Vec<_>>());
        }
        seeds
    }
}

/// Valkey's `maxmemory-policy` values that evict (`noeviction` would refuse every space's writes
/// once one space filled the server).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EvictionPolicy {
    #[default]
    AllkeysLru,
    AllkeysLfu,
    VolatileLru,
    VolatileLfu,
}

impl EvictionPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            EvictionPolicy::AllkeysLru => "allkeys-lru",
            EvictionPolicy::AllkeysLfu => "allkeys-lfu",
            EvictionPolicy::VolatileLru => "volatile-lru",
            EvictionPolicy::VolatileLfu => "volatile-lfu",
        }
    }
}

fn default_redis_port() -> i32 {
    6379
}
