//! The usage phase of the scale benchmark: what one refresh of every space's figures costs.

use std::path::Path;
use std::time::{Duration, Instant};

use kube::Client;
use kube::api::{Api, Patch, PatchParams};

use super::{metric, operator_writes};

/// One refresh of every space's usage (the bucket measured, the accounts counted): the bench's
/// StoragePool is given a short `usageCheckSeconds`, which reconciles its spaces at once; what the
/// refresh costs each space in the stores and the database, and in API writes, is read from the
/// operator's call histograms and the audit log, then extrapolated to 10,000 spaces at the
/// default period (600 s).
pub async fn refresh(
    client: &Client,
    http: &reqwest::Client,
    metrics: &str,
    audit_log: &Path,
    total: f64,
) -> Result<(), Box<dyn std::error::Error>> {
    let pools: Api<framaspace_operator::api::StoragePool> = Api::all(client.clone());
    let calls = async |system: &str, operation: &str| {
        let filter = format!("system=\"{system}\",operation=\"{operation}\"");
        (
            metric(http, metrics, "framaspace_external_call_duration_seconds_count", &filter).await,
            metric(http, metrics, "framaspace_external_call_duration_seconds_sum", &filter).await,
        )
    };
    let (s3_n0, s3_t0) = calls("minio", "measure").await;
    let (db_n0, db_t0) = calls("postgres", "count_accounts").await;
    let cpu0 = metric(http, metrics, "process_cpu_seconds_total", "").await;
    let w0 = operator_writes(audit_log);
    let started = Instant::now();
    let patch = serde_json::json!({ "spec": { "usageCheckSeconds": 60 } });
    pools.patch("bench-minio", &PatchParams::default(), &Patch::Merge(&patch)).await?;
    let done = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (n, _) = calls("minio", "measure").await;
        if n - s3_n0 >= total {
            break Some(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(1800) {
            break None;
        }
    };
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (s3_n, s3_t) = calls("minio", "measure").await;
    let (db_n, db_t) = calls("postgres", "count_accounts").await;
    let cpu = metric(http, metrics, "process_cpu_seconds_total", "").await - cpu0;
    let writes = operator_writes(audit_log) - w0;
    let reset = serde_json::json!({ "spec": { "usageCheckSeconds": null } });
    pools.patch("bench-minio", &PatchParams::default(), &Patch::Merge(&reset)).await?;
    let (s3_n, s3_t, db_n, db_t) = (s3_n - s3_n0, s3_t - s3_t0, db_n - db_n0, db_t - db_t0);
    let per = |t: f64, n: f64| if n > 0.0 { t * 1000.0 / n } else { f64::NAN };
    match done {
        Some(d) => println!("usage refresh of {total} spaces: {:.1} s ({:.1} spaces/s)", d.as_secs_f64(), total / d.as_secs_f64()),
        None => println!("usage refresh: not every space was measured within 1800 s"),
    }
    println!(
        "usage refresh: {s3_n} bucket measures (MinIO, a listing each), {:.1} ms a space; {db_n} account reads (PostgreSQL, as the space's role), {:.1} ms a space",
        per(s3_t, s3_n),
        per(db_t, db_n)
    );
    println!(
        "usage refresh: {writes} API writes (figures unchanged: no status written), {:.2} ms of operator CPU a space",
        cpu * 1000.0 / total
    );
    let rate = 10_000.0 / 600.0;
    println!(
        "usage at 10,000 spaces every 600 s: {rate:.1} spaces/s; at the operator-side times above (waits for the pools' permits included, not the servers' work) {:.2} s of account reads and {:.2} s of bucket measures in flight per second",
        rate * per(db_t, db_n) / 1000.0,
        rate * per(s3_t, s3_n) / 1000.0
    );
    Ok(())
}
