//! PostgreSQL: one role per space, and either an owned database (CONNECT revoked from PUBLIC) or
//! an owned schema in a shared database (the role's search_path set to it).

use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{ConnectOptions, PgPool, Row};

mod instance_reads;
mod server;
mod space_reads;

pub use instance_reads::{AccountFacts, ActivityFacts, DatabaseFacts, InstanceFacts};

use super::{OPERATION_BOUND, ProvisionError, System, TenantNames, Writes, bounded};
use crate::api::database_pool::{DatabaseIsolation, SslMode};

/// Where and how to reach a server as its admin.
#[derive(Clone, Debug)]
pub struct PgTarget {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub ssl_mode: SslMode,
    pub isolation: DatabaseIsolation,
    pub shared_database: String,
    pub max_connections: u32,
    /// The pool's private CA (PEM), trusted for `verify-full` instead of the system's roots.
    pub ca: Option<String>,
    /// `CONNECTION LIMIT` of each space's role (`spec.tenantConnectionLimit`).
    pub tenant_connections: u32,
}

/// What a space's database holds of a Nextcloud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Installation {
    /// No Nextcloud table: a new space.
    Empty,
    /// Tables but no `core/installedat`: an install that stopped midway.
    Partial,
    /// A finished installation (`installedat` is when, as Nextcloud wrote it).
    Installed { installed_at: String },
}

/// An admin connection pool to one server; its size bounds the concurrent admin operations.
pub struct PgAdmin {
    target: PgTarget,
    admin: PgPool,
    shared: Option<PgPool>,
    /// Bounds whole operations (admin connections plus the space's own login check), so a burst of
    /// new spaces never holds more than `max_connections` operations against the server at once.
    limit: tokio::sync::Semaphore,
    /// One creation of the shared database at a time in this process.
    shared_creation: tokio::sync::Mutex<()>,
    gate: crate::gate::WriteGate,
}

/// The comment on every role the operator creates: a role of a space's name without it is
/// someone else's, never taken over.
pub const ROLE_MARKER: &str = "framaspace-operator: the role of a space";

struct RoleState {
    created: bool,
    writes: u32,
}

fn ssl(mode: SslMode) -> PgSslMode {
    match mode {
        SslMode::Disable => PgSslMode::Disable,
        SslMode::Prefer => PgSslMode::Prefer,
        SslMode::Require => PgSslMode::Require,
        SslMode::VerifyFull => PgSslMode::VerifyFull,
    }
}

fn classify(operation: &'static str, e: sqlx::Error) -> ProvisionError {
    match &e {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => {
            ProvisionError::Unreachable { system: System::Postgres, message: e.to_string() }
        }
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("28P01") | Some("28000")) => {
            ProvisionError::Unauthorized { system: System::Postgres, message: db.message().to_string() }
        }
        // Database errors are the server's words about the statement, which never carries a
        // password here (passwords are only sent inside statements whose errors are mapped below).
        sqlx::Error::Database(db) => ProvisionError::Failed { system: System::Postgres, operation, message: db.message().to_string() },
        _ => ProvisionError::Failed { system: System::Postgres, operation, message: e.to_string() },
    }
}

/// `"ident"`: identifiers are derived from validated names, quoted anyway.
fn ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A string literal for the few utility statements that take no bind parameters (passwords).
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

impl PgTarget {
    fn options(&self, database: &str) -> PgConnectOptions {
        let options = PgConnectOptions::new()
            .host(&self.host)
            .port(self.port)
            .username(&self.username)
            .password(&self.password)
            .database(database)
            .ssl_mode(ssl(self.ssl_mode))
            .application_name("framaspace-operator")
            .disable_statement_logging();
        match &self.ca {
            Some(ca) => options.ssl_root_cert_from_pem(ca.as_bytes().to_vec()),
            None => options,
        }
    }
}

impl PgAdmin {
    pub async fn connect(target: PgTarget) -> Result<Self, ProvisionError> {
        let pool = |db: &str| {
            PgPoolOptions::new()
                .max_connections(target.max_connections.max(1))
                .min_connections(0)
                .acquire_timeout(Duration::from_secs(10))
                .idle_timeout(Duration::from_secs(60))
                .connect_lazy_with(target.options(db))
        };
        let admin = pool("postgres");
        let shared = matches!(target.isolation, DatabaseIsolation::Schema).then(|| pool(&target.shared_database));
        let limit = tokio::sync::Semaphore::new(target.max_connections.max(1) as usize);
        let me = PgAdmin {
            target,
            admin,
            shared,
            limit,
            shared_creation: tokio::sync::Mutex::new(()),
            gate: crate::gate::WriteGate::always_open(),
        };
        me.server_version().await?;
        Ok(me)
    }

