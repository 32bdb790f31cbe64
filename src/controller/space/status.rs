//! Step "status": the space's status written when it differs (at most one status write per
//! reconcile), the Event that announces a change of Ready, and the bookkeeping that tells the
//! watches and the next reconcile about the operator's own writes.

use kube::ResourceExt;
use kube::runtime::events::EventType;

use crate::api::AssociationSpace;
use crate::api::conditions::{self, ConditionStatus};
use crate::api::labels::READY;
use crate::api::space::{AssociationSpaceStatus, SpacePhase};
use crate::controller::Context;
use crate::controller::apply::ObjectKey;
use crate::error::Result;

/// Writes the status when it differs from the stored one. Returns whether it wrote.
pub async fn write(space: &AssociationSpace, ctx: &Context, status: AssociationSpaceStatus) -> Result<bool> {
    let previous = space.status.clone().unwrap_or_default();
    if previous == status {
        return Ok(false);
    }
    announce(space, ctx, &previous, &status).await;
    let written = crate::controller::status::write_status(&ctx.client, &ctx.gate, space, Some(&previous), &status).await?;
    if let Some(written) = written {
        note_write(ctx, space, written);
    }
    Ok(true)
}

/// Tells the space's watch that this version is the operator's own write (see `news`), and
/// the next reconcile that it is newer than what the cache may still show (see `own_writes`).
pub fn note_write(ctx: &Context, base: &AssociationSpace, written: AssociationSpace) {
    let name = written.name_any();
    let key = ObjectKey { kind: "AssociationSpace", namespace: None, name: &name };
    ctx.applier.note_write(&key, written.metadata.resource_version.as_deref());
    ctx.own_writes.wrote(base, written);
}

/// An Event when the Ready condition changes, for `kubectl describe` and `kubectl get events`.
/// A new space's way to its first Ready (Creating, Installing, RollingOut, PodsNotReady) is
/// progress, shown in its status and by the steps' own Events (InstallStarted, Installed): only
/// its arrival, and every later change, are announced; a failure always is.
async fn announce(space: &AssociationSpace, ctx: &Context, previous: &AssociationSpaceStatus, status: &AssociationSpaceStatus) {
    let before = conditions::find(&previous.conditions, READY);
    let Some(after) = conditions::find(&status.conditions, READY) else { return };
    if before.is_some_and(|b| b.status == after.status && b.reason == after.reason) {
        return;
    }
    // Falling asleep and waking are told by the sleep step's own Events (FellAsleep, Waking).
    if matches!(status.phase, Some(SpacePhase::Sleeping | SpacePhase::Waking)) {
        return;
    }
    let type_ = match (after.status, status.phase) {
        (ConditionStatus::True, _)
        | (
            _,
            Some(SpacePhase::Provisioning | SpacePhase::Installing | SpacePhase::Suspended | SpacePhase::Upgrading | SpacePhase::Deleting),
        ) => EventType::Normal,
        _ => EventType::Warning,
    };
    let on_the_way = matches!(status.phase, Some(SpacePhase::Provisioning | SpacePhase::Installing))
        && type_ == EventType::Normal
        && !matches!(previous.phase, Some(SpacePhase::Ready | SpacePhase::Degraded));
    if on_the_way {
        return;
    }
    publish(space, ctx, type_, &after.reason, &after.message, "Reconcile").await;
}

/// An Event on the space.
pub async fn publish(space: &AssociationSpace, ctx: &Context, type_: EventType, reason: &str, note: &str, action: &str) {
    crate::controller::events::publish(&ctx.recorder, &ctx.gate, space, type_, reason, note, action).await;
}
