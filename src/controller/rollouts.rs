//! The rollouts in force, shared by the class controller (which plans them, `crate::rollout`)
//! and the spaces' upgrade steps (which ask whether their turn has come and take a slot on their
//! DatabasePool). In memory: the plans are recomputed from the spaces' statuses within seconds of
//! a start, and the slots are taken again from those statuses (`settle`) before any
//! space may start (`ready`), so a restarted operator never runs more than P upgrades on a pool.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures::channel::mpsc::UnboundedSender;
use kube::runtime::reflector::ObjectRef;

use crate::api::AssociationSpace;
use crate::rollout::Plan;

/// Whether a space may start its upgrade now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Turn {
    /// Holds a slot on its pool: go.
    Go,
    /// Not yet: why (shown in its UpToDate condition).
    Wait(String),
}

pub struct RolloutBook {
    plans: RwLock<HashMap<String, Arc<Plan>>>,
    /// Spaces upgrading, by DatabasePool.
    slots: Mutex<HashMap<String, BTreeSet<String>>>,
    /// Spaces admitted but without a slot, by pool: reconciled when one frees.
    waiting: Mutex<HashMap<String, BTreeSet<String>>>,
    seeded: AtomicBool,
    wake: Mutex<Option<UnboundedSender<ObjectRef<AssociationSpace>>>>,
}

impl Default for RolloutBook {
    fn default() -> Self {
        RolloutBook {
            plans: RwLock::new(HashMap::new()),
            slots: Mutex::new(HashMap::new()),
            waiting: Mutex::new(HashMap::new()),
            seeded: AtomicBool::new(false),
            wake: Mutex::new(None),
        }
    }
}

impl RolloutBook {
    /// Where the spaces to reconcile are sent (the space controller's trigger stream).
    pub fn connect(&self, wake: UnboundedSender<ObjectRef<AssociationSpace>>) {
        if let Ok(mut w) = self.wake.lock() {
            *w = Some(wake);
        }
    }

    fn wake(&self, spaces: impl IntoIterator<Item = String>) {
        if let Ok(w) = self.wake.lock()
            && let Some(tx) = w.as_ref()
        {
            for s in spaces {
                let _ = tx.unbounded_send(ObjectRef::new(&s));
            }
        }
    }

    /// Whether the slots have been taken again from the spaces' statuses since the start.
    pub fn ready(&self) -> bool {
        self.seeded.load(Ordering::Acquire)
    }

    /// Keeps the slots true to the spaces' statuses (the class controller, at each pass, before
    /// it publishes plans). The first time, the slots of the spaces whose status shows an upgrade
    /// under way are taken, whatever the limit: a restarted operator starts no new upgrade beyond
    /// P. After that the upgrade steps take and free their own, and the statuses read here may
    /// be older than a step's last write: only slots of spaces that no longer exist, or whose
    /// status shows the end of an upgrade to their class's current target (`finished`), are
    /// freed, never taken.
    pub fn settle(&self, upgrading: &[(String, String)], finished: &[(String, String)], existing: &BTreeSet<String>) {
        let first = !self.ready();
        let mut freed = Vec::new();
        if let Ok(mut slots) = self.slots.lock() {
            if first {
                for (pool, space) in upgrading {
                    slots.entry(pool.clone()).or_default().insert(space.clone());
                }
            }
            for (pool, space) in finished {
                if slots.get_mut(pool).is_some_and(|held| held.remove(space)) {
                    freed.push(pool.clone());
                }
            }
            for (pool, held) in slots.iter_mut() {
                let before = held.len();
                held.retain(|s| existing.contains(s));
                if held.len() < before {
                    freed.push(pool.clone());
                }
            }
        }
        freed.dedup();
        for pool in freed {
            self.wake_waiting(&pool);
        }
        self.seeded.store(true, Ordering::Release);
    }

    /// The class's new plan; the spaces it admits that the last one did not are reconciled.
    pub fn publish(&self, class: &str, plan: Plan) {
        let fresh: Vec<String> = {
            let Ok(mut plans) = self.plans.write() else { return };
            let before = plans.get(class).map(|p| p.admitted.clone()).unwrap_or_default();
            let fresh = plan.admitted.difference(&before).cloned().collect();
            plans.insert(class.to_string(), Arc::new(plan));
            fresh
        };
        self.wake(fresh);
    }

    pub fn plan(&self, class: &str) -> Option<Arc<Plan>> {
        self.plans.read().ok()?.get(class).cloned()
    }