    /// Every statement that changes the server asks this gate first (see `crate::gate`).
    pub fn with_gate(mut self, gate: crate::gate::WriteGate) -> Self {
        self.gate = gate;
        self
    }

    /// Every statement that changes the server passes here: the write gate is asked first.
    /// Utility statements (CREATE ROLE, GRANT, ...) take no bind parameters; theirs are built only
    /// from [`ident`] and [`literal`], which quote everything they embed.
    fn audited(&self, sql: String) -> Result<sqlx::AssertSqlSafe<String>, ProvisionError> {
        System::Postgres.allow_write(&self.gate)?;
        Ok(sqlx::AssertSqlSafe(sql))
    }

    /// Host, port and database name the space's Nextcloud uses.
    pub fn database_of(&self, names: &TenantNames) -> String {
        match self.target.isolation {
            DatabaseIsolation::Database => names.database.clone(),
            DatabaseIsolation::Schema => self.target.shared_database.clone(),
        }
    }

    async fn exec(&self, pool: &PgPool, operation: &'static str, sql: String) -> Result<(), ProvisionError> {
        sqlx::raw_sql(self.audited(sql)?).execute(pool).await.map(|_| ()).map_err(|e| classify(operation, e))
    }

    /// The role with LOGIN and the given password, its database or schema, and nothing for anyone else.
    async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ProvisionError> {
        self.limit.acquire().await.map_err(|_| ProvisionError::Unreachable { system: System::Postgres, message: "shutting down".into() })
    }

    /// Every step reads before it writes and none depends on a step after it, so an ensure cut
    /// anywhere (a crash, a lost race, a timeout) converges on the next one: the role first, then
    /// what it may reach, and only then its password checked, by logging in where it now may.
    pub async fn ensure(&self, names: &TenantNames, password: &str) -> Result<Writes, ProvisionError> {
        let _permit = self.permit().await?;
        bounded(System::Postgres, OPERATION_BOUND, self.ensure_now(names, password)).await
    }

    async fn ensure_now(&self, names: &TenantNames, password: &str) -> Result<Writes, ProvisionError> {
        let mut writes = Writes::default();
        let role = self.ensure_role(names, password).await?;
        writes.add(role.writes);
        match self.target.isolation {
            DatabaseIsolation::Database => writes.add(self.ensure_database(names).await?),
            DatabaseIsolation::Schema => writes.add(self.ensure_schema(names).await?),
        }
        if !role.created && !self.password_works(names, password).await? {
            let sql = format!("ALTER ROLE {} PASSWORD {}", ident(&names.role), literal(password));
            sqlx::raw_sql(self.audited(sql)?).execute(&self.admin).await.map_err(|_| ProvisionError::Failed {
                system: System::Postgres,
                operation: "set the role's password",
                message: "ALTER ROLE failed".into(),
            })?;
            writes.add(1);
        }
        Ok(writes)
    }

    /// The space's role, created with its marker in one simple query, which PostgreSQL runs as one
    /// transaction (so a role without the marker was never the operator's); LOGIN given back if a
    /// Retain took it.
    async fn ensure_role(&self, names: &TenantNames, password: &str) -> Result<RoleState, ProvisionError> {
        let role = &names.role;
        let limit = self.target.tenant_connections.max(1);
        let row = sqlx::query("SELECT rolcanlogin, shobj_description(oid, 'pg_authid'), rolconnlimit FROM pg_roles WHERE rolname = $1")
            .bind(role)
            .fetch_optional(&self.admin)
            .await
            .map_err(|e| classify("read the role", e))?;
        let Some(row) = row else {
            let sql = format!(
                "CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION CONNECTION LIMIT {limit} PASSWORD {}; \
                 COMMENT ON ROLE {role} IS {}",
                literal(password),
                literal(ROLE_MARKER),
                role = ident(role),
            );
            // The statement holds the password: its error is reported without it.
            sqlx::raw_sql(self.audited(sql)?).execute(&self.admin).await.map_err(|e| match classify("create the role", e) {
                ProvisionError::Failed { system, operation, .. } => {
                    ProvisionError::Failed { system, operation, message: "CREATE ROLE failed".into() }
                }
                other => other,
            })?;
            return Ok(RoleState { created: true, writes: 1 });
        };
        let marker: Option<String> = row.try_get(1).map_err(|e| classify("read the role", e))?;
        if marker.as_deref() != Some(ROLE_MARKER) {
            return Err(ProvisionError::Conflict {
                system: System::Postgres,
                message: format!(
                    "a role named {role} exists and was not created by the operator (no comment {ROLE_MARKER:?}); \
                     nothing was changed: rename or drop it, or mark it for adoption with COMMENT ON ROLE"
                ),
            });
        }
        let can_login: bool = row.try_get(0).map_err(|e| classify("read the role", e))?;
        let connections: i32 = row.try_get(2).map_err(|e| classify("read the role", e))?;
        let mut writes = 0;
        if i64::from(connections) != i64::from(limit) {
            self.exec(&self.admin, "bound the role's connections", format!("ALTER ROLE {} CONNECTION LIMIT {limit}", ident(role))).await?;
            writes += 1;
        }
        if !can_login {
            self.exec(&self.admin, "re-enable the role", format!("ALTER ROLE {} LOGIN", ident(role))).await?;
            writes += 1;
        }
        Ok(RoleState { created: false, writes })
    }

