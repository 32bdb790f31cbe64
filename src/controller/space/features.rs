//! Which of the features Framaspace promises a space has, from what Nextcloud reported enabled
//! (`status.apps.enabled`) and the calls and office wiring (TalkReady, OfficeReady). Pure.

use crate::api::conditions::Condition;
use crate::api::labels::{OFFICE_READY, TALK_READY};
use crate::api::space::{AppsStatus, FeaturesStatus};

/// The promised features, in the order Framaspace lists them, with the apps each needs enabled.
pub const PROMISED: &[(&str, &[&str])] = &[
    ("files", &["files"]),
    ("agendas", &["calendar"]),
    ("contacts", &["contacts"]),
    ("photos", &["photos"]),
    ("kanban", &["deck"]),
    // Collectives opens only with these enabled (collectives v4.5.0
    // lib/Controller/StartController.php `checkDependencies`).
    ("wiki", &["collectives", "circles", "files_versions", "text", "viewer"]),
    ("calls", &["spreed"]),
    ("office", &[]),
];

/// Why a feature is missing, `None` when the space has it.
fn missing(feature: &str, apps: &[&str], enabled: Option<&[String]>, conditions: &[Condition]) -> Option<String> {
    let Some(enabled) = enabled else {
        return Some("Nextcloud has not reported its apps yet".into());
    };
    let off: Vec<&str> = apps.iter().copied().filter(|a| !enabled.iter().any(|e| e == a)).collect();
    if !off.is_empty() {
        return Some(format!("{} not enabled", off.join(", ")));
    }
    let wired = |type_: &str| match conditions.iter().find(|c| c.type_ == type_) {
        Some(c) if c.is_true() && c.reason == "Configured" => None,
        Some(c) => Some(format!("{type_} {}", c.reason)),
        None => Some(format!("no {type_}")),
    };
    match feature {
        "calls" => wired(TALK_READY),
        "office" => wired(OFFICE_READY),
        _ => None,
    }
}

pub fn of(apps: Option<&AppsStatus>, conditions: &[Condition]) -> FeaturesStatus {
    let enabled = apps.map(|a| a.enabled.as_slice()).filter(|e| !e.is_empty());
    let mut available = Vec::new();
    let mut lacking = Vec::new();
    for (feature, needs) in PROMISED {
        match missing(feature, needs, enabled, conditions) {
            None => available.push(feature.to_string()),
            Some(why) => lacking.push((feature.to_string(), why)),
        }
    }
    let shown = if lacking.is_empty() {
        format!("{}/{}", available.len(), PROMISED.len())
    } else {
        let names: Vec<&str> = lacking.iter().map(|(f, _)| f.as_str()).collect();
        format!("{}/{} (no {})", available.len(), PROMISED.len(), names.join(","))
    };
    FeaturesStatus { available, missing: lacking.into_iter().map(|(f, why)| format!("{f}: {why}")).collect(), shown }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::conditions::ConditionStatus;

    fn apps(list: &[&str]) -> AppsStatus {
        AppsStatus { requested: Vec::new(), enabled: list.iter().map(|a| a.to_string()).collect() }
    }

    const ALL: &[&str] = &[
        "files",
        "calendar",
        "contacts",
        "photos",
        "deck",
        "collectives",
        "circles",
        "files_versions",
        "text",
        "viewer",
        "spreed",
        "richdocuments",
    ];

    fn wired() -> Vec<Condition> {
        vec![
            Condition::new(TALK_READY, ConditionStatus::True, "Configured", "ok"),
            Condition::new(OFFICE_READY, ConditionStatus::True, "Configured", "ok"),
        ]
    }

    #[test]
    fn a_space_with_every_app_and_both_wirings_has_the_eight_features() {
        let f = of(Some(&apps(ALL)), &wired());
        assert_eq!(f.shown, "8/8");
        assert_eq!(f.available, ["files", "agendas", "contacts", "photos", "kanban", "wiki", "calls", "office"]);
        assert!(f.missing.is_empty());
    }

    #[test]
    fn each_missing_feature_says_why() {
        let no_deck: Vec<&str> = ALL.iter().copied().filter(|a| *a != "deck" && *a != "text").collect();
        let mut conditions = wired();
        conditions[0] = Condition::new(TALK_READY, ConditionStatus::False, "NoBackendAssigned", "none");
        let f = of(Some(&apps(&no_deck)), &conditions);
        assert_eq!(f.shown, "5/8 (no kanban,wiki,calls)");
        assert_eq!(f.missing, ["kanban: deck not enabled", "wiki: text not enabled", "calls: TalkReady NoBackendAssigned"]);
        let no_viewer: Vec<&str> = ALL.iter().copied().filter(|a| *a != "viewer").collect();
        assert_eq!(of(Some(&apps(&no_viewer)), &wired()).missing, ["wiki: viewer not enabled"], "Collectives opens only with the viewer");
        let f = of(Some(&apps(ALL)), &wired()[1..]);
        assert_eq!(f.missing, ["calls: no TalkReady"], "a class without Talk has no calls");
        let disabled = vec![wired()[0].clone(), Condition::new(OFFICE_READY, ConditionStatus::True, "Disabled", "office: none")];
        assert_eq!(of(Some(&apps(ALL)), &disabled).missing, ["office: OfficeReady Disabled"]);
    }

    #[test]
    fn before_nextcloud_reports_its_apps_nothing_is_claimed() {
        let f = of(None, &wired());
        assert_eq!(f.shown, "0/8 (no files,agendas,contacts,photos,kanban,wiki,calls,office)");
    }
}
