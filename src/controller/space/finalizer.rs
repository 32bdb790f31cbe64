//! Step "finalizer": `frama.space/cleanup` holds a space until its data was released according to
//! its deletion policy (see `release`).

use kube::ResourceExt;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use super::status;
use crate::api::AssociationSpace;
use crate::api::labels::{FIELD_MANAGER, FINALIZER};
use crate::controller::Context;
use crate::error::Result;
use crate::gate::KUBERNETES;

pub fn is_held(space: &AssociationSpace) -> bool {
    space.finalizers().iter().any(|f| f == FINALIZER)
}

/// Adds the finalizer to a space that does not hold it yet.
pub async fn ensure(space: &AssociationSpace, ctx: &Context) -> Result<()> {
    if is_held(space) { Ok(()) } else { set(space, ctx, true).await }
}

/// The finalizer is applied with the operator's field manager: only this list entry is owned, so a
/// GitOps tool that applies the space never removes it, and no other finalizer is touched.
pub async fn set(space: &AssociationSpace, ctx: &Context, present: bool) -> Result<()> {
    let finalizers: Vec<&str> = if present { vec![FINALIZER] } else { vec![] };
    let patch = json!({
        "apiVersion": "frama.space/v1alpha1",
        "kind": "AssociationSpace",
        "metadata": { "name": space.name_any(), "finalizers": finalizers }
    });
    ctx.gate.allow(KUBERNETES)?;
    let api = kube::Api::<AssociationSpace>::all(ctx.client.clone());
    let written = api.patch(&space.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch)).await?;
    status::note_write(ctx, space, written);
    Ok(())
}
