//! A CachePool that is a Valkey/Redis Cluster: each space's ACL user on every node.
//!
//! ACL users are per node and never replicated (redis/redis#6738, valkey-io/valkey#699: by
//! design), so the operator finds every node from `CLUSTER NODES` (masters and replicas: a
//! replica promoted by a failover must already hold the users) and sets the user on each one,
//! then `ACL SAVE`s it to the node's aclfile so a restart keeps it. A node that lost its users
//! (restarted without its aclfile, or added later) gets them back at the pool's next check,
//! copied from a node that holds them (`ACL LIST` prints the password as its hash, which
//! `ACL SETUSER … #<hash>` takes: the password is never needed, never sent in clear).
//!
//! Every space shares the cluster's database 0: Nextcloud's `RedisCluster` connection has no
//! `dbindex` (`lib/private/RedisFactory.php`: only the single-server path calls `select`), and
//! phpredis' `RedisCluster` has no `SELECT`. Where the server's ACL can pin a user to databases
//! (Valkey 9.1+) the user is pinned to database 0 (`resetdbs db=0`); elsewhere its key prefix
//! alone isolates it. Either way `KEYS` and `SCAN`, which Nextcloud's `Memcache\Redis::clear()`
//! sends (`KEYS` in the releases before nextcloud/server#61559, `SCAN` per master after), list
//! the names of every space's keys on the node, never their values: key patterns do not filter
//! them (valkey-io/valkey#370). That is the cluster's price against a single server, where each
//! space has a database of its own; see `docs` in the README.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use super::redis::{RedisAdmin, RedisTarget};
use super::{ProvisionError, System, TenantNames, Writes};

/// Whether the admin Secret may be sent to a node (`host:port`), else why not: the operator
/// contacts only the nodes the Secret's annotation lists (hostile pass 2, F2).
pub type MayContact = Arc<dyn Fn(&str) -> Result<(), String> + Send + Sync>;

/// One node as `CLUSTER NODES` lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterNode {
    pub id: String,
    /// `host:port` (the client port).
    pub address: String,
    pub master: bool,
    /// A replica's master id.
    pub master_id: Option<String>,
    /// Flagged `fail` by the cluster.
    pub failed: bool,
}

/// The nodes of a `CLUSTER NODES` reply (nodes without an address, in handshake, are left out).
pub fn parse_cluster_nodes(reply: &str) -> Vec<ClusterNode> {
    reply
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 8 {
                return None;
            }
            let flags: Vec<&str> = f[2].split(',').collect();
            let address = f[1].split('@').next()?.to_string();
            if address.starts_with(':') || flags.iter().any(|x| *x == "handshake" || *x == "noaddr") {
                return None;
            }
            let master = flags.contains(&"master");
            Some(ClusterNode {
                id: f[0].to_string(),
                address,
                master,
                master_id: (!master && f[3] != "-").then(|| f[3].to_string()),
                failed: flags.contains(&"fail"),
            })
        })
        .collect()
}

/// A user as `ACL LIST` prints it: its name and the rules after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclLine {
    pub name: String,
    pub rules: Vec<String>,
}

impl AclLine {
    pub fn parse(line: &str) -> Option<AclLine> {
        let mut words = line.split_whitespace();
        (words.next()? == "user").then_some(())?;
        let name = words.next()?.to_string();
        Some(AclLine { name, rules: words.map(str::to_string).collect() })
    }

