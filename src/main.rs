//! framaspace-operator: `run` the controllers, print the `crds`, or the `version`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    },
    /// Print the version.
    Version,
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
    /// Namespace of the operator, where the pools' admin Secrets live.
    #[arg(long, env = "POD_NAMESPACE", default_value = "framaspace-system")]
    namespace: String,
    /// Address of the `/metrics`, `/healthz` and `/readyz` endpoints.
    #[arg(long, env = "FRAMASPACE_METRICS_ADDRESS", default_value = "0.0.0.0:8080")]
    metrics_address: std::net::SocketAddr,
    /// Seconds between two health checks of each pool.
    #[arg(long, env = "FRAMASPACE_POOL_CHECK_SECONDS", default_value_t = 30)]
    pool_check_seconds: u64,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Version => {
            println!("framaspace-operator {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Command::Crds { dir } => match manifests::write(dir.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Run(args) => {
            telemetry::init_logging(args.log_format);
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
                namespace: args.namespace,
                pool_check: std::time::Duration::from_secs(args.pool_check_seconds.max(1)),
                metrics_address: args.metrics_address,
            };
            match runtime.block_on(controller::run(config)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = %e, "operator stopped");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
