//! `make bench`: N spaces created through the API at a steady rate against the local environment,
//! with what the operator costs measured from outside it: time until all are Ready, single-space
//! latency with N existing, memory, API writes (the API server's audit log), a no-op resync, and
//! the floor (the same objects written by a minimal client at full parallelism).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};

#[path = "bench/usage.rs"]
mod usage;

use framaspace_operator::api::AssociationSpace;
use framaspace_operator::api::space::AssociationSpaceSpec;
use framaspace_operator::controller::workload::observe_deployment;

#[derive(Parser)]
struct Args {
    /// Spaces to create.
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    /// Creations per second.
    #[arg(long, default_value_t = 25.0)]
    rate: f64,
    /// SpaceClass of the bench spaces.
    #[arg(long, default_value = "bench")]
    class: String,
    /// Only the floor, written on an environment where the operator's spaces do not exist (the
    /// operator's run started from an empty cluster too), compared with that run's `figures-N.txt`.
    #[arg(long)]
    floor_only: bool,
    /// Process id of the operator, for its memory.
    #[arg(long, required_unless_present = "floor_only")]
    operator_pid: Option<u32>,
    /// The operator's /metrics URL.
    #[arg(long, required_unless_present = "floor_only")]
    metrics: Option<String>,
    /// The API server's audit log.
    #[arg(long, required_unless_present = "floor_only")]
    audit_log: Option<PathBuf>,
    /// The operator's resync period (the no-op resync is waited for).
    #[arg(long, required_unless_present = "floor_only")]
    resync_seconds: Option<u64>,
    /// Single spaces created one by one once the N exist, for the latency percentiles.
    #[arg(long, default_value_t = 30)]
    latency_samples: usize,
    /// Skip the floor at the end (it is then measured alone on a fresh environment: --floor-only).
    #[arg(long)]
    no_floor: bool,
    /// Directory for the CSV and the PNG.
    #[arg(long, default_value = "bench/out")]
    out: PathBuf,
}

/// Ready times of the spaces seen by a watch, by name.
type ReadyTimes = Arc<Mutex<HashMap<String, Instant>>>;

fn is_ready(s: &AssociationSpace) -> bool {
    s.status.as_ref().is_some_and(|st| {
        st.conditions.iter().any(|c| c.type_ == "Ready" && c.status == framaspace_operator::api::conditions::ConditionStatus::True)
    })
}

fn space(name: &str, class: &str) -> AssociationSpace {
    let mut s = AssociationSpace::new(
        name,
        AssociationSpaceSpec {
            display_name: format!("Bench {name}"),
            contact_email: format!("admin@{name}.example"),
            space_class_name: Some(class.to_string()),
            office: Some(framaspace_operator::api::space::OfficeSuite::None),
            quota: None,
            max_accounts: None,
            suspended: false,
            hold_upgrade: false,
            keep_awake: false,
            calls_backend: None,
            deletion_policy: Default::default(),
            adoption: None,
        },
    );
    s.labels_mut().insert("bench.frama.space/run".into(), "1".into());
    s
}

/// CPU seconds used so far by every running process, summed by command name (`/proc/<pid>/stat`,
/// ticks of 1/100 s). Where the machine's two cores go during a phase is the difference of two
/// readings.
fn cpu_by_command() -> HashMap<String, f64> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return out };
    for entry in dir.flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        let command = stat[open + 1..close].to_string();
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        // fields[0] is field 3 of proc(5): utime and stime are fields 14 and 15.
        *out.entry(command).or_insert(0.0) += (ticks(11) + ticks(12)) as f64 / 100.0;
    }
    out
}

