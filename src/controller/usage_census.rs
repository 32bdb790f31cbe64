//! The fleet's usage, adoption and backups, counted from the spaces' statuses for the metrics: spaces per
//! band of their limit, those near it, a bounded top list, and how stale the figures are. Pure:
//! the runtime feeds it the spaces cache every 10 s.

use crate::api::AssociationSpace;
use crate::api::adoption::AdoptionState;
use crate::controller::space::usage::{NEAR_LIMIT, shares};
use crate::telemetry::metrics::{TOP_USAGE, USAGE_BANDS, UsageCensus};

const RESOURCES: [&str; 2] = ["storage", "accounts"];

/// Counts the spaces; `now` in Unix seconds.
pub fn count(spaces: &[std::sync::Arc<AssociationSpace>], now: i64) -> UsageCensus {
    let mut c = UsageCensus::default();
    let mut shares_by: [Vec<(String, f64)>; 2] = [Vec::new(), Vec::new()];
    let mut oldest: Option<i64> = None;
    for s in spaces {
        let Some(status) = &s.status else { continue };
        if let Some(u) = &status.usage {
            let (storage, accounts) = shares(u);
            let name = s.metadata.name.clone().unwrap_or_default();
            for (i, share) in [storage, accounts].into_iter().enumerate() {
                if let Some(share) = share {
                    shares_by[i].push((name.clone(), share));
                }
            }
            let measured = u.storage.as_ref().and_then(|st| st.measured_at.parse::<jiff::Timestamp>().ok()).map(|t| t.as_second());
            if let Some(m) = measured {
                oldest = Some(oldest.map_or(m, |o| o.min(m)));
            }
        }
    }
    for (i, resource) in RESOURCES.into_iter().enumerate() {
        for (j, (band, upper)) in USAGE_BANDS.iter().enumerate() {
            let lower = if j == 0 { f64::NEG_INFINITY } else { USAGE_BANDS[j - 1].1 };
            let n = shares_by[i].iter().filter(|(_, s)| *s >= lower && *s < *upper).count();
            c.bands.push((resource, band, n as i64));
        }
        c.near_limit.push((resource, shares_by[i].iter().filter(|(_, s)| *s >= NEAR_LIMIT).count() as i64));
        let mut ranked = shares_by[i].clone();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        c.top.extend(ranked.into_iter().take(TOP_USAGE).map(|(name, share)| (resource, name, share)));
    }
    c.oldest_measure_seconds = oldest.map_or(0, |o| (now - o).max(0));
    let backups = spaces.iter().filter_map(|s| s.status.as_ref()?.backups.as_ref());
    let mut oldest_backup: Option<i64> = None;
    for b in backups {
        c.backups_failing += i64::from(b.failure.is_some());
        if let Some(t) = b.last().and_then(|r| r.finished_at.parse::<jiff::Timestamp>().ok()) {
            oldest_backup = Some(oldest_backup.map_or(t.as_second(), |o| o.min(t.as_second())));
        }
    }
    c.oldest_backup_seconds = oldest_backup.map_or(0, |o| (now - o).max(0));
    for state in AdoptionState::ALL {
        let n = spaces.iter().filter(|s| s.status.as_ref().and_then(|st| st.adoption.as_ref()).is_some_and(|a| a.state == state)).count();
        c.adoption.push((state.as_str(), n as i64));
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::space::{AccountUsageStatus, AssociationSpaceStatus, SpaceUsage, StorageUsageStatus};
    use crate::render::resolve::tests as fixtures;

    fn space(name: &str, used: i64, accounts: i64, measured_at: &str) -> std::sync::Arc<AssociationSpace> {
        let mut s = fixtures::space(name);
        s.status = Some(AssociationSpaceStatus {
            usage: Some(SpaceUsage {
                storage: Some(StorageUsageStatus {
                    used_bytes: used,
                    quota_bytes: 100,
                    measured_at: measured_at.into(),
                    ..Default::default()
                }),
                accounts: Some(AccountUsageStatus { accounts, max_accounts: 50, measured_at: measured_at.into(), ..Default::default() }),
                ..Default::default()
            }),
            ..Default::default()
        });
        std::sync::Arc::new(s)
    }

    #[test]
    fn spaces_fall_into_bands_and_the_top_list_is_bounded() {
        let mut spaces: Vec<_> = (0..15).map(|i| space(&format!("s{i}"), i * 7, 10, "2026-12-05T10:00:00Z")).collect();
        spaces.push(space("full", 95, 45, "2026-12-05T09:00:00Z"));
        let now = "2026-12-05T10:00:00Z".parse::<jiff::Timestamp>().map(|t| t.as_second()).unwrap_or_default();
        let c = count(&spaces, now);
        let band = |r: &str, b: &str| c.bands.iter().find(|(rr, bb, _)| *rr == r && *bb == b).map(|x| x.2);
        assert_eq!(band("storage", "lt50"), Some(8), "0..49 %: s0..s7");
        assert_eq!(band("storage", "90to100"), Some(3), "91 %, 95 %, 98 %");
        assert_eq!(c.near_limit, vec![("storage", 3), ("accounts", 1)]);
        assert_eq!(c.top.iter().filter(|t| t.0 == "storage").count(), TOP_USAGE);
        assert_eq!(c.top.iter().find(|t| t.0 == "storage").map(|t| t.1.as_str()), Some("s14"), "98 % leads");
        assert_eq!(c.oldest_measure_seconds, 3600);
        assert!(c.adoption.iter().all(|(_, n)| *n == 0));
    }
}
