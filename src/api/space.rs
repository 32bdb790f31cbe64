//! `AssociationSpace`: one tenant, its Nextcloud, its data and its access.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::conditions::{Condition, conditions_schema};
pub use super::nextcloud::NextcloudStatus;

/// Names that would collide with platform hosts under the base domain (`www.frama.space`,
/// the office and preview backends, ...). Kept in one place: the CRD rule is built from it.
pub const RESERVED_NAMES: &[&str] = &[
    "www",
    "api",
    "admin",
    "mail",
    "smtp",
    "imap",
    "webmail",
    "status",
    "support",
    "docs",
    "help",
    "office",
    "collabora",
    "onlyoffice",
    "preview",
    "imaginary",
    "portal",
    "signup",
    "static",
    "cdn",
];

/// The longest space name: it becomes `space-<name>` (namespace), `space_<name>` (PostgreSQL role,
/// at most 63 bytes) and the first label of the host.
pub const MAX_NAME_LENGTH: usize = 40;

/// A Framaspace space: a Nextcloud instance for one association, reachable at
/// `https://<name>.<class baseDomain>`, with its own database, cache namespace and bucket.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "frama.space",
    version = "v1alpha1",
    kind = "AssociationSpace",
    plural = "associationspaces",
    singular = "associationspace",
    shortname = "space",
    shortname = "spaces",
    category = "framaspace",
    status = "AssociationSpaceStatus",
    derive = "PartialEq",
    doc = "A Framaspace space: one Nextcloud instance for one association, with its own database, cache namespace and bucket.",
    printcolumn(name = "URL", type_ = "string", json_path = ".status.url", description = "Address of the space"),
    printcolumn(name = "Class", type_ = "string", json_path = ".status.spaceClass", description = "SpaceClass in use"),
    printcolumn(name = "Office", type_ = "string", json_path = ".status.office", description = "Office suite in use", priority = 1),
    printcolumn(name = "Quota", type_ = "string", json_path = ".status.quota", description = "Storage quota in force", priority = 1),
    printcolumn(name = "Namespace", type_ = "string", json_path = ".status.namespace", description = "Namespace of the workload", priority = 1),
    printcolumn(name = "Nextcloud", type_ = "string", json_path = ".status.nextcloud.versionString", description = "Nextcloud release the space runs"),
    printcolumn(name = "Upgrade", type_ = "string", json_path = ".status.upgrade.phase", description = "Where the space's latest upgrade stands", priority = 1),
    printcolumn(name = "Storage", type_ = "string", json_path = ".status.usage.storageShown", description = "Bucket used against the quota, as last measured"),
    printcolumn(name = "Accounts", type_ = "string", json_path = ".status.usage.accountsShown", description = "Accounts against maxAccounts, as last counted"),
    printcolumn(name = "Features", type_ = "string", json_path = ".status.features.shown", description = "The promised features the space has (files, agendas, contacts, photos, kanban, wiki, calls, office)"),
    printcolumn(name = "Adoption", type_ = "string", json_path = ".status.adoption.state", description = "Where the adoption of an existing instance stands", priority = 1),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase", description = "Lifecycle phase"),
    printcolumn(name = "Since", type_ = "date", json_path = ".status.sleep.since", description = "When the space last fell asleep or woke", priority = 1),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status", description = "Whether the space serves its users"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    selectable = ".spec.spaceClassName",
    validation = Rule::new("self.metadata.name.matches('^[a-z]([a-z0-9-]*[a-z0-9])?$')").message("metadata.name must be a DNS label that starts with a letter (lowercase letters, digits and '-'): it becomes the first label of the space's host name"),
    validation = Rule::new("size(self.metadata.name) <= 40").message("metadata.name must be at most 40 characters: it also names the namespace space-<name> and the database role space_<name>"),
    validation = Rule::new("!(self.metadata.name in ['www', 'api', 'admin', 'mail', 'smtp', 'imap', 'webmail', 'status', 'support', 'docs', 'help', 'office', 'collabora', 'onlyoffice', 'preview', 'imaginary', 'portal', 'signup', 'static', 'cdn'])").message("metadata.name is reserved: its host would collide with a platform service under the base domain"),
    validation = Rule::new("!self.metadata.name.startsWith('xn--')").message("metadata.name must not start with 'xn--' (punycode): it would be shown as a different name in browsers"),
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.spaceClassName) == has(oldSelf.spaceClassName)").message("spec.spaceClassName cannot be added or removed after creation: the class fixes the host name and the placement"))]
#[x_kube(validation = Rule::new("has(self.adoption) == has(oldSelf.adoption)").message("spec.adoption cannot be added or removed after creation: a space either adopts an existing instance or is installed new"))]
pub struct AssociationSpaceSpec {
    /// Name of the association as shown to its members (Nextcloud theming name).
    #[schemars(length(min = 1, max = 100))]
    pub display_name: String,