    /// Whether these are the rules the operator gives `names`' user: enabled, one password (as
    /// its hash), its prefix for keys and channels, database 0 where pinned, and the command
    /// rules as this server prints them (`commands`, when known; else not compared).
    pub fn is_space_user(&self, names: &TenantNames, pinned: bool, commands: Option<&str>) -> bool {
        let r = &self.rules;
        let has = |w: &str| r.iter().any(|x| x == w);
        let hashes = r.iter().filter(|x| x.starts_with('#')).count();
        let printed: Vec<&str> = r.iter().filter(|x| x.starts_with('+') || x.starts_with('-')).map(String::as_str).collect();
        has("on")
            && !has("nopass")
            && hashes == 1
            && r.iter().filter(|x| x.starts_with('~') || x.starts_with("%")).eq([&format!("~{}*", names.redis_prefix)])
            && r.iter().filter(|x| x.starts_with('&')).eq([&format!("&{}*", names.redis_prefix)])
            && (!pinned || has("db=0"))
            && !has("alldbs")
            && !r.iter().any(|x| x.starts_with('('))
            && commands.is_none_or(|c| printed.join(" ") == c)
    }
}

/// What a pool check found on one node, and what it did there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeReport {
    pub node: Option<ClusterNode>,
    pub address: String,
    pub reachable: bool,
    pub version: Option<String>,
    pub users_in_place: i64,
    pub users_missing: i64,
    pub users_restored: i64,
    pub persisted: bool,
    /// Why it was not reached or not contacted, or what it lacks.
    pub message: Option<String>,
}

/// What a pool check found on the whole cluster.
#[derive(Clone, Debug, Default)]
pub struct ClusterReport {
    pub nodes: Vec<NodeReport>,
    /// `cluster_state` of the first node that answered.
    pub state: String,
    /// The spaces no reachable node holds (the space's own provisioning gives them back, from
    /// its Secret's password).
    pub lost: Vec<String>,
    /// Commands sent, for the bench.
    pub commands: u64,
}

pub struct ClusterAdmin {
    /// Seeds, first answered first.
    seeds: Vec<String>,
    /// The admin target every node is reached with (host and port replaced).
    template: RedisTarget,
    may_contact: MayContact,
    /// One admin connection per node address.
    connections: tokio::sync::Mutex<HashMap<String, Arc<RedisAdmin>>>,
    /// The last topology read.
    topology: Mutex<Vec<ClusterNode>>,
    /// Whether the servers pin users to databases (all nodes run one release).
    pinned: Mutex<Option<bool>>,
    gate: crate::gate::WriteGate,
}

/// A node's version, why the admin may not provision there (if it may not), whether its memory
/// bound was set, its `ACL LIST`, and whether it has an aclfile.
type NodeRead = (String, Option<String>, Result<(), ProvisionError>, Vec<String>, bool);

fn split(address: &str) -> Option<(String, u16)> {
    let (host, port) = address.rsplit_once(':')?;
    Some((host.to_string(), port.parse().ok()?))
}

fn unreachable(message: String) -> ProvisionError {
    ProvisionError::Unreachable { system: System::Redis, message }
}

impl ClusterAdmin {
    pub fn new(seeds: Vec<String>, template: RedisTarget, may_contact: MayContact) -> Self {
        ClusterAdmin {
            seeds,
            template,
            may_contact,
            connections: tokio::sync::Mutex::default(),
            topology: Mutex::default(),
            pinned: Mutex::default(),
            gate: crate::gate::WriteGate::always_open(),
        }
    }

    pub fn with_gate(mut self, gate: crate::gate::WriteGate) -> Self {
        self.gate = gate;
        self
    }

    /// The admin connection to one node, made once (and again after it failed).
    async fn node(&self, address: &str) -> Result<Arc<RedisAdmin>, ProvisionError> {
        (self.may_contact)(address).map_err(|why| ProvisionError::Unauthorized { system: System::Redis, message: why })?;
        let mut connections = self.connections.lock().await;
        if let Some(c) = connections.get(address) {
            return Ok(c.clone());
        }
        let (host, port) = split(address).ok_or_else(|| unreachable(format!("{address} is not host:port")))?;
        let target = RedisTarget { host, port, ..self.template.clone() };
        let admin = super::bounded(System::Redis, super::OPERATION_BOUND, RedisAdmin::connect(&target)).await?;
        let admin = Arc::new(admin.with_gate(self.gate.clone()));
        connections.insert(address.to_string(), admin.clone());
        Ok(admin)
    }