/// The processes that used the most CPU between two readings, with their share of the total.
fn cpu_breakdown(before: &HashMap<String, f64>, after: &HashMap<String, f64>, wall: Duration) -> String {
    let mut used: Vec<(String, f64)> =
        after.iter().map(|(c, t)| (c.clone(), t - before.get(c).copied().unwrap_or(0.0))).filter(|(_, t)| *t >= 0.5).collect();
    used.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f64 = used.iter().map(|(_, t)| t).sum();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) as f64;
    let mut line = format!(
        "{total:.0} CPU s of {:.0} available ({:.0} % busy):",
        wall.as_secs_f64() * cores,
        100.0 * total / (wall.as_secs_f64() * cores)
    );
    for (command, t) in used.iter().take(10) {
        line.push_str(&format!(" {command} {t:.0} s ({:.0} %),", 100.0 * t / total.max(f64::EPSILON)));
    }
    line.trim_end_matches(',').to_string()
}

fn replot(csv: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(csv)?;
    let rows: Vec<(f64, usize, usize)> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let mut f = l.split(',');
            Some((f.next()?.parse().ok()?, f.next()?.parse().ok()?, f.next()?.parse().ok()?))
        })
        .collect();
    let total = rows.iter().map(|r| r.1).max().unwrap_or(0);
    let png = csv.with_extension("png");
    chart(&rows, total, &png)?;
    println!("{}", png.display());
    Ok(())
}

/// Resident memory of a process, in bytes.
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kb: u64 = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024)
}

/// Write requests by the operator's user agent in the audit log and its rotated files (the API
/// server rotates it every 200 MB: a 10,000-space run rotates it several times).
fn operator_writes(audit: &Path) -> u64 {
    audit_files(audit).iter().map(|f| writes_in(f)).sum()
}

/// Write requests by every client (operator, controllers, scheduler, the simulated kubelets).
fn all_writes(audit: &Path) -> u64 {
    audit_files(audit).iter().map(|f| writes_by(f, None)).sum()
}

/// The audit log and its rotated files.
fn audit_files(audit: &Path) -> Vec<PathBuf> {
    let dir = audit.parent().unwrap_or(Path::new("."));
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with("audit") && n.ends_with(".log")))
        .map(|e| e.path())
        .collect()
}

fn writes_in(audit: &Path) -> u64 {
    writes_by(audit, Some("\"userAgent\":\"framaspace-operator/"))
}

fn writes_by(audit: &Path, agent: Option<&str>) -> u64 {
    let Ok(file) = std::fs::File::open(audit) else { return 0 };
    let mut n = 0;
    for line in BufReader::new(file).lines().map_while(Result::ok) {
        if agent.is_some_and(|a| !line.contains(a)) {
            continue;
        }
        if ["\"verb\":\"create\"", "\"verb\":\"update\"", "\"verb\":\"patch\"", "\"verb\":\"delete\""].iter().any(|v| line.contains(v)) {
            n += 1;
        }
    }
    n
}

