//! How the spaces of a class move to a new Nextcloud: the rollout policy a class declares
//! (`SpaceClass.spec.rollout`) and what the class shows of the rollout. What each space shows of
//! its own upgrade is in `space` (`UpgradeStatus`); the plan is computed by the top-level pure
//! module of the same name, each space's state machine by the space pipeline's upgrade step.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How the spaces of the class are upgraded when `spec.nextcloud` changes: a canary first, then
/// waves, at most `maxParallelPerPool` spaces at once on each DatabasePool, inside the
/// maintenance windows, paused when too many fail.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RolloutPolicy {
    /// Stops new upgrades (those under way finish); `false` resumes.
    #[serde(default)]
    pub paused: bool,
    /// The spaces upgraded first, alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<Canary>,
    /// After the canary: the size of each wave, a number of spaces (`"50"`) or a share of the
    /// class's spaces (`"10%"`); the spaces left after the last one form a final wave. A wave
    /// starts when every space of the one before is upgraded, failed or held.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 20), inner(regex(pattern = r"^[0-9]{1,5}%?$")))]
    pub waves: Vec<String>,
    /// At most this many spaces of each DatabasePool are upgrading at once (their migrations run
    /// on that server).
    #[serde(default = "default_parallel")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_parallel_per_pool: i32,
    /// When the rollout pauses by itself.
    #[serde(default)]
    pub failure_threshold: FailureThreshold,
    /// When new upgrades may start (UTC); any time when empty. An upgrade under way finishes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 14))]
    pub windows: Vec<MaintenanceWindow>,
    /// How long a space must stay ready on its new version before it counts as upgraded.
    #[serde(default = "default_settle")]
    #[schemars(range(min = 0, max = 3600))]
    pub settle_seconds: i32,
    /// How long one step of a space's upgrade (stopping, snapshot, migration, verification,
    /// restore) may take before it counts as failed.
    #[serde(default = "default_step_timeout")]
    #[schemars(range(min = 60, max = 86400))]
    pub step_timeout_seconds: i32,
    /// Approves the rest of the rollout after the canary, when `canary.requireApproval`: the
    /// version approved (`spec.nextcloud.version`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 5, max = 20), regex(pattern = r"^[0-9]+\.[0-9]+\.[0-9]+$"))]
    pub approved_version: Option<String>,
    /// The repository of the snapshot and restore Jobs' image: PostgreSQL's client tools
    /// (`pg_dump`, `pg_restore`, `psql`) and `curl` (`images/snapshot`), one tag per PostgreSQL
    /// major. Each Job runs the tag of its DatabasePool's server major (`status.serverVersion`):
    /// `pg_dump` refuses a server newer than itself, and the SQL a newer `pg_restore` writes
    /// carries settings an older server refuses (17's `transaction_timeout`), so a class whose
    /// spaces span pools of several majors needs each client. The Job checks its client against
    /// the server before it dumps anything.
    #[serde(default = "default_snapshot_repository")]
    #[schemars(length(min = 1, max = 240), regex(pattern = r"^[a-z0-9]([-a-z0-9._/:]*[a-z0-9])?$"))]
    pub snapshot_image_repository: String,
    /// Keeps each space's upgrade snapshot in its bucket once the upgrade ended (for an
    /// inspection by hand). By default it is removed then: the new version serves, or the old
    /// one runs on the restored database, and a kept snapshot counts against the space's quota
    /// (the bucket's hard quota) without Nextcloud seeing it.
    #[serde(default)]
    pub keep_snapshots: bool,
}

impl Default for RolloutPolicy {
    fn default() -> Self {
        RolloutPolicy {
            paused: false,
            canary: None,
            waves: Vec::new(),
            max_parallel_per_pool: default_parallel(),
            failure_threshold: FailureThreshold::default(),
            windows: Vec::new(),
            settle_seconds: default_settle(),
            step_timeout_seconds: default_step_timeout(),
            approved_version: None,
            snapshot_image_repository: default_snapshot_repository(),
            keep_snapshots: false,
        }
    }
}

fn default_parallel() -> i32 {
    5
}

fn default_settle() -> i32 {
    300
}

fn default_step_timeout() -> i32 {
    1800
}

pub fn default_snapshot_repository() -> String {
    "registry.frama.space/framaspace/snapshot".to_string()
}

/// The spaces that go first: named, or selected by their labels (or both).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Canary {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 100), inner(length(min = 1, max = 40)))]
    pub names: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// The rest waits after the canary until `spec.rollout.approvedVersion` names the target.
    #[serde(default)]
    pub require_approval: bool,
}

/// The rollout pauses once `count` spaces failed to upgrade, or (when set) once `percent` of
/// those attempted failed. A failure in the canary always pauses it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FailureThreshold {
    #[serde(default = "default_failures")]
    #[schemars(range(min = 1, max = 10000))]
    pub count: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub percent: Option<i32>,
}

impl Default for FailureThreshold {
    fn default() -> Self {
        FailureThreshold { count: default_failures(), percent: None }
    }
}

fn default_failures() -> i32 {
    1
}

/// A time of day when upgrades may start, in UTC: from `start` to `end` (`HH:MM`; an end before
/// the start runs past midnight), on the given days (every day when empty).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.start != self.end").message("a maintenance window's start and end must differ"))]
pub struct MaintenanceWindow {
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub start: String,
    #[schemars(regex(pattern = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub end: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 7))]
    pub days: Vec<Weekday>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// Where the rollout of the class's version stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RolloutPhase {
    /// Every installed space runs the target.
    Complete,
    /// The canary is upgrading.
    Canary,
    /// The canary is upgraded; the rest waits for `spec.rollout.approvedVersion`.
    AwaitingApproval,
    /// A wave is upgrading.
    Rolling,
    /// Outside every maintenance window: no upgrade starts.
    WaitingForWindow,
    /// `spec.rollout.paused`, or the failure threshold was reached.
    Paused,
    /// The target image cannot serve the class (still inspected, not inspectable, or without
    /// one of the class's apps): no upgrade starts, those under way finish.
    Blocked,
}

/// What the class shows of its rollout.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// The version the spaces move to (`spec.nextcloud.version`).
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RolloutPhase>,
    /// The wave under way: 0 for the canary, then 1, 2, ...
    #[serde(default)]
    pub wave: i32,
    /// How many waves the rollout has after the canary.
    #[serde(default)]
    pub waves: i32,
    #[serde(default)]
    pub pending: i64,
    #[serde(default)]
    pub upgrading: i64,
    /// Installed spaces on the target version.
    #[serde(default)]
    pub done: i64,
    #[serde(default)]
    pub failed: i64,
    #[serde(default)]
    pub held: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The oldest and newest release the class's installed spaces run: the admission refuses a
    /// target that skips a major from the oldest or goes below the newest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oldest_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub newest_version: Option<String>,
}
