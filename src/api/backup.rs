//! Backups of a space: the class's policy (`SpaceClass.spec.backup`) and what the space records of
//! its backups (`AssociationSpace.status.backups`).
//!
//! A backup is the space's database, dumped as SQL the way the upgrade's snapshot is, and the
//! objects of its bucket, copied to a StoragePool of purpose `Backups` (another store, ideally
//! another site): one bucket per space there, which only the operator's own key reaches.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a class's spaces are backed up.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupPolicy {
    /// The StoragePool (of purpose `Backups`) that holds the backups.
    #[schemars(length(min = 1, max = 63))]
    pub storage_pool: String,
    /// Hours between two backups of a space (default 24). Each space takes its turn at its own
    /// offset within the period (a hash of its name), so the fleet's dumps are spread over it.
    #[serde(default = "default_every_hours")]
    #[schemars(range(min = 1, max = 168))]
    pub every_hours: i32,
    /// How many backups of a space are kept (default 7); older ones, and the copies of objects
    /// only they name, are removed after each backup.
    #[serde(default = "default_keep")]
    #[schemars(range(min = 1, max = 90))]
    pub keep: i32,
    /// Hours between two restore tests of the class (absent: none): one random space's latest
    /// backup restored into a scratch clone, its rows and objects compared with the backup's
    /// manifest, the clone deleted. The annotation `frama.space/restore-test-requested` on the
    /// class asks for one now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 8760))]
    pub restore_test_hours: Option<i32>,
}

fn default_every_hours() -> i32 {
    24
}

fn default_keep() -> i32 {
    7
}

impl BackupPolicy {
    pub fn period(&self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::try_from(self.every_hours).unwrap_or(24).max(1) * 3600)
    }

    pub fn keep(&self) -> usize {
        usize::try_from(self.keep).unwrap_or(7).max(1)
    }
}

/// A space's backups.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupsStatus {
    /// The backup under way, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub running: Option<RunningBackup>,
    /// The backups kept, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kept: Vec<BackupRecord>,
    /// When the next scheduled backup is due (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_at: Option<String>,
    /// The last backup that failed, while no backup has succeeded since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<BackupFailure>,
    /// The last value of the annotation `frama.space/backup-requested` a backup was taken for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_request: Option<String>,
}

impl BackupsStatus {
    pub fn last(&self) -> Option<&BackupRecord> {
        self.kept.first()
    }
}

/// A backup being taken.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunningBackup {
    /// Its id: the UTC time it began, `YYYYMMDDTHHMMSSZ`.
    pub id: String,
    pub started_at: String,
    /// Why it runs: `Scheduled` or `Requested`.
    pub trigger: String,
    /// The request it answers (`frama.space/backup-requested`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// The Nextcloud the space ran when the dump began (an upgrade may start before the copy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nextcloud: Option<crate::api::nextcloud::NextcloudStatus>,
}

/// One backup kept in the backup location.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupRecord {
    pub id: String,
    /// Why it was taken: `Scheduled`, `Requested`, or `Upgrade` (the snapshot before one).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub trigger: String,
    pub started_at: String,
    pub finished_at: String,
    /// The StoragePool and bucket that hold it.
    pub location: String,
    /// The Nextcloud the space ran, which its database was at (a restore runs this one).
    pub nextcloud: crate::api::nextcloud::NextcloudStatus,
    /// The dump's size (gzip'd SQL) and SHA-256.
    pub database_bytes: i64,
    pub database_sha256: String,
    /// The objects of the bucket at that moment, and what they weigh.
    pub objects: i64,
    pub object_bytes: i64,
    /// How many of them this backup copied (the others were copied by an earlier one).
    pub objects_copied: i64,
    pub duration_seconds: i64,
}

#[cfg(test)]
impl BackupRecord {
    /// A backup of the given id, for tests.
    pub fn fixture(id: &str) -> Self {
        BackupRecord {
            id: id.into(),
            trigger: "Scheduled".into(),
            started_at: String::new(),
            finished_at: String::new(),
            location: String::new(),
            nextcloud: Default::default(),
            database_bytes: 1,
            database_sha256: String::new(),
            objects: 0,
            object_bytes: 0,
            objects_copied: 0,
            duration_seconds: 0,
        }
    }
}

/// A backup that failed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BackupFailure {
    pub id: String,
    pub at: String,
    pub reason: String,
    pub message: String,
}
