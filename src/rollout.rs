//! Pure: which spaces of a class may start their upgrade now. The class controller computes a
//! [`Plan`] from every space of the class and its `spec.rollout` a few times a minute; each
//! space's upgrade step only asks it whether its turn has come (see `controller::rollouts`).
//!
//! The order is fixed by the spaces' names (a hash, so waves mix associations of every age and
//! size and the same space is always in the same wave), the canary first. A wave starts once
//! every space of the one before is upgraded, failed (and rolled back) or held.

use std::collections::{BTreeMap, BTreeSet};

use kube::core::{Selector, SelectorExt};

use crate::api::rollout::{MaintenanceWindow, RolloutPhase, RolloutPolicy, RolloutStatus, Weekday};
use crate::api::space::{UpgradePhase, UpgradeStatus};

/// A Nextcloud release, `major.minor.patch`.
pub type Release = (u32, u32, u32);

pub fn release(version: &str) -> Option<Release> {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next(), parts.next(), parts.next()) {
        (Some(Some(a)), Some(Some(b)), Some(Some(c))) => Some((a, b, c)),
        _ => None,
    }
}

/// Why a class may not move to `target` from the releases its spaces run: a downgrade, or a
/// skipped major (Nextcloud's `Updater::isUpgradePossible` allows the same or the next major
/// only). The message names the field.
pub fn refused_target(target: &str, oldest: Option<&str>, newest: Option<&str>) -> Option<String> {
    let t = release(target)?;
    if let Some(n) = newest.and_then(release)
        && t < n
    {
        return Some(format!(
            "spec.nextcloud.version {target} is below {}, which spaces of this class already run: Nextcloud cannot be downgraded",
            newest.unwrap_or_default()
        ));
    }
    if let Some(o) = oldest.and_then(release)
        && t.0 > o.0 + 1
    {
        return Some(format!(
            "spec.nextcloud.version {target} skips a major: spaces of this class still run {}; move them to the latest {}.x first",
            oldest.unwrap_or_default(),
            o.0 + 1
        ));
    }
    None
}

/// What the plan needs of one space of the class.
#[derive(Clone, Debug)]
pub struct Member<'a> {
    pub name: &'a str,
    pub labels: &'a BTreeMap<String, String>,
    /// The release it runs; `None` before its install (it installs the class's version).
    pub version: Option<&'a str>,
    pub upgrade: Option<&'a UpgradeStatus>,
    pub hold: bool,
    /// The image it runs, and the class's (`image:tag`): a space on the target version but not
    /// on the class's image (a rebuild of the same release) still has its upgrade to make.
    /// `None` for either compares versions only.
    pub image: Option<&'a str>,
    pub reference: Option<&'a str>,
}

impl Member<'_> {
    /// Whether `image` is the class's, as far as both are known.
    fn on_reference(&self, image: Option<&str>) -> bool {
        match (self.reference, image) {
            (Some(r), Some(i)) => crate::api::class::same_image(i, r),
            _ => true,
        }
    }
}

/// Where one space stands against the target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Done,
    Upgrading,
    Failed,
    Held,
    Pending,
}

pub fn standing(m: &Member<'_>, target: &str) -> Option<Standing> {
    let version = m.version?;
    let this_target = m.upgrade.filter(|u| u.target == target && m.on_reference(Some(&u.target_image)));
    if let Some(u) = m.upgrade
        && u.phase.in_progress()
    {
        // An upgrade under way finishes, whatever the class says now.
        return Some(Standing::Upgrading);
    }
    if this_target.is_some_and(|u| u.phase == UpgradePhase::Failed && u.served_since.is_some()) {
        // Failed after it served on the target: it runs the target, but not well (upgrade #8);
        // the rollout counts it failed, as one rolled back, so a failing canary still pauses it.
        return Some(Standing::Failed);
    }
    if version == target && m.on_reference(m.image) {
        return Some(Standing::Done);
    }
    if release(version).zip(release(target)).is_some_and(|(v, t)| v > t) {
        // Ahead of the class (its version was lowered by hand): left alone.
        return Some(Standing::Held);
    }
    if this_target.is_some_and(|u| u.phase == UpgradePhase::Failed) {
        return Some(Standing::Failed);
    }
    if m.hold || release(version).zip(release(target)).is_some_and(|(v, t)| t.0 > v.0 + 1) {
        return Some(Standing::Held);
    }
    Some(Standing::Pending)
}