    /// A connection that failed is made again next time (the node may have restarted).
    async fn forget(&self, address: &str) {
        self.connections.lock().await.remove(address);
    }

    /// The outcome of an operation on one node; its connection dropped when the node did not
    /// answer (it may come back as another process).
    async fn settle<T>(&self, address: &str, result: Result<T, ProvisionError>) -> Result<T, ProvisionError> {
        if matches!(result, Err(ProvisionError::Unreachable { .. })) {
            self.forget(address).await;
        }
        result
    }

    /// The cluster's nodes, read from the first seed (then the last known nodes) that answers.
    pub async fn refresh(&self) -> Result<(Vec<ClusterNode>, String), ProvisionError> {
        let known: Vec<String> = self.topology.lock().map(|t| t.iter().map(|n| n.address.clone()).collect()).unwrap_or_default();
        let mut last = None;
        for address in self.seeds.iter().chain(known.iter()) {
            let read = match self.node(address).await {
                Ok(a) => {
                    super::bounded(System::Redis, super::OPERATION_BOUND, async {
                        Ok((a.cluster_nodes().await?, a.cluster_state().await?))
                    })
                    .await
                }
                Err(e) => Err(e),
            };
            let read = self.settle(address, read).await;
            match read {
                Ok((reply, state)) => {
                    let nodes = parse_cluster_nodes(&reply);
                    if let Ok(mut t) = self.topology.lock() {
                        t.clone_from(&nodes);
                    }
                    return Ok((nodes, state));
                }
                Err(e) => last = Some(format!("{address}: {e}")),
            }
        }
        Err(unreachable(format!("no seed answered ({})", last.unwrap_or_else(|| "no seed".into()))))
    }

    /// The nodes last read, or read now.
    async fn nodes(&self) -> Result<Vec<ClusterNode>, ProvisionError> {
        let known = self.topology.lock().map(|t| t.clone()).unwrap_or_default();
        if known.is_empty() { Ok(self.refresh().await?.0) } else { Ok(known) }
    }

