use super::*;

const NOW: i64 = 1_796_000_000; // 2026-11-30T...

fn policy() -> SleepPolicy {
    SleepPolicy { idle_after_seconds: 3600, max_waking_per_pool: 2 }
}

fn awake(since: i64) -> SleepStatus {
    status(SleepState::Awake, since, "InUse", String::new())
}

fn base<'a>(p: &'a SleepPolicy, previous: Option<&'a SleepStatus>) -> Decide<'a> {
    Decide { space: "velo", policy: Some(p), wake_configured: true, installed: true, previous, now: NOW, ..Decide::default() }
}

#[test]
fn an_idle_space_sleeps_only_on_a_fresh_read_and_a_used_one_does_not() {
    let p = policy();
    let prev = awake(NOW - 7200);
    let mut d = base(&p, Some(&prev));
    d.recorded_use = Some(NOW - 5000);
    assert!(may_be_idle(&d), "the recorded figures say idle: the database is read");
    assert_eq!(next(&d).and_then(|s| s.state), Some(SleepState::Awake), "never asleep on recorded figures alone");
    let idle = ActivityFacts { last_use: Some(NOW - 4000), last_cron: Some(NOW - 300), next_reminder: None };
    d.facts = Some(&idle);
    let s = next(&d).expect("a status");
    assert_eq!((s.state, s.reason.as_str(), s.since.as_str()), (Some(SleepState::Sleeping), "Idle", rfc3339(NOW).as_str()));
    assert!(s.background.as_ref().and_then(|b| b.next_run.as_ref()).is_some(), "its first background run is planned");
    // A browser session or an app password used ten minutes ago keeps it awake.
    let used = ActivityFacts { last_use: Some(NOW - 600), ..idle.clone() };
    d.facts = Some(&used);
    let s = next(&d).expect("a status");
    assert_eq!((s.state, s.reason.as_str()), (Some(SleepState::Awake), "InUse"));
    assert_eq!(s.since, rfc3339(NOW - 7200), "awake since it was, not rewritten");
}

#[test]
fn a_space_just_woken_stays_awake_for_the_idle_time() {
    let p = policy();
    let prev = awake(NOW - 600);
    let mut d = base(&p, Some(&prev));
    d.recorded_use = Some(NOW - 90_000);
    assert!(!may_be_idle(&d), "woken ten minutes ago: not idle, whatever its last login");
}

#[test]
fn what_holds_a_space_awake() {
    let p = policy();
    let prev = awake(NOW - 99_999);
    let facts = ActivityFacts { last_use: Some(0), ..ActivityFacts::default() };
    for (tweak, reason) in [
        (Box::new(|d: &mut Decide<'_>| d.keep_awake = true) as Box<dyn Fn(&mut Decide<'_>)>, "KeptAwake"),
        (Box::new(|d: &mut Decide<'_>| d.wake_configured = false), "NoWakeComponent"),
        (Box::new(|d: &mut Decide<'_>| d.busy = Some("Upgrading")), "Upgrading"),
    ] {
        let mut d = base(&p, Some(&prev));
        d.facts = Some(&facts);
        tweak(&mut d);
        assert!(!may_be_idle(&d), "{reason}");
        let s = next(&d).expect("a status");
        assert_eq!((s.state, s.reason.as_str()), (Some(SleepState::Awake), reason));
    }
    let mut d = base(&p, Some(&prev));
    d.suspended = true;
    assert_eq!(next(&d), None, "a suspended space is not sleeping: no sleep status at all");
    let mut d = base(&p, None);
    d.policy = None;
    assert_eq!(next(&d), None, "no policy, never asleep: nothing shown");
}

#[test]
fn a_wake_request_wakes_within_the_bound_and_the_ready_pod_ends_the_wake() {
    let p = policy();
    let asleep = status(SleepState::Sleeping, NOW - 3000, "Idle", "m".into());
    let mut d = base(&p, Some(&asleep));
    d.wake_request = Some(NOW - 4000);
    d.slot = true;
    assert_eq!(next(&d).and_then(|s| s.state), Some(SleepState::Sleeping), "a request older than the sleep was answered before it");
    d.wake_request = Some(NOW - 1);
    d.slot = false;
    let queued = next(&d).expect("a status");
    assert_eq!(
        (queued.state, queued.reason.as_str(), queued.since.clone()),
        (Some(SleepState::Sleeping), "WakeQueued", asleep.since.clone())
    );
    d.slot = true;
    let waking = next(&d).expect("a status");
    assert_eq!((waking.state, waking.reason.as_str()), (Some(SleepState::Waking), "WakeRequested"));
    let mut d = base(&p, Some(&waking));
    assert_eq!(next(&d).and_then(|s| s.state), Some(SleepState::Waking), "until its pod is ready");
    d.web_ready = true;
    let woke = next(&d).expect("a status");
    assert_eq!((woke.state, woke.reason.as_str()), (Some(SleepState::Awake), "Woken"));
    // Kept awake while it sleeps: it wakes at once, no slot needed.
    let mut d = base(&p, Some(&asleep));
    d.keep_awake = true;
    assert_eq!(next(&d).map(|s| (s.state, s.reason)), Some((Some(SleepState::Waking), "KeptAwake".to_string())));
}

#[test]
fn background_runs_come_daily_in_the_window_and_early_for_a_reminder() {
    let window = next_window("velo", NOW);
    assert!((NOW..NOW + DAY).contains(&window));
    let hour = (window % DAY) / 3600;
    let start = i64::try_from(maintenance_window_start("velo")).unwrap_or(0);
    assert!((start..start + 3).contains(&hour), "inside the first three hours of its window: {hour} vs {start}");
    let facts = ActivityFacts { last_use: None, last_cron: Some(NOW - 60), next_reminder: None };
    let daily = plan("velo", Some(&facts), None, NOW, NOW);
    let due = daily.next_run.as_deref().and_then(epoch_seconds).unwrap_or_default();
    assert!((NOW - 60 + MIN_GAP..=NOW + DAY + MIN_GAP).contains(&due), "the next night's window");
    assert_eq!(daily.next_reason, "MaintenanceWindow");
    for hour in 0..48 {
        let last = NOW + hour * 1800;
        let next = next_window("velo", last + MIN_GAP);
        assert!(next - last >= MIN_GAP && next - last <= DAY + MIN_GAP, "at least daily: {} h after the last run", (next - last) / 3600);
    }
    let reminder = ActivityFacts { next_reminder: Some(NOW + 120), ..facts.clone() };
    let early = plan("velo", Some(&reminder), None, NOW, NOW);
    assert_eq!((early.next_run, early.next_reason.as_str()), (Some(rfc3339(NOW + 120)), "CalendarReminder"));
    let overdue = ActivityFacts { last_cron: Some(NOW - 3 * DAY), ..facts };
    assert_eq!(plan("velo", Some(&overdue), None, NOW, NOW).next_run, Some(rfc3339(NOW)), "missed windows: at once");
}
