//! Redis (Valkey): one logical database and one ACL user per space. The user is pinned to its
//! database (`db=<n>`, Valkey 9.1's database permissions) and, inside it, to its key prefix
//! (Nextcloud's `memcache_customprefix`) and its channels.
//!
//! Why a database per space: Nextcloud clears parts of its cache with `KEYS <prefix>*` then `DEL`
//! (`lib/private/Memcache/Redis.php`, `clear()`, called on every theming change and by the
//! `ClearFrontendCaches` repair step). Key patterns do not filter what `KEYS`, `SCAN` or
//! `RANDOMKEY` return, so on a shared database allowing them would list every other space's key
//! names. In its own database a space's `KEYS` sees only its own keys; `SELECT`, `MOVE`, `COPY
//! ... DB`, `SWAPDB` and every command in database 0 are refused by the pin.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use redis::Value;
use redis::aio::MultiplexedConnection;
use tokio::sync::Semaphore;

use super::{ProvisionError, System, TenantNames, Writes};

/// Part of the Conflict message when a space's cache database is another user's.
pub const DATABASE_HELD: &str = "is pinned to another user already";

/// Command rules of every space user, after its database, keys and channels. Besides admin and
/// dangerous commands, what reaches past the space's own database is refused: client tracking
/// (invalidations are pushed by key name from every database), pub/sub introspection (channels
/// are server-wide), function and script management (server-wide libraries and cache) and memory
/// statistics. `KEYS` and `SCAN` come back: in the space's own database they list only its keys.
/// `SCRIPT` goes whole: a script `SCRIPT LOAD`ed is never evicted, so one tenant could fill the
/// server's memory with them beyond `maxmemory` (hostile pass 2, F6), and `SCRIPT EXISTS` tells
/// which scripts other tenants ran. Nextcloud needs none of it: `OC\Memcache\Redis::evalLua`
/// runs `EVALSHA` and falls back to `EVAL`, whose scripts Valkey 8+ evicts (at most 500, LRU).
/// On a cluster, `CLUSTER GETKEYSINSLOT` and `COUNTKEYSINSLOT` go too: neither Nextcloud nor
/// phpredis sends them (phpredis maps slots with `CLUSTER SLOTS`, which stays).
pub const COMMAND_RULES: &[&str] = &[
    "+@all",
    "-@admin",
    "-@dangerous",
    "+keys",
    "+scan",
    "-client|tracking",
    "-client|trackinginfo",
    "-client|caching",
    "-pubsub",
    "-function",
    "-script",
    "-memory",
    "-cluster|getkeysinslot",
    "-cluster|countkeysinslot",
];

/// The first Valkey release whose ACL pins a user to databases (`db=`, `alldbs`, `resetdbs`).
pub const FIRST_PINNING_VALKEY: (u32, u32) = (9, 1);

/// What a CachePool's server is: its version and how many logical databases it has (database 0
/// stays with the admin; every other one can hold a space).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerInfo {
    pub version: String,
    pub databases: u32,
    /// INFO's `run_id`: the same on every address of one server process, new at each restart.
    pub run_id: String,
}

#[derive(Clone, Debug)]
pub struct RedisTarget {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub username: String,
    pub password: String,
    pub max_concurrent: usize,
    /// The pool's private CA (PEM), trusted over TLS instead of the system's roots.
    pub ca: Option<String>,
}

pub struct RedisAdmin {
    connection: MultiplexedConnection,
    /// The admin URL, for connections to one database; it holds the password, so it is never shown.
    url: String,
    /// The admin user's name (its rights are checked at each pool check).
    username: String,
    ca: Option<String>,
    limit: Semaphore,
    /// How this server prints COMMAND_RULES back (`ACL GETUSER` normalises them), learnt once.
    canonical_commands: OnceLock<String>,
    gate: crate::gate::WriteGate,
}

fn classify(operation: &'static str, e: redis::RedisError) -> ProvisionError {
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
        ProvisionError::Unreachable { system: System::Redis, message: e.to_string() }
    } else if matches!(e.code(), Some("WRONGPASS") | Some("NOAUTH") | Some("NOPERM")) {
        ProvisionError::Unauthorized { system: System::Redis, message: e.code().unwrap_or("refused").to_string() }
    } else {
        ProvisionError::Failed { system: System::Redis, operation, message: e.to_string() }
    }
}

