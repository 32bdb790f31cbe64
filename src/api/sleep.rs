//! Sleeping spaces: a class's policy (`spec.sleep`), what a space shows of its sleep
//! (`status.sleep`), and the annotation the wake component sets.
//!
//! A space is idle when nobody used it for the policy's time: the newest `last_activity` of its
//! `oc_authtoken` rows, which Nextcloud updates for every token-authenticated request (browser
//! sessions, type 0, and app passwords of the desktop, mobile and DAV clients, type 1), at most
//! once a minute per token (`lib/private/Authentication/Token/PublicKeyTokenProvider.php`,
//! `updateTokenActivity`, `token_auth_activity_update` 60 s by default). A syncing client is a
//! user: a space with a desktop client running never sleeps.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// When the spaces of a class go to sleep (zero web pods) and how many of a pool wake at once.
/// Without it, the class's spaces never sleep.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SleepPolicy {
    /// Seconds without any use (no browser session, no app password used) after which a space
    /// sleeps; counted from its last use, or from when it last woke.
    #[schemars(range(min = 30, max = 31_536_000))]
    pub idle_after_seconds: u32,
    /// Spaces of one DatabasePool waking at the same time, at most: a flood of requests for
    /// sleeping spaces wakes them in turn, each starting Nextcloud against its database.
    #[serde(default = "default_max_waking")]
    #[schemars(range(min = 1, max = 1000))]
    pub max_waking_per_pool: u32,
}

fn default_max_waking() -> u32 {
    10
}

/// Where a space stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum SleepState {
    /// Its web pod runs (or is meant to).
    Awake,
    /// No web pod; its requests go to the wake component.
    Sleeping,
    /// A request came: its web pod starts; its requests are held by the wake component until
    /// the pod is ready.
    Waking,
}

/// `status.sleep`: whether the space sleeps, since when and why, and its background runs.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SleepStatus {
    /// `Awake`, `Sleeping` or `Waking`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SleepState>,
    /// When the state began (RFC 3339).
    pub since: String,
    /// Why, in one word: `Idle`, `WakeRequested`, `Woken`, `InUse`, `KeptAwake`, `Upgrading`, ...
    pub reason: String,
    /// Why, for people.
    pub message: String,
    /// The last use the decision read from the space's database (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_use: Option<String>,
    /// The wake request (the annotation `frama.space/wake-requested`) this state answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_request: Option<String>,
    /// The background jobs of a sleeping space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<BackgroundRuns>,
}

/// The background runs (`cron.php` in a Job) of a sleeping space.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackgroundRuns {
    /// When Nextcloud last finished a background run (its `core/lastcron`, RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_run: Option<String>,
    /// When the next one is due (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_run: Option<String>,
    /// Why then: `MaintenanceWindow` (the daily run) or `CalendarReminder` (one cannot wait).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub next_reason: String,
    /// The Job of the run under way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
}
