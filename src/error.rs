//! Errors of the operator. Permanent ones (bad input) become conditions and wait for a change;
//! transient ones requeue with backoff. Messages never contain secret values.

use thiserror::Error;

use crate::render::credentials::RandomError;
use crate::render::resolve::SpecError;

#[derive(Debug, Error)]
pub enum Error {
    #[error("no usable Kubernetes configuration: {0}")]
    KubeConfig(#[from] kube::config::InferConfigError),
    #[error("Kubernetes API request failed: {0}")]
    Kube(#[source] kube::Error),
    /// The body of a failed Secret write is never shown: it could echo a credential back.
    #[error("writing Secret {namespace}/{name} failed with HTTP status {code}")]
    SecretWrite { namespace: String, name: String, code: u16 },
    #[error("encoding {what}: {source}")]
    Encode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Spec(#[from] SpecError),
    #[error(transparent)]
    Random(#[from] RandomError),
    #[error("{kind} {name}: {message}")]
    Pool { kind: &'static str, name: String, message: String },
    #[error(transparent)]
    Provision(#[from] crate::provision::ProvisionError),
    #[error("{0} is still terminating")]
    StillTerminating(String),
    /// A new space under the name of a deleted one that retained its data: nothing is created
    /// until a platform engineer re-attaches the data.
    #[error(
        "the name {space} holds the data a deleted space retained ({held}); nothing is created for this space until a platform engineer re-attaches it (annotation frama.space/reattach-retained: \"true\", which the portal cannot set) or the space is deleted"
    )]
    RetainedDataHeld { space: String, held: String },
    /// An installed space's Secret lost Nextcloud's identity values; none are generated unasked.
    #[error(
        "the credentials Secret {namespace}/nextcloud-credentials of this installed Nextcloud lacks {missing}: new values would log everyone out and leave its stored passwords unreadable, so none are generated; restore these keys from a backup of the Secret, or annotate the space frama.space/new-identity=accept to generate new ones"
    )]
    IdentityLost { namespace: String, missing: String },
    /// The adoption Secret cannot be used (missing, not made for the space, incomplete).
    #[error("adoption: {0}")]
    AdoptionSecret(String),
    /// The space's namespace exists and is not the space's: nothing is written or bound there.
    #[error(
        "namespace {namespace} exists and was not created for this space ({holder}); nothing is written there until it is removed or the space renamed"
    )]
    NamespaceConflict { namespace: String, holder: String },
    #[error("leader election: {0}")]
    LeaderElection(#[from] kube_lease_manager::LeaseManagerError),
    #[error("leadership lost: {0}")]
    LeadershipLost(String),
    #[error("{0}")]
    Identity(String),
    #[error(transparent)]
    NotLeader(#[from] crate::gate::NotLeader),
    #[error("cannot serve the metrics endpoint: {0}")]
    MetricsEndpoint(#[source] std::io::Error),
}

impl From<kube::Error> for Error {
    fn from(e: kube::Error) -> Self {
        Error::Kube(e)
    }
}

impl Error {
    /// CamelCase reason for a condition or an Event.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => "Conflict",
            Error::Kube(kube::Error::Api(s)) if s.code == 403 => "Forbidden",
            Error::Kube(kube::Error::Api(s)) if s.code == 422 => "Invalid",
            Error::Kube(_) => "KubernetesApiError",
            Error::KubeConfig(_) => "NoKubeConfig",
            Error::SecretWrite { .. } => "SecretWriteFailed",
            Error::Encode { .. } => "EncodingFailed",
            Error::Spec(e) => e.reason(),
            Error::Random(_) => "RandomGeneratorFailed",
            Error::StillTerminating(_) => "Terminating",
            Error::NamespaceConflict { .. } => "NamespaceConflict",
            Error::IdentityLost { .. } => "IdentityLost",
            Error::AdoptionSecret(_) => "AdoptionSecretRefused",
            Error::RetainedDataHeld { .. } => "RetainedDataHeld",
            Error::Pool { .. } => "PoolMisconfigured",
            Error::Provision(e) => e.reason(),
            Error::LeaderElection(_) => "LeaderElectionFailed",
            Error::LeadershipLost(_) => "LeadershipLost",
            Error::Identity(_) => "UnknownIdentity",
            Error::MetricsEndpoint(_) => "MetricsEndpointFailed",
            Error::NotLeader(_) => "NotLeader",
        }
    }

    /// Permanent errors wait for a change of the object instead of retrying.
    pub fn is_permanent(&self) -> bool {
        matches!(self, Error::Spec(_) | Error::RetainedDataHeld { .. })
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