/// The rollout of one class at one instant.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    pub status: RolloutStatus,
    /// The spaces that may start their upgrade now (each still needs a slot on its pool).
    pub admitted: BTreeSet<String>,
    /// At most this many upgrading at once per DatabasePool.
    pub max_parallel_per_pool: usize,
}

fn order_key(name: &str) -> (u64, &str) {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first), name)
}

/// The size of each wave over `total` spaces: the declared ones, then the rest.
fn wave_sizes(waves: &[String], total: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut left = total;
    for w in waves {
        let size = match w.strip_suffix('%') {
            Some(p) => (p.parse::<usize>().unwrap_or(0) * total).div_ceil(100),
            None => w.parse::<usize>().unwrap_or(0),
        }
        .min(left);
        if size > 0 {
            sizes.push(size);
            left -= size;
        }
    }
    if left > 0 {
        sizes.push(left);
    }
    sizes
}

fn weekday(w: jiff::civil::Weekday) -> Weekday {
    use jiff::civil::Weekday as J;
    match w {
        J::Monday => Weekday::Mon,
        J::Tuesday => Weekday::Tue,
        J::Wednesday => Weekday::Wed,
        J::Thursday => Weekday::Thu,
        J::Friday => Weekday::Fri,
        J::Saturday => Weekday::Sat,
        J::Sunday => Weekday::Sun,
    }
}

fn minutes(hhmm: &str) -> Option<u32> {
    let (h, m) = hhmm.split_once(':')?;
    Some(h.parse::<u32>().ok()? * 60 + m.parse::<u32>().ok()?)
}

/// Whether `now` is inside one of the windows (always, without any). A window past midnight
/// belongs to the day it starts on.
pub fn in_window(windows: &[MaintenanceWindow], now: jiff::Timestamp) -> bool {
    if windows.is_empty() {
        return true;
    }
    let z = now.to_zoned(jiff::tz::TimeZone::UTC);
    let at = z.hour() as u32 * 60 + z.minute() as u32;
    let today = weekday(z.weekday());
    let yesterday = weekday(z.weekday().previous());
    windows.iter().any(|w| {
        let (Some(s), Some(e)) = (minutes(&w.start), minutes(&w.end)) else { return false };
        let on = |d: Weekday| w.days.is_empty() || w.days.contains(&d);
        if s < e { on(today) && at >= s && at < e } else { (on(today) && at >= s) || (on(yesterday) && at < e) }
    })
}