pub fn url(host: &str, port: u16, tls: bool, username: &str, password: &str) -> String {
    let enc = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    format!("{}://{}:{}@{host}:{port}", if tls { "rediss" } else { "redis" }, enc(username), enc(password))
}

/// The fields of `ACL GETUSER` that say what a user may do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct AclUser {
    pub flags: Vec<String>,
    pub passwords: Vec<String>,
    pub commands: String,
    pub keys: String,
    pub channels: String,
    /// `db=<n>` for a pinned user (empty on a server without database permissions).
    pub databases: String,
}

fn text(v: &Value) -> String {
    match v {
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        Value::SimpleString(s) => s.clone(),
        Value::VerbatimString { text, .. } => text.clone(),
        _ => String::new(),
    }
}

fn texts(v: &Value) -> Vec<String> {
    match v {
        Value::Array(items) | Value::Set(items) => items.iter().map(text).collect(),
        other => vec![text(other)],
    }
}

pub fn parse_acl_user(v: &Value) -> Option<AclUser> {
    let pairs: Vec<(String, &Value)> = match v {
        Value::Nil => return None,
        Value::Array(items) => items.chunks(2).filter(|c| c.len() == 2).map(|c| (text(&c[0]), &c[1])).collect(),
        Value::Map(items) => items.iter().map(|(k, v)| (text(k), v)).collect(),
        _ => return None,
    };
    let fields: HashMap<String, &Value> = pairs.into_iter().collect();
    Some(AclUser {
        flags: fields.get("flags").map(|v| texts(v)).unwrap_or_default(),
        passwords: fields.get("passwords").map(|v| texts(v)).unwrap_or_default(),
        commands: fields.get("commands").map(|v| text(v)).unwrap_or_default(),
        keys: fields.get("keys").map(|v| text(v)).unwrap_or_default(),
        channels: fields.get("channels").map(|v| text(v)).unwrap_or_default(),
        databases: fields.get("databases").map(|v| text(v)).unwrap_or_default(),
    })
}

/// A client of `url`; over TLS (`rediss://`), trusting `ca` when the pool names one, else the
/// system's roots (redis-rs `tls-rustls`).
fn client(url: &str, ca: Option<&str>) -> Result<redis::Client, ProvisionError> {
    match ca {
        Some(ca) if url.starts_with("rediss://") => {
            let certificates = redis::TlsCertificates { client_tls: None, root_cert: Some(ca.as_bytes().to_vec()) };
            redis::Client::build_with_tls(url, certificates)
        }
        _ => redis::Client::open(url),
    }
    .map_err(|e| classify("open a connection", e))
}

