//! What the pool's checks ask of the server: its version, whether its admin can provision, how
//! many spaces its connections hold, and PUBLIC kept out of its own databases.

use sqlx::Row;

use super::{PgAdmin, classify, ident};
use crate::provision::{OPERATION_BOUND, ProvisionError, System, bounded};

impl PgAdmin {
    /// Health check: the server answers the admin with its version.
    pub async fn server_version(&self) -> Result<String, ProvisionError> {
        bounded(System::Postgres, OPERATION_BOUND, self.server_version_now()).await
    }

    async fn server_version_now(&self) -> Result<String, ProvisionError> {
        let row = sqlx::query("SELECT current_setting('server_version')")
            .fetch_one(&self.admin)
            .await
            .map_err(|e| classify("check health", e))?;
        row.try_get::<String, _>(0).map_err(|e| classify("check health", e))
    }

    /// Keeps tenants out of the server's own databases: PostgreSQL gives PUBLIC CONNECT and
    /// TEMPORARY on `postgres` and `template1` (initdb), so any space's role could connect there
    /// and make tables. Revoked from PUBLIC, the admin keeps CONNECT by its own grant. Only the
    /// databases' owner (or a superuser) may revoke: for another admin nothing changes, and the
    /// databases still open are returned for the pool's status to say so.
    /// How many spaces the server's connections hold, each role at its `CONNECTION LIMIT`, with
    /// room kept for the superusers (`superuser_reserved_connections`), for the roles of
    /// `pg_use_reserved_connections` (`reserved_connections`, PostgreSQL 16+) and for the
    /// operator's own `maxConcurrentOperations`: more spaces than this, all at their limit, would
    /// take every slot and lock the operator out (hostile pass 2, F7). Also the server's
    /// `max_connections`, for the status.
    pub async fn connection_capacity(&self) -> Result<(i64, i64), ProvisionError> {
        bounded(System::Postgres, OPERATION_BOUND, async {
            let (max, reserved): (i64, i64) = sqlx::query_as(
                "SELECT current_setting('max_connections')::bigint, current_setting('superuser_reserved_connections')::bigint \
                 + COALESCE(current_setting('reserved_connections', true)::bigint, 0)",
            )
            .fetch_one(&self.admin)
            .await
            .map_err(|e| classify("read the server's connections", e))?;
            let room = max - reserved - i64::from(self.target.max_connections.max(1));
            Ok(((room / i64::from(self.target.tenant_connections.max(1))).max(0), max))
        })
        .await
    }

    /// Why the admin role could not provision a space here, if it could not: it must create
    /// roles and databases (`CREATEROLE` and `CREATEDB`, or be a superuser) on a server that
    /// takes writes (not a standby). A pool that is reachable but cannot provision would
    /// otherwise take every new space and fail each (hostile pass 2, F8).
    pub async fn cannot_provision(&self) -> Result<Option<String>, ProvisionError> {
        bounded(System::Postgres, OPERATION_BOUND, async {
            let (rights, standby): (bool, bool) = sqlx::query_as(
                "SELECT r.rolsuper OR (r.rolcreaterole AND r.rolcreatedb), pg_is_in_recovery() FROM pg_roles r WHERE r.rolname = current_user",
            )
            .fetch_one(&self.admin)
            .await
            .map_err(|e| classify("read the admin role's rights", e))?;
            Ok(if standby {
                Some("the server is a standby (pg_is_in_recovery): it takes no writes".to_string())
            } else if !rights {
                Some(format!("the admin role {} may not create roles and databases (CREATEROLE and CREATEDB)", self.target.username))
            } else {
                None
            })
        })
        .await
    }

    pub async fn confine_tenants(&self) -> Result<Vec<String>, ProvisionError> {
        bounded(System::Postgres, OPERATION_BOUND, self.confine_tenants_now()).await
    }

    async fn confine_tenants_now(&self) -> Result<Vec<String>, ProvisionError> {
        let mut open = Vec::new();
        for db in ["postgres", "template1"] {
            if !self.database_exists(db).await? || !self.public_can_connect(db).await? {
                continue;
            }
            let may: bool = sqlx::query_scalar(
                "SELECT r.rolsuper OR pg_has_role(current_user, d.datdba, 'USAGE') FROM pg_roles r, pg_database d \
                 WHERE r.rolname = current_user AND d.datname = $1",
            )
            .bind(db)
            .fetch_one(&self.admin)
            .await
            .map_err(|e| classify("read the database privileges", e))?;
            if !may {
                open.push(db.to_string());
                continue;
            }
            self.exec(
                &self.admin,
                "confine tenants",
                format!(
                    "GRANT CONNECT ON DATABASE {db} TO {admin}; REVOKE CONNECT, TEMPORARY ON DATABASE {db} FROM PUBLIC",
                    db = ident(db),
                    admin = ident(&self.target.username)
                ),
            )
            .await?;
        }
        Ok(open)
    }
}
