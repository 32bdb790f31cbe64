//! `make bench-cache-cluster`: what a cluster CachePool's check costs on the local six-node Valkey
//! cluster. `setup N` gives N space users to every node (each as a space's provisioning does:
//! `ClusterAdmin::ensure`); `check` runs the pool check for those N spaces and prints its time,
//! the commands it sent and, per node, the users it gave back. bench/cache-cluster.sh restarts a
//! node without its aclfile between two checks to measure the heal.

use std::sync::Arc;
use std::time::Instant;

use clap::{Parser, Subcommand};

use framaspace_operator::provision::TenantNames;
use framaspace_operator::provision::redis::RedisTarget;
use framaspace_operator::provision::redis_cluster::ClusterAdmin;

#[derive(Parser)]
struct Args {
    /// The first seed, host:port.
    #[arg(long)]
    seed: String,
    #[arg(long, default_value = "admin")]
    user: String,
    /// The admin password, from the environment (never on the command line).
    #[arg(long, env = "FRAMASPACE_REDIS_PASSWORD", hide_env_values = true)]
    password: String,
    #[command(subcommand)]
    phase: Phase,
}

#[derive(Subcommand)]
enum Phase {
    /// N users on every node.
    Setup { count: usize },
    /// One pool check for N spaces.
    Check { count: usize },
}

fn names(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("bench-cc-{i:05}")).collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    framaspace_operator::provision::install_tls_provider();
    let args = Args::parse();
    let (host, port) = args.seed.rsplit_once(':').ok_or("--seed is host:port")?;
    let target = RedisTarget {
        host: host.into(),
        port: port.parse()?,
        tls: false,
        username: args.user,
        password: args.password,
        max_concurrent: 8,
        ca: None,
    };
    let admin = ClusterAdmin::new(vec![args.seed.clone()], target, Arc::new(|_: &str| Ok(())));
    match args.phase {
        Phase::Setup { count } => {
            let started = Instant::now();
            let mut writes = 0;
            for space in names(count) {
                // A fixed, non-secret password: these users exist only in the bench.
                writes += admin.ensure(&TenantNames::new(&space), &format!("bench-{space}")).await?.0;
            }
            let secs = started.elapsed().as_secs_f64();
            println!(
                "setup: {count} users on every node in {secs:.1} s ({:.1} ms a space: GETUSER, SETUSER and ACL SAVE on each node), {writes} users written",
                1000.0 * secs / count.max(1) as f64
            );
        }
        Phase::Check { count } => {
            let spaces = names(count);
            let started = Instant::now();
            let report = admin.check(&spaces, None).await?;
            let secs = started.elapsed().as_secs_f64();
            let restored: i64 = report.nodes.iter().map(|n| n.users_restored).sum();
            let missing: i64 = report.nodes.iter().map(|n| n.users_missing).sum();
            let reachable = report.nodes.iter().filter(|n| n.reachable).count();
            println!(
                "check: {count} spaces, {} nodes ({reachable} reached), {:.2} s, {} commands, {restored} users given back, {missing} missing, {} lost",
                report.nodes.len(),
                secs,
                report.commands,
                report.lost.len()
            );
        }
    }
    Ok(())
}