    /// E-mail address of the first administrator; the account is created with it.
    #[schemars(length(max = 254), regex(pattern = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"))]
    pub contact_email: String,

    /// SpaceClass that provides defaults and limits. Omit it to use the class marked default.
    /// Immutable: the class decides the host name and where the space's data lives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.spaceClassName is immutable: the class fixes the host name and the placement"))]
    pub space_class_name: Option<String>,

    /// Office suite for online editing: `collabora`, `onlyoffice` or `none`. Defaults to the class's choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "office_schema")]
    pub office: Option<OfficeSuite>,

    /// Storage shared by all accounts of the space (e.g. `40Gi`), at most the class's `limits.maxQuota`.
    /// Defaults to the class's `limits.defaultQuota`. Enforced as the bucket's hard quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 20), regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$"))]
    #[x_kube(validation = Rule::new("!isQuantity(self) || quantity(self).compareTo(quantity('1Mi')) >= 0").message("spec.quota must be at least 1Mi: a smaller quota rounds to none at all on the storage servers"))]
    pub quota: Option<String>,

    /// Maximum number of accounts, at most the class's `limits.maxAccounts`. Defaults to the class's
    /// `limits.defaultMaxAccounts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub max_accounts: Option<i32>,

    /// When true, the Nextcloud workload is scaled to zero; data, credentials and configuration are kept.
    #[serde(default)]
    pub suspended: bool,

    /// Keeps the space on the Nextcloud it runs while its class rolls out a new version (the
    /// rollout counts it as held); `false` lets it be upgraded in the wave it belongs to.
    #[serde(default)]
    pub hold_upgrade: bool,

    /// Keeps the space awake whatever its class's sleep policy says (a space woken by this
    /// stays awake until it is idle again once the field is false).
    #[serde(default)]
    pub keep_awake: bool,

    /// What deleting the space does to its data: `Retain` (default) revokes the space's credentials and
    /// keeps its database, cache keys and bucket; `Delete` removes them.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// The TalkBackend whose TURN server the space's calls use, for a platform engineer moving a
    /// space; the operator chooses one when empty. Ignored while the class has no Talk (`spreed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub calls_backend: Option<String>,

    /// Takes over a Nextcloud that already exists instead of installing one: observed first (read
    /// only), then managed on its existing data. Deleting an adopted space never deletes or revokes
    /// its database or its bucket, whatever `deletionPolicy` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adoption: Option<crate::api::adoption::Adoption>,
}

/// An optional office suite, without the `null` member schemars adds to optional enums (the API
/// server would list "null" among the supported values in its error message).
pub fn office_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({ "type": "string", "enum": ["collabora", "onlyoffice", "none"] })
}

/// Office suite wired into a space.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OfficeSuite {
    Collabora,
    Onlyoffice,
    None,
}

impl AssociationSpace {
    /// Whether a platform engineer gave the space the data a deleted space of its name retained.
    pub fn reattaches_retained(&self) -> bool {
        self.metadata.annotations.as_ref().and_then(|a| a.get(super::labels::REATTACH_RETAINED_ANNOTATION)).is_some_and(|v| v == "true")
    }

    /// Whether the space (not being deleted) is served at `host`, as its status says.
    pub fn served_at(&self, host: &str) -> bool {
        self.served_host() == Some(host)
    }