pub fn plan(policy: &RolloutPolicy, target: &str, members: &[Member<'_>], now: jiff::Timestamp) -> Plan {
    let canary_selector = policy.canary.as_ref().and_then(|c| c.selector.clone()).and_then(|s| Selector::try_from(s).ok());
    let in_canary = |m: &Member<'_>| {
        policy.canary.as_ref().is_some_and(|c| c.names.iter().any(|n| n == m.name))
            || canary_selector.as_ref().is_some_and(|s| s.matches(m.labels))
    };
    let mut canary: Vec<(&Member<'_>, Standing)> = Vec::new();
    let mut rest: Vec<(&Member<'_>, Standing)> = Vec::new();
    let mut versions: Vec<(Release, &str)> = Vec::new();
    for m in members {
        let Some(s) = standing(m, target) else { continue };
        if let Some(v) = m.version.and_then(|v| release(v).map(|r| (r, v))) {
            versions.push(v);
        }
        if in_canary(m) { canary.push((m, s)) } else { rest.push((m, s)) }
    }
    rest.sort_by_key(|(m, _)| order_key(m.name));
    canary.sort_by_key(|(m, _)| m.name);
    versions.sort();

    let count = |set: &[(&Member<'_>, Standing)], s: Standing| set.iter().filter(|(_, x)| *x == s).count() as i64;
    let all: Vec<(&Member<'_>, Standing)> = canary.iter().chain(rest.iter()).cloned().collect();
    let mut status = RolloutStatus {
        target: target.to_string(),
        pending: count(&all, Standing::Pending),
        upgrading: count(&all, Standing::Upgrading),
        done: count(&all, Standing::Done),
        failed: count(&all, Standing::Failed),
        held: count(&all, Standing::Held),
        oldest_version: versions.first().map(|(_, v)| v.to_string()),
        newest_version: versions.last().map(|(_, v)| v.to_string()),
        ..RolloutStatus::default()
    };
    let sizes = wave_sizes(&policy.waves, rest.len());
    status.waves = sizes.len() as i32;
    let mut out = Plan { status, admitted: BTreeSet::new(), max_parallel_per_pool: policy.max_parallel_per_pool.max(1) as usize };
    let pending = |set: &[(&Member<'_>, Standing)]| -> BTreeSet<String> {
        set.iter().filter(|(_, s)| *s == Standing::Pending).map(|(m, _)| m.name.to_string()).collect()
    };
    let unfinished = |set: &[(&Member<'_>, Standing)]| set.iter().any(|(_, s)| matches!(s, Standing::Pending | Standing::Upgrading));

    let st = &mut out.status;
    if st.pending == 0 && st.upgrading == 0 {
        st.phase = Some(RolloutPhase::Complete);
        st.wave = sizes.len() as i32;
        st.message = match (st.failed, st.held) {
            (0, 0) => format!("every installed space runs {target}"),
            (f, h) => format!("every space that could be upgraded runs {target}; {f} failed (see their status.upgrade), {h} held"),
        };
        return out;
    }
    let upgraded = members.iter().filter(|m| m.upgrade.is_some_and(|u| u.target == target && u.phase == UpgradePhase::Succeeded)).count();
    let attempted = upgraded as i64 + st.failed;
    let canary_failed = count(&canary, Standing::Failed);
    let threshold = &policy.failure_threshold;
    let over_ratio = threshold.percent.is_some_and(|p| attempted > 0 && st.failed * 100 >= i64::from(p) * attempted);
    if canary_failed > 0 || st.failed >= i64::from(threshold.count) || over_ratio {
        st.phase = Some(RolloutPhase::Paused);
        st.message = if canary_failed > 0 {
            format!(
                "paused: {canary_failed} canary space(s) failed to upgrade to {target} (rolled back, or kept on it if they had served: see their status.upgrade); fix the cause and raise spec.rollout.failureThreshold, hold them, or change the target"
            )
        } else {
            format!(
                "paused: {} space(s) failed to upgrade to {target} (spec.rollout.failureThreshold): rolled back, or kept on it if they had served",
                st.failed
            )
        };
        return out;
    }
    if policy.paused {
        st.phase = Some(RolloutPhase::Paused);
        st.message = "paused by spec.rollout.paused: upgrades under way finish, none starts".into();
        return out;
    }
    let window_open = in_window(&policy.windows, now);
    let (phase, wave, admitted) = if unfinished(&canary) {
        (RolloutPhase::Canary, 0, pending(&canary))
    } else if !canary.is_empty()
        && policy.canary.as_ref().is_some_and(|c| c.require_approval)
        && policy.approved_version.as_deref() != Some(target)
    {
        st.phase = Some(RolloutPhase::AwaitingApproval);
        st.message = format!("the canary runs {target}; set spec.rollout.approvedVersion to {target} to upgrade the rest");
        return out;
    } else {
        let mut start = 0;
        let mut current = None;
        for (i, size) in sizes.iter().enumerate() {
            let wave = &rest[start..start + size];
            if unfinished(wave) {
                current = Some((i as i32 + 1, pending(wave)));
                break;
            }
            start += size;
        }
        match current {
            Some((wave, admitted)) => (RolloutPhase::Rolling, wave, admitted),
            None => (RolloutPhase::Rolling, sizes.len() as i32, BTreeSet::new()),
        }
    };
    st.wave = wave;
    if !window_open {
        st.phase = Some(RolloutPhase::WaitingForWindow);
        st.message = format!("outside every maintenance window (spec.rollout.windows, UTC): wave {wave} waits");
        return out;
    }
    st.phase = Some(phase);
    st.message = match phase {
        RolloutPhase::Canary => format!("the canary moves to {target}"),
        _ => format!("wave {wave} of {} moves to {target}", sizes.len()),
    };
    out.admitted = admitted;
    out
}

/// `plan` held back because the target image cannot serve the class (`why`): nobody is
/// admitted, upgrades under way finish. A plan that admits nobody anyway is left as it is.
pub fn hold_for_image(mut plan: Plan, why: &str) -> Plan {
    use RolloutPhase::*;
    if matches!(plan.status.phase, Some(Canary | Rolling | WaitingForWindow | AwaitingApproval)) {
        plan.admitted.clear();
        plan.status.phase = Some(Blocked);
        plan.status.message = format!("no upgrade starts: {why}");
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::rollout::Canary;
    use crate::api::space::NextcloudStatus;

    fn upgrade(target: &str, phase: UpgradePhase) -> UpgradeStatus {
        let from = NextcloudStatus { version: "33.0.7.2".into(), version_string: "33.0.7".into(), image: "nc:33.0.7".into() };
        UpgradeStatus { phase, ..UpgradeStatus::started(target, &format!("nc:{target}"), &from, "") }
    }

    struct Fleet {
        names: Vec<String>,
        versions: BTreeMap<String, String>,
        upgrades: BTreeMap<String, UpgradeStatus>,
        held: BTreeSet<String>,
        labels: BTreeMap<String, String>,
        images: BTreeMap<String, String>,
        reference: Option<String>,
    }

    impl Fleet {
        fn new(n: usize, version: &str) -> Self {
            let names: Vec<String> = (0..n).map(|i| format!("s{i:02}")).collect();
            Fleet {
                versions: names.iter().map(|n| (n.clone(), version.to_string())).collect(),
                names,
                upgrades: BTreeMap::new(),
                held: BTreeSet::new(),
                labels: BTreeMap::new(),
                images: BTreeMap::new(),
                reference: None,
            }
        }
        fn members(&self) -> Vec<Member<'_>> {
            self.names
                .iter()
                .map(|n| Member {
                    name: n,
                    labels: &self.labels,
                    version: self.versions.get(n).map(String::as_str),
                    upgrade: self.upgrades.get(n),
                    hold: self.held.contains(n),
                    image: self.images.get(n).map(String::as_str),
                    reference: self.reference.as_deref(),
                })
                .collect()
        }
        fn finish(&mut self, name: &str, target: &str, phase: UpgradePhase) {
            if phase == UpgradePhase::Succeeded {
                self.versions.insert(name.into(), target.into());
            }
            self.upgrades.insert(name.into(), upgrade(target, phase));
        }
    }

    fn policy() -> RolloutPolicy {
        RolloutPolicy {
            canary: Some(Canary { names: vec!["s03".into(), "s11".into()], ..Canary::default() }),
            waves: vec!["50%".into()],
            ..RolloutPolicy::default()
        }
    }

    fn now() -> jiff::Timestamp {
        "2026-12-01T02:30:00Z".parse().unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    /// A rebuild of the release the spaces run (a new tag for a PHP fix): every space still has
    /// its upgrade to make, and a failed attempt at the old image does not block the new one.
    #[test]
    fn a_rebuild_of_the_same_release_is_rolled_out() {
        let mut fleet = Fleet::new(4, "34.0.1");
        for n in fleet.names.clone() {
            fleet.images.insert(n, "nc:34.0.1".into());
        }
        fleet.reference = Some("nc:34.0.1".into());
        let p = plan(&policy(), "34.0.1", &fleet.members(), now());
        assert_eq!((p.status.phase, p.status.done), (Some(RolloutPhase::Complete), 4), "the class's own image: nothing to do");
        fleet.reference = Some("nc:34.0.1-fs.2".into());
        let p = plan(&policy(), "34.0.1", &fleet.members(), now());
        assert_eq!((p.status.pending, p.status.done), (4, 0), "a new image of the same release: all to upgrade");
        let failed = UpgradeStatus {
            phase: UpgradePhase::Failed,
            ..UpgradeStatus::started("34.0.1", "nc:34.0.1-fs.1", &NextcloudStatus::default(), "")
        };
        fleet.upgrades.insert("s00".into(), failed);
        let p = plan(&policy(), "34.0.1", &fleet.members(), now());
        assert_eq!((p.status.failed, p.status.pending), (0, 4), "a failure at an earlier rebuild is retried with this one");
        fleet.images.insert("s01".into(), "nc:34.0.1-fs.2".into());
        assert_eq!(plan(&policy(), "34.0.1", &fleet.members(), now()).status.done, 1);
    }

    #[test]
    fn an_image_that_cannot_serve_the_class_starts_no_upgrade() {
        let mut fleet = Fleet::new(20, "33.0.7");
        let held = hold_for_image(plan(&policy(), "34.0.1", &fleet.members(), now()), "image nc:34.0.1 lacks calendar");
        assert_eq!((held.status.phase, held.admitted.len()), (Some(RolloutPhase::Blocked), 0), "not even the canary");
        assert!(held.status.message.contains("lacks calendar"), "{}", held.status.message);
        for n in ["s03", "s11"] {
            fleet.finish(n, "34.0.1", UpgradePhase::Succeeded);
        }
        for i in 0..20 {
            fleet.finish(&format!("s{i:02}"), "34.0.1", UpgradePhase::Succeeded);
        }
        let done = hold_for_image(plan(&policy(), "34.0.1", &fleet.members(), now()), "whatever");
        assert_eq!(done.status.phase, Some(RolloutPhase::Complete), "a complete rollout stays complete");
    }

    #[test]
    fn canary_then_waves_then_complete() {
        let mut fleet = Fleet::new(20, "33.0.7");
        let p = plan(&policy(), "34.0.1", &fleet.members(), now());
        assert_eq!(p.status.phase, Some(RolloutPhase::Canary));
        assert_eq!(p.admitted, BTreeSet::from(["s03".to_string(), "s11".to_string()]), "the canary alone goes first");
        assert_eq!((p.status.pending, p.status.waves), (20, 2), "18 after the canary: a wave of 50 % and the rest");
        fleet.finish("s03", "34.0.1", UpgradePhase::Succeeded);
        let p = plan(&policy(), "34.0.1", &fleet.members(), now());
        assert_eq!(p.admitted, BTreeSet::from(["s11".to_string()]), "no wave before the whole canary is done");
        fleet.finish("s11", "34.0.1", UpgradePhase::Succeeded);
        let p = plan(&policy(), "34.0.1", &fleet.members(), now());
        assert_eq!((p.status.phase, p.status.wave, p.admitted.len()), (Some(RolloutPhase::Rolling), 1, 9));
        let first: Vec<String> = p.admitted.iter().cloned().collect();
        for n in &first[..8] {
            fleet.finish(n, "34.0.1", UpgradePhase::Succeeded);
        }
        fleet.upgrades.insert(first[8].clone(), upgrade("34.0.1", UpgradePhase::Migrating));
        let p = plan(&policy(), "34.0.1", &fleet.members(), now());
        assert_eq!((p.status.wave, p.admitted.len(), p.status.upgrading), (1, 0, 1), "wave 2 waits for the last of wave 1");
        fleet.finish(&first[8], "34.0.1", UpgradePhase::Succeeded);
        let p = plan(&policy(), "34.0.1", &fleet.members(), now());
        assert_eq!((p.status.wave, p.admitted.len()), (2, 9));
        assert!(p.admitted.iter().all(|n| !first.contains(n)), "the second wave is the other nine");
        for n in p.admitted.clone() {
            fleet.finish(&n, "34.0.1", UpgradePhase::Succeeded);
        }
        let p = plan(&policy(), "34.0.1", &fleet.members(), now());
        assert_eq!((p.status.phase, p.status.done, p.admitted.len()), (Some(RolloutPhase::Complete), 20, 0));
    }

    #[test]
    fn a_canary_that_failed_after_serving_the_target_counts_failed_not_done() {
        let mut fleet = Fleet::new(20, "33.0.7");
        let kept = UpgradeStatus { served_since: Some("2026-12-01T02:00:00Z".into()), ..upgrade("34.0.1", UpgradePhase::Failed) };
        fleet.upgrades.insert("s03".into(), kept);
        fleet.versions.insert("s03".into(), "34.0.1".into());
        let p = plan(&policy(), "34.0.1", &fleet.members(), now());
        assert_eq!((p.status.phase, p.status.failed, p.status.done), (Some(RolloutPhase::Paused), 1, 0));
    }

    #[test]
    fn a_failed_canary_pauses_before_the_first_wave() {
        let mut fleet = Fleet::new(20, "33.0.7");
        let mut lenient = policy();
        lenient.failure_threshold.count = 5;
        fleet.finish("s03", "34.0.1", UpgradePhase::Failed);
        fleet.finish("s11", "34.0.1", UpgradePhase::Succeeded);
        let p = plan(&lenient, "34.0.1", &fleet.members(), now());
        assert_eq!((p.status.phase, p.admitted.len(), p.status.failed), (Some(RolloutPhase::Paused), 0, 1));
        assert!(p.status.message.contains("canary"), "{}", p.status.message);
        // A new patch release is a new target: the failed canary is pending again.
        let p = plan(&lenient, "34.0.2", &fleet.members(), now());
        assert_eq!(p.status.phase, Some(RolloutPhase::Canary));
        assert!(p.admitted.contains("s03") && p.admitted.contains("s11"));
    }

    #[test]
    fn failures_in_a_wave_pause_at_the_threshold() {
        let mut fleet = Fleet::new(20, "33.0.7");
        let mut p2 = RolloutPolicy {
            failure_threshold: crate::api::rollout::FailureThreshold { count: 2, percent: None },
            ..RolloutPolicy::default()
        };
        fleet.finish("s00", "34.0.1", UpgradePhase::Failed);
        assert_eq!(plan(&p2, "34.0.1", &fleet.members(), now()).status.phase, Some(RolloutPhase::Rolling));
        fleet.finish("s01", "34.0.1", UpgradePhase::Failed);
        assert_eq!(plan(&p2, "34.0.1", &fleet.members(), now()).status.phase, Some(RolloutPhase::Paused));
        p2.failure_threshold = crate::api::rollout::FailureThreshold { count: 100, percent: Some(50) };
        fleet.finish("s02", "34.0.1", UpgradePhase::Succeeded);
        assert_eq!(plan(&p2, "34.0.1", &fleet.members(), now()).status.phase, Some(RolloutPhase::Paused), "2 of 3 attempted failed");
        p2.failure_threshold.percent = Some(90);
        assert_eq!(plan(&p2, "34.0.1", &fleet.members(), now()).status.phase, Some(RolloutPhase::Rolling));
    }

    #[test]
    fn held_paused_windows_and_approval() {
        let mut fleet = Fleet::new(4, "33.0.7");
        fleet.held.insert("s01".into());
        let mut p = RolloutPolicy::default();
        let out = plan(&p, "34.0.1", &fleet.members(), now());
        assert_eq!((out.status.held, out.admitted.len()), (1, 3), "a held space is left alone");
        assert!(!out.admitted.contains("s01"));
        p.paused = true;
        fleet.upgrades.insert("s02".into(), upgrade("34.0.1", UpgradePhase::Snapshotting));
        let out = plan(&p, "34.0.1", &fleet.members(), now());
        assert_eq!((out.status.phase, out.admitted.len(), out.status.upgrading), (Some(RolloutPhase::Paused), 0, 1));
        p.paused = false;
        p.windows = vec![MaintenanceWindow { start: "22:00".into(), end: "01:00".into(), days: vec![] }];
        assert_eq!(plan(&p, "34.0.1", &fleet.members(), now()).status.phase, Some(RolloutPhase::WaitingForWindow), "02:30 is outside");
        p.windows[0].end = "03:00".into();
        assert_eq!(plan(&p, "34.0.1", &fleet.members(), now()).status.phase, Some(RolloutPhase::Rolling), "past midnight");
        p.windows[0].days = vec![Weekday::Sun];
        // 2026-12-01 is a Tuesday: 02:30 belongs to Monday's window.
        assert_eq!(plan(&p, "34.0.1", &fleet.members(), now()).status.phase, Some(RolloutPhase::WaitingForWindow));
        p.windows[0].days = vec![Weekday::Mon];
        assert_eq!(plan(&p, "34.0.1", &fleet.members(), now()).status.phase, Some(RolloutPhase::Rolling));
        p.windows.clear();
        p.canary = Some(Canary { names: vec!["s00".into()], require_approval: true, ..Canary::default() });
        fleet.finish("s00", "34.0.1", UpgradePhase::Succeeded);
        fleet.upgrades.remove("s02");
        let out = plan(&p, "34.0.1", &fleet.members(), now());
        assert_eq!((out.status.phase, out.admitted.len()), (Some(RolloutPhase::AwaitingApproval), 0));
        p.approved_version = Some("34.0.1".into());
        assert_eq!(plan(&p, "34.0.1", &fleet.members(), now()).admitted.len(), 2);
    }

    #[test]
    fn skipped_majors_and_downgrades_are_refused_by_name() {
        assert_eq!(refused_target("34.0.1", Some("33.0.7"), Some("33.0.9")), None);
        let skip = refused_target("35.0.0", Some("33.0.7"), Some("34.0.1")).unwrap_or_default();
        assert!(skip.starts_with("spec.nextcloud.version 35.0.0 skips a major") && skip.contains("latest 34.x"), "{skip}");
        let down = refused_target("33.0.6", Some("33.0.7"), Some("33.0.7")).unwrap_or_default();
        assert!(down.contains("cannot be downgraded"), "{down}");
        let mut fleet = Fleet::new(2, "32.0.5");
        fleet.versions.insert("s01".into(), "33.0.7".into());
        let out = plan(&RolloutPolicy::default(), "34.0.1", &fleet.members(), now());
        assert_eq!((out.status.held, out.admitted.len()), (1, 1), "a space two majors behind is never sent a skip");
        assert_eq!(out.status.oldest_version.as_deref(), Some("32.0.5"));
    }

    #[test]
    fn waves_are_sized_as_declared() {
        assert_eq!(wave_sizes(&["10%".into(), "40%".into()], 100), vec![10, 40, 50]);
        assert_eq!(wave_sizes(&["3".into(), "100".into()], 10), vec![3, 7]);
        assert_eq!(wave_sizes(&[], 7), vec![7]);
        assert_eq!(wave_sizes(&["50%".into()], 0), Vec::<usize>::new());
    }
}
