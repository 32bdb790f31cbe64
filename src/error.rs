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
        matches!(self, Error::Spec(_))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
