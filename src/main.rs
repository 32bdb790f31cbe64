//! framaspace-operator: `run` the controllers, the `wake` component, print the `crds`, or the `version`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use framaspace_operator::controller::leader::{self, LeaderElection};
use framaspace_operator::controller::{self, Config};
use framaspace_operator::manifests;
use framaspace_operator::telemetry::{self, LogFormat};

#[derive(Parser)]
#[command(name = "framaspace-operator", version, about = "Kubernetes operator for Framaspace Nextcloud spaces")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the controllers against the cluster of the current kubeconfig or service account.
    Run(RunArgs),
    /// Print the CRDs and the admission policy as YAML, or write one file per object into --dir.
    Crds {
        /// Directory to write `<kind>.yaml` files into (the repository's `crds/`).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Also write the chart's generated files (`files/crds/`, `files/admission-policy.yaml`) under this chart directory.
        #[arg(long)]
        chart: Option<PathBuf>,
    },
    /// Turn existing instances' config.php files (or `occ config:list system --private` JSON)
    /// into AssociationSpace manifests and adoption Secrets, each space observed only. Prints
    /// them (or writes `<space>.yaml` files into --out); refused instances and why go to stderr,
    /// and the exit code is 3 when any was refused.
    Adopt {
        /// The instances' configuration files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// CSV of what config.php lacks: host (or name), contact_email; class, display_name, quota, max_accounts, wave.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// Where each database server is: dbhost[:port]=DatabasePool (repeat).
        #[arg(long = "database-pool")]
        database_pool: Vec<String>,
        /// Where each object store is: hostname[:port]=StoragePool (repeat).
        #[arg(long = "storage-pool")]
        storage_pool: Vec<String>,
        /// The operator's namespace, where the adoption Secrets go.
        #[arg(long, default_value = "framaspace-system")]
        namespace: String,
        /// The SpaceClass of spaces the CSV gives none (default: the default class).
        #[arg(long)]
        class: Option<String>,
        /// Directory to write one `<space>.yaml` per instance into.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Run the wake component: receive the requests of sleeping spaces, wake them, hold the
    /// requests until the space serves (or give browsers a page that reloads).
    Wake(WakeArgs),
    /// Print the version.
    Version,
}

#[derive(clap::Args)]
struct WakeArgs {
    /// Log format.
    #[arg(long, env = "FRAMASPACE_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Where the requests of sleeping spaces arrive.
    #[arg(long, env = "FRAMASPACE_WAKE_ADDRESS", default_value = "0.0.0.0:8080")]
    address: std::net::SocketAddr,
    /// Where `/healthz`, `/readyz` and `/metrics` are served.
    #[arg(long, env = "FRAMASPACE_WAKE_PROBE_ADDRESS", default_value = "0.0.0.0:8081")]
    probe_address: std::net::SocketAddr,
    /// Where a space is served once awake; `{namespace}` stands for its namespace.
    #[arg(long, env = "FRAMASPACE_WAKE_UPSTREAM", default_value = "http://nextcloud.{namespace}.svc.cluster.local")]
    upstream: String,
    /// Seconds a request is held while its space wakes (the desktop client waits 300).
    #[arg(long, env = "FRAMASPACE_WAKE_HOLD_SECONDS", default_value_t = 90)]
    hold_seconds: u64,
    /// The Retry-After of the answers, and the waking page's reload, in seconds.
    #[arg(long, env = "FRAMASPACE_WAKE_RETRY_SECONDS", default_value_t = 5)]
    retry_seconds: u32,
}

#[derive(clap::Args)]
struct RunArgs {
    /// Log format.
    #[arg(long, env = "FRAMASPACE_LOG_FORMAT", value_enum, default_value = "text")]
    log_format: LogFormat,
    /// Spaces reconciled at once.
    #[arg(long, env = "FRAMASPACE_CONCURRENCY", default_value_t = 16)]
    concurrency: u16,
    /// Seconds between two full checks of a space when nothing triggers one (jittered by ±10 %).
    #[arg(long, env = "FRAMASPACE_RESYNC_SECONDS", default_value_t = 600)]
    resync_seconds: u64,
    /// Seconds between two checks of a space's database, Redis user and bucket when nothing they
    /// depend on changed. A resync is cheap (cached objects, one Secret read); the external checks
    /// are not: at 10,000 spaces, checking at every resync kept the reconcile slots busy with them.
    #[arg(long, env = "FRAMASPACE_EXTERNAL_CHECK_SECONDS", default_value_t = 3600)]
    external_check_seconds: u64,
    /// Namespace of the operator, where the pools' admin Secrets live.
    #[arg(long, env = "POD_NAMESPACE", default_value = "framaspace-system")]
    namespace: String,
    /// Address of the `/metrics`, `/healthz` and `/readyz` endpoints.
    #[arg(long, env = "FRAMASPACE_METRICS_ADDRESS", default_value = "0.0.0.0:8080")]
    metrics_address: std::net::SocketAddr,
    /// Seconds between two health checks of each pool.
    #[arg(long, env = "FRAMASPACE_POOL_CHECK_SECONDS", default_value_t = 30)]
    pool_check_seconds: u64,
    /// Elect a leader on a Lease in --namespace, so that of several replicas only one reconciles.
    #[arg(long, env = "FRAMASPACE_LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    /// Name of the Lease.
    #[arg(long, env = "FRAMASPACE_LEASE_NAME", default_value = "framaspace-operator")]
    lease_name: String,
    /// Seconds a lease stays valid after its last renewal: how long a standby waits when the leader dies.
    #[arg(long, env = "FRAMASPACE_LEASE_DURATION_SECONDS", default_value_t = 15)]
    lease_duration_seconds: u64,
    /// Seconds before expiry at which the leader renews; also the clock skew tolerated between nodes.
    #[arg(long, env = "FRAMASPACE_LEASE_GRACE_SECONDS", default_value_t = 5)]
    lease_grace_seconds: u64,
    /// ClusterRole to bind to the operator in each space namespace for its Secrets, so that its own
    /// ClusterRole needs no right on Secrets cluster-wide (the Helm chart sets it).
    #[arg(long, env = "FRAMASPACE_SECRET_ACCESS_ROLE")]
    secret_access_role: Option<String>,
    /// Identity in the lease (default: the pod name, or host and process id).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// The wake component's Service in the operator's namespace (the Helm chart's); empty: no
    /// wake component, and no space sleeps whatever its class says.
    #[arg(long, env = "FRAMASPACE_WAKE_SERVICE", default_value = "")]
    wake_service: String,
    /// The cluster's DNS domain, for the wake Service's name.
    #[arg(long, env = "FRAMASPACE_CLUSTER_DOMAIN", default_value = "cluster.local")]
    cluster_domain: String,
}