    async fn ensure_database(&self, names: &TenantNames) -> Result<u32, ProvisionError> {
        let db = &names.database;
        let mut writes = 0;
        let owner: Option<String> = sqlx::query_scalar("SELECT pg_get_userbyid(datdba)::text FROM pg_database WHERE datname = $1")
            .bind(db)
            .fetch_optional(&self.admin)
            .await
            .map_err(|e| classify("read the database", e))?;
        match owner {
            None => {
                self.exec(
                    &self.admin,
                    "create the database",
                    format!("CREATE DATABASE {} OWNER {} ENCODING 'UTF8'", ident(db), ident(&names.role)),
                )
                .await?;
                writes += 1;
            }
            Some(o) if o != names.role => {
                return Err(ProvisionError::Conflict {
                    system: System::Postgres,
                    message: format!(
                        "a database named {db} exists, owned by {o}, not by the space's role: the operator never takes a database \
                         it did not create; nothing was changed"
                    ),
                });
            }
            Some(_) => {}
        }
        if self.public_can_connect(db).await? {
            self.exec(&self.admin, "revoke PUBLIC access", format!("REVOKE CONNECT, TEMPORARY ON DATABASE {} FROM PUBLIC", ident(db)))
                .await?;
            writes += 1;
        }
        Ok(writes)
    }

    async fn ensure_schema(&self, names: &TenantNames) -> Result<u32, ProvisionError> {
        let shared_db = &self.target.shared_database;
        let mut writes = self.ensure_shared_database().await?;
        let Some(shared) = &self.shared else {
            return Ok(writes);
        };
        let role = &names.role;
        let can_connect: bool = sqlx::query_scalar("SELECT has_database_privilege($1, $2, 'CONNECT')")
            .bind(role)
            .bind(shared_db)
            .fetch_one(&self.admin)
            .await
            .map_err(|e| classify("read the shared database privileges", e))?;
        if !can_connect {
            let sql = shared_acl(shared_db, &format!("GRANT CONNECT ON DATABASE {} TO {}", ident(shared_db), ident(role)));
            self.exec(&self.admin, "grant CONNECT", sql).await?;
            writes += 1;
        }
        let public_create: bool = sqlx::query_scalar("SELECT has_schema_privilege('public', 'public', 'CREATE')")
            .fetch_one(shared)
            .await
            .map_err(|e| classify("read the public schema privileges", e))?;
        if public_create {
            self.exec(shared, "lock the public schema", "REVOKE ALL ON SCHEMA public FROM PUBLIC".to_string()).await?;
            writes += 1;
        }
        let owner: Option<String> = sqlx::query_scalar("SELECT pg_get_userbyid(nspowner)::text FROM pg_namespace WHERE nspname = $1")
            .bind(role)
            .fetch_optional(shared)
            .await
            .map_err(|e| classify("read the schema", e))?;
        match owner {
            None => {
                self.exec(shared, "create the schema", format!("CREATE SCHEMA {} AUTHORIZATION {}", ident(role), ident(role))).await?;
                writes += 1;
            }
            Some(o) if &o != role => {
                return Err(ProvisionError::Conflict {
                    system: System::Postgres,
                    message: format!(
                        "a schema named {role} exists in {shared_db}, owned by {o}, not by the space's role: \
                         the operator never takes a schema it did not create; nothing was changed"
                    ),
                });
            }
            Some(_) => {}
        }
        let expected = format!("search_path={role}");
        let settings: Option<Vec<String>> = sqlx::query_scalar(
            "SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole JOIN pg_database d ON d.oid = s.setdatabase \
             WHERE r.rolname = $1 AND d.datname = $2",
        )
        .bind(role)
        .bind(shared_db)
        .fetch_optional(&self.admin)
        .await
        .map_err(|e| classify("read the role's search_path", e))?;
        if !settings.unwrap_or_default().contains(&expected) {
            self.exec(
                &self.admin,
                "set the search_path",
                format!("ALTER ROLE {} IN DATABASE {} SET search_path = {}", ident(role), ident(shared_db), ident(role)),
            )
            .await?;
            writes += 1;
        }
        Ok(writes)
    }

