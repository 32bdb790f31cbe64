//! `make bench-upgrade`: the spaces of a class (created and Ready beforehand, by `framaspace-bench`)
//! move to a new Nextcloud version, and what that costs is measured from outside the operator:
//! total time, the most spaces seen upgrading at once on each DatabasePool (never above P), API
//! writes per upgraded space (the API server's audit log), how long each space was not served,
//! snapshot sizes and times, and a chart of the spaces by version over time. The floor is the
//! least the same change writes: per space, the Kubernetes writes an upgrade cannot do without,
//! sent by a minimal client at full parallelism against objects of its own.

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use futures::StreamExt;
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams};

use framaspace_operator::api::space::UpgradePhase;
use framaspace_operator::api::{AssociationSpace, SpaceClass};

#[derive(Parser)]
struct Args {
    #[arg(long, default_value = "bench")]
    class: String,
    /// The version the class moves to.
    #[arg(long)]
    target: String,
    /// At most this many spaces upgrading at once per DatabasePool.
    #[arg(long, default_value_t = 50)]
    parallel: i32,
    #[arg(long)]
    audit_log: PathBuf,
    #[arg(long, default_value = "bench/out")]
    out: PathBuf,
    /// Give up after this long.
    #[arg(long, default_value_t = 7200)]
    timeout_seconds: u64,
    /// Skip the floor.
    #[arg(long)]
    no_floor: bool,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Writes by the operator received from `since` on (UTC, to the second), in the audit log and
/// its rotated files: counted by time, not as a difference of totals, because the API server
/// deletes its oldest rotated files (`--audit-log-maxbackup`) during a long run.
fn operator_writes_since(audit: &Path, since: &str) -> u64 {
    const RECEIVED: &str = "\"requestReceivedTimestamp\":\"";
    let dir = audit.parent().unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut n = 0;
    for e in entries.flatten() {
        if !e.file_name().to_str().is_some_and(|f| f.starts_with("audit") && f.ends_with(".log")) {
            continue;
        }
        let Ok(file) = std::fs::File::open(e.path()) else { continue };
        for line in BufReader::new(file).lines().map_while(Result::ok) {
            let write = line.contains("\"userAgent\":\"framaspace-operator/")
                && ["\"verb\":\"create\"", "\"verb\":\"update\"", "\"verb\":\"patch\"", "\"verb\":\"delete\""]
                    .iter()
                    .any(|v| line.contains(v));
            let received = line.find(RECEIVED).and_then(|i| line.get(i + RECEIVED.len()..i + RECEIVED.len() + since.len()));
            if write && received.is_some_and(|t| t >= since) {
                n += 1;
            }
        }
    }
    n
}

fn seconds_between(a: &str, b: &str) -> Option<f64> {
    let a: jiff::Timestamp = a.parse().ok()?;
    let b: jiff::Timestamp = b.parse().ok()?;
    Some(b.duration_since(a).as_secs_f64())
}

/// Spaces by version over time: (seconds, version → count).
type Samples = Vec<(f64, BTreeMap<String, usize>)>;

fn chart(samples: &Samples, total: usize, target: &str, png: &Path) -> Result<(), String> {
    use plotters::prelude::*;
    let mut svg = String::new();
    let versions: Vec<String> = {
        let mut v: Vec<String> = samples.iter().flat_map(|(_, m)| m.keys().cloned()).collect();
        v.sort();
        v.dedup();
        v
    };
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let t_max = samples.last().map(|r| r.0).unwrap_or(1.0).max(1.0);
        let mut c = ChartBuilder::on(&root)
            .caption(format!("framaspace-operator: {total} spaces moving to Nextcloud {target}"), ("sans-serif", 24))
            .margin(20)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..t_max, 0usize..total.max(1))
            .map_err(|e| e.to_string())?;
        c.configure_mesh().x_desc("seconds since the class's version changed").y_desc("spaces").draw().map_err(|e| e.to_string())?;
        let colors = [BLUE, GREEN, RED, MAGENTA, CYAN, BLACK];
        for (i, v) in versions.iter().enumerate() {
            let color = colors[i % colors.len()];
            c.draw_series(LineSeries::new(samples.iter().map(|(t, m)| (*t, m.get(v).copied().unwrap_or(0))), color.stroke_width(2)))
                .map_err(|e| e.to_string())?
                .label(v.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        c.configure_series_labels().border_style(BLACK).background_style(WHITE).draw().map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    framaspace_operator::bench_png::svg_to_png(&svg, png)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let client = Client::try_default().await?;
    let spaces: Api<AssociationSpace> = Api::all(client.clone());
    let classes: Api<SpaceClass> = Api::all(client.clone());
    let of_class = |s: &AssociationSpace| s.status.as_ref().and_then(|st| st.space_class.as_deref()) == Some(args.class.as_str());
    let n = spaces.list(&ListParams::default()).await?.items.iter().filter(|s| of_class(s)).count();
    println!("spaces of class {}: {n}", args.class);
    let since = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%S").to_string();
    let patch = serde_json::json!({ "spec": { "nextcloud": { "version": args.target }, "rollout": { "maxParallelPerPool": args.parallel, "settleSeconds": 5, "waves": ["10%", "40%"] } } });
    classes.patch(&args.class, &PatchParams::default(), &Patch::Merge(&patch)).await?;
    let started = Instant::now();
    let mut samples: Samples = Vec::new();
    let mut most: HashMap<String, usize> = HashMap::new();
    let csv_path = args.out.join(format!("upgrade-{n}.csv"));
    let mut csv = std::fs::File::create(&csv_path)?;
    writeln!(csv, "seconds,version,spaces")?;
    let done = loop {
        let list = spaces.list(&ListParams::default()).await?;
        let t = started.elapsed().as_secs_f64();
        let mut by_version = BTreeMap::<String, usize>::new();
        let mut upgrading = HashMap::<String, usize>::new();
        let mut finished = 0;
        for s in list.items.iter().filter(|s| of_class(s)) {
            let Some(st) = &s.status else { continue };
            if let Some(nc) = &st.nextcloud {
                *by_version.entry(nc.version_string.clone()).or_default() += 1;
            }
            let up = st.upgrade.as_ref().filter(|u| u.target == args.target);
            if let Some(u) = up
                && u.phase.in_progress()
                && let Some(pool) = st.placement.as_ref().and_then(|p| p.database_pool.clone())
            {
                *upgrading.entry(pool).or_default() += 1;
            }
            if up.is_some_and(|u| matches!(u.phase, UpgradePhase::Succeeded | UpgradePhase::Failed)) {
                finished += 1;
            }
        }
        for (pool, k) in upgrading {
            let m = most.entry(pool).or_default();
            *m = (*m).max(k);
        }
        for (v, k) in &by_version {
            writeln!(csv, "{t:.1},{v},{k}")?;
        }
        samples.push((t, by_version));
        if finished == n {
            break Some(started.elapsed());
        }
        if started.elapsed() > Duration::from_secs(args.timeout_seconds) {
            break None;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    let writes = operator_writes_since(&args.audit_log, &since);
    match done {
        Some(d) => println!("all {n} spaces upgraded (or rolled back) in: {:.1} s", d.as_secs_f64()),
        None => println!("not all {n} spaces upgraded after {} s", args.timeout_seconds),
    }
    for (pool, m) in &most {
        println!("most spaces upgrading at once on {pool}: {m} (P = {})", args.parallel);
    }
    println!("operator API writes during the rollout: {writes} ({:.2} per space)", writes as f64 / n.max(1) as f64);
    let list = spaces.list(&ListParams::default()).await?;
    let mut down = Vec::new();
    let mut bytes = Vec::new();
    let mut snap_seconds = Vec::new();
    let mut failed = 0;
    for s in list.items.iter().filter(|s| of_class(s)) {
        let Some(u) = s.status.as_ref().and_then(|st| st.upgrade.as_ref()).filter(|u| u.target == args.target) else { continue };
        if u.phase == UpgradePhase::Failed {
            failed += 1;
        }
        if let Some(served) = &u.served_since
            && let Some(d) = seconds_between(&u.started_at, served)
        {
            down.push(d);
        }
        if let Some(b) = u.snapshot_bytes {
            bytes.push(b as f64);
        }
        if let Some(t) = u.snapshot_seconds {
            snap_seconds.push(t as f64);
        }
    }
    for v in [&mut down, &mut bytes, &mut snap_seconds] {
        v.sort_by(f64::total_cmp);
    }
    println!("failed and rolled back: {failed}");
    println!(
        "time each space was not served (stop to ready on {}): p50 {:.1} s, p99 {:.1} s, max {:.1} s",
        args.target,
        percentile(&down, 50.0),
        percentile(&down, 99.0),
        down.last().copied().unwrap_or(f64::NAN)
    );
    println!("snapshot size: p50 {:.0} bytes, p99 {:.0} bytes", percentile(&bytes, 50.0), percentile(&bytes, 99.0));
    println!("snapshot time: p50 {:.0} s, p99 {:.0} s", percentile(&snap_seconds, 50.0), percentile(&snap_seconds, 99.0));
    let png = args.out.join(format!("upgrade-{n}.png"));
    chart(&samples, n, &args.target, &png)?;
    println!("chart: {} (spaces by version over time; CSV {})", png.display(), csv_path.display());
    if !args.no_floor {
        let floor = floor(&client, n).await?;
        println!(
            "floor: the {} writes an upgrade of {n} spaces cannot do without, by a minimal client: {:.1} s",
            floor.0,
            floor.1.as_secs_f64()
        );
        if let Some(d) = done {
            println!("operator / floor (time): {:.2}", d.as_secs_f64() / floor.1.as_secs_f64());
            println!("operator / floor (writes): {:.2}", writes as f64 / floor.0.max(1) as f64);
        }
    }
    Ok(())
}

/// Per space, what an upgrade must write: the Deployment scaled to zero, the snapshot Job and the
/// upgrade Job, the Deployment on the new image, the namespace's record, the status at the four
/// phases a reader must see (stopping, migrating, verifying, done), the two Jobs deleted: 11
/// writes, sent at 64 in flight against objects of the floor's own (a namespace each, no
/// controller acting on them: the Jobs are suspended).
async fn floor(client: &Client, n: usize) -> Result<(u64, Duration), Box<dyn std::error::Error>> {
    use k8s_openapi::api::batch::v1::Job;
    use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
    let params = PatchParams::apply("framaspace-bench-floor");
    let started = Instant::now();
    let results: Vec<Result<u64, kube::Error>> = futures::stream::iter(0..n)
        .map(|i| {
            let (client, params) = (client.clone(), params.clone());
            async move {
                let ns = format!("upgrade-floor-{i}");
                let nss: Api<Namespace> = Api::all(client.clone());
                let labels = serde_json::json!({ "bench.frama.space/floor": "1" });
                let annotate = |v: &str| {
                    serde_json::json!({ "apiVersion": "v1", "kind": "Namespace", "metadata": { "name": ns, "labels": labels, "annotations": { "frama.space/nextcloud-version": v } } })
                };
                nss.patch(&ns, &params, &Patch::Apply(annotate("33.0.7.2 33.0.7"))).await?;
                // The Deployment's place: a ConfigMap carries the replicas and image, written twice.
                let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
                let status: Api<ConfigMap> = cms.clone();
                let workload = |replicas: u32, image: &str| {
                    serde_json::json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "workload" }, "data": { "replicas": replicas.to_string(), "image": image } })
                };
                let phase = |p: &str| serde_json::json!({ "apiVersion": "v1", "kind": "ConfigMap", "metadata": { "name": "status" }, "data": { "phase": p } });
                let jobs: Api<Job> = Api::namespaced(client.clone(), &ns);
                let job = |name: &str| {
                    serde_json::json!({ "apiVersion": "batch/v1", "kind": "Job", "metadata": { "name": name },
                        "spec": { "suspend": true, "template": { "spec": { "restartPolicy": "Never", "containers": [{ "name": "c", "image": "x" }] } } } })
                };
                cms.patch("workload", &params, &Patch::Apply(workload(0, "nc:33.0.7"))).await?;
                status.patch("status", &params, &Patch::Apply(phase("Stopping"))).await?;
                jobs.patch("snapshot", &params, &Patch::Apply(job("snapshot"))).await?;
                jobs.patch("upgrade", &params, &Patch::Apply(job("upgrade"))).await?;
                status.patch("status", &params, &Patch::Apply(phase("Migrating"))).await?;
                nss.patch(&ns, &params, &Patch::Apply(annotate("34.0.1.0 34.0.1"))).await?;
                cms.patch("workload", &params, &Patch::Apply(workload(1, "nc:34.0.1"))).await?;
                status.patch("status", &params, &Patch::Apply(phase("Verifying"))).await?;
                status.patch("status", &params, &Patch::Apply(phase("Succeeded"))).await?;
                jobs.delete("snapshot", &Default::default()).await?;
                jobs.delete("upgrade", &Default::default()).await?;
                // The namespace's first apply is the floor's own setup, not an upgrade's write.
                Ok(11)
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let elapsed = started.elapsed();
    let mut writes = 0;
    for r in results {
        writes += r.map_err(|e| format!("floor: {e}"))?;
    }
    for i in 0..n {
        let _ = Api::<Namespace>::all(client.clone()).delete(&format!("upgrade-floor-{i}"), &Default::default()).await;
    }
    Ok((writes, elapsed))
}
