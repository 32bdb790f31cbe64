//! Pool choice: for each pool kind, the allowed, healthy pool with the most free capacity. Pure.

use std::collections::{BTreeMap, HashMap};

use thiserror::Error;

/// Whether `other` came before `this` and keeps what both claim (a server, node ports): the
/// older, or the first by name (creation times have one-second precision).
pub fn came_first<K: kube::ResourceExt>(other: &K, this: &K) -> bool {
    let created = |k: &K| k.meta().creation_timestamp.as_ref().map(|t| t.0);
    (created(other), other.name_any()) < (created(this), this.name_any())
}

/// What placement needs of a pool or backend kind.
pub trait Placeable: kube::Resource<DynamicType = ()> {
    const KIND: &'static str;
    /// The namespace annotation recording a space's choice.
    const ANNOTATION: &'static str;
    fn max_spaces(&self) -> i64;
    /// Ready to receive spaces.
    fn is_placeable(&self) -> bool;
    /// Checked at least once (Ready or not). A pool created with the spaces is not passed over
    /// merely because its first check has not finished yet.
    fn is_checked(&self) -> bool {
        true
    }
}

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum PlacementError {
    #[error("no {kind} exists that the class allows")]
    NoPool { kind: &'static str },
    #[error("no {kind} that the class allows is Ready")]
    NoneReady { kind: &'static str },
    #[error("every {kind} that the class allows is full")]
    NoCapacity { kind: &'static str },
    #[error("{kind} {pool} has not been checked yet")]
    NotChecked { kind: &'static str, pool: String },
    #[error("{kind} {name} does not exist")]
    Missing { kind: &'static str, name: String },
}

impl PlacementError {
    pub fn kind(&self) -> &'static str {
        match self {
            PlacementError::NoPool { kind }
            | PlacementError::NoneReady { kind }
            | PlacementError::NoCapacity { kind }
            | PlacementError::NotChecked { kind, .. }
            | PlacementError::Missing { kind, .. } => kind,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            PlacementError::NoPool { .. } => "NoPool",
            PlacementError::NoneReady { .. } => "NoPoolReady",
            PlacementError::NoCapacity { .. } => "NoCapacity",
            PlacementError::NotChecked { .. } => "PoolNotCheckedYet",
            PlacementError::Missing { .. } => "BackendNotFound",
        }
    }
}

/// A pool as placement sees it.
#[derive(Clone, Debug)]
pub struct Candidate<'a> {
    pub name: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    pub ready: bool,
    /// Its health has been checked at least once.
    pub checked: bool,
    pub max_spaces: i64,
}

/// The pool with the most room among those `allowed` accepts; ties go to the first name, so the
/// choice is deterministic. `assigned` counts the spaces already placed (including decisions in
/// flight).
pub fn choose<'a>(
    kind: &'static str,
    candidates: &[Candidate<'a>],
    assigned: &HashMap<String, i64>,
    allowed: impl Fn(&BTreeMap<String, String>) -> bool,
) -> Result<&'a str, PlacementError> {
    let allowed: Vec<&Candidate<'a>> = candidates.iter().filter(|c| allowed(c.labels)).collect();
    if allowed.is_empty() {
        return Err(PlacementError::NoPool { kind });
    }
    if let Some(unchecked) = allowed.iter().find(|c| !c.checked) {
        return Err(PlacementError::NotChecked { kind, pool: unchecked.name.to_string() });
    }
    let ready: Vec<&&Candidate<'a>> = allowed.iter().filter(|c| c.ready).collect();
    if ready.is_empty() {
        return Err(PlacementError::NoneReady { kind });
    }
    ready
        .iter()
        .map(|c| (c.max_spaces - assigned.get(c.name).copied().unwrap_or(0), c.name))
        .filter(|(free, _)| *free > 0)
        .max_by(|(fa, na), (fb, nb)| fa.cmp(fb).then(nb.cmp(na)))
        .map(|(_, name)| name)
        .ok_or(PlacementError::NoCapacity { kind })
}

/// The lowest database in `1..databases` not in `taken` (database 0 is the admin's).
pub fn free_database(databases: i64, taken: &std::collections::BTreeSet<u32>) -> Option<u32> {
    let last = u32::try_from(databases.saturating_sub(1)).unwrap_or(0);
    (1..=last).find(|d| !taken.contains(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn most_free_capacity_wins_and_ties_are_deterministic() {
        let (l1, l2, l3) = (labels(&[]), labels(&[]), labels(&[]));
        let c = [
            Candidate { name: "pg-b", labels: &l1, ready: true, checked: true, max_spaces: 100 },
            Candidate { name: "pg-a", labels: &l2, ready: true, checked: true, max_spaces: 100 },
            Candidate { name: "pg-c", labels: &l3, ready: true, checked: true, max_spaces: 50 },
        ];
        let assigned = HashMap::from([("pg-b".to_string(), 10)]);
        assert_eq!(choose("DatabasePool", &c, &assigned, |_| true), Ok("pg-a"));
        let assigned = HashMap::new();
        assert_eq!(choose("DatabasePool", &c, &assigned, |_| true), Ok("pg-a"), "a tie goes to the first name");
    }

    #[test]
    fn unready_disallowed_and_full_pools_are_skipped() {
        let (eu, us) = (labels(&[("region", "eu")]), labels(&[("region", "us")]));
        let c = [
            Candidate { name: "big-us", labels: &us, ready: true, checked: true, max_spaces: 1000 },
            Candidate { name: "eu-down", labels: &eu, ready: false, checked: true, max_spaces: 1000 },
            Candidate { name: "eu-up", labels: &eu, ready: true, checked: true, max_spaces: 2 },
        ];
        let eu_only = |l: &BTreeMap<String, String>| l.get("region").map(String::as_str) == Some("eu");
        assert_eq!(choose("CachePool", &c, &HashMap::new(), eu_only), Ok("eu-up"));
        let full = HashMap::from([("eu-up".to_string(), 2)]);
        assert_eq!(choose("CachePool", &c, &full, eu_only), Err(PlacementError::NoCapacity { kind: "CachePool" }));
        assert_eq!(choose("CachePool", &c[..2], &HashMap::new(), eu_only), Err(PlacementError::NoneReady { kind: "CachePool" }));
        assert_eq!(choose("CachePool", &c[..1], &HashMap::new(), eu_only), Err(PlacementError::NoPool { kind: "CachePool" }));
    }

    #[test]
    fn a_pool_not_checked_yet_is_waited_for_not_passed_over() {
        let l = labels(&[]);
        let mut c = [
            Candidate { name: "s3-garage", labels: &l, ready: true, checked: true, max_spaces: 1000 },
            Candidate { name: "s3-minio", labels: &l, ready: false, checked: false, max_spaces: 1000 },
        ];
        let one_placed = HashMap::from([("s3-garage".to_string(), 1)]);
        assert_eq!(
            choose("StoragePool", &c, &one_placed, |_| true),
            Err(PlacementError::NotChecked { kind: "StoragePool", pool: "s3-minio".into() }),
            "the second space waits for the new pool's first check instead of going to the other pool too"
        );
        c[1].checked = true;
        c[1].ready = true;
        assert_eq!(choose("StoragePool", &c, &one_placed, |_| true), Ok("s3-minio"));
        c[1].ready = false;
        assert_eq!(choose("StoragePool", &c, &one_placed, |_| true), Ok("s3-garage"), "a pool checked and down is passed over");
    }

    #[test]
    fn a_free_database_is_the_lowest_not_taken_and_never_zero() {
        let taken = std::collections::BTreeSet::from([1, 2, 4]);
        assert_eq!(free_database(16, &taken), Some(3));
        assert_eq!(free_database(16, &std::collections::BTreeSet::new()), Some(1));
        assert_eq!(free_database(3, &std::collections::BTreeSet::from([1, 2])), None, "0..2 with 1 and 2 taken: full");
        assert_eq!(free_database(1, &std::collections::BTreeSet::new()), None, "a server with database 0 only hosts nobody");
        assert_eq!(free_database(0, &std::collections::BTreeSet::new()), None);
    }
}
