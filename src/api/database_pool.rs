//! `DatabasePool`: a PostgreSQL server spaces are placed on.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::pool::{AdminSecretRef, CaSecretRef, PoolCapacity, PoolStatus};

/// A PostgreSQL server on which the operator creates one role and one database (or schema) per space.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "frama.space",
    version = "v1alpha1",
    kind = "DatabasePool",
    plural = "databasepools",
    singular = "databasepool",
    shortname = "dbpool",
    category = "framaspace",
    status = "PoolStatus",
    derive = "PartialEq",
    doc = "A PostgreSQL server that holds the databases of Framaspace spaces.",
    printcolumn(name = "Host", type_ = "string", json_path = ".spec.host"),
    printcolumn(name = "Isolation", type_ = "string", json_path = ".spec.isolation"),
    printcolumn(name = "Assigned", type_ = "integer", json_path = ".status.assignedSpaces"),
    printcolumn(name = "Free", type_ = "integer", json_path = ".status.freeCapacity"),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.caSecretRef) || (has(self.sslMode) && self.sslMode == 'verify-full')").message("spec.caSecretRef needs spec.sslMode verify-full: only then is the server's certificate checked against it"))]
#[x_kube(validation = Rule::new("!has(self.tenantConnectionLimit) || self.tenantConnectionLimit >= 18 || has(self.tenantHost)").message("spec.tenantConnectionLimit below 18 needs a spec.tenantHost (a PgBouncer): the image's 16 Apache workers, its cron and an occ Job connect to the server directly otherwise"))]
pub struct DatabasePoolSpec {
    /// Host the operator connects to with the admin credentials.
    #[schemars(length(min = 1, max = 253))]
    pub host: String,
    /// Port of the admin endpoint.
    #[serde(default = "default_pg_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Host the spaces connect to (e.g. a PgBouncer in front of the server); defaults to `host`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub tenant_host: Option<String>,
    /// Port of the tenant endpoint; defaults to `port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub tenant_port: Option<i32>,
    /// Secret with keys `username` and `password` of a role with CREATEROLE and CREATEDB.
    pub admin_secret_ref: AdminSecretRef,
    /// `database`: one database per space, CONNECT revoked from PUBLIC. `schema`: one schema per space
    /// in `sharedDatabase`, for pools with many small spaces.
    #[serde(default)]
    pub isolation: DatabaseIsolation,
    /// Database that holds the per-space schemas when `isolation` is `schema`.
    #[serde(default = "default_shared_database")]
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z_][a-z0-9_]*$"))]
    #[x_kube(validation = Rule::new("!self.startsWith('space_')").message("spec.sharedDatabase must not start with space_: that is the name of a space's own database"))]
    #[x_kube(validation = Rule::new("!(self in ['postgres', 'template0', 'template1'])").message("spec.sharedDatabase must not be postgres, template0 or template1: spaces never share the server's own databases"))]
    pub shared_database: String,
    /// TLS mode toward the server (`disable`, `prefer`, `require`, `verify-full`).
    #[serde(default)]
    pub ssl_mode: SslMode,
    /// The private CA of the server's certificate, for `verify-full`: trusted by the operator,
    /// the spaces' Nextcloud (`pgsql_ssl` `rootcert`) and their snapshot Jobs
    /// (`PGSSLROOTCERT`). Without it, `verify-full` trusts the system's public roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_secret_ref: Option<CaSecretRef>,
    /// How many spaces the pool takes.
    pub capacity: PoolCapacity,
    /// The most connections each space's role may hold (`CONNECTION LIMIT`, default 20; it was
    /// 50). At least 18: each of the image's Apache workers (`MaxRequestWorkers` 16) holds one,
    /// plus the cron container and an occ Job (`images/nextcloud/check.sh` keeps the two in
    /// step). The pool check compares `capacity.maxSpaces` times this limit with the server's
    /// `max_connections`, room kept for the superusers and the operator
    /// (`status.connectionCapacity`), and says in its Ready message when tenants at their limit
    /// could take every slot. Behind a PgBouncer (`tenantHost`) the limit counts the bouncer's
    /// server connections, and may be below 18 (the bouncer's pool size for the space).
    #[serde(default = "default_tenant_connections")]
    #[schemars(range(min = 1, max = 1000))]
    pub tenant_connection_limit: i32,
    /// Most admin operations run at once against this server (default 4), so a burst of new spaces
    /// never opens hundreds of admin connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 64))]
    pub max_concurrent_operations: Option<i32>,
}

fn default_tenant_connections() -> i32 {
    20
}

fn default_pg_port() -> i32 {
    5432
}

fn default_shared_database() -> String {
    "framaspace".to_string()
}

/// How spaces are separated on a PostgreSQL server.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseIsolation {
    #[default]
    Database,
    Schema,
}

/// libpq TLS modes the operator supports.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyFull,
}

impl SslMode {
    /// The libpq `sslmode` keyword: what `PGSSLMODE` and Nextcloud's `pgsql_ssl` `mode` take.
    pub fn libpq(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyFull => "verify-full",
        }
    }
}
