//! External systems: each space's share of a PostgreSQL server, a Redis server and an S3 store,
//! created, checked, revoked and removed with the pool's admin credentials. Every `ensure_*` reads
//! first and writes only what differs, so provisioning twice in a row writes nothing.

pub mod cache;
pub mod garage;
pub mod madmin;
pub mod minio;
pub mod postgres;
pub mod redis;
pub mod redis_cluster;
pub mod s3;
pub mod tls;
pub mod transfer;

use thiserror::Error;

/// Makes ring (kube's provider too) the process's rustls provider: reqwest, here and in the OTLP
/// exporter, is built without one of its own. Called at start-up and before any client is built.
pub fn install_tls_provider() {
    // Fails only when a provider is installed already, which is what is wanted.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The HTTP client of the S3 and admin APIs: 5 s to connect, `timeout` for a whole request.
pub fn http_client(timeout: std::time::Duration) -> Result<reqwest::Client, reqwest::Error> {
    install_tls_provider();
    reqwest::Client::builder().connect_timeout(std::time::Duration::from_secs(5)).timeout(timeout).build()
}

/// The longest one admin operation (an ensure, a health check) may take once it runs: a server
/// that accepts connections and then never answers (stalled, overloaded, SIGSTOPped) would
/// otherwise hold the space's reconcile, and its first status, for the length of every socket
/// timeout in turn. A bounded operation cut short leaves nothing half-done that the next one
/// does not finish: every step reads before it writes.
pub const OPERATION_BOUND: std::time::Duration = std::time::Duration::from_secs(15);

/// `op`, or `Unreachable` once `limit` has passed.
pub async fn bounded<T>(
    system: System,
    limit: std::time::Duration,
    op: impl Future<Output = Result<T, ProvisionError>>,
) -> Result<T, ProvisionError> {
    match tokio::time::timeout(limit, op).await {
        Ok(result) => result,
        Err(_) => Err(ProvisionError::Unreachable { system, message: format!("no answer within {} s", limit.as_secs()) }),
    }
}

/// Which system an error came from, for conditions, metrics and logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum System {
    Postgres,
    Redis,
    Minio,
    Garage,
}

impl System {
    /// Asks the write gate for leave to write to this system.
    pub fn allow_write(self, gate: &crate::gate::WriteGate) -> Result<(), ProvisionError> {
        Ok(gate.allow(self.as_str())?)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            System::Postgres => "postgres",
            System::Redis => "redis",
            System::Minio => "minio",
            System::Garage => "garage",
        }
    }
}

/// A failure of an external system. Messages carry the operation and the server's words, never a
/// credential: SQL with passwords is never echoed, and HTTP bodies are trimmed to the error code.
#[derive(Debug, Error)]
pub enum ProvisionError {
    #[error("{system} is unreachable: {message}", system = .system.as_str())]
    Unreachable { system: System, message: String },
    #[error("{system} refused the admin credentials: {message}", system = .system.as_str())]
    Unauthorized { system: System, message: String },
    #[error("{system} failed to {operation}: {message}", system = .system.as_str())]
    Failed { system: System, operation: &'static str, message: String },
    /// The server lacks what the operator needs of it (e.g. a Redis whose ACL cannot pin a database).
    #[error("{system} cannot host spaces: {message}", system = .system.as_str())]
    Unsupported { system: System, message: String },
    /// What the space would be given belongs to another tenant already; nothing was written.
    #[error("{system}: {message}", system = .system.as_str())]
    Conflict { system: System, message: String },
    /// The write gate refused: this replica no longer holds the lease.
    #[error(transparent)]
    NotLeader(#[from] crate::gate::NotLeader),
}

impl ProvisionError {
    pub fn reason(&self) -> &'static str {
        match self {
            ProvisionError::Unreachable { .. } => "PoolUnreachable",
            ProvisionError::Unauthorized { .. } => "PoolCredentialsRefused",
            ProvisionError::Failed { .. } => "ProvisioningFailed",
            ProvisionError::Unsupported { .. } => "UnsupportedServer",
            ProvisionError::Conflict { .. } => "Conflict",
            ProvisionError::NotLeader(_) => "NotLeader",
        }
    }
}

/// What an `ensure_*` call did: the number of writes it made (0 when everything was in place).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Writes(pub u32);

impl Writes {
    pub fn add(&mut self, n: u32) {
        self.0 += n;
    }
}

/// What a space's bucket holds, measured by the operator: the stores' own quotas do not hold
/// everything (MinIO checks a PUT against its scanner's last figure, cmd/bucket-quota.go
/// `enforceQuotaHard`; Garage leaves unfinished multipart uploads out of its quota).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageUsage {
    /// Bytes of the bucket's objects.
    pub bytes: u64,
    pub objects: u64,
    /// Bytes held by unfinished multipart uploads, after any the measure aborted.
    pub unfinished_bytes: u64,
    /// Unfinished uploads aborted because the bucket was over its quota with them.
    pub aborted_uploads: u32,
}

impl StorageUsage {
    /// Over the quota by its objects alone: writes must be refused until the space deletes some.
    pub fn over(&self, quota_bytes: u64) -> bool {
        self.bytes > quota_bytes
    }
}

/// What a read-only look at a bucket found (an adopted one, which the operator neither marks nor
/// quotas): whether it is there, what it holds, and whether the space's key may read it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BucketFacts {
    pub exists: bool,
    pub bytes: u64,
    pub objects: u64,
    pub key_reads: bool,
    /// It carries the operator's mark: a bucket the operator made for a space.
    pub marked: bool,
}

/// The identifiers a space uses in every system, derived from its name (a DNS label that starts
/// with a letter, at most 40 characters, so every derived name is valid everywhere).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TenantNames {
    /// PostgreSQL role and schema (`space_<name>` with `_` for `-`), or an adopted instance's `dbuser`.
    pub role: String,
    /// The database the role owns (isolation `Database`): the role's name, or an adopted `dbname`.
    pub database: String,
    /// Redis ACL user (`space-<name>`).
    pub redis_user: String,
    /// Redis key and channel prefix (`space-<name>:`), also Nextcloud's `memcache_customprefix`.
    pub redis_prefix: String,
}

impl TenantNames {
    pub fn new(space: &str) -> Self {
        let sql = format!("space_{}", space.replace('-', "_"));
        TenantNames { role: sql.clone(), database: sql, redis_user: format!("space-{space}"), redis_prefix: format!("space-{space}:") }
    }

    /// The names of a space that adopts an existing database: its role and database as they are;
    /// the cache is the operator's own, under the space's name.
    pub fn adopted(space: &str, role: &str, database: &str) -> Self {
        TenantNames { role: role.to_string(), database: database.to_string(), ..TenantNames::new(space) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names() {
        let n = TenantNames::new("mon-asso");
        assert_eq!((n.role.as_str(), n.database.as_str()), ("space_mon_asso", "space_mon_asso"));
        assert_eq!(n.redis_user, "space-mon-asso");
        assert_eq!(n.redis_prefix, "space-mon-asso:");
    }
}