    /// Whether `space` of `class` may start its upgrade now, taking a slot on `pool` when so.
    pub fn turn(&self, class: &str, space: &str, pool: &str) -> Turn {
        if !self.ready() {
            return Turn::Wait("the operator is reading the upgrades under way".into());
        }
        let Some(plan) = self.plan(class) else {
            return Turn::Wait(format!("the rollout of class {class} is being planned"));
        };
        if !plan.admitted.contains(space) {
            let s = &plan.status;
            return Turn::Wait(match s.phase {
                Some(crate::api::rollout::RolloutPhase::Canary) => "the canary goes first".to_string(),
                Some(crate::api::rollout::RolloutPhase::Rolling) => format!("waiting for its wave (wave {} is under way)", s.wave),
                _ => s.message.clone(),
            });
        }
        let Ok(mut slots) = self.slots.lock() else { return Turn::Wait("the slots are unavailable".into()) };
        let held = slots.entry(pool.to_string()).or_default();
        if held.contains(space) || held.len() < plan.max_parallel_per_pool {
            held.insert(space.to_string());
            if let Ok(mut w) = self.waiting.lock()
                && let Some(set) = w.get_mut(pool)
            {
                set.remove(space);
            }
            return Turn::Go;
        }
        let n = held.len();
        drop(slots);
        if let Ok(mut w) = self.waiting.lock() {
            w.entry(pool.to_string()).or_default().insert(space.to_string());
        }
        Turn::Wait(format!("{n} space(s) of DatabasePool {pool} are upgrading, at most {} at once", plan.max_parallel_per_pool))
    }

    /// The slot of a space whose upgrade ended; a space waiting on that pool is reconciled.
    pub fn release(&self, pool: &str, space: &str) {
        let freed = self.slots.lock().is_ok_and(|mut slots| slots.get_mut(pool).is_some_and(|held| held.remove(space)));
        if freed {
            self.wake_waiting(pool);
        }
    }

    fn wake_waiting(&self, pool: &str) {
        let next: Vec<String> = match self.waiting.lock() {
            Ok(mut w) => w.get_mut(pool).map(std::mem::take).unwrap_or_default().into_iter().collect(),
            Err(_) => Vec::new(),
        };
        self.wake(next);
    }

    /// How many spaces are upgrading on each pool (the metrics).
    pub fn upgrading(&self) -> Vec<(String, usize)> {
        self.slots.lock().map(|s| s.iter().map(|(p, h)| (p.clone(), h.len())).collect()).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(admitted: &[&str], p: usize) -> Plan {
        Plan { admitted: admitted.iter().map(|s| s.to_string()).collect(), max_parallel_per_pool: p, ..Plan::default() }
    }

    #[test]
    fn at_most_p_per_pool_and_a_freed_slot_wakes_a_waiting_space() {
        let book = RolloutBook::default();
        let (tx, mut rx) = futures::channel::mpsc::unbounded();
        book.connect(tx);
        assert!(matches!(book.turn("c", "a", "pg-1"), Turn::Wait(_)), "nothing starts before the slots are read again");
        book.settle(&[("pg-1".into(), "old".into())], &[], &BTreeSet::from(["old".to_string(), "a".into(), "b".into(), "x".into()]));
        book.publish("c", plan(&["a", "b", "x"], 2));
        let mut woken = BTreeSet::new();
        while let Ok(r) = rx.try_recv() {
            woken.insert(r.name);
        }
        assert_eq!(woken, BTreeSet::from(["a".to_string(), "b".into(), "x".into()]), "newly admitted spaces are reconciled");
        assert_eq!(book.turn("c", "a", "pg-1"), Turn::Go, "the one under way since before the restart holds the other slot");
        assert!(matches!(book.turn("c", "b", "pg-1"), Turn::Wait(m) if m.contains("at most 2")));
        assert_eq!(book.turn("c", "x", "pg-2"), Turn::Go, "another pool has its own slots");
        assert_eq!(book.turn("c", "a", "pg-1"), Turn::Go, "taking it again is idempotent");
        book.settle(
            &[("pg-1".into(), "old".into()), ("pg-1".into(), "b".into())],
            &[],
            &BTreeSet::from(["old".to_string(), "a".into(), "b".into(), "x".into()]),
        );
        assert!(matches!(book.turn("c", "b", "pg-1"), Turn::Wait(_)), "after the first pass, statuses read late take no slot");
        book.release("pg-1", "old");
        assert_eq!(rx.try_recv().ok().map(|r| r.name), Some("b".to_string()), "the waiting space is woken");
        assert_eq!(book.turn("c", "b", "pg-1"), Turn::Go);
        assert!(matches!(book.turn("c", "zz", "pg-1"), Turn::Wait(_)), "not admitted");
        book.settle(&[], &[("pg-1".into(), "a".into())], &BTreeSet::from(["a".to_string(), "b".into(), "x".into()]));
        assert_eq!(book.upgrading().into_iter().find(|(p, _)| p == "pg-1").map(|(_, n)| n), Some(1), "a finished space's slot is freed");
        book.settle(&[], &[], &BTreeSet::from(["a".to_string()]));
        assert_eq!(book.upgrading().into_iter().find(|(p, _)| p == "pg-1").map(|(_, n)| n), Some(0), "a deleted space's slot is freed");
    }
}