/// Sum of the samples of a metric family in a Prometheus text scrape (label filter: substring).
async fn metric(http: &reqwest::Client, url: &str, name: &str, filter: &str) -> f64 {
    let Ok(body) = async { http.get(url).send().await?.text().await }.await else { return f64::NAN };
    body.lines()
        .filter(|l| !l.starts_with('#') && l.starts_with(name) && l.contains(filter))
        .filter(|l| l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn chart(rows: &[(f64, usize, usize)], total: usize, png: &Path) -> Result<(), String> {
    use plotters::prelude::*;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 600)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let t_max = rows.last().map(|r| r.0).unwrap_or(1.0).max(1.0);
        let mut c = ChartBuilder::on(&root)
            .caption(format!("framaspace-operator: {total} spaces created and Ready over time"), ("sans-serif", 24))
            .margin(20)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..t_max, 0usize..total.max(1))
            .map_err(|e| e.to_string())?;
        c.configure_mesh().x_desc("seconds since the first creation").y_desc("spaces").draw().map_err(|e| e.to_string())?;
        c.draw_series(LineSeries::new(rows.iter().map(|r| (r.0, r.1)), &BLUE))
            .map_err(|e| e.to_string())?
            .label("created")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
        c.draw_series(LineSeries::new(rows.iter().map(|r| (r.0, r.2)), GREEN.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label("Ready")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], GREEN));
        c.configure_series_labels().border_style(BLACK).background_style(WHITE).draw().map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    framaspace_operator::bench_png::svg_to_png(&svg, png)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `framaspace-bench replot bench/out/ready-N.csv`: the chart of a run stopped before its end.
    let argv: Vec<String> = std::env::args().collect();
    if let [_, cmd, csv] = argv.as_slice()
        && cmd == "replot"
    {
        return replot(Path::new(csv));
    }
    let args = Args::parse();
    std::fs::create_dir_all(&args.out)?;
    let client = Client::try_default().await?;
    let spaces: Api<AssociationSpace> = Api::all(client.clone());
    // Spaces of an earlier run would be counted Ready at once and their names taken.
    let earlier = spaces.list_metadata(&ListParams::default().labels("bench.frama.space/run=1").limit(1)).await?;
    if !earlier.items.is_empty() {
        return Err("spaces of an earlier bench run exist: start from a fresh environment (make cluster-down cluster-up)".into());
    }
    let n = args.count;
    if Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone()).get_opt("floor-0").await?.is_some() {
        return Err("the floor of an earlier bench run exists: start from a fresh environment (make cluster-down cluster-up)".into());
    }
    if args.floor_only {
        let floor = measure_floor(&client, &args.class, n, &args.out).await?;
        match operator_time(&args.out.join(format!("figures-{n}.txt")), n) {
            Some(t) => {
                println!("operator: all {n} spaces Ready in {t:.1} s (figures-{n}.txt)");
                print_ratios(t, &floor);
            }
            None => println!("operator / floor: no operator figure for {n} spaces in figures-{n}.txt to compare with"),
        }
        return Ok(());
    }
    let (Some(operator_pid), Some(metrics), Some(audit_log), Some(resync_seconds)) =
        (args.operator_pid, args.metrics.clone(), args.audit_log.clone(), args.resync_seconds)
    else {
        return Err("--operator-pid, --metrics, --audit-log and --resync-seconds are needed unless --floor-only".into());
    };
    framaspace_operator::provision::install_tls_provider();
    let http = reqwest::Client::new();
    let ready: ReadyTimes = Arc::default();
    {
        let (ready, client) = (ready.clone(), client.clone());
        let cfg = watcher::Config::default().labels("bench.frama.space/run=1");
        tokio::spawn(async move {
            let mut stream = watcher(Api::<AssociationSpace>::all(client), cfg).default_backoff().applied_objects().boxed();
            while let Ok(Some(s)) = stream.try_next().await {
                if is_ready(&s)
                    && let Ok(mut r) = ready.lock()
                {
                    r.entry(s.name_any()).or_insert_with(Instant::now);
                }
            }
        });
    }
    println!("bench: {n} spaces at {} per second, class {}", args.rate, args.class);
    let writes_before = operator_writes(&audit_log);
    let cpu_before = cpu_by_command();
    let reconciles_before = metric(&http, &metrics, "framaspace_reconciles_total", "controller=\"space\"").await;
    let started = Instant::now();
    let created = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let creator = {
        let (spaces, created, class, rate) = (spaces.clone(), created.clone(), args.class.clone(), args.rate);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
            let limit = Arc::new(tokio::sync::Semaphore::new(32));
            for i in 0..n {
                tick.tick().await;
                let (spaces, created, class) = (spaces.clone(), created.clone(), class.clone());
                let Ok(permit) = limit.clone().acquire_owned().await else { break };
                tokio::spawn(async move {
                    let name = format!("bench-{i}");
                    let params = PatchParams::apply("framaspace-bench");
                    if let Err(e) = spaces.patch(&name, &params, &Patch::Apply(&space(&name, &class))).await {
                        eprintln!("creating {name}: {e}");
                    }
                    created.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    drop(permit);
                });
            }
        })
    };
    let mut csv = std::fs::File::create(args.out.join(format!("ready-{n}.csv")))?;
    writeln!(csv, "seconds,created,ready,operator_rss_bytes")?;
    let mut rows = Vec::new();
    let mut peak = 0u64;
    let deadline = Duration::from_secs(3 * 3600);
    let all_ready = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let t = started.elapsed();
        let c = created.load(std::sync::atomic::Ordering::Relaxed);
        let r = ready.lock().map(|m| m.len()).unwrap_or(0);
        let mem = rss(operator_pid).unwrap_or(0);
        peak = peak.max(mem);
        writeln!(csv, "{:.1},{c},{r},{mem}", t.as_secs_f64())?;
        rows.push((t.as_secs_f64(), c, r));
        if r >= n {
            break Some(t);
        }
        if t > deadline {
            break None;
        }
    };
    creator.await?;
    let Some(all_ready) = all_ready else {
        return Err(format!("not all spaces Ready after {deadline:?}").into());
    };
    let writes_create = operator_writes(&audit_log) - writes_before;
    let cpu_create = cpu_breakdown(&cpu_before, &cpu_by_command(), all_ready);
    let reconciles = metric(&http, &metrics, "framaspace_reconciles_total", "controller=\"space\"").await - reconciles_before;
    println!("all {n} spaces Ready in: {:.1} s", all_ready.as_secs_f64());
    println!("spaces per second: {:.1}", n as f64 / all_ready.as_secs_f64());
    println!("API writes per new space: {:.2} ({writes_create} writes by the operator)", writes_create as f64 / n as f64);
    println!("space reconciles per new space (the operator's counter): {:.2}", reconciles / n as f64);
    println!("CPU while the {n} spaces were created and made Ready: {cpu_create}");
    if let Err(e) = chart(&rows, n, &args.out.join(format!("ready-{n}.png"))) {
        eprintln!("chart: {e}");
    }

    // Steady memory: once everything is Ready and the queue has drained.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let steady = rss(operator_pid).unwrap_or(0);
    println!("operator peak RSS: {:.0} MiB", peak as f64 / 1048576.0);
    println!("operator steady RSS: {:.0} MiB", steady as f64 / 1048576.0);

    // Latency of single spaces with N existing.
    let mut latencies = Vec::new();
    for k in 0..args.latency_samples {
        let name = format!("bench-single-{k}");
        let t0 = Instant::now();
        spaces.create(&PostParams::default(), &space(&name, &args.class)).await?;
        loop {
            if let Some(t) = ready.lock().ok().and_then(|m| m.get(&name).copied()) {
                latencies.push(t.saturating_duration_since(t0).as_secs_f64());
                break;
            }
            if t0.elapsed() > Duration::from_secs(120) {
                return Err(format!("{name} not Ready after 120 s").into());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "create->Ready with {n} existing: p50 {:.2} s, p95 {:.2} s, p99 {:.2} s ({} samples)",
        percentile(&latencies, 50.0),
        percentile(&latencies, 95.0),
        percentile(&latencies, 99.0),
        latencies.len()
    );

    // A full no-op resync: every space reconciled once by its periodic timer. First let what the
    // last spaces changed settle (pool and class counts are refreshed every 30 s).
    tokio::time::sleep(Duration::from_secs(40)).await;
    let total = (n + args.latency_samples) as f64;
    const SPACE: &str = "controller=\"space\"";
    let r0 = metric(&http, &metrics, "framaspace_reconciles_total", SPACE).await;
    let cpu0 = metric(&http, &metrics, "process_cpu_seconds_total", "").await;
    let ext0 = metric(&http, &metrics, "framaspace_external_writes_total", "").await;
    let w0 = operator_writes(&audit_log);
    let window_start = Instant::now();
    let wait_until = window_start + Duration::from_secs(resync_seconds * 2 + 120);
    let last = loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let r = metric(&http, &metrics, "framaspace_reconciles_total", SPACE).await;
        if r - r0 >= total {
            break Some(Instant::now());
        }
        if Instant::now() > wait_until {
            break None;
        }
    };
    let cpu = metric(&http, &metrics, "process_cpu_seconds_total", "").await - cpu0;
    let ext = metric(&http, &metrics, "framaspace_external_writes_total", "").await - ext0;
    let writes = operator_writes(&audit_log) - w0;
    match last {
        Some(l) => println!(
            "no-op resync of {total} spaces: {total} reconciles within {:.1} s (timers of {} s ±10 %), {:.1} s of operator CPU ({:.2} ms a space)",
            l.duration_since(window_start).as_secs_f64(),
            resync_seconds,
            cpu,
            cpu * 1000.0 / total
        ),
        _ => println!("no-op resync: not every space was reconciled within {} s", resync_seconds * 2 + 120),
    }
    println!("API writes during the no-op resync: {writes}");
    println!("external writes during the no-op resync: {ext}");
    background_jobs_cost(&client, &audit_log, total).await?;
    usage::refresh(&client, &http, &metrics, &audit_log, total).await?;
    if !args.no_floor {
        let floor = measure_floor(&client, &args.class, n, &args.out).await?;
        print_ratios(all_ready.as_secs_f64(), &floor);
    }
    Ok(())
}

