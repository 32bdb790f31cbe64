//! Adoption: an AssociationSpace that takes over a Nextcloud that already exists (its database,
//! its bucket, its identity), first observed only, then managed. The anchors are Crossplane's
//! `managementPolicies: [Observe]` with an external name and ACK's read-only, retain-on-delete
//! adoption (`../shared/notes/fleet-facts.md` §6).

use kube::KubeSchema;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the operator may do with an adopted space.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, Hash, JsonSchema)]
pub enum AdoptionPolicy {
    /// Read each system, write nothing anywhere (only this object's status), report the differences.
    #[default]
    Observe,
    /// Take the space over on its existing data: no install, identifiers and secrets kept.
    Manage,
}

impl AdoptionPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            AdoptionPolicy::Observe => "Observe",
            AdoptionPolicy::Manage => "Manage",
        }
    }
}

/// The Nextcloud a space adopts, as its `config.php` describes it.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.policy == 'Manage' || oldSelf.policy == 'Observe'").message("spec.adoption.policy cannot go back from Manage to Observe: the operator already runs the space; delete the space instead (its adopted data is kept)"))]
pub struct Adoption {
    /// `Observe` (default): read only, differences reported in `status.adoption`. `Manage`: the
    /// operator runs the space on its existing data, once the report is clean.
    #[serde(default)]
    pub policy: AdoptionPolicy,
    /// The existing database.
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.adoption.database is immutable: a space adopts one database"))]
    pub database: AdoptedDatabase,
    /// The existing bucket (Nextcloud's primary object store).
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.adoption.bucket is immutable: a space adopts one bucket"))]
    pub bucket: AdoptedBucket,
    /// Secret in the operator's namespace, labelled `frama.space/purpose=adoption` and annotated
    /// `frama.space/space: <this space>`, holding the instance's `instanceid`, `secret`,
    /// `passwordsalt`, `dbpassword`, `objectstore-key` and `objectstore-secret` (config.php's names).
    #[schemars(length(min = 1, max = 253))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.adoption.secretName is immutable: it holds the instance's identity"))]
    pub secret_name: String,
    /// The `version` its config.php records (four parts, e.g. `33.0.7.2`).
    #[schemars(regex(pattern = r"^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.adoption.version is immutable: it is what the instance records"))]
    pub version: String,
    /// The host the instance answers at today (its first `trusted_domains`).
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"))]
    pub host: String,
}

/// A database on the server of a DatabasePool (isolation `Database`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdoptedDatabase {
    /// The DatabasePool whose server holds it.
    #[schemars(length(min = 1, max = 253))]
    pub pool: String,
    /// config.php's `dbname`.
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[A-Za-z_][A-Za-z0-9_$-]*$"))]
    pub name: String,
    /// config.php's `dbuser`.
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[A-Za-z_][A-Za-z0-9_$-]*$"))]
    pub role: String,
}

/// A bucket on the store of a StoragePool.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdoptedBucket {
    /// The StoragePool whose store holds it.
    #[schemars(length(min = 1, max = 253))]
    pub pool: String,
    /// config.php's `objectstore.arguments.bucket`.
    #[schemars(length(min = 3, max = 63), regex(pattern = r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$"))]
    pub name: String,
}

/// Where an adoption stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, JsonSchema)]
pub enum AdoptionState {
    /// Not read yet, or a system could not be reached.
    Observing,
    /// Read: nothing stops managing it (`differences` lists only the changes managing makes).
    Clean,
    /// Read: something must be mended before it can be managed (a `blocking` difference).
    Differing,
    /// Refused before anything was read (another space holds the data) or nothing is there.
    Refused,
    /// The operator runs the space on its adopted data.
    Managed,
}

impl AdoptionState {
    pub const ALL: [AdoptionState; 5] =
        [AdoptionState::Observing, AdoptionState::Clean, AdoptionState::Differing, AdoptionState::Refused, AdoptionState::Managed];

    pub fn as_str(self) -> &'static str {
        match self {
            AdoptionState::Observing => "Observing",
            AdoptionState::Clean => "Clean",
            AdoptionState::Differing => "Differing",
            AdoptionState::Refused => "Refused",
            AdoptionState::Managed => "Managed",
        }
    }
}

/// One thing that differs between the instance and what the operator would manage.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdoptionDifference {
    /// What differs (`version`, `apps`, `host`, `accounts`, `database`, `bucket`, `instanceid`, ...).
    pub field: String,
    /// What the instance has.
    pub observed: String,
    /// What managing it does, or what must happen first.
    pub managed: String,
    /// Whether this difference stops a switch to `Manage` (the others are changes managing makes).
    #[serde(default)]
    pub blocking: bool,
}

/// What the operator read of an adopted instance.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObservedInstance {
    /// config.php's `version`, as declared.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// The apps enabled in its database (`oc_appconfig`).
    #[serde(default)]
    pub enabled_apps: Vec<String>,
    /// Its accounts (`oc_users`).
    #[serde(default)]
    pub accounts: i64,
    /// Objects and bytes of its bucket.
    #[serde(default)]
    pub objects: i64,
    #[serde(default)]
    pub bytes: i64,
}

/// The adoption report, in `status.adoption`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AdoptionStatus {
    pub state: AdoptionState,
    /// The policy this report was made under.
    pub policy: AdoptionPolicy,
    /// When the systems were last read and found as this report says (kept while nothing changes).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub observed_at: String,
    #[serde(default)]
    pub differences: Vec<AdoptionDifference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<ObservedInstance>,
    /// Why the adoption is refused or could not be read.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

impl AdoptionStatus {
    /// Whether a switch to `Manage` may proceed: read, and nothing blocking.
    pub fn allows_manage(&self) -> bool {
        matches!(self.state, AdoptionState::Clean | AdoptionState::Managed)
    }
}
