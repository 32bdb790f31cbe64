//! Leader election on a `Lease`: of the operator's replicas, only the holder runs the controllers.
//! A holder that cannot renew stops (the process exits and is restarted as a standby) rather than
//! risk two writers; a holder that shuts down releases the lease so the standby takes over at once.

use std::sync::Arc;
use std::time::Duration;

use kube::Client;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder};
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::error::Result;
use crate::gate::WriteGate;

/// How often a standby looks at the lease.
const RETRY_PERIOD: Duration = Duration::from_secs(2);

#[derive(Clone, Debug)]
pub struct LeaderElection {
    pub lease_name: String,
    pub namespace: String,
    /// Unique among the replicas: the pod name, or host and process id outside Kubernetes.
    pub identity: String,
    /// Seconds a lease stays valid after its last renewal: the longest a standby waits after a crash.
    pub duration_seconds: u64,
    /// Seconds before expiry at which the holder renews (also the clock skew tolerated).
    pub grace_seconds: u64,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LeaseTimingError {
    #[error("the lease duration must be at least 2 seconds, got {0}")]
    DurationTooShort(u64),
    #[error("the renewal grace ({grace}s) must be at least 1 second and shorter than the lease duration ({duration}s)")]
    Grace { grace: u64, duration: u64 },
}

impl LeaderElection {
    /// The lease crate panics on inconsistent timings; they are refused here with a message instead.
    pub fn validate(&self) -> std::result::Result<(), LeaseTimingError> {
        if self.duration_seconds < 2 {
            return Err(LeaseTimingError::DurationTooShort(self.duration_seconds));
        }
        if self.grace_seconds == 0 || self.grace_seconds >= self.duration_seconds {
            return Err(LeaseTimingError::Grace { grace: self.grace_seconds, duration: self.duration_seconds });
        }
        Ok(())
    }
}

impl LeaderElection {
    /// How long one observed renewal lets the holder write. The lease crate renews `grace` seconds
    /// before expiry, so renewals come every `duration - grace`; half the grace is left for clock
    /// skew and requests in flight, so the gate is shut before a standby may take over.
    pub fn write_validity(&self) -> Duration {
        Duration::from_millis(self.duration_seconds * 1000 - self.grace_seconds * 500)
    }
}

/// Opens the write gate for [`LeaderElection::write_validity`] each time the Lease is seen renewed
/// by this process, and closes it when another holds it. Runs while the process leads.
pub async fn confirm_renewals(client: Client, params: LeaderElection, gate: WriteGate) {
    use futures::StreamExt;
    use k8s_openapi::api::coordination::v1::Lease;
    use kube::runtime::{WatchStreamExt, watcher};
    let api: kube::Api<Lease> = kube::Api::namespaced(client, &params.namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={}", params.lease_name));
    let mut leases = watcher(api, config).default_backoff().applied_objects().boxed();
    let mut last_renewal = None;
    while let Some(lease) = leases.next().await {
        match lease {
            Ok(lease) => {
                let spec = lease.spec.unwrap_or_default();
                if spec.holder_identity.as_deref() != Some(params.identity.as_str()) {
                    gate.close();
                    continue;
                }
                // A re-list after a reconnect shows the same renewal again: only a new one counts.
                let renewal = spec.renew_time.map(|t| t.0);
                if renewal != last_renewal {
                    gate.confirm(std::time::Instant::now());
                    last_renewal = renewal;
                }
            }
            Err(e) => warn!(error = %e, "watching the lease failed; the write gate closes unless renewals are seen again"),
        }
    }
}

/// The identity of this process when no pod name is given.
pub fn default_identity() -> String {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "localhost".into());
    format!("{host}-{}", std::process::id())
}

/// A held lease, renewed in the background until it is lost or released.
pub struct Leadership {
    manager: Arc<LeaseManager>,
    renewal: JoinHandle<String>,
}

async fn lease_manager(client: &Client, params: &LeaderElection) -> Result<LeaseManager> {
    Ok(LeaseManagerBuilder::new(client.clone(), &params.lease_name)
        .with_namespace(&params.namespace)
        .with_identity(&params.identity)
        .with_duration(params.duration_seconds)
        .with_grace(params.grace_seconds)
        .build()
        .await?)
}

/// Waits until this process holds the lease. Returns `None` when `cancel` completes first.
pub async fn acquire(client: Client, params: &LeaderElection, cancel: impl Future<Output = ()>) -> Result<Option<Leadership>> {
    info!(lease = %params.lease_name, identity = %params.identity, "waiting for leadership");
    tokio::pin!(cancel);
    let mut failures: u32 = 0;
    let manager = loop {
        // The lease crate re-reads a lease held by another only once it would have expired; a
        // fresh manager every retry period reads it now, so a lease released by a graceful
        // shutdown is taken at once (client-go's standbys poll the same way).
        let attempt = async {
            let manager = lease_manager(&client, params).await?;
            match tokio::time::timeout(RETRY_PERIOD, manager.changed()).await {
                Ok(Ok(true)) => Ok(Some(manager)),
                Ok(Ok(false)) | Err(_) => Ok(None),
                Ok(Err(e)) => Err(crate::error::Error::from(e)),
            }
        };
        tokio::select! {
            _ = &mut cancel => return Ok(None),
            result = attempt => match result {
                Ok(Some(manager)) => break manager,
                Ok(None) => failures = 0,
                Err(e) => {
                    failures = failures.saturating_add(1);
                    warn!(error = %e, "cannot read the lease; retrying");
                    tokio::time::sleep(Duration::from_secs(u64::from(failures.min(10)))).await;
                }
            },
        }
    };
    let manager = Arc::new(manager);
    info!(lease = %params.lease_name, identity = %params.identity, "became the leader");
    let renewing = manager.clone();
    let renewal = tokio::spawn(async move {
        loop {
            match renewing.changed().await {
                Ok(true) => {}
                Ok(false) => return String::from("another replica holds the lease"),
                Err(e) => return format!("the lease could not be renewed: {e}"),
            }
        }
    });
    Ok(Some(Leadership { manager, renewal }))
}

impl Leadership {
    /// Completes when the lease is lost, with the reason.
    pub async fn lost(&mut self) -> String {
        match (&mut self.renewal).await {
            Ok(reason) => reason,
            Err(e) => format!("the renewal task ended: {e}"),
        }
    }

    /// Gives the lease up so a standby need not wait for it to expire.
    pub async fn release(self) -> Result<()> {
        self.renewal.abort();
        self.manager.release().await?;
        info!("released the lease");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn election(duration_seconds: u64, grace_seconds: u64) -> LeaderElection {
        LeaderElection { lease_name: "l".into(), namespace: "n".into(), identity: "i".into(), duration_seconds, grace_seconds }
    }

    #[test]
    fn timings_the_lease_crate_would_panic_on_are_refused() {
        assert_eq!(election(15, 5).validate(), Ok(()));
        assert_eq!(election(2, 1).validate(), Ok(()));
        assert_eq!(election(1, 1).validate(), Err(LeaseTimingError::DurationTooShort(1)));
        assert_eq!(election(15, 0).validate(), Err(LeaseTimingError::Grace { grace: 0, duration: 15 }));
        assert_eq!(election(15, 15).validate(), Err(LeaseTimingError::Grace { grace: 15, duration: 15 }));
    }
}
