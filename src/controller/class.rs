//! SpaceClass status: how many spaces use each class, and whether the class is usable (two
//! classes marked default make every space without a class wait). Counts come from the spaces
//! cache, recomputed on class changes and on a short tick, never from counters that drift.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::runtime::WatchStreamExt;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::Store;
use kube::{Client, ResourceExt};
use tracing::warn;

use super::Stop;
use super::fanout::Subscription;
use super::status::write_status;
use crate::gate::WriteGate;

use crate::api::class::SpaceClassStatus;
use crate::api::conditions::{Condition, ConditionStatus, merge_conditions, now_rfc3339};
use crate::api::{AssociationSpace, SpaceClass};
use crate::error::{Error, Result};

const RECOUNT: Duration = Duration::from_secs(15);

struct ClassContext {
    client: Client,
    gate: WriteGate,
    spaces: Store<AssociationSpace>,
    classes: Store<SpaceClass>,
}

/// What the class controller is given by the runtime.
pub struct ClassArgs {
    pub client: Client,
    pub gate: WriteGate,
    pub spaces: Store<AssociationSpace>,
    pub classes: Store<SpaceClass>,
    /// The runtime's one watch of the classes.
    pub events: Subscription<SpaceClass>,
    pub stop: Stop,
}

/// The status of `class`, given every space and every class. Pure.
pub fn compute(class: &SpaceClass, spaces: &[Arc<AssociationSpace>], classes: &[Arc<SpaceClass>], now: &str) -> SpaceClassStatus {
    let name = class.name_any();
    let count = spaces
        .iter()
        .filter(|s| s.metadata.deletion_timestamp.is_none())
        .filter(|s| s.status.as_ref().and_then(|st| st.space_class.as_deref()) == Some(name.as_str()))
        .count() as i64;
    let mut defaults: Vec<String> = classes.iter().filter(|c| c.spec.default).map(|c| c.name_any()).collect();
    defaults.sort();
    let ready = if let Err(message) = crate::api::class::supported_version(&class.spec.nextcloud.version) {
        // Only a class stored before the API server's rule existed gets here.
        Condition::new("Ready", ConditionStatus::False, "UnsupportedNextcloudVersion", format!("{message}; its spaces are refused"))
    } else if class.spec.default && defaults.len() > 1 {
        Condition::new(
            "Ready",
            ConditionStatus::False,
            "DuplicateDefault",
            format!("several classes are marked default ({}): spaces that name no class wait until only one is", defaults.join(", ")),
        )
    } else {
        Condition::new("Ready", ConditionStatus::True, "Valid", format!("used by {count} space(s)"))
    };
    let previous = class.status.clone().unwrap_or_default();
    SpaceClassStatus {
        spaces: count,
        observed_generation: class.metadata.generation,
        conditions: merge_conditions(&previous.conditions, vec![ready], class.metadata.generation, now),
    }
}

async fn reconcile(class: Arc<SpaceClass>, ctx: Arc<ClassContext>) -> Result<Action> {
    let status = compute(&class, &ctx.spaces.state(), &ctx.classes.state(), &now_rfc3339());
    write_status(&ctx.client, &ctx.gate, class.as_ref(), class.status.as_ref(), &status).await?;
    Ok(Action::await_change())
}

fn error_policy(_: Arc<SpaceClass>, error: &Error, _: Arc<ClassContext>) -> Action {
    warn!(error = %error, "SpaceClass status update failed");
    Action::requeue(Duration::from_secs(10))
}

pub async fn run(args: ClassArgs) {
    let ClassArgs { client, gate, spaces, classes, events, stop } = args;
    let ticks = futures::stream::unfold((), |()| async {
        tokio::time::sleep(RECOUNT).await;
        Some(((), ()))
    });
    let ctx = Arc::new(ClassContext { client, gate, spaces, classes: classes.clone() });
    Controller::for_stream(events.touched_objects(), classes)
        .reconcile_all_on(ticks)
        .graceful_shutdown_on(stop)
        .run(reconcile, error_policy, ctx)
        .for_each(|_| async {})
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::space::AssociationSpaceStatus;
    use crate::render::resolve::tests as fixtures;

    fn space_of(name: &str, class: &str) -> Arc<AssociationSpace> {
        let mut s = fixtures::space(name);
        s.status = Some(AssociationSpaceStatus { space_class: Some(class.into()), ..Default::default() });
        Arc::new(s)
    }

    #[test]
    fn counts_the_spaces_that_use_the_class() {
        let standard = fixtures::class("standard", true);
        let spaces = vec![space_of("a", "standard"), space_of("b", "standard"), space_of("c", "premium")];
        let classes = vec![Arc::new(standard.clone())];
        let status = compute(&standard, &spaces, &classes, "2026-11-21T00:00:00Z");
        assert_eq!(status.spaces, 2);
        assert_eq!(status.conditions[0].reason, "Valid");
    }

    #[test]
    fn two_default_classes_are_reported() {
        let a = fixtures::class("a", true);
        let classes = vec![Arc::new(a.clone()), Arc::new(fixtures::class("b", true))];
        let status = compute(&a, &[], &classes, "2026-11-21T00:00:00Z");
        assert_eq!(status.conditions[0].reason, "DuplicateDefault");
        assert!(status.conditions[0].message.contains("a, b"));
        let not_default = fixtures::class("c", false);
        assert_eq!(compute(&not_default, &[], &classes, "x").conditions[0].reason, "Valid");
    }

    #[test]
    fn a_class_on_an_unsupported_nextcloud_is_not_ready() {
        let mut old = fixtures::class("old", false);
        old.spec.nextcloud.version = "31.0.9".into();
        let c = &compute(&old, &[], &[], "x").conditions[0];
        assert_eq!((c.reason.as_str(), c.status), ("UnsupportedNextcloudVersion", ConditionStatus::False));
        assert!(c.message.contains("spec.nextcloud.version 31.0.9"), "{}", c.message);
    }
}
