//! Prometheus metrics, all prefixed `framaspace_`. No label grows with the number of spaces:
//! labels are controllers, results, phases, pool kinds and names, systems and operations.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    pub controller: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub controller: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PhaseLabels {
    pub phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolLabels {
    pub kind: String,
    pub pool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CacheNodeLabels {
    pub pool: String,
    /// `reachable`, `unreachable`, `lacking_users` or `unsaved` (no aclfile).
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub system: String,
    pub operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallErrorLabels {
    pub system: String,
    pub operation: String,
    pub reason: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn reconcile_buckets() -> Histogram {
    // 5 ms .. ~41 s
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

fn call_buckets() -> Histogram {
    // 1 ms .. ~16 s
    Histogram::new(exponential_buckets(0.001, 2.0, 15))
}

pub struct Metrics {
    pub registry: Registry,
    reconciles: Family<ResultLabels, Counter>,
    reconcile_duration: HistogramFamily<ControllerLabels>,
    in_flight: Family<ControllerLabels, Gauge>,
    spaces: Family<PhaseLabels, Gauge>,
    pool_capacity: Family<PoolLabels, Gauge>,
    pool_assigned: Family<PoolLabels, Gauge>,
    pool_ready: Family<PoolLabels, Gauge>,
    cache_cluster_nodes: Family<CacheNodeLabels, Gauge>,
    call_duration: HistogramFamily<CallLabels>,
    call_errors: Family<CallErrorLabels, Counter>,
    leader: Gauge,
    backend_replicas: Family<ReplicaLabels, Gauge>,
    external_writes: Family<SystemLabels, Counter>,
    writes_refused: Family<SystemLabels, Counter>,
    upgrades: Family<OutcomeLabels, Counter>,
    upgrade_downtime: Histogram,
    sleep_transitions: Family<OutcomeLabels, Counter>,
    wake_duration: Histogram,
    background_runs: Family<OutcomeLabels, Counter>,
    snapshot_bytes: Histogram,
    upgrades_in_progress: Family<PoolNameLabels, Gauge>,
    apps_reenabled: Counter,
    storage_quota_actions: Family<QuotaActionLabels, Counter>,
    spaces_by_version: Family<VersionLabels, Gauge>,
    spaces_adoption: Family<AdoptionLabels, Gauge>,
    spaces_by_usage: Family<UsageBandLabels, Gauge>,
    spaces_near_limit: Family<ResourceLabels, Gauge>,
    usage_top: Family<TopUsageLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    usage_oldest: Gauge,
    backups: Family<OutcomeLabels, Counter>,
    backup_duration: Histogram,
    backup_database_bytes: Histogram,
    backups_failing: Gauge,
    backup_oldest: Gauge,
    restore_tests: Family<OutcomeLabels, Counter>,
    restore_tests_failing: Gauge,
    restore_test_last_pass: Gauge,
    rollout: Family<RolloutLabels, Gauge>,
    upgrade_longest: Family<ClassNameLabels, Gauge>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassNameLabels {
    pub class: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PoolNameLabels {
    pub pool: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VersionLabels {
    pub class: String,
    pub version: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RolloutLabels {
    pub class: String,
    /// pending, upgrading, done, failed, held; paused (1 while paused), wave.
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QuotaActionLabels {
    pub system: String,
    /// writes_refused, writes_restored, uploads_aborted.
    pub action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AdoptionLabels {
    /// Observing, Clean, Differing, Refused, Managed.
    pub state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UsageBandLabels {
    /// storage, accounts.
    pub resource: String,
    /// The share of the limit: lt50, 50to75, 75to90, 90to100, over100.
    pub band: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    pub resource: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TopUsageLabels {
    pub resource: String,
    pub space: String,
}

/// The bands of [`UsageBandLabels`], in order, with their upper bounds (exclusive).
pub const USAGE_BANDS: [(&str, f64); 5] =
    [("lt50", 0.5), ("50to75", 0.75), ("75to90", 0.9), ("90to100", 1.0 + f64::EPSILON), ("over100", f64::INFINITY)];

/// How many spaces of the top list keep their names in `framaspace_space_usage_top_ratio`.
pub const TOP_USAGE: usize = 10;

/// The fleet's usage, counted from every space's status (`controller::census::usage`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UsageCensus {
    /// Spaces per band, per resource (`storage`, `accounts`), every band present.
    pub bands: Vec<(&'static str, &'static str, i64)>,
    /// Spaces at or above 90 % of their limit, per resource.
    pub near_limit: Vec<(&'static str, i64)>,
    /// The most used spaces per resource, at most [`TOP_USAGE`] each, with their share.
    pub top: Vec<(&'static str, String, f64)>,
    /// Age of the oldest storage measure shown by a space (0: none).
    pub oldest_measure_seconds: i64,
    /// Adopted spaces per adoption state, every state present.
    pub adoption: Vec<(&'static str, i64)>,
    /// Spaces whose last backup attempt failed.
    pub backups_failing: i64,
    /// Age of the oldest last backup among the spaces that have one (0: none).
    pub oldest_backup_seconds: i64,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SystemLabels {
    pub system: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReplicaLabels {
    pub kind: String,
    pub backend: String,
    pub state: String,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("framaspace");
        let reconciles = Family::<ResultLabels, Counter>::default();
        registry.register("reconciles", "Reconciles by controller and result (success, error)", reconciles.clone());
        let reconcile_duration: HistogramFamily<ControllerLabels> = Family::new_with_constructor(reconcile_buckets);
        registry.register("reconcile_duration_seconds", "Duration of reconciles by controller", reconcile_duration.clone());
        let in_flight = Family::<ControllerLabels, Gauge>::default();
        registry.register("reconciles_in_flight", "Reconciles running now, by controller", in_flight.clone());
        let spaces = Family::<PhaseLabels, Gauge>::default();
        registry.register("spaces", "AssociationSpaces by phase", spaces.clone());
        let pool_capacity = Family::<PoolLabels, Gauge>::default();
        registry.register("pool_capacity_spaces", "Spaces a pool may hold", pool_capacity.clone());
        let pool_assigned = Family::<PoolLabels, Gauge>::default();
        registry.register("pool_assigned_spaces", "Spaces placed on a pool", pool_assigned.clone());
        let pool_ready = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "pool_ready",
            "1 when the pool is Ready (a cluster: every node reached, each with every user)",
            pool_ready.clone(),
        );
        let cache_cluster_nodes = Family::<CacheNodeLabels, Gauge>::default();
        registry.register(
            "cache_cluster_nodes",
            "Nodes of a cluster CachePool at its last check, by state (reachable, unreachable, lacking_users, unsaved)",
            cache_cluster_nodes.clone(),
        );
        let call_duration: HistogramFamily<CallLabels> = Family::new_with_constructor(call_buckets);
        registry.register("external_call_duration_seconds", "Duration of calls to PostgreSQL, Redis and S3 stores", call_duration.clone());
        let call_errors = Family::<CallErrorLabels, Counter>::default();
        registry.register("external_call_errors", "Failed calls to PostgreSQL, Redis and S3 stores, by reason", call_errors.clone());
        let external_writes = Family::<SystemLabels, Counter>::default();
        registry.register(
            "external_writes",
            "Changes made on PostgreSQL, Redis and S3 stores (0 when everything is in place)",
            external_writes.clone(),
        );
        let writes_refused = Family::<SystemLabels, Counter>::default();
        registry.register(
            "writes_refused",
            "Writes not sent because this process no longer held the lease (by system: kubernetes, postgres, redis, minio, garage)",
            writes_refused.clone(),
        );
        let backend_replicas = Family::<ReplicaLabels, Gauge>::default();
        registry.register("backend_replicas", "Replicas of an office or preview backend, desired and ready", backend_replicas.clone());
        let leader = Gauge::default();
        registry.register("leader", "1 while this process holds the lease and runs the controllers", leader.clone());
        let upgrades = Family::<OutcomeLabels, Counter>::default();
        // Every outcome from the start, at 0: the dashboard and the alerts query them before any upgrade.
        for result in ["started", "succeeded", "failed", "rolled_back"] {
            drop(upgrades.get_or_create(&OutcomeLabels { result: result.to_string() }));
        }
        registry.register("upgrades", "Space upgrades by outcome (started, succeeded, failed, rolled_back)", upgrades.clone());
        // 10 s .. ~2.8 h
        let upgrade_downtime = Histogram::new(exponential_buckets(10.0, 2.0, 11));
        registry.register(
            "upgrade_downtime_seconds",
            "How long each upgraded space was not served (stop to ready on the new version)",
            upgrade_downtime.clone(),
        );
        let sleep_transitions = Family::<OutcomeLabels, Counter>::default();
        for result in ["fell_asleep", "wake_requested", "woke"] {
            drop(sleep_transitions.get_or_create(&OutcomeLabels { result: result.to_string() }));
        }
        registry.register("space_sleep_transitions", "Spaces falling asleep, asked to wake, and awake again", sleep_transitions.clone());
        // 0.5 s .. ~17 min
        let wake_duration = Histogram::new(exponential_buckets(0.5, 2.0, 12));
        registry.register(
            "space_wake_seconds",
            "From a sleeping space's wake request to its web pod ready (the time a held request waits)",
            wake_duration.clone(),
        );
        let background_runs = Family::<OutcomeLabels, Counter>::default();
        for result in ["succeeded", "failed"] {
            drop(background_runs.get_or_create(&OutcomeLabels { result: result.to_string() }));
        }
        registry.register(
            "space_background_runs",
            "Background runs (cron.php Jobs) of sleeping spaces, by outcome",
            background_runs.clone(),
        );
        // 1 KiB .. 16 GiB
        let snapshot_bytes = Histogram::new(exponential_buckets(1024.0, 4.0, 13));
        registry.register("upgrade_snapshot_bytes", "Size of the database snapshots taken before upgrades", snapshot_bytes.clone());
        let apps_reenabled = Counter::default();
        registry.register(
            "apps_reenabled",
            "Spaces whose platform or class apps were found disabled (the Apps page) and enabled again by an occ Job",
            apps_reenabled.clone(),
        );
        let storage_quota_actions = Family::<QuotaActionLabels, Counter>::default();
        registry.register(
            "storage_quota_actions",
            "What the operator did to hold spaces to their storage quota: uploads refused (writes_refused), allowed again \
             (writes_restored), unfinished multipart uploads aborted (uploads_aborted)",
            storage_quota_actions.clone(),
        );
        let upgrades_in_progress = Family::<PoolNameLabels, Gauge>::default();
        registry.register("upgrades_in_progress", "Spaces upgrading now, by DatabasePool", upgrades_in_progress.clone());
        let spaces_by_version = Family::<VersionLabels, Gauge>::default();
        registry.register("spaces_by_version", "Installed spaces by class and Nextcloud release", spaces_by_version.clone());
        let rollout = Family::<RolloutLabels, Gauge>::default();
        registry.register(
            "rollout_spaces",
            "A class's rollout: spaces pending, upgrading, done, failed, held; paused (0/1); wave",
            rollout.clone(),
        );
        let upgrade_longest = Family::<ClassNameLabels, Gauge>::default();
        registry.register(
            "upgrade_longest_seconds",
            "How long the space of a class that has been upgrading longest has been at it (0: none)",
            upgrade_longest.clone(),
        );
        let spaces_adoption = Family::<AdoptionLabels, Gauge>::default();
        registry.register(
            "spaces_adoption",
            "Adopted spaces by adoption state: Observing, Clean, Differing, Refused, Managed",
            spaces_adoption.clone(),
        );
        let spaces_by_usage = Family::<UsageBandLabels, Gauge>::default();
        registry.register(
            "spaces_by_usage",
            "Spaces by the share of their limit they use (resource storage: bucket against quota; accounts: against maxAccounts)",
            spaces_by_usage.clone(),
        );
        let spaces_near_limit = Family::<ResourceLabels, Gauge>::default();
        registry.register(
            "spaces_near_limit",
            "Spaces at or above 90 % of their storage quota or account limit",
            spaces_near_limit.clone(),
        );
        let usage_top = Family::<TopUsageLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "space_usage_top_ratio",
            "The ten spaces that use the largest share of their limit, per resource (bounded: never one series per space)",
            usage_top.clone(),
        );
        let usage_oldest = Gauge::default();
        registry.register(
            "usage_oldest_measure_seconds",
            "Age of the oldest storage measure a space shows: how stale the usage figures can be",
            usage_oldest.clone(),
        );
        let backups = Family::<OutcomeLabels, Counter>::default();
        registry.register("backups", "Space backups finished, by result (succeeded, failed)", backups.clone());
        // 1 s .. ~9 h
        let backup_duration = Histogram::new(exponential_buckets(1.0, 2.0, 16));
        registry.register("backup_duration_seconds", "Time from a backup's start to its manifest", backup_duration.clone());
        let backup_database_bytes = Histogram::new(exponential_buckets(1024.0, 4.0, 13));
        registry.register("backup_database_bytes", "Size of the database dumps of the backups", backup_database_bytes.clone());
        let backups_failing = Gauge::default();
        registry.register("spaces_backup_failing", "Spaces whose last backup attempt failed", backups_failing.clone());
        let backup_oldest = Gauge::default();
        registry.register(
            "backup_oldest_age_seconds",
            "Age of the oldest last backup among the spaces backed up: the fleet's worst recovery point",
            backup_oldest.clone(),
        );
        let restore_tests = Family::<OutcomeLabels, Counter>::default();
        registry.register("restore_tests", "Restore tests checked, by result (passed, failed)", restore_tests.clone());
        let restore_tests_failing = Gauge::default();
        registry.register("restore_tests_failing", "Classes whose last restore test failed", restore_tests_failing.clone());
        let restore_test_last_pass = Gauge::default();
        registry.register(
            "restore_test_last_pass_timestamp_seconds",
            "When a restore test last passed (Unix seconds; 0: never)",
            restore_test_last_pass.clone(),
        );
        Metrics {
            restore_tests,
            restore_tests_failing,
            restore_test_last_pass,
            backups,
            backup_duration,
            backup_database_bytes,
            backups_failing,
            backup_oldest,
            spaces_adoption,
            spaces_by_usage,
            spaces_near_limit,
            usage_top,
            usage_oldest,
            upgrade_longest,
            upgrades,
            upgrade_downtime,
            sleep_transitions,
            wake_duration,
            background_runs,
            snapshot_bytes,
            upgrades_in_progress,
            apps_reenabled,
            storage_quota_actions,
            spaces_by_version,
            rollout,
            external_writes,
            writes_refused,
            backend_replicas,
            leader,
            registry,
            reconciles,
            reconcile_duration,
            in_flight,
            spaces,
            pool_capacity,
            pool_assigned,
            pool_ready,
            cache_cluster_nodes,
            call_duration,
            call_errors,
        }
    }

    /// Counts a reconcile around `f`: in flight while it runs, then its duration and result.
    pub async fn reconcile<T, E>(&self, controller: &str, f: impl Future<Output = Result<T, E>>) -> Result<T, E> {
        let labels = ControllerLabels { controller: controller.to_string() };
        self.in_flight.get_or_create(&labels).inc();
        let started = std::time::Instant::now();
        let result = f.await;
        self.in_flight.get_or_create(&labels).dec();
        self.reconcile_duration.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
        let outcome = if result.is_ok() { "success" } else { "error" };
        self.reconciles.get_or_create(&ResultLabels { controller: controller.to_string(), result: outcome.to_string() }).inc();
        result
    }

    /// Records a call to an external system.
    pub fn external_call(&self, system: &str, operation: &str, elapsed: Duration, error_reason: Option<&str>) {
        let labels = CallLabels { system: system.to_string(), operation: operation.to_string() };
        self.call_duration.get_or_create(&labels).observe(elapsed.as_secs_f64());
        if let Some(reason) = error_reason {
            self.call_errors
                .get_or_create(&CallErrorLabels {
                    system: system.to_string(),
                    operation: operation.to_string(),
                    reason: reason.to_string(),
                })
                .inc();
        }
    }

    pub fn external_writes(&self, system: &str, writes: u32) {
        if writes > 0 {
            self.external_writes.get_or_create(&SystemLabels { system: system.to_string() }).inc_by(u64::from(writes));
        }
    }

    /// A write the write gate refused (see `crate::gate`).
    pub fn write_refused(&self, system: &str) {
        self.writes_refused.get_or_create(&SystemLabels { system: system.to_string() }).inc();
    }

    pub fn set_backend_replicas(&self, kind: &str, backend: &str, desired: i32, ready: i32) {
        for (state, value) in [("desired", desired), ("ready", ready)] {
            let labels = ReplicaLabels { kind: kind.to_string(), backend: backend.to_string(), state: state.to_string() };
            self.backend_replicas.get_or_create(&labels).set(i64::from(value));
        }
    }

    pub fn upgrade_event(&self, result: &str) {
        self.upgrades.get_or_create(&OutcomeLabels { result: result.to_string() }).inc();
    }

    pub fn apps_reenabled(&self) {
        self.apps_reenabled.inc();
    }

    pub fn storage_quota_action(&self, system: &str, action: &str, n: u64) {
        self.storage_quota_actions.get_or_create(&QuotaActionLabels { system: system.into(), action: action.into() }).inc_by(n);
    }

    pub fn sleep_transition(&self, result: &str) {
        self.sleep_transitions.get_or_create(&OutcomeLabels { result: result.to_string() }).inc();
    }

    pub fn woke_after(&self, seconds: f64) {
        self.wake_duration.observe(seconds);
    }

    pub fn background_run(&self, succeeded: bool) {
        let result = if succeeded { "succeeded" } else { "failed" };
        self.background_runs.get_or_create(&OutcomeLabels { result: result.into() }).inc();
    }

    pub fn upgrade_downtime(&self, seconds: u64) {
        self.upgrade_downtime.observe(seconds as f64);
    }

    pub fn backup_finished(&self, succeeded: bool, seconds: i64, database_bytes: i64) {
        let result = if succeeded { "succeeded" } else { "failed" };
        self.backups.get_or_create(&OutcomeLabels { result: result.into() }).inc();
        if succeeded {
            self.backup_duration.observe(seconds as f64);
            self.backup_database_bytes.observe(database_bytes as f64);
        }
    }

    pub fn restore_test_finished(&self, passed: bool) {
        let result = if passed { "passed" } else { "failed" };
        self.restore_tests.get_or_create(&OutcomeLabels { result: result.into() }).inc();
    }

    pub fn set_restore_tests(&self, failing: i64, last_pass: i64) {
        self.restore_tests_failing.set(failing);
        self.restore_test_last_pass.set(last_pass);
    }

    pub fn snapshot_bytes(&self, bytes: i64) {
        self.snapshot_bytes.observe(bytes as f64);
    }

    pub fn set_upgrading(&self, pool: &str, count: usize) {
        self.upgrades_in_progress.get_or_create(&PoolNameLabels { pool: pool.to_string() }).set(count as i64);
    }

    /// The class's spaces by release (releases no longer run are set to 0, so they leave the chart).
    pub fn set_versions(&self, class: &str, counts: &std::collections::BTreeMap<String, i64>, gone: &[String]) {
        for v in gone {
            self.spaces_by_version.get_or_create(&VersionLabels { class: class.to_string(), version: v.clone() }).set(0);
        }
        for (v, n) in counts {
            self.spaces_by_version.get_or_create(&VersionLabels { class: class.to_string(), version: v.clone() }).set(*n);
        }
    }

    pub fn set_upgrade_longest(&self, class: &str, seconds: i64) {
        self.upgrade_longest.get_or_create(&ClassNameLabels { class: class.to_string() }).set(seconds);
    }

    pub fn set_rollout(&self, class: &str, state: &str, value: i64) {
        self.rollout.get_or_create(&RolloutLabels { class: class.to_string(), state: state.to_string() }).set(value);
    }

    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    pub fn set_spaces(&self, phase: &str, count: i64) {
        self.spaces.get_or_create(&PhaseLabels { phase: phase.to_string() }).set(count);
    }

    /// Publishes the fleet's usage and adoption counts (the top list replaced whole, so a space
    /// that left it leaves no series behind).
    pub fn set_usage(&self, c: &UsageCensus) {
        for (resource, band, n) in &c.bands {
            self.spaces_by_usage.get_or_create(&UsageBandLabels { resource: resource.to_string(), band: band.to_string() }).set(*n);
        }
        for (resource, n) in &c.near_limit {
            self.spaces_near_limit.get_or_create(&ResourceLabels { resource: resource.to_string() }).set(*n);
        }
        self.usage_top.clear();
        for (resource, space, share) in &c.top {
            self.usage_top.get_or_create(&TopUsageLabels { resource: resource.to_string(), space: space.clone() }).set(*share);
        }
        self.usage_oldest.set(c.oldest_measure_seconds);
        self.backups_failing.set(c.backups_failing);
        self.backup_oldest.set(c.oldest_backup_seconds);
        for (state, n) in &c.adoption {
            self.spaces_adoption.get_or_create(&AdoptionLabels { state: state.to_string() }).set(*n);
        }
    }

    pub fn set_pool(&self, kind: &str, pool: &str, capacity: i64, assigned: i64, ready: bool) {
        let labels = PoolLabels { kind: kind.to_string(), pool: pool.to_string() };
        self.pool_capacity.get_or_create(&labels).set(capacity);
        self.pool_assigned.get_or_create(&labels).set(assigned);
        self.pool_ready.get_or_create(&labels).set(i64::from(ready));
    }

    /// A cluster CachePool's nodes by state, from its last check.
    pub fn set_cache_nodes(&self, pool: &str, nodes: &[crate::api::pool::CacheNodeStatus]) {
        let count = |f: &dyn Fn(&crate::api::pool::CacheNodeStatus) -> bool| nodes.iter().filter(|n| f(n)).count() as i64;
        for (state, value) in [
            ("reachable", count(&|n| n.reachable)),
            ("unreachable", count(&|n| !n.reachable)),
            ("lacking_users", count(&|n| n.reachable && n.users_missing > 0)),
            ("unsaved", count(&|n| n.reachable && !n.persisted)),
        ] {
            self.cache_cluster_nodes.get_or_create(&CacheNodeLabels { pool: pool.into(), state: state.into() }).set(value);
        }
    }

    /// The Prometheus text format (0.0.4), which every scraper and `promtool check metrics` read.
    pub fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        let mut text = to_prometheus_text(&out);
        if let Some(stats) = super::process::current() {
            super::process::encode(&stats, &mut text)?;
        }
        Ok(text)
    }
}

/// OpenMetrics to the Prometheus text format: a counter family is named with its `_total` suffix
/// in `# HELP`/`# TYPE`, and there is no `# EOF` or `# UNIT` line.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> =
        openmetrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")).filter_map(|l| l.strip_suffix(" counter")).collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ')?;
            counters.contains(name).then(|| format!("{prefix}{name}_total {tail}"))
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reconciles_and_calls_are_exported() {
        let m = Metrics::new();
        let _: Result<(), ()> = m.reconcile("space", async { Ok(()) }).await;
        let _: Result<(), ()> = m.reconcile("space", async { Err(()) }).await;
        m.external_call("postgres", "ensure", Duration::from_millis(12), Some("PoolUnreachable"));
        m.set_spaces("Ready", 3);
        m.set_pool("DatabasePool", "pg-1", 500, 2, true);
        let text = m.encode().expect("encodes");
        assert!(text.contains(r#"framaspace_reconciles_total{controller="space",result="success"} 1"#), "{text}");
        assert!(text.contains(r#"framaspace_reconciles_total{controller="space",result="error"} 1"#));
        assert!(text.contains(r#"framaspace_reconciles_in_flight{controller="space"} 0"#));
        assert!(text.contains(r#"framaspace_external_call_errors_total{system="postgres",operation="ensure",reason="PoolUnreachable"} 1"#));
        assert!(text.contains(r#"framaspace_spaces{phase="Ready"} 3"#));
        assert!(text.contains(r#"framaspace_pool_assigned_spaces{kind="DatabasePool",pool="pg-1"} 2"#));
        assert!(text.contains("framaspace_reconcile_duration_seconds_bucket"));
        assert!(text.contains("# TYPE framaspace_reconciles_total counter"), "{text}");
        assert!(text.contains("# HELP framaspace_reconciles_total "));
        assert!(!text.contains("# EOF"));
    }

    #[test]
    fn openmetrics_counters_get_their_total_name() {
        let om = "# HELP x_calls Calls.\n# TYPE x_calls counter\nx_calls_total 3\n# HELP x_up Up.\n# TYPE x_up gauge\nx_up 1\n# EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP x_calls_total Calls.\n# TYPE x_calls_total counter\nx_calls_total 3\n# HELP x_up Up.\n# TYPE x_up gauge\nx_up 1\n"
        );
    }
}
