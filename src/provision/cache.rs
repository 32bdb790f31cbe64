//! A CachePool's admin behind one interface: one Valkey server (a database per space) or a
//! cluster (the space's user on every node, its keys by prefix in the shared database 0).

use super::redis::RedisAdmin;
use super::redis_cluster::ClusterAdmin;
use super::{ProvisionError, TenantNames, Writes};

pub enum CacheAdmin {
    Server(RedisAdmin),
    Cluster(ClusterAdmin),
}

impl CacheAdmin {
    /// The space's user, pinned to its database on a server (`database`), on every node of a
    /// cluster (where `database` is always 0 and shared).
    pub async fn ensure(&self, names: &TenantNames, password: &str, database: u32) -> Result<Writes, ProvisionError> {
        match self {
            CacheAdmin::Server(a) => a.ensure(names, password, database).await,
            CacheAdmin::Cluster(a) => a.ensure(names, password).await,
        }
    }

    pub async fn revoke(&self, names: &TenantNames) -> Result<Writes, ProvisionError> {
        match self {
            CacheAdmin::Server(a) => a.revoke(names).await,
            CacheAdmin::Cluster(a) => a.revoke(names).await,
        }
    }

    pub async fn delete(&self, names: &TenantNames, database: Option<u32>) -> Result<Writes, ProvisionError> {
        match self {
            CacheAdmin::Server(a) => a.delete(names, database).await,
            CacheAdmin::Cluster(a) => a.delete(names).await,
        }
    }

    /// What the space cached removed: its own database on a server, its prefix on a cluster.
    pub async fn flush_space(&self, names: &TenantNames, database: u32) -> Result<u32, ProvisionError> {
        match self {
            CacheAdmin::Server(a) => a.flush_space(database).await,
            CacheAdmin::Cluster(a) => a.flush_space(names).await,
        }
    }
}
