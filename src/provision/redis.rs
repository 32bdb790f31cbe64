//! Redis: one ACL user per space, limited to the keys and channels under its prefix and without
//! admin or dangerous commands. Nextcloud uses the same prefix as `memcache_customprefix`.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use redis::aio::MultiplexedConnection;
use redis::{AsyncCommands, Value};
use tokio::sync::Semaphore;

use super::{ProvisionError, System, TenantNames, Writes};

/// Command rules of every space user. KEYS, SCAN and RANDOMKEY would list other spaces' key
/// names (key patterns do not filter them), so they are denied with the admin and dangerous sets.
pub const COMMAND_RULES: &[&str] = &["+@all", "-@admin", "-@dangerous", "-scan", "-randomkey"];

#[derive(Clone, Debug)]
pub struct RedisTarget {
    pub host: String,
    pub port: u16,
    pub tls: bool,
    pub username: String,
    pub password: String,
    pub max_concurrent: usize,
}

pub struct RedisAdmin {
    connection: MultiplexedConnection,
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
    })
}

impl RedisAdmin {
    pub async fn connect(target: &RedisTarget) -> Result<Self, ProvisionError> {
        let client = redis::Client::open(url(&target.host, target.port, target.tls, &target.username, &target.password))
            .map_err(|e| classify("open a connection", e))?;
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(5)))
            .set_response_timeout(Some(Duration::from_secs(10)));
        let connection = client.get_multiplexed_async_connection_with_config(&config).await.map_err(|e| classify("connect", e))?;
        Ok(RedisAdmin {
            connection,
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

    pub async fn server_version(&self) -> Result<String, ProvisionError> {
        let info: String = self.cmd("check health", redis::cmd("INFO").arg("server")).await?;
        Ok(info.lines().find_map(|l| l.strip_prefix("redis_version:")).unwrap_or("unknown").trim().to_string())
    }

    pub async fn get_user(&self, user: &str) -> Result<Option<AclUser>, ProvisionError> {
        let v: Value = self.cmd("read the user", redis::cmd("ACL").arg("GETUSER").arg(user)).await?;
        Ok(parse_acl_user(&v))
    }

    fn setuser(user: &str, names: &TenantNames, password: &str) -> redis::Cmd {
        let mut c = redis::cmd("ACL");
        c.arg("SETUSER").arg(user).arg("reset").arg("on").arg(format!(">{password}"));
        c.arg(format!("~{}*", names.redis_prefix)).arg(format!("&{}*", names.redis_prefix));
        for rule in COMMAND_RULES {
            c.arg(*rule);
        }
        c
    }

    fn is_current(&self, u: &AclUser, names: &TenantNames, password: &str) -> bool {
        u.flags.iter().any(|f| f == "on")
            && !u.flags.iter().any(|f| f == "nopass")
            && u.passwords == [sha256_hex(password.as_bytes())]
            && u.keys == format!("~{}*", names.redis_prefix)
            && u.channels == format!("&{}*", names.redis_prefix)
            && self.canonical_commands.get().is_some_and(|c| *c == u.commands)
    }

    /// The space's user, enabled, with its password and only its prefix.
    pub async fn ensure(&self, names: &TenantNames, password: &str) -> Result<Writes, ProvisionError> {
        let user = &names.redis_user;
        if let Some(u) = self.get_user(user).await?
            && self.is_current(&u, names, password)
        {
            return Ok(Writes(0));
        }
        // The rules are built from the password: the error never echoes the command.
        let _: () = self.write("set the user", &Self::setuser(user, names, password)).await.map_err(|e| match e {
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
        Ok(Writes(1))
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

    /// Delete: the user and every key under its prefix.
    pub async fn delete(&self, names: &TenantNames) -> Result<Writes, ProvisionError> {
        let user = &names.redis_user;
        let mut writes = Writes::default();
        if self.get_user(user).await?.is_some() {
            let _: i64 = self.write("delete the user", redis::cmd("ACL").arg("DELUSER").arg(user)).await?;
            let _: i64 =
                self.write("close the user's connections", redis::cmd("CLIENT").arg("KILL").arg("USER").arg(user)).await.unwrap_or(0);
            writes.add(1);
        }
        let pattern = format!("{}*", names.redis_prefix);
        let mut cursor: u64 = 0;
        loop {
            let (next, keys): (u64, Vec<String>) =
                self.cmd("list the keys", redis::cmd("SCAN").arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000)).await?;
            if !keys.is_empty() {
                System::Redis.allow_write(&self.gate)?;
                let mut con = self.connection.clone();
                let _: i64 = con.unlink(&keys).await.map_err(|e| classify("delete the keys", e))?;
                writes.add(1);
            }
            if next == 0 {
                break;
            }
            cursor = next;
        }
        Ok(writes)
    }
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
    fn url_encodes_credentials() {
        assert_eq!(url("h", 1, false, "a@b", "p:w/"), "redis://a%40b:p%3Aw%2F@h:1");
        assert!(url("h", 1, true, "u", "p").starts_with("rediss://"));
    }
}
