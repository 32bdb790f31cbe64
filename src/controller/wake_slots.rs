//! The bound on spaces waking at once, per DatabasePool (a class's `sleep.maxWakingPerPool`): a
//! flood of requests for sleeping spaces wakes them in turn. A slot is held from the decision to
//! wake until the space is awake; the spaces the cache shows waking count too, so a restarted
//! operator (or a status not yet in this process's memory) never admits past the bound.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A wake that never ends (a pod that never becomes ready) gives its slot back after this.
pub const SLOT_TIMEOUT: Duration = Duration::from_secs(600);

#[derive(Default)]
pub struct WakeSlots {
    /// space → (its DatabasePool, when its slot was taken)
    held: Mutex<HashMap<String, (String, Instant)>>,
}

impl WakeSlots {
    /// Takes a slot of `pool` for `space` when fewer than `bound` others hold one (here, or
    /// waking in the cache: `waking_elsewhere`, asked only when the slots held here leave room,
    /// so a queued space in a flood costs no walk over the spaces). A space holding one keeps it.
    pub fn try_take(&self, pool: &str, space: &str, bound: u32, waking_elsewhere: impl FnOnce() -> Vec<String>) -> bool {
        let Ok(mut held) = self.held.lock() else { return false };
        held.retain(|_, (_, at)| at.elapsed() < SLOT_TIMEOUT);
        if held.contains_key(space) {
            return true;
        }
        let bound = usize::try_from(bound).unwrap_or(usize::MAX);
        let mut others: Vec<&str> = held.iter().filter(|(s, (p, _))| p == pool && s.as_str() != space).map(|(s, _)| s.as_str()).collect();
        if others.len() >= bound {
            return false;
        }
        let elsewhere = waking_elsewhere();
        others.extend(elsewhere.iter().map(String::as_str).filter(|s| *s != space));
        others.sort_unstable();
        others.dedup();
        if others.len() >= bound {
            return false;
        }
        held.insert(space.to_string(), (pool.to_string(), Instant::now()));
        true
    }

    /// The space is awake (or gone): its slot is free.
    pub fn release(&self, space: &str) {
        if let Ok(mut held) = self.held.lock() {
            held.remove(space);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_the_bound_wake_per_pool_counting_the_cache() {
        let slots = WakeSlots::default();
        let none = Vec::new;
        assert!(slots.try_take("pg-1", "a", 2, none));
        assert!(slots.try_take("pg-1", "b", 2, || vec!["a".into()]), "a is counted once, here and in the cache");
        assert!(!slots.try_take("pg-1", "c", 2, none), "the bound is reached");
        assert!(slots.try_take("pg-2", "c", 2, none), "another pool has its own");
        assert!(slots.try_take("pg-1", "a", 2, none), "a holder keeps its slot");
        slots.release("a");
        assert!(!slots.try_take("pg-1", "d", 2, || vec!["x".into()]), "a space waking in the cache counts");
        assert!(slots.try_take("pg-1", "d", 2, none));
    }
}