/// What the spaces' background jobs cost the control plane: over one cron period (300 s) with
/// every space Ready, the API writes of every client and the objects per space that exist for
/// background jobs (CronJobs, their Jobs and pods, the cron containers). Extrapolated to 10,000
/// spaces linearly: each space's cron runs inside its own pod and writes nothing.
async fn background_jobs_cost(client: &Client, audit_log: &Path, spaces: f64) -> Result<(), Box<dyn std::error::Error>> {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::batch::v1::{CronJob, Job};
    const PERIOD: u64 = 300;
    let w0 = all_writes(audit_log);
    tokio::time::sleep(Duration::from_secs(PERIOD)).await;
    let writes = all_writes(audit_log).saturating_sub(w0) as f64;
    let lp = ListParams::default().labels("app.kubernetes.io/managed-by=framaspace-operator");
    let cronjobs = Api::<CronJob>::all(client.clone()).list_metadata(&lp).await?.items.len();
    let deployments = Api::<Deployment>::all(client.clone()).list(&lp).await?.items;
    let cron_containers = deployments
        .iter()
        .filter_map(|d| d.spec.as_ref()?.template.spec.as_ref())
        .filter(|p| p.containers.iter().any(|c| c.name == "cron"))
        .count();
    let cron_jobs = Api::<Job>::all(client.clone())
        .list_metadata(&lp)
        .await?
        .items
        .iter()
        .filter(|j| !j.labels().contains_key("frama.space/occ"))
        .count();
    let per_hour = writes / spaces * 3600.0 / PERIOD as f64;
    println!(
        "background jobs over one cron period ({PERIOD} s, {spaces} spaces Ready): {writes} API writes by every client \
         ({per_hour:.2} a space an hour), {cronjobs} CronJobs, {cron_jobs} Jobs, {cron_containers} web pods with a cron container"
    );
    println!(
        "background jobs at 10,000 spaces (linear): {:.0} API writes an hour, 0 objects; requests 10,000 × (5m CPU, 32Mi) = 50 CPU, 312.5 GiB",
        per_hour * 10_000.0
    );
    Ok(())
}