    /// The database the schemas share: created once (two spaces may race for it, here or in two
    /// operators: the loser finds it made), never a space's own, and closed to PUBLIC.
    async fn ensure_shared_database(&self) -> Result<u32, ProvisionError> {
        let shared_db = &self.target.shared_database;
        let _one = self.shared_creation.lock().await;
        let mut writes = 0;
        let owner_marker: Option<Option<String>> =
            sqlx::query_scalar("SELECT shobj_description(datdba, 'pg_authid') FROM pg_database WHERE datname = $1")
                .bind(shared_db)
                .fetch_optional(&self.admin)
                .await
                .map_err(|e| classify("read the shared database", e))?;
        match owner_marker {
            None => {
                let created = self
                    .exec(&self.admin, "create the shared database", format!("CREATE DATABASE {} ENCODING 'UTF8'", ident(shared_db)))
                    .await;
                match created {
                    Ok(()) => writes += 1,
                    // 42P04 duplicate_database; 23505 when both CREATE DATABASE passed the check
                    // and one lost on pg_database's unique index.
                    Err(ProvisionError::Failed { .. }) if self.database_exists(shared_db).await? => {}
                    Err(e) => return Err(e),
                }
            }
            Some(Some(marker)) if marker == ROLE_MARKER => {
                return Err(ProvisionError::Conflict {
                    system: System::Postgres,
                    message: format!(
                        "the shared database {shared_db} belongs to a space's role: a pool never puts schemas in a space's database"
                    ),
                });
            }
            Some(_) => {}
        }
        if self.public_can_connect(shared_db).await? {
            let sql = shared_acl(shared_db, &format!("REVOKE ALL ON DATABASE {} FROM PUBLIC", ident(shared_db)));
            self.exec(&self.admin, "revoke PUBLIC access", sql).await?;
            writes += 1;
        }
        Ok(writes)
    }

    async fn database_exists(&self, db: &str) -> Result<bool, ProvisionError> {
        let found: Option<i32> = sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(db)
            .fetch_optional(&self.admin)
            .await
            .map_err(|e| classify("read the database", e))?;
        Ok(found.is_some())
    }