fn main() -> ExitCode {
    framaspace_operator::provision::install_tls_provider();
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("framaspace-operator {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Adopt { files, csv, database_pool, storage_pool, namespace, class, out } => {
            adopt(files, csv, &database_pool, &storage_pool, namespace, class, out.as_deref())
        }
        Command::Crds { dir, chart } => match manifests::write(dir.as_deref()).and_then(|()| match chart {
            Some(chart) => manifests::write_chart(&chart),
            None => Ok(()),
        }) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Wake(args) => {
            let _telemetry = telemetry::init(args.log_format);
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let config = framaspace_operator::wake::WakeConfig {
                address: args.address,
                probe_address: args.probe_address,
                upstream: args.upstream,
                hold: std::time::Duration::from_secs(args.hold_seconds),
                retry_seconds: args.retry_seconds,
            };
            match runtime.block_on(framaspace_operator::wake::run(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "wake component stopped");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Run(args) => {
            let leader_election = args.leader_elect.then(|| LeaderElection {
                lease_name: args.lease_name.clone(),
                namespace: args.namespace.clone(),
                identity: args.identity.clone().unwrap_or_else(leader::default_identity),
                duration_seconds: args.lease_duration_seconds,
                grace_seconds: args.lease_grace_seconds,
            });
            if let Some(Err(e)) = leader_election.as_ref().map(LeaderElection::validate) {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
            // Dropped last, so spans still buffered are exported after the runtime stops.
            let _telemetry = telemetry::init(args.log_format);
            telemetry::heap_profile::start();
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let config = Config {
                concurrency: args.concurrency,
                resync: std::time::Duration::from_secs(args.resync_seconds),
                external_check: std::time::Duration::from_secs(args.external_check_seconds.max(1)),
                wake_service: Some(args.wake_service.trim())
                    .filter(|w| !w.is_empty())
                    .map(|w| format!("{w}.{}.svc.{}", args.namespace, args.cluster_domain)),
                namespace: args.namespace,
                pool_check: std::time::Duration::from_secs(args.pool_check_seconds.max(1)),
                metrics_address: args.metrics_address,
                leader_election,
                secret_access_role: args.secret_access_role.filter(|r| !r.is_empty()),
            };
            let result = runtime.block_on(controller::run(config));
            // Reconcilers still finishing after a forced stop must not hold the process.
            runtime.shutdown_timeout(std::time::Duration::from_secs(5));
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "operator stopped");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn adopt(
    files: Vec<PathBuf>,
    csv: Option<PathBuf>,
    database_pools: &[String],
    storage_pools: &[String],
    namespace: String,
    class: Option<String>,
    out: Option<&std::path::Path>,
) -> ExitCode {
    use framaspace_operator::adopt;
    let pools = adopt::pool_map(database_pools).and_then(|d| adopt::pool_map(storage_pools).map(|s| (d, s)));
    let (database_pools, storage_pools) = match pools {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let inventory = adopt::Inventory { files, csv, database_pools, storage_pools, namespace, class };
    let outcome = match adopt::run(&inventory) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    for m in &outcome.mapped {
        let written = match out {
            Some(dir) => std::fs::create_dir_all(dir).and_then(|()| std::fs::write(dir.join(format!("{}.yaml", m.name)), &m.yaml)),
            None => {
                print!("{}", m.yaml);
                Ok(())
            }
        };
        if let Err(e) = written {
            eprintln!("error: {}: {e}", m.name);
            return ExitCode::FAILURE;
        }
    }
    for (file, why) in &outcome.refused {
        eprintln!("refused {}: {why}", file.display());
    }
    eprintln!("{} instance(s) mapped, {} refused", outcome.mapped.len(), outcome.refused.len());
    if outcome.refused.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(3) }
}