    /// The host the space is served at: its URL's, unless it is being deleted.
    pub fn served_host(&self) -> Option<&str> {
        if self.metadata.deletion_timestamp.is_some() {
            return None;
        }
        self.status.as_ref().and_then(|s| s.url.as_deref()).and_then(|u| u.split_once("://")).map(|(_, h)| h)
    }
}

impl OfficeSuite {
    /// The Nextcloud app that wires the suite in.
    pub fn app(self) -> Option<&'static str> {
        match self {
            OfficeSuite::Collabora => Some("richdocuments"),
            OfficeSuite::Onlyoffice => Some("onlyoffice"),
            OfficeSuite::None => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OfficeSuite::Collabora => "collabora",
            OfficeSuite::Onlyoffice => "onlyoffice",
            OfficeSuite::None => "none",
        }
    }
}

/// What happens to a space's data when the space is deleted.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    /// Keep the database, cache keys and bucket; revoke the space's credentials.
    #[default]
    Retain,
    /// Drop the database and role, delete the cache user and keys, empty and delete the bucket.
    Delete,
}

/// Lifecycle phase, a summary of the conditions for people and dashboards.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum SpacePhase {
    /// Waiting for something outside the space (its class, a pool).
    Pending,
    /// Objects are being created and have not all become ready yet.
    Provisioning,
    /// Nextcloud is being installed in the space's database (the install Job).
    Installing,
    /// The space serves its users.
    Ready,
    /// The space was ready and something it depends on is not any more.
    Degraded,
    /// Scaled to zero on request; everything is kept.
    Suspended,
    /// Moving to its class's Nextcloud version: stopped, snapshotted, migrated, verified.
    Upgrading,
    /// Deletion is in progress.
    Deleting,
    /// An existing instance the operator only reads (`spec.adoption.policy: Observe`).
    Observing,
    /// Being restored to one of its backups (a SpaceRestore): in maintenance until done.
    Restoring,
    /// Idle: no web pod; its first request wakes it (`status.sleep`).
    Sleeping,
    /// A request came while it slept: its web pod starts, the request is held.
    Waking,
}

impl SpacePhase {
    pub const ALL: [SpacePhase; 12] = [
        SpacePhase::Pending,
        SpacePhase::Provisioning,
        SpacePhase::Installing,
        SpacePhase::Ready,
        SpacePhase::Degraded,
        SpacePhase::Suspended,
        SpacePhase::Upgrading,
        SpacePhase::Deleting,
        SpacePhase::Observing,
        SpacePhase::Restoring,
        SpacePhase::Sleeping,
        SpacePhase::Waking,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SpacePhase::Pending => "Pending",
            SpacePhase::Provisioning => "Provisioning",
            SpacePhase::Installing => "Installing",
            SpacePhase::Ready => "Ready",
            SpacePhase::Degraded => "Degraded",
            SpacePhase::Suspended => "Suspended",
            SpacePhase::Upgrading => "Upgrading",
            SpacePhase::Deleting => "Deleting",
            SpacePhase::Observing => "Observing",
            SpacePhase::Restoring => "Restoring",
            SpacePhase::Sleeping => "Sleeping",
            SpacePhase::Waking => "Waking",
        }
    }
}

/// Pools and backends a space was placed on. Decided once, then kept.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Placement {
    /// DatabasePool holding the space's database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_pool: Option<String>,
    /// CachePool holding the space's Redis user and keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_pool: Option<String>,
    /// The logical database of the CachePool's server that holds the space's keys, no other
    /// space's (its ACL user is pinned to it); 0 on a cluster, whose one database every space
    /// shares (its prefix isolates it).
    // An int64 in the schema: the API server knows no `uint32` format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<i64>", range(min = 0))]
    pub cache_database: Option<u32>,
    /// StoragePool holding the space's bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_pool: Option<String>,
    /// OfficeBackend serving the space's documents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office_backend: Option<String>,
    /// PreviewBackend computing the space's thumbnails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_backend: Option<String>,
    /// TalkBackend relaying the space's calls (a class with Talk only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub talk_backend: Option<String>,
}