impl RedisAdmin {
    pub async fn connect(target: &RedisTarget) -> Result<Self, ProvisionError> {
        let admin_url = url(&target.host, target.port, target.tls, &target.username, &target.password);
        let client = client(&admin_url, target.ca.as_deref())?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(10)));
        let connection = client.get_multiplexed_async_connection_with_config(&config).await.map_err(|e| classify("connect", e))?;
        Ok(RedisAdmin {
            connection,
            url: admin_url,
            username: target.username.clone(),
            ca: target.ca.clone(),
            limit: Semaphore::new(target.max_concurrent.max(1)),
            canonical_commands: OnceLock::new(),
            gate: crate::gate::WriteGate::always_open(),
        })
    }

    /// Every command that changes the server asks this gate first (see `crate::gate`).
    pub fn with_gate(mut self, gate: crate::gate::WriteGate) -> Self {
        self.gate = gate;
        self
    }

    /// A command that changes the server: the write gate is asked first.
    async fn write<T: redis::FromRedisValue>(&self, operation: &'static str, c: &redis::Cmd) -> Result<T, ProvisionError> {
        System::Redis.allow_write(&self.gate)?;
        self.cmd(operation, c).await
    }

    async fn cmd<T: redis::FromRedisValue>(&self, operation: &'static str, c: &redis::Cmd) -> Result<T, ProvisionError> {
        let _permit = self.limit.acquire().await.map_err(|_| ProvisionError::Failed {
            system: System::Redis,
            operation,
            message: "shutting down".into(),
        })?;
        let mut con = self.connection.clone();
        c.query_async(&mut con).await.map_err(|e| classify(operation, e))
    }

    /// Why the admin user could not provision a space here, if it could not: it must create ACL
    /// users (`ACL DRYRUN <admin> ACL SETUSER …` answers `OK`; a user without the right to run
    /// DRYRUN itself cannot either). Hostile pass 2, F8.
    pub async fn cannot_provision(&self) -> Result<Option<String>, ProvisionError> {
        let probe = redis::cmd("ACL").arg("DRYRUN").arg(&self.username).arg("ACL").arg("SETUSER").arg("framaspace-provision-probe").clone();
        let answer = super::bounded(System::Redis, super::OPERATION_BOUND, self.cmd::<String>("check the admin's rights", &probe)).await;
        Ok(match answer {
            Ok(ok) if ok == "OK" => None,
            Ok(_) | Err(ProvisionError::Unauthorized { .. }) => {
                Some(format!("the admin user {} may not create ACL users (ACL SETUSER)", self.username))
            }
            Err(e) => return Err(e),
        })
    }

    /// The server's version and databases, refused unless its ACL can pin a user to a database.
    pub async fn server_info(&self) -> Result<ServerInfo, ProvisionError> {
        super::bounded(System::Redis, super::OPERATION_BOUND, self.server_info_now()).await
    }

    async fn server_info_now(&self) -> Result<ServerInfo, ProvisionError> {
        let info: String = self.cmd("check health", redis::cmd("INFO").arg("server")).await?;
        let field = |name: &str| info.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string());
        let Some(valkey) = field("valkey_version:") else {
            let redis = field("redis_version:").unwrap_or_else(|| "unknown".into());
            return Err(ProvisionError::Unsupported {
                system: System::Redis,
                message: format!(
                    "Redis {redis} cannot pin an ACL user to a database; a CachePool needs Valkey {}.{} or later",
                    FIRST_PINNING_VALKEY.0, FIRST_PINNING_VALKEY.1
                ),
            });
        };
        if !pins_databases(&valkey) {
            return Err(ProvisionError::Unsupported {
                system: System::Redis,
                message: format!(
                    "Valkey {valkey} cannot pin an ACL user to a database; a CachePool needs Valkey {}.{} or later",
                    FIRST_PINNING_VALKEY.0, FIRST_PINNING_VALKEY.1
                ),
            });
        }
        let (_, databases): (String, u32) =
            self.cmd("read the number of databases", redis::cmd("CONFIG").arg("GET").arg("databases")).await?;
        Ok(ServerInfo { version: format!("Valkey {valkey}"), databases, run_id: field("run_id:").unwrap_or_default() })
    }

    /// The server's memory bound for all its spaces: `maxmemory` and `maxmemory-policy` set when
    /// they differ (both are runtime settings, `CONFIG SET` takes them at once: Valkey
    /// `src/config.c`). Returns the writes made.
    pub async fn ensure_memory(&self, max_bytes: u64, policy: &str) -> Result<u32, ProvisionError> {
        super::bounded(System::Redis, super::OPERATION_BOUND, async {
            let mut writes = 0;
            let (_, current): (String, u64) = self.cmd("read maxmemory", redis::cmd("CONFIG").arg("GET").arg("maxmemory")).await?;
            if current != max_bytes {
                let _: () = self.write("set maxmemory", redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg(max_bytes)).await?;
                writes += 1;
            }
            let (_, current): (String, String) =
                self.cmd("read maxmemory-policy", redis::cmd("CONFIG").arg("GET").arg("maxmemory-policy")).await?;
            if current != policy {
                let _: () = self.write("set maxmemory-policy", redis::cmd("CONFIG").arg("SET").arg("maxmemory-policy").arg(policy)).await?;
                writes += 1;
            }
            Ok(writes)
        })
        .await
    }

    /// Every ACL user of the server (`ACL USERS`): they live in its memory only, so a restart, an
    /// `ACL LOAD` or a failover to a replica loses the spaces' users.
    pub async fn users(&self) -> Result<std::collections::HashSet<String>, ProvisionError> {
        let users: Vec<String> = self.cmd("list the users", redis::cmd("ACL").arg("USERS")).await?;
        Ok(users.into_iter().collect())
    }

    pub async fn get_user(&self, user: &str) -> Result<Option<AclUser>, ProvisionError> {
        let v: Value = self.cmd("read the user", redis::cmd("ACL").arg("GETUSER").arg(user)).await?;
        Ok(parse_acl_user(&v))
    }

    /// `database`: the one logical database the user may use, on a server whose ACL pins users to
    /// databases; `None` leaves the prefix alone to isolate it (a server without database
    /// permissions).
    fn setuser(user: &str, names: &TenantNames, password: &str, database: Option<u32>) -> redis::Cmd {
        let mut c = redis::cmd("ACL");
        c.arg("SETUSER").arg(user).arg("reset").arg("on").arg(format!(">{password}"));
        if let Some(database) = database {
            c.arg("resetdbs").arg(format!("db={database}"));
        }
        c.arg(format!("~{}*", names.redis_prefix)).arg(format!("&{}*", names.redis_prefix));
        for rule in COMMAND_RULES {
            c.arg(*rule);
        }
        c
    }

    fn is_current(&self, u: &AclUser, names: &TenantNames, password: &str, database: Option<u32>) -> bool {
        u.flags.iter().any(|f| f == "on")
            && !u.flags.iter().any(|f| f == "nopass")
            && u.passwords == [sha256_hex(password.as_bytes())]
            && u.keys == format!("~{}*", names.redis_prefix)
            && u.channels == format!("&{}*", names.redis_prefix)
            && database.is_none_or(|d| u.databases == format!("db={d}"))
            && self.canonical_commands.get().is_some_and(|c| *c == u.commands)
    }

    /// How this server prints the space users' command rules, once a user was set here.
    pub fn canonical_commands(&self) -> Option<&str> {
        self.canonical_commands.get().map(String::as_str)
    }

    /// A connection to one logical database, for the few admin commands that act on a database
    /// (`DBSIZE`, `FLUSHDB`): `SELECT` on the shared connection would move every other caller.
    async fn database(&self, database: u32) -> Result<MultiplexedConnection, ProvisionError> {
        let client = client(&format!("{}/{database}", self.url), self.ca.as_deref())?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(30)));
        client.get_multiplexed_async_connection_with_config(&config).await.map_err(|e| classify("connect", e))
    }

    /// Empties a database that holds keys; the number of writes (0 or 1).
    async fn empty(&self, database: u32) -> Result<u32, ProvisionError> {
        let mut con = self.database(database).await?;
        let size: i64 = redis::cmd("DBSIZE").query_async(&mut con).await.map_err(|e| classify("count the keys", e))?;
        if size == 0 {
            return Ok(0);
        }
        System::Redis.allow_write(&self.gate)?;
        let _: () = redis::cmd("FLUSHDB").query_async(&mut con).await.map_err(|e| classify("empty the database", e))?;
        Ok(1)
    }

    /// Empties a space's own database (one per space, its user pinned to it): after its
    /// Nextcloud moved to another version or back, nothing cached by the other version, nor a
    /// file lock left by a killed process, is served to the one that now runs. The number of
    /// writes (0 when it was empty).
    pub async fn flush_space(&self, database: u32) -> Result<u32, ProvisionError> {
        super::bounded(System::Redis, super::OPERATION_BOUND, self.empty(database)).await
    }

    /// The users other than `user` that are pinned to `database` (from `ACL LIST`).
    async fn holders(&self, database: u32, user: &str) -> Result<Vec<String>, ProvisionError> {
        let lines: Vec<String> = self.cmd("list the users", redis::cmd("ACL").arg("LIST")).await?;
        Ok(database_holders(&lines, database, user))
    }

    /// The space's user, enabled, with its password, pinned to its database and prefix. A new
    /// user is only given a database no other user holds, and that database is emptied first
    /// (what is there belonged to a space deleted earlier).
    pub async fn ensure(&self, names: &TenantNames, password: &str, database: u32) -> Result<Writes, ProvisionError> {
        super::bounded(System::Redis, super::OPERATION_BOUND, self.ensure_now(names, password, database)).await
    }

    async fn ensure_now(&self, names: &TenantNames, password: &str, database: u32) -> Result<Writes, ProvisionError> {
        if database == 0 {
            // Database 0 is the admin's on a single server (a cluster's one database is shared
            // through `redis_cluster`): a placement naming it would have it emptied.
            return Err(ProvisionError::Conflict {
                system: System::Redis,
                message: "database 0 is never a space's on a single server: the placement is refused".into(),
            });
        }
        let user = &names.redis_user;
        let existing = self.get_user(user).await?;
        if let Some(u) = &existing
            && self.is_current(u, names, password, Some(database))
        {
            return Ok(Writes(0));
        }
        let mut writes = Writes::default();
        let moving = existing.as_ref().is_none_or(|u| u.databases != format!("db={database}"));
        if moving {
            let holders = self.holders(database, user).await?;
            if !holders.is_empty() {
                return Err(ProvisionError::Conflict {
                    system: System::Redis,
                    message: format!("database {database} {DATABASE_HELD} ({})", holders.join(", ")),
                });
            }
            writes.add(self.empty(database).await?);
        }
        self.set_user(names, password, Some(database)).await?;
        writes.add(1);
        Ok(writes)
    }

    /// The space's user as `setuser` builds it; the server's form of its command rules learnt.
    async fn set_user(&self, names: &TenantNames, password: &str, database: Option<u32>) -> Result<(), ProvisionError> {
        let user = &names.redis_user;
        // The rules are built from the password: the error never echoes the command.
        let _: () = self.write("set the user", &Self::setuser(user, names, password, database)).await.map_err(|e| match e {
            ProvisionError::Failed { system, operation, .. } => {
                ProvisionError::Failed { system, operation, message: "ACL SETUSER failed".into() }
            }
            other => other,
        })?;
        if self.canonical_commands.get().is_none()
            && let Some(u) = self.get_user(user).await?
        {
            let _ = self.canonical_commands.set(u.commands);
        }
        Ok(())
    }

    /// One node of a cluster: the space's user with its rules, no database of its own (every
    /// space shares the cluster's database 0, `database` pins it there where the server can).
    /// Whether it was written.
    pub async fn ensure_node_user(&self, names: &TenantNames, password: &str, database: Option<u32>) -> Result<bool, ProvisionError> {
        if let Some(u) = self.get_user(&names.redis_user).await?
            && self.is_current(&u, names, password, database)
        {
            return Ok(false);
        }
        self.set_user(names, password, database).await?;
        Ok(true)
    }

    /// Every user as `ACL LIST` prints it (the aclfile's form).
    pub async fn acl_list(&self) -> Result<Vec<String>, ProvisionError> {
        self.cmd("list the users", redis::cmd("ACL").arg("LIST")).await
    }

    /// A user set from the rules another node prints for it (`ACL LIST`, after the name): its
    /// password goes as the hash (`#…`), never in clear.
    pub async fn copy_user(&self, user: &str, rules: &[String]) -> Result<(), ProvisionError> {
        let mut c = redis::cmd("ACL");
        c.arg("SETUSER").arg(user).arg("reset");
        for r in rules {
            c.arg(r);
        }
        let _: () = self.write("give a user back", &c).await?;
        Ok(())
    }

    /// `ACL SAVE`: the users written to the node's aclfile, so they survive its restart. `false`
    /// when the node has no aclfile (Valkey answers an error saying it is not configured with
    /// one: `src/acl.c`, `aclCommand`), its users living in memory only.
    pub async fn save_users(&self) -> Result<bool, ProvisionError> {
        match self.write::<()>("save the users", &redis::cmd("ACL").arg("SAVE").clone()).await {
            Ok(()) => Ok(true),
            Err(ProvisionError::Failed { message, .. }) if message.contains("not configured to use an ACL file") => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Whether the server has an aclfile (`CONFIG GET aclfile` is not empty): `ACL SAVE` writes
    /// there, else its users live in memory only.
    pub async fn has_aclfile(&self) -> Result<bool, ProvisionError> {
        let (_, path): (String, String) = self.cmd("read the aclfile", redis::cmd("CONFIG").arg("GET").arg("aclfile")).await?;
        Ok(!path.is_empty())
    }

    /// The node's view of the cluster (`CLUSTER NODES`).
    pub async fn cluster_nodes(&self) -> Result<String, ProvisionError> {
        self.cmd("read the cluster's nodes", &redis::cmd("CLUSTER").arg("NODES").clone()).await
    }

    /// `cluster_state` of `CLUSTER INFO`: `ok` while every slot is served.
    pub async fn cluster_state(&self) -> Result<String, ProvisionError> {
        let info: String = self.cmd("read the cluster's state", &redis::cmd("CLUSTER").arg("INFO").clone()).await?;
        Ok(info.lines().find_map(|l| l.strip_prefix("cluster_state:")).unwrap_or("unknown").trim().to_string())
    }

    /// The server's product and version (`Valkey 9.1.2`, `Redis 7.2.4`), its run_id, and
    /// whether its ACL pins users to databases; no requirement made (a cluster's nodes).
    pub async fn version(&self) -> Result<(String, bool, String), ProvisionError> {
        let info: String = self.cmd("check health", redis::cmd("INFO").arg("server")).await?;
        let field = |name: &str| info.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string());
        let run_id = field("run_id:").unwrap_or_default();
        Ok(match field("valkey_version:") {
            Some(v) => (format!("Valkey {v}"), pins_databases(&v), run_id),
            None => (format!("Redis {}", field("redis_version:").unwrap_or_else(|| "unknown".into())), false, run_id),
        })
    }

    /// Every key under `prefix` in the connection's database unlinked (SCAN, never KEYS: the
    /// server keeps serving between batches). The number of batches unlinked. A cluster node's
    /// keys are unlinked one by one (in one pipeline): a command over keys of several slots is
    /// refused with CROSSSLOT.
    pub async fn unlink_prefix(&self, prefix: &str) -> Result<u32, ProvisionError> {
        let pattern = format!("{prefix}*");
        let mut cursor: u64 = 0;
        let mut writes = 0;
        loop {
            let (next, keys): (u64, Vec<String>) =
                self.cmd("list the keys", redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000)).await?;
            if !keys.is_empty() {
                System::Redis.allow_write(&self.gate)?;
                let mut con = self.connection.clone();
                let mut pipe = redis::pipe();
                for key in &keys {
                    pipe.cmd("UNLINK").arg(key).ignore();
                }
                let _: () = pipe.query_async(&mut con).await.map_err(|e| classify("delete the keys", e))?;
                writes += 1;
            }
            if next == 0 {
                return Ok(writes);
            }
            cursor = next;
        }
    }

    /// Retain: the user is switched off and its connections closed; keys stay.
    pub async fn revoke(&self, names: &TenantNames) -> Result<Writes, ProvisionError> {
        let user = &names.redis_user;
        let Some(u) = self.get_user(user).await? else {
            return Ok(Writes(0));
        };
        let mut writes = Writes::default();
        if u.flags.iter().any(|f| f == "on") {
            let _: () = self.write("disable the user", redis::cmd("ACL").arg("SETUSER").arg(user).arg("off")).await?;
            writes.add(1);
        }
        let killed: i64 =
            self.write("close the user's connections", redis::cmd("CLIENT").arg("KILL").arg("USER").arg(user)).await.unwrap_or(0);
        writes.add(u32::from(killed > 0));
        Ok(writes)
    }

    /// The space's user removed and its connections closed; 1 when it was there.
    pub async fn delete_user(&self, names: &TenantNames) -> Result<u32, ProvisionError> {
        let user = &names.redis_user;
        if self.get_user(user).await?.is_none() {
            return Ok(0);
        }
        let _: i64 = self.write("delete the user", redis::cmd("ACL").arg("DELUSER").arg(user)).await?;
        let _: i64 = self.write("close the user's connections", redis::cmd("CLIENT").arg("KILL").arg("USER").arg(user)).await.unwrap_or(0);
        Ok(1)
    }

    /// Delete: the user, every key of its database, and keys under its prefix left in database 0
    /// by operator versions that placed every space there.
    pub async fn delete(&self, names: &TenantNames, database: Option<u32>) -> Result<Writes, ProvisionError> {
        let user = &names.redis_user;
        let mut writes = Writes::default();
        writes.add(self.delete_user(names).await?);
        if let Some(database) = database.filter(|d| *d > 0) {
            if !self.holders(database, user).await?.is_empty() {
                return Err(ProvisionError::Conflict {
                    system: System::Redis,
                    message: format!("database {database} is pinned to another user: its keys are not the space's, they stay"),
                });
            }
            writes.add(self.empty(database).await?);
        }
        writes.add(self.unlink_prefix(&names.redis_prefix).await?);
        Ok(writes)
    }
}

