//! The Nextcloud a space runs, as its status, its backups and its restores record it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The Nextcloud a space runs: what `occ status` printed at the end of its install. Web pods only
/// ever run this image, with this `version` in their configuration.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NextcloudStatus {
    /// The exact version (`version` of `occ status`, four parts, e.g. `33.0.7.2`): Nextcloud
    /// compares it with its code's to decide whether an upgrade is pending.
    pub version: String,
    /// The release (`versionstring`, e.g. `33.0.7`).
    pub version_string: String,
    /// The image the space runs.
    pub image: String,
}