    /// Whether PUBLIC (every role, tenants included) may connect to or make temporary tables in `db`.
    async fn public_can_connect(&self, db: &str) -> Result<bool, ProvisionError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_database d, aclexplode(coalesce(d.datacl, acldefault('d', d.datdba))) a \
             WHERE d.datname = $1 AND a.grantee = 0 AND a.privilege_type IN ('CONNECT', 'TEMPORARY')",
        )
        .bind(db)
        .fetch_one(&self.admin)
        .await
        .map_err(|e| classify("read the database privileges", e))?;
        Ok(n > 0)
    }

    /// Whether the role exists and is the operator's (its marker): only such a role is revoked
    /// or removed, and only what it owns is dropped.
    async fn own_role(&self, role: &str) -> Result<Option<bool>, ProvisionError> {
        let row: Option<(bool, Option<String>)> =
            sqlx::query_as("SELECT rolcanlogin, shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = $1")
                .bind(role)
                .fetch_optional(&self.admin)
                .await
                .map_err(|e| classify("read the role", e))?;
        Ok(row.filter(|(_, marker)| marker.as_deref() == Some(ROLE_MARKER)).map(|(can_login, _)| can_login))
    }

    /// Retain: the role can no longer log in and its sessions end; every row is kept.
    pub async fn revoke(&self, names: &TenantNames) -> Result<Writes, ProvisionError> {
        let _permit = self.permit().await?;
        bounded(System::Postgres, OPERATION_BOUND, self.revoke_now(names)).await
    }

    async fn revoke_now(&self, names: &TenantNames) -> Result<Writes, ProvisionError> {
        let role = &names.role;
        let mut writes = Writes::default();
        let Some(can_login) = self.own_role(role).await? else {
            return Ok(writes);
        };
        if can_login {
            self.exec(&self.admin, "disable the role", format!("ALTER ROLE {} NOLOGIN", ident(role))).await?;
            writes.add(1);
        }
        writes.add(self.terminate_sessions(role).await?);
        Ok(writes)
    }

    async fn terminate_sessions(&self, role: &str) -> Result<u32, ProvisionError> {
        let killed: i64 = sqlx::query_scalar("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = $1")
            .bind(role)
            .fetch_one(&self.admin)
            .await
            .map_err(|e| classify("end the role's sessions", e))?;
        Ok(u32::from(killed > 0))
    }

    /// Delete: the database or schema and the role go, even with sessions still open. A role
    /// without the operator's marker, or a database or schema the role does not own, is someone
    /// else's and stays (a space refused with a Conflict can be deleted without touching them).
    pub async fn remove(&self, names: &TenantNames) -> Result<Writes, ProvisionError> {
        let _permit = self.permit().await?;
        // Dropping a large database takes longer than a check.
        bounded(System::Postgres, 4 * OPERATION_BOUND, self.remove_now(names)).await
    }

    async fn remove_now(&self, names: &TenantNames) -> Result<Writes, ProvisionError> {
        let role = &names.role;
        let mut writes = Writes::default();
        if self.own_role(role).await?.is_none() {
            return Ok(writes);
        }
        // No new session may start while the data is dropped.
        self.exec(&self.admin, "disable the role", format!("ALTER ROLE {} NOLOGIN", ident(role))).await?;
        writes.add(1);
        writes.add(self.terminate_sessions(role).await?);
        match (self.target.isolation, &self.shared) {
            (DatabaseIsolation::Database, _) => {
                let owned: Option<i32> =
                    sqlx::query_scalar("SELECT 1 FROM pg_database WHERE datname = $1 AND pg_get_userbyid(datdba)::text = $1")
                        .bind(role)
                        .fetch_optional(&self.admin)
                        .await
                        .map_err(|e| classify("read the database", e))?;
                if owned.is_some() {
                    // Its owner may have made it a template (`ALTER DATABASE … IS_TEMPLATE true`),
                    // which DROP refuses ("cannot drop a template database"): the space would stay
                    // Deleting for good (hostile pass 2).
                    // Two statements: DROP DATABASE runs in no transaction, and a query of
                    // several statements is one.
                    self.exec(&self.admin, "drop the database", format!("ALTER DATABASE {} IS_TEMPLATE false", ident(role))).await?;
                    self.exec(&self.admin, "drop the database", format!("DROP DATABASE {} WITH (FORCE)", ident(role))).await?;
                    writes.add(2);
                }
            }
            (DatabaseIsolation::Schema, Some(shared)) => {
                let owned: Option<i32> =
                    sqlx::query_scalar("SELECT 1 FROM pg_namespace WHERE nspname = $1 AND pg_get_userbyid(nspowner)::text = $1")
                        .bind(role)
                        .fetch_optional(shared)
                        .await
                        .map_err(|e| classify("read the schema", e))?;
                if owned.is_some() {
                    self.exec(shared, "drop the schema", format!("DROP SCHEMA {} CASCADE", ident(role))).await?;
                    writes.add(1);
                }
                self.exec(shared, "drop what the role owns", format!("DROP OWNED BY {}", ident(role))).await?;
                // Privileges granted on the shared database are dependencies of the role.
                let sql = shared_acl(
                    &self.target.shared_database,
                    &format!("REVOKE ALL ON DATABASE {} FROM {}", ident(&self.target.shared_database), ident(role)),
                );
                self.exec(&self.admin, "revoke the shared database", sql).await?;
                writes.add(1);
            }
            (DatabaseIsolation::Schema, None) => {}
        }
        self.exec(&self.admin, "drop the role", format!("DROP ROLE IF EXISTS {}", ident(role))).await?;
        writes.add(1);
        Ok(writes)
    }
}

/// A change of the shared database's privileges, serialised across sessions and operators:
/// two GRANTs on one database at once fail with "tuple concurrently updated" (they update the
/// same `pg_database` row). One simple query is one transaction, so the lock lasts until it ends.
fn shared_acl(database: &str, statement: &str) -> String {
    format!("SELECT pg_advisory_xact_lock(hashtext({})); {statement}", literal(&format!("framaspace-operator acl {database}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(ident("space_a"), "\"space_a\"");
        assert_eq!(ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(literal("it's"), "'it''s'");
    }
}