/// The floor: the same Kubernetes objects for N spaces, written by a minimal client at full
/// parallelism (no provisioning, no status), the install Job included (its pod run by the
/// simulated nodes, the web written once it succeeded, the Job deleted), with its progress over
/// time in `floor-N.csv` and where the CPU went.
/// Tasks that serve one measurement, stopped when it ends, however it ends.
struct Background(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Background {
    fn drop(&mut self) {
        self.0.iter().for_each(tokio::task::JoinHandle::abort);
    }
}

/// The floor's two figures: its N spaces' objects written, and their N Deployments available (the
/// pods scheduled and reported Ready by the simulated nodes, which the operator's Ready waits for too).
struct Floor {
    written: Duration,
    available: Option<Duration>,
}

async fn measure_floor(client: &Client, class: &str, n: usize, out: &Path) -> Result<Floor, Box<dyn std::error::Error>> {
    use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
    let cpu_before = cpu_by_command();
    let complete = Arc::new(AtomicUsize::new(0));
    let available = Arc::new(AtomicUsize::new(0));
    let watch = {
        let (available, client) = (available.clone(), client.clone());
        let cfg = watcher::Config::default().labels("bench.frama.space/floor=1");
        tokio::spawn(async move {
            let mut seen = std::collections::HashSet::new();
            let mut stream =
                watcher(Api::<k8s_openapi::api::apps::v1::Deployment>::all(client), cfg).default_backoff().applied_objects().boxed();
            while let Ok(Some(d)) = stream.try_next().await {
                if observe_deployment(&d).available() && seen.insert(d.namespace().unwrap_or_default()) {
                    available.store(seen.len(), Relaxed);
                }
            }
        })
    };
    let started = Instant::now();
    let sampler = {
        let (complete, available, path) = (complete.clone(), available.clone(), out.join(format!("floor-{n}.csv")));
        let mut csv = std::fs::File::create(path)?;
        writeln!(csv, "seconds,complete,available")?;
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                if writeln!(csv, "{:.1},{},{}", started.elapsed().as_secs_f64(), complete.load(Relaxed), available.load(Relaxed)).is_err() {
                    break;
                }
            }
        })
    };
    let _background = Background(vec![watch, sampler]);
    floor(client, class, n, &complete).await?;
    let written = started.elapsed();
    println!("floor: the same objects for {n} spaces written in: {:.1} s", written.as_secs_f64());
    println!("CPU while the floor was written: {}", cpu_breakdown(&cpu_before, &cpu_by_command(), written));
    let deadline = Duration::from_secs(3 * 3600);
    let available = loop {
        if available.load(Relaxed) >= n {
            break Some(started.elapsed());
        }
        if started.elapsed() > deadline {
            break None;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    match available {
        Some(t) => println!("floor: its {n} Deployments available in: {:.1} s", t.as_secs_f64()),
        None => println!("floor: not all {n} Deployments available after {deadline:?}"),
    }
    Ok(Floor { written, available })
}

fn print_ratios(operator: f64, floor: &Floor) {
    println!("operator / floor (objects written): {:.2}", operator / floor.written.as_secs_f64());
    if let Some(a) = floor.available {
        println!("operator / floor (Deployments available): {:.2}", operator / a.as_secs_f64());
    }
}

/// The operator's time until all N were Ready, as an earlier run printed it in `figures-N.txt`.
fn operator_time(figures: &Path, n: usize) -> Option<f64> {
    let text = std::fs::read_to_string(figures).ok()?;
    let prefix = format!("all {n} spaces Ready in: ");
    text.lines().find_map(|l| l.strip_prefix(&prefix)?.strip_suffix(" s")?.parse().ok())
}

async fn floor(
    client: &Client,
    class: &str,
    n: usize,
    complete: &Arc<std::sync::atomic::AtomicUsize>,
) -> Result<(), Box<dyn std::error::Error>> {
    use framaspace_operator::render::bindings::{Bindings, DatabaseBinding};
    use framaspace_operator::render::{config, exposure, jobs, nextcloud, objects, resolve};
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::batch::v1::Job;
    use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, Secret, Service};
    use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
    use k8s_openapi::api::rbac::v1::RoleBinding;
    use kube::Resource;
    let class = Api::<framaspace_operator::api::SpaceClass>::all(client.clone()).get(class).await?;
    let params = PatchParams::apply("framaspace-bench-floor");
    let results: Vec<Result<(), kube::Error>> = futures::stream::iter(0..n)
        .map(|i| {
            let (client, class, params, complete) = (client.clone(), class.clone(), params.clone(), complete.clone());
            async move {
                let name = format!("floor-{i}");
                let mut space =
                    resolve::resolve(&space(&name, &class.name_any()), &class).map_err(|e| kube::Error::Service(e.to_string().into()))?;
                space.namespace = format!("floor-{i}");
                // A database the install Job names (kwok plays its pod: nothing connects to it).
                let bindings = Bindings {
                    database: Some(DatabaseBinding {
                        host: "floor.invalid".into(),
                        port: 5432,
                        database: name.clone(),
                        user: name.clone(),
                        ssl_mode: framaspace_operator::api::database_pool::SslMode::Prefer,
                        server_major: Some(17),
                        ca: None,
                    }),
                    ..Bindings::default()
                };
                // As the operator: the configuration and the install Job first, the web only once
                // the Job succeeded, then the configuration of an installed space.
                let installed = framaspace_operator::api::space::NextcloudStatus {
                    version: format!("{}.0", space.class.nextcloud.version),
                    version_string: space.class.nextcloud.version.clone(),
                    image: space.image.clone(),
                };
                let install_files = config::render(&space, &bindings, None);
                let files = config::render(&space, &bindings, Some(&installed));
                let access = objects::SecretAccess::for_user("bench".into(), "system:serviceaccount:bench:bench");
                let ns = space.namespace.clone();
                // No owner: the garbage collector would delete objects whose owner does not exist.
                // Not the operator's labels either: its watches select them, and it would
                // spend the floor's time looking for spaces that do not exist.
                fn orphan<K: Resource>(mut o: K) -> K {
                    o.meta_mut().owner_references = None;
                    o.meta_mut().labels = Some([("bench.frama.space/floor".to_string(), "1".to_string())].into_iter().collect());
                    o
                }
                let namespace = |installed| orphan(objects::namespace(&space, Default::default(), installed));
                Api::<Namespace>::all(client.clone()).patch(&ns, &params, &Patch::Apply(namespace(None))).await?;
                let secret = objects::credentials_secret(
                    &space,
                    framaspace_operator::render::credentials::complete(
                        &Default::default(),
                        None,
                        &mut framaspace_operator::render::credentials::OsRandom,
                    )
                    .unwrap_or_default(),
                );
                macro_rules! put {
                    ($kind:ty, $obj:expr) => {{
                        let o = orphan($obj);
                        let name = o.name_any();
                        Api::<$kind>::namespaced(client.clone(), &ns).patch(&name, &params, &Patch::Apply(&o)).await?;
                    }};
                }
                put!(Secret, secret);
                put!(RoleBinding, objects::operator_access(&space, &access));
                put!(ConfigMap, objects::config_map(&space, install_files.clone()));
                let plan = nextcloud::InstallPlan { apps: space.apps(), welcome: false };
                if let Some(mut job) = jobs::install_job(&space, &bindings, &install_files, 1, &plan) {
                    // Without the occ label kwok completes the pod (occ-sim plays only labelled ones).
                    let template = job.spec.as_mut().map(|s| &mut s.template.metadata);
                    if let Some(labels) = template.and_then(|m| m.as_mut()).and_then(|m| m.labels.as_mut()) {
                        labels.remove(framaspace_operator::api::labels::OCC_LABEL);
                    }
                    let job_name = job.name_any();
                    put!(Job, job);
                    let jobs_api = Api::<Job>::namespaced(client.clone(), &ns);
                    loop {
                        let done = jobs_api.get_status(&job_name).await?.status.and_then(|s| s.succeeded).unwrap_or(0) > 0;
                        if done {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(1000)).await;
                    }
                    jobs_api.delete(&job_name, &kube::api::DeleteParams::background()).await?;
                }
                Api::<Namespace>::all(client.clone()).patch(&ns, &params, &Patch::Apply(namespace(Some(&installed)))).await?;
                put!(ConfigMap, objects::config_map(&space, files.clone()));
                put!(Deployment, objects::deployment(&space, &bindings, &files, &installed, false));
                put!(Service, exposure::service(&space));
                put!(Ingress, exposure::ingress(&space, framaspace_operator::render::names::NEXTCLOUD));
                put!(NetworkPolicy, exposure::network_policy(&space, &bindings));
                put!(ResourceQuota, objects::resource_quota(&space));
                put!(LimitRange, objects::limit_range(&space));
                complete.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
        return Err(format!("floor: {e}").into());
    }
    Ok(())
}