    async fn pinned(&self, nodes: &[ClusterNode]) -> Result<bool, ProvisionError> {
        if let Some(p) = self.pinned.lock().ok().and_then(|p| *p) {
            return Ok(p);
        }
        let mut last = None;
        for n in nodes {
            let version = match self.node(&n.address).await {
                Ok(a) => super::bounded(System::Redis, super::OPERATION_BOUND, a.version()).await,
                Err(e) => Err(e),
            };
            match self.settle(&n.address, version).await {
                Ok((_, pins, _)) => {
                    if let Ok(mut p) = self.pinned.lock() {
                        *p = Some(pins);
                    }
                    return Ok(pins);
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| unreachable("the cluster has no node".into())))
    }

    /// The space's user on every node that answers, saved to its aclfile where it changed. A
    /// node that does not answer is skipped (the pool reports it and its next check gives it
    /// the user); no node answering is an error.
    pub async fn ensure(&self, names: &TenantNames, password: &str) -> Result<Writes, ProvisionError> {
        let nodes = self.nodes().await?;
        let database = self.pinned(&nodes).await?.then_some(0);
        let mut writes = Writes::default();
        let mut reached = 0;
        let mut last = None;
        for n in &nodes {
            let result = match self.node(&n.address).await {
                Ok(a) => {
                    super::bounded(System::Redis, super::OPERATION_BOUND, async {
                        let written = a.ensure_node_user(names, password, database).await?;
                        if written {
                            a.save_users().await?;
                        }
                        Ok(written)
                    })
                    .await
                }
                Err(e) => Err(e),
            };
            let result = self.settle(&n.address, result).await;
            match result {
                Ok(written) => {
                    reached += 1;
                    writes.add(u32::from(written));
                }
                Err(e @ ProvisionError::Unreachable { .. }) => last = Some(e),
                Err(e) => return Err(with_node(e, &n.address)),
            }
        }
        if reached == 0 {
            return Err(last.unwrap_or_else(|| unreachable("the cluster has no node".into())));
        }
        Ok(writes)
    }

    /// Retain: the user switched off on every node (and its connections closed); keys stay. A
    /// node that does not answer fails the whole: the deletion waits until every node did it.
    pub async fn revoke(&self, names: &TenantNames) -> Result<Writes, ProvisionError> {
        self.release(names, Release::Revoke).await
    }

    /// Delete: the user removed from every node, then the space's keys from every master (by
    /// its prefix: database 0 is every space's, never flushed). Every node must answer.
    pub async fn delete(&self, names: &TenantNames) -> Result<Writes, ProvisionError> {
        self.release(names, Release::Delete).await
    }

    async fn release(&self, names: &TenantNames, how: Release) -> Result<Writes, ProvisionError> {
        let (nodes, _) = self.refresh().await?;
        let mut writes = Writes::default();
        for n in &nodes {
            let result = match self.node(&n.address).await {
                Ok(a) => {
                    super::bounded(System::Redis, super::OPERATION_BOUND, async {
                        let mut w = match how {
                            Release::Revoke => a.revoke(names).await?.0,
                            Release::Delete => a.delete_user(names).await?,
                        };
                        if w > 0 {
                            a.save_users().await?;
                        }
                        if how == Release::Delete && n.master {
                            w += a.unlink_prefix(&names.redis_prefix).await?;
                        }
                        Ok(w)
                    })
                    .await
                }
                Err(e) => Err(e),
            };
            writes.add(self.settle(&n.address, result).await.map_err(|e| with_node(e, &n.address))?);
        }
        Ok(writes)
    }

    /// The space's keys removed from every master that answers (after an upgrade or a restore).
    pub async fn flush_space(&self, names: &TenantNames) -> Result<u32, ProvisionError> {
        let (nodes, _) = self.refresh().await?;
        let mut writes = 0;
        for n in nodes.iter().filter(|n| n.master && !n.failed) {
            let result = match self.node(&n.address).await {
                Ok(a) => super::bounded(System::Redis, super::OPERATION_BOUND, a.unlink_prefix(&names.redis_prefix)).await,
                Err(e) => Err(e),
            };
            writes += self.settle(&n.address, result).await.map_err(|e| with_node(e, &n.address))?;
        }
        Ok(writes)
    }

    /// What the pool check reads of one node (and the memory bound it sets): its version,
    /// whether the admin may create users there, and its users.
    async fn read_node(&self, address: &str, memory: Option<(u64, &str)>) -> Result<NodeRead, ProvisionError> {
        let read = match self.node(address).await {
            Ok(a) => {
                super::bounded(System::Redis, super::OPERATION_BOUND, async {
                    let (version, _, _) = a.version().await?;
                    let refusal = a.cannot_provision().await?;
                    let bounded = match memory {
                        Some((bytes, policy)) => a.ensure_memory(bytes, policy).await.map(|_| ()),
                        None => Ok(()),
                    };
                    Ok((version, refusal, bounded, a.acl_list().await?, a.has_aclfile().await?))
                })
                .await
            }
            Err(e) => Err(e),
        };
        self.settle(address, read).await
    }

    /// The pool check: every node found, reached, given the users of `spaces` it lacks (copied
    /// from a node that holds them with the operator's rules) and saved; `maxmemory` set on
    /// each when the pool bounds it. Only errors no node answered are returned.
    pub async fn check(&self, spaces: &[String], memory: Option<(u64, &str)>) -> Result<ClusterReport, ProvisionError> {
        let (nodes, state) = self.refresh().await?;
        let mut report = ClusterReport { state, commands: 2, ..ClusterReport::default() };
        let wanted: Vec<TenantNames> = spaces.iter().map(|s| TenantNames::new(s)).collect();
        let pinned = self.pinned(&nodes).await.ok();
        // What each node holds.
        let mut held: BTreeMap<String, HashMap<String, AclLine>> = BTreeMap::new();
        for n in &nodes {
            let mut r = NodeReport { node: Some(n.clone()), address: n.address.clone(), ..NodeReport::default() };
            let had_connection = self.connections.lock().await.contains_key(&n.address);
            let mut read = self.read_node(&n.address, memory).await;
            if had_connection && matches!(read, Err(ProvisionError::Unreachable { .. })) {
                // The connection was to a process that has since restarted: a new one answers.
                read = self.read_node(&n.address, memory).await;
            }
            report.commands += 5 + u64::from(memory.is_some()) * 2;
            match read {
                Ok((version, refusal, bounded, lines, aclfile)) => {
                    r.reachable = refusal.is_none();
                    r.persisted = aclfile;
                    r.version = Some(version);
                    r.message = refusal.or_else(|| {
                        bounded
                            .err()
                            .filter(|e| !matches!(e, ProvisionError::NotLeader(_)))
                            .map(|e| format!("its memory is not bounded: {e}"))
                    });
                    if r.reachable {
                        held.insert(
                            n.address.clone(),
                            lines.iter().filter_map(|l| AclLine::parse(l)).map(|l| (l.name.clone(), l)).collect(),
                        );
                    }
                }
                Err(e) => r.message = Some(e.to_string()),
            }
            report.nodes.push(r);
        }
        let commands = {
            let mut known = None;
            for n in &nodes {
                if let Some(c) = self.connections.lock().await.get(&n.address).and_then(|a| a.canonical_commands().map(str::to_string)) {
                    known = Some(c);
                    break;
                }
            }
            known
        };
        let current = |line: Option<&AclLine>, names: &TenantNames| {
            line.is_some_and(|l| l.is_space_user(names, pinned.unwrap_or(false), commands.as_deref()))
        };
        for r in report.nodes.iter_mut().filter(|r| r.reachable) {
            let Some(mine) = held.get(&r.address) else { continue };
            let mut copies: Vec<&AclLine> = Vec::new();
            for names in &wanted {
                if current(mine.get(&names.redis_user), names) {
                    r.users_in_place += 1;
                    continue;
                }
                let source = held.values().filter_map(|h| h.get(&names.redis_user)).find(|l| current(Some(l), names));
                match source {
                    Some(line) => copies.push(line),
                    None => r.users_missing += 1,
                }
            }
            if copies.is_empty() {
                note_unsaved(r);
                continue;
            }
            let address = r.address.clone();
            let restored = match self.node(&address).await {
                Ok(a) => {
                    // Each copy is one round trip: a node that restarted empty takes every user of
                    // the pool back within this check (the bound grows with their number).
                    let limit = super::OPERATION_BOUND * (1 + copies.len() as u32 / 1000);
                    super::bounded(System::Redis, limit, async {
                        for line in &copies {
                            a.copy_user(&line.name, &line.rules).await?;
                        }
                        a.save_users().await
                    })
                    .await
                }
                Err(e) => Err(e),
            };
            let restored = self.settle(&address, restored).await;
            report.commands += copies.len() as u64 + 1;
            match restored {
                Ok(persisted) => {
                    r.users_restored = copies.len() as i64;
                    r.users_in_place += r.users_restored;
                    r.persisted = persisted;
                }
                Err(ProvisionError::NotLeader(_)) => r.users_missing += copies.len() as i64,
                Err(e) => {
                    r.users_missing += copies.len() as i64;
                    r.message = Some(format!("its users could not be given back: {e}"));
                }
            }
            note_unsaved(r);
        }
        report.lost = spaces
            .iter()
            .zip(&wanted)
            .filter(|(_, names)| !held.values().any(|h| current(h.get(&names.redis_user), names)))
            .map(|(s, _)| s.clone())
            .collect();
        Ok(report)
    }
}

/// What deleting a space does to its user on every node.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Release {
    Revoke,
    Delete,
}

