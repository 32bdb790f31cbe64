//! `SpaceRestore`: one space brought back to one of its backups, in place or as a clone.
//!
//! In place, the space goes to maintenance (its web at zero, no Job of it running), its bucket
//! becomes the backup's objects and its database the backup's dump, its Nextcloud the release
//! the backup recorded, then it serves again. As a clone, a new space of the same class (its own
//! database and bucket, never the source's) is created and filled from the backup, the source
//! left untouched. No other space is touched.

use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::conditions::{Condition, conditions_schema};

/// A restore of one space to one of its backups.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "frama.space",
    version = "v1alpha1",
    kind = "SpaceRestore",
    plural = "spacerestores",
    singular = "spacerestore",
    shortname = "restore",
    category = "framaspace",
    status = "SpaceRestoreStatus",
    derive = "PartialEq",
    doc = "One space restored, in place, to one of its backups (status.backups.kept of the space).",
    printcolumn(name = "Space", type_ = "string", json_path = ".spec.space"),
    printcolumn(name = "Backup", type_ = "string", json_path = ".status.backup"),
    printcolumn(name = "Mode", type_ = "string", json_path = ".spec.mode"),
    printcolumn(name = "Clone", type_ = "string", json_path = ".spec.cloneName"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    selectable = ".spec.space"
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self == oldSelf").message("a SpaceRestore's spec cannot change: create another one"))]
#[x_kube(validation = Rule::new("(has(self.mode) && self.mode == 'Clone') == has(self.cloneName)").message("spec.cloneName is required with mode Clone, and only then"))]
#[x_kube(validation = Rule::new("!has(self.cloneName) || self.cloneName != self.space").message("spec.cloneName must differ from spec.space: a clone never replaces its source"))]
pub struct SpaceRestoreSpec {
    /// The AssociationSpace to restore.
    #[schemars(length(min = 1, max = 40))]
    pub space: String,
    /// The id of the backup (`status.backups.kept[].id` of the space); the newest when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 16, max = 16), regex(pattern = r"^[0-9]{8}T[0-9]{6}Z$"))]
    pub backup: Option<String>,
    /// `InPlace` (default): the space itself goes back to the backup. `Clone`: a new space,
    /// `cloneName`, gets the backup's data; the source keeps running untouched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<RestoreMode>,
    /// The name of the new space a Clone restore creates (it must not exist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 40), regex(pattern = r"^[a-z]([a-z0-9-]*[a-z0-9])?$"))]
    pub clone_name: Option<String>,
}

impl SpaceRestoreSpec {
    /// The clone this restore creates, if it is one.
    pub fn clone_target(&self) -> Option<&str> {
        match self.mode {
            Some(RestoreMode::Clone) => self.clone_name.as_deref(),
            _ => None,
        }
    }
}

/// Where a restore's data goes.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RestoreMode {
    InPlace,
    Clone,
}

/// Where a restore stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum RestorePhase {
    /// Waiting for the space (a backup being taken, another restore).
    Pending,
    /// Refused before anything was touched (see the message).
    Refused,
    /// The space's web and Jobs are stopping.
    Stopping,
    /// The bucket is being made the backup's.
    RestoringFiles,
    /// The database is being replaced by the backup's dump (one transaction).
    RestoringDatabase,
    Succeeded,
    /// The database restore failed; the space stays in maintenance until the SpaceRestore is
    /// deleted or another one succeeds.
    Failed,
}

impl RestorePhase {
    pub fn is_final(self) -> bool {
        matches!(self, RestorePhase::Refused | RestorePhase::Succeeded | RestorePhase::Failed)
    }
}

#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpaceRestoreStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RestorePhase>,
    /// The backup restored (the newest, when the spec names none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// The Nextcloud release the backup recorded, which the space runs after the restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// What the restore did to the bucket: objects put back and objects removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects_restored: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects_removed: Option<i64>,
    /// A clone's uid, as the operator created it: only that space is ever filled (a space made
    /// under the clone's name by someone else is not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clone_uid: Option<String>,
    /// Complete (True once restored; False with the reason when refused or failed).
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
}

/// The restore a space is going through, in the space's status.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpaceRestoreState {
    /// The SpaceRestore.
    pub name: String,
    /// A clone's source: the space whose backup it is (absent in place).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub backup: String,
    /// The Nextcloud the backup recorded.
    pub nextcloud: crate::api::nextcloud::NextcloudStatus,
    pub database_sha256: String,
    pub phase: RestorePhase,
    /// When the phase began (RFC 3339).
    pub since: String,
    pub started_at: String,
    /// What the files phase did: objects put back and removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects_restored: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub objects_removed: Option<i64>,
}