/// The features Framaspace promises every space, and which of them this one has.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeaturesStatus {
    /// The promised features the space has: its apps enabled in Nextcloud, calls wired to a TURN
    /// server, office wired to its server.
    #[serde(default)]
    pub available: Vec<String>,
    /// The promised features it lacks, with why (`kanban: deck is not enabled`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
    /// What `kubectl get` shows: `8/8`, or the count and what is missing.
    #[serde(default)]
    pub shown: String,
}

/// The apps in force in a space.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppsStatus {
    /// The apps the operator enables as last applied (at install, or by the last apps Job): the
    /// platform's own (`framaspace_quota`) and the class's `apps`.
    #[serde(default)]
    pub requested: Vec<String>,
    /// Every app Nextcloud reported enabled after it (`occ app:list`), core apps included.
    #[serde(default)]
    pub enabled: Vec<String>,
}

/// Observed state of a space, written only by the operator.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssociationSpaceStatus {
    /// Lifecycle phase: Pending, Provisioning, Installing, Ready, Degraded, Suspended, Upgrading,
    /// Deleting, or Observing (an adopted instance the operator only reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<SpacePhase>,
    /// Public address of the space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Namespace that holds the space's workload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// SpaceClass in use (the default class when the spec names none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub space_class: Option<String>,
    /// Office suite in force after defaulting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub office: Option<OfficeSuite>,
    /// Storage quota in force after defaulting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<String>,
    /// Account limit in force after defaulting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_accounts: Option<i32>,
    /// Pools and backends the space was placed on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// The Nextcloud installed in the space, as its install Job reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nextcloud: Option<NextcloudStatus>,
    /// The apps of the space: the class's list the operator last applied, and what Nextcloud
    /// reported enabled then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apps: Option<AppsStatus>,
    /// Which of the promised features the space has (files, agendas, contacts, photos, kanban,
    /// wiki, calls, office), from the apps Nextcloud reports enabled and the calls and office wiring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<FeaturesStatus>,
    /// The space's latest upgrade to its class's version (see the class's `spec.rollout`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<UpgradeStatus>,
    /// What the space uses, as the operator last measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<SpaceUsage>,
    /// An adopted space: what the operator read of the instance and what differs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adoption: Option<crate::api::adoption::AdoptionStatus>,
    /// The restore it is going through (see `SpaceRestore`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore: Option<crate::api::restore::SpaceRestoreState>,
    /// Its backups (see the class's `spec.backup`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<crate::api::backup::BackupsStatus>,

    /// Whether it sleeps (a class with `spec.sleep`), since when and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep: Option<crate::api::sleep::SleepStatus>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready, Placed, Installed, DatabaseReady, CacheReady, StorageReady, WorkloadReady, IngressReady, OfficeReady.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
}

/// What a space uses.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpaceUsage {
    /// Its bucket, measured by the operator every `usageCheckSeconds` of its StoragePool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<StorageUsageStatus>,
    /// Its accounts and when they were last used, read from its database at the same interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<AccountUsageStatus>,
    /// `used/quota (percent)`, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_shown: Option<String>,
    /// `accounts/maxAccounts`, for `kubectl get`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts_shown: Option<String>,
}

/// A space's accounts, read from its own database as its own role.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountUsageStatus {
    /// Accounts of its Nextcloud (`oc_users`).
    pub accounts: i64,
    /// The account limit they were compared with.
    pub max_accounts: i64,
    /// The latest login of any account (`lastLogin` in `oc_preferences`, RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login: Option<String>,
    /// The latest use of any session or app password, sync clients included
    /// (`oc_authtoken.last_activity`, RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_activity: Option<String>,
    /// When these figures were read (kept while they do not change).
    pub measured_at: String,
}