/// A node's message when nothing else is said of it: an aclfile it lacks.
fn note_unsaved(r: &mut NodeReport) {
    if !r.persisted && r.message.is_none() {
        r.message = Some("no aclfile: ACL SAVE is refused, so its users are lost when it restarts (the next check gives them back)".into());
    }
}

/// The error, its message naming the node.
fn with_node(e: ProvisionError, address: &str) -> ProvisionError {
    match e {
        ProvisionError::Unreachable { system, message } => {
            ProvisionError::Unreachable { system, message: format!("node {address}: {message}") }
        }
        ProvisionError::Unauthorized { system, message } => {
            ProvisionError::Unauthorized { system, message: format!("node {address}: {message}") }
        }
        ProvisionError::Failed { system, operation, message } => {
            ProvisionError::Failed { system, operation, message: format!("node {address}: {message}") }
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NODES: &str = "\
905a 127.0.0.1:27002@37002 master - 0 1796502606049 2 connected 5461-10922
481c 127.0.0.1:27004@37004 slave 3937 0 1796502606149 3 connected
9b79 127.0.0.1:27001@37001,node-1.example myself,master - 0 0 1 connected 0-5460
3937 127.0.0.1:27003@37003 master,fail - 0 1796502606049 3 connected 10923-16383
eeee :0@0 slave,noaddr 905a 0 0 2 disconnected
";

    #[test]
    fn cluster_nodes_are_read_with_their_roles() {
        let nodes = parse_cluster_nodes(NODES);
        assert_eq!(nodes.len(), 4, "a node without an address is left out");
        assert_eq!(
            nodes[0],
            ClusterNode { id: "905a".into(), address: "127.0.0.1:27002".into(), master: true, master_id: None, failed: false }
        );
        assert_eq!(nodes[1].master_id.as_deref(), Some("3937"));
        assert!(!nodes[1].master);
        assert_eq!(nodes[2].address, "127.0.0.1:27001", "the hostname after the bus port is not part of the address");
        assert!(nodes[3].failed && nodes[3].master);
    }

    #[test]
    fn a_space_user_is_recognised_only_with_the_operators_rules() {
        let names = TenantNames::new("a");
        let ok = "user space-a on #2bb8 ~space-a:* resetchannels &space-a:* db=0 +@all -@admin -@dangerous +keys";
        let line = AclLine::parse(ok).expect("a line");
        assert_eq!(line.name, "space-a");
        assert!(line.is_space_user(&names, true, Some("+@all -@admin -@dangerous +keys")));
        assert!(line.is_space_user(&names, true, None), "commands unknown: not compared");
        assert!(!line.is_space_user(&names, true, Some("+@all")), "other command rules");
        for bad in [
            "user space-a off #2bb8 ~space-a:* resetchannels &space-a:* db=0 +@all",
            "user space-a on #2bb8 ~* resetchannels &space-a:* db=0 +@all",
            "user space-a on #2bb8 ~space-a:* ~space-b:* resetchannels &space-a:* db=0 +@all",
            "user space-a on #2bb8 #ffff ~space-a:* resetchannels &space-a:* db=0 +@all",
            "user space-a on nopass ~space-a:* resetchannels &space-a:* db=0 +@all",
            "user space-a on #2bb8 ~space-a:* resetchannels &* db=0 +@all",
            "user space-a on #2bb8 ~space-a:* resetchannels &space-a:* alldbs +@all",
            "user space-a on #2bb8 ~space-a:* resetchannels &space-a:* db=0 +@all (~* +@all)",
        ] {
            assert!(!AclLine::parse(bad).expect("a line").is_space_user(&names, true, None), "{bad}");
        }
        let unpinned = AclLine::parse("user space-a on #2bb8 ~space-a:* resetchannels &space-a:* +@all").expect("a line");
        assert!(unpinned.is_space_user(&names, false, None) && !unpinned.is_space_user(&names, true, None));
        assert_eq!(AclLine::parse("garbage"), None);
    }
}