/// Whether this Valkey version has database permissions in its ACL.
pub fn pins_databases(valkey_version: &str) -> bool {
    let mut parts = valkey_version.split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= FIRST_PINNING_VALKEY,
        _ => false,
    }
}

/// The users of an `ACL LIST` reply, other than `user`, pinned to `database` (`db=3` or
/// `db=1,3`). Users with every database (`alldbs`, the admin) are not counted: they hold none.
pub fn database_holders(acl_list: &[String], database: u32, user: &str) -> Vec<String> {
    let wanted = database.to_string();
    acl_list
        .iter()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.nth(1)?;
            let pinned = words.filter_map(|w| w.strip_prefix("db=")).any(|list| list.split(',').any(|d| d == wanted));
            (pinned && name != user).then(|| name.to_string())
        })
        .collect()
}

/// The form `ACL GETUSER` shows a password in: its SHA-256, in hexadecimal.
fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    crate::render::config::hex(&sha2::Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_getuser_reply_is_parsed() {
        let b = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let reply = Value::Array(vec![
            b("flags"),
            Value::Array(vec![b("on")]),
            b("passwords"),
            Value::Array(vec![b("abc")]),
            b("commands"),
            b("+@all -@admin"),
            b("keys"),
            b("~space-a:*"),
            b("channels"),
            b("&space-a:*"),
        ]);
        let u = parse_acl_user(&reply).expect("a user");
        assert_eq!(u.flags, vec!["on"]);
        assert_eq!(u.passwords, vec!["abc"]);
        assert_eq!(u.keys, "~space-a:*");
        assert_eq!(parse_acl_user(&Value::Nil), None);
    }

    #[test]
    fn database_holders_are_the_other_pinned_users() {
        let list: Vec<String> = [
            "user admin on #x ~* &* +@all",
            "user space-a on #y ~space-a:* resetchannels &space-a:* db=3 +@all",
            "user space-b off #z ~space-b:* resetchannels &space-b:* db=13 +@all",
            "user other on #w ~* &* db=1,3 +@all",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(database_holders(&list, 3, "space-a"), vec!["other"], "its own user and db=13 do not hold 3");
        assert_eq!(database_holders(&list, 13, "space-a"), vec!["space-b"], "a user switched off still holds its database");
        assert!(database_holders(&list, 0, "space-a").is_empty(), "the admin's every-database is no pin");
        assert!(database_holders(&list, 4, "space-a").is_empty());
    }

    #[test]
    fn only_valkey_with_database_permissions_can_host_spaces() {
        assert!(pins_databases("9.1.2"));
        assert!(pins_databases("10.0.0"));
        assert!(!pins_databases("9.0.3"));
        assert!(!pins_databases("8.1.1"));
        assert!(!pins_databases("garbage"));
    }

    #[test]
    fn the_user_is_pinned_to_its_database_and_prefix() {
        let names = TenantNames::new("a");
        let args: Vec<String> = RedisAdmin::setuser("space-a", &names, "pw", Some(7))
            .args_iter()
            .filter_map(|a| match a {
                redis::Arg::Simple(b) => Some(String::from_utf8_lossy(b).into_owned()),
                _ => None,
            })
            .collect();
        let at = |w: &str| args.iter().position(|a| a == w);
        assert_eq!(args[..5], ["ACL", "SETUSER", "space-a", "reset", "on"], "reset first: nothing of an earlier user survives");
        assert!(at("resetdbs") < at("db=7"), "every database dropped before the space's one is granted");
        assert!(at("~space-a:*").is_some() && at("&space-a:*").is_some());
        for refused in ["-client|tracking", "-pubsub", "-function", "-script", "-memory", "-@dangerous"] {
            assert!(at(refused) > at("+@all"), "{refused} after +@all, so it is not granted back");
        }
        assert!(at("+keys") > at("-@dangerous"), "KEYS is granted back after the dangerous set: Nextcloud's clear() needs it");
    }

    #[test]
    fn url_encodes_credentials() {
        assert_eq!(url("h", 1, false, "a@b", "p:w/"), "redis://a%40b:p%3Aw%2F@h:1");
        assert!(url("h", 1, true, "u", "p").starts_with("rediss://"));
    }
}