/// A space's bucket against its quota. The stores' own quotas do not hold everything (MinIO
/// checks uploads against a scanner's figure that lags; Garage leaves unfinished multipart
/// uploads out), so the operator counts the bucket itself: over the quota, the space's key may
/// still read and delete but not upload, and unfinished uploads are aborted.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StorageUsageStatus {
    /// Bytes of the bucket's objects (Nextcloud's files, previews, a snapshot during an upgrade).
    pub used_bytes: i64,
    pub objects: i64,
    /// Bytes in unfinished multipart uploads.
    #[serde(default)]
    pub unfinished_upload_bytes: i64,
    /// The quota the figures were compared with.
    pub quota_bytes: i64,
    /// When these figures were measured (a later measure that finds the same ones leaves the
    /// status as it is).
    pub measured_at: String,
    /// Over the quota: uploads are refused until files are deleted.
    #[serde(default)]
    pub writes_refused: bool,
}

/// Where one space's upgrade stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum UpgradePhase {
    /// The web workload is scaled to zero: nobody writes to the database any more.
    Stopping,
    /// `pg_dump` of the space's database into its bucket.
    Snapshotting,
    /// The upgrade Job: `occ upgrade` and the `db:add-missing-*` commands, on the new image.
    Migrating,
    /// The web workload runs the new version; it must stay ready for `settleSeconds`.
    Verifying,
    /// The snapshot is being restored after a failure; the web workload stays at zero.
    Restoring,
    Succeeded,
    /// The space runs the version it had, with its database as it was.
    Failed,
}

impl UpgradePhase {
    /// The web workload is at zero in these phases.
    pub fn stops_the_web(self) -> bool {
        matches!(self, UpgradePhase::Stopping | UpgradePhase::Snapshotting | UpgradePhase::Migrating | UpgradePhase::Restoring)
    }

    pub fn in_progress(self) -> bool {
        !matches!(self, UpgradePhase::Succeeded | UpgradePhase::Failed)
    }
}

/// What a space shows of its latest upgrade.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeStatus {
    /// The release it moves to, and the image.
    pub target: String,
    pub target_image: String,
    /// The Nextcloud it ran before.
    pub from: NextcloudStatus,
    pub phase: UpgradePhase,
    /// When the upgrade began, and when its phase did (RFC 3339).
    pub started_at: String,
    pub phase_since: String,
    /// The snapshot's object in the space's bucket, and its size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_bytes: Option<i64>,
    /// How long the snapshot took.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_seconds: Option<i64>,
    /// Its SHA-256, checked before a restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_sha256: Option<String>,
    /// The backup the snapshot was kept as, in the class's backup store (with a backup policy):
    /// listed with the space's backups, restored from there if the upgrade fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_backup: Option<String>,
    /// Verifying: when the new version was first seen ready (users may have written to it since).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_since: Option<String>,
    /// Verifying: since when the new version has been ready without a break (the settle time
    /// counts from it; a pod that turns unready starts it again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_since: Option<String>,
    /// What went wrong (the failed Job's last lines), or how it ended.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl UpgradeStatus {
    /// An upgrade from `from` to `target` (in `target_image`) that begins at `at` (RFC 3339).
    pub fn started(target: &str, target_image: &str, from: &NextcloudStatus, at: &str) -> Self {
        UpgradeStatus {
            target: target.to_string(),
            target_image: target_image.to_string(),
            from: from.clone(),
            phase: UpgradePhase::Stopping,
            started_at: at.to_string(),
            phase_since: at.to_string(),
            snapshot: None,
            snapshot_bytes: None,
            snapshot_seconds: None,
            snapshot_sha256: None,
            snapshot_backup: None,
            served_since: None,
            ready_since: None,
            message: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::quantity::SIZE_PATTERN;

    #[test]
    fn reserved_names_match_the_crd_rule() {
        let crd = serde_json::to_string(&<AssociationSpace as kube::CustomResourceExt>::crd()).unwrap_or_default();
        for name in RESERVED_NAMES {
            assert!(crd.contains(&format!("'{name}'")), "{name} missing from the CRD rule");
        }
        assert!(crd.contains(&format!("size(self.metadata.name) <= {MAX_NAME_LENGTH}")));
    }

    #[test]
    fn quota_pattern_is_the_parser_grammar() {
        let crd = serde_json::to_string(&<AssociationSpace as kube::CustomResourceExt>::crd()).unwrap_or_default();
        assert!(crd.contains(&SIZE_PATTERN.replace('\\', "\\\\")));
    }
}
