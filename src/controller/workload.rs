//! What the operator reads of a Deployment (a space's Nextcloud, an office or preview backend):
//! the compact form its cache keeps, and the rules every reader applies to it.

use k8s_openapi::api::apps::v1::Deployment;

/// What a Deployment reports: all that the caches keep of one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkloadObservation {
    pub exists: bool,
    /// The replicas asked for in its spec.
    pub desired_replicas: i32,
    pub generation: i64,
    pub observed_generation: i64,
    pub replicas: i32,
    pub ready_replicas: i32,
    pub updated_replicas: i32,
}

impl WorkloadObservation {
    /// A pod of the current rollout is ready: what WorkloadReady calls Available.
    pub fn pods_ready(&self) -> bool {
        self.ready_replicas >= 1 && self.updated_replicas >= 1
    }

    /// The latest change observed and a pod of it ready (a space that is not suspended).
    pub fn available(&self) -> bool {
        self.exists && self.observed_generation >= self.generation && self.pods_ready()
    }
}

/// What a space reads of its Nextcloud Deployment, and a backend of its own.
pub fn observe_deployment(d: &Deployment) -> WorkloadObservation {
    let status = d.status.clone().unwrap_or_default();
    WorkloadObservation {
        exists: true,
        desired_replicas: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        generation: d.metadata.generation.unwrap_or_default(),
        observed_generation: status.observed_generation.unwrap_or_default(),
        replicas: status.replicas.unwrap_or_default(),
        ready_replicas: status.ready_replicas.unwrap_or_default(),
        updated_replicas: status.updated_replicas.unwrap_or_default(),
    }
}
