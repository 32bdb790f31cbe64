//! The write gate: every write of the operator, to the API server and to PostgreSQL, Redis, MinIO
//! and Garage, asks it first whether this replica still holds the lease at that moment.
//!
//! Stopping the controllers when the lease is lost is not enough: reconciles in flight finish,
//! and an external call can take up to a minute, so for a while two replicas would write. The
//! gate closes on its own clock instead: it opens until `confirmed + validity` each time the
//! lease is seen renewed by this replica, and `validity` is shorter than the lease duration by
//! the renewal grace, so the gate is shut before a standby may take the lease over.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A write refused because this replica does not hold the lease (or can no longer be sure it does).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("this replica does not hold the lease: the write to {system} was not sent")]
pub struct NotLeader {
    pub system: &'static str,
}

/// The system name of writes to the API server.
pub const KUBERNETES: &str = "kubernetes";

type Observer = Arc<dyn Fn(&'static str) + Send + Sync>;

#[derive(Clone)]
pub struct WriteGate {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None`: no leader election, every write is allowed.
    lease: Option<LeaseClock>,
    refused: AtomicU64,
    observer: Mutex<Option<Observer>>,
}

struct LeaseClock {
    validity: Duration,
    /// Until when writes are allowed; `None` before the lease is held or after it was lost.
    open_until: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for WriteGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteGate").field("open", &self.is_open()).finish()
    }
}

impl Default for WriteGate {
    fn default() -> Self {
        Self::always_open()
    }
}

impl WriteGate {
    /// For a process that runs alone (no leader election), and for tests.
    pub fn always_open() -> Self {
        Self::build(None)
    }

    /// Closed until [`confirm`](Self::confirm) is called; each confirmation opens it for `validity`.
    pub fn leased(validity: Duration) -> Self {
        Self::build(Some(LeaseClock { validity, open_until: Mutex::new(None) }))
    }

    fn build(lease: Option<LeaseClock>) -> Self {
        WriteGate { inner: Arc::new(Inner { lease, refused: AtomicU64::new(0), observer: Mutex::new(None) }) }
    }

    /// Called with the system of every refused write (the metrics count them).
    pub fn observe_refusals(&self, observer: impl Fn(&'static str) + Send + Sync + 'static) {
        if let Ok(mut o) = self.inner.observer.lock() {
            *o = Some(Arc::new(observer));
        }
    }

    /// The lease was seen held by this replica at `at` (its acquisition or a renewal).
    pub fn confirm(&self, at: Instant) {
        if let Some(lease) = &self.inner.lease
            && let Ok(mut until) = lease.open_until.lock()
        {
            let candidate = at + lease.validity;
            if until.is_none_or(|u| u < candidate) {
                *until = Some(candidate);
            }
        }
    }

    /// The lease is lost or given up: nothing more is written, whatever the clock says.
    pub fn close(&self) {
        if let Some(lease) = &self.inner.lease
            && let Ok(mut until) = lease.open_until.lock()
        {
            *until = None;
        }
    }

    pub fn is_open(&self) -> bool {
        self.is_open_at(Instant::now())
    }

    fn is_open_at(&self, now: Instant) -> bool {
        match &self.inner.lease {
            None => true,
            Some(lease) => lease.open_until.lock().ok().and_then(|u| *u).is_some_and(|until| now < until),
        }
    }

    /// Asks leave to write to `system` now (`kubernetes`, `postgres`, `redis`, `minio`, `garage`).
    pub fn allow(&self, system: &'static str) -> Result<(), NotLeader> {
        if self.is_open() {
            return Ok(());
        }
        self.inner.refused.fetch_add(1, Ordering::Relaxed);
        let observer = self.inner.observer.lock().ok().and_then(|o| o.clone());
        if let Some(observe) = observer {
            observe(system);
        }
        Err(NotLeader { system })
    }

    /// Writes refused since the start.
    pub fn refused(&self) -> u64 {
        self.inner.refused.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_election_every_write_passes() {
        let gate = WriteGate::always_open();
        assert_eq!(gate.allow("postgres"), Ok(()));
        gate.close();
        assert_eq!(gate.allow("postgres"), Ok(()), "closing means nothing without a lease");
    }

    #[test]
    fn a_leased_gate_opens_on_confirmation_and_closes_on_its_own_clock() {
        let gate = WriteGate::leased(Duration::from_secs(10));
        assert_eq!(gate.allow("kubernetes"), Err(NotLeader { system: "kubernetes" }), "closed before the lease is held");
        let t0 = Instant::now();
        gate.confirm(t0);
        assert!(gate.is_open_at(t0 + Duration::from_secs(9)));
        assert!(!gate.is_open_at(t0 + Duration::from_secs(10)), "no renewal seen: closed at the end of the validity");
        gate.confirm(t0 + Duration::from_secs(5));
        assert!(gate.is_open_at(t0 + Duration::from_secs(14)), "a renewal extends it");
        gate.confirm(t0);
        assert!(gate.is_open_at(t0 + Duration::from_secs(14)), "an older confirmation never shortens it");
    }

    #[test]
    fn a_lost_lease_refuses_and_counts_every_write() {
        let gate = WriteGate::leased(Duration::from_secs(10));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        gate.observe_refusals(move |s| record.lock().expect("test lock").push(s));
        gate.confirm(Instant::now());
        assert_eq!(gate.allow("redis"), Ok(()));
        gate.close();
        assert!(gate.allow("redis").is_err());
        assert!(gate.allow("minio").is_err());
        assert_eq!(gate.refused(), 2);
        assert_eq!(*seen.lock().expect("test lock"), vec!["redis", "minio"]);
    }
}
