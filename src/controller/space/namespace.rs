//! Step "namespace": the space's namespace (its placement in annotations) and the RoleBinding
//! that lets the operator reach the Secrets there. The first write of a reconcile.

use kube::Api;

use super::build::NamespaceObjects;
use crate::controller::Context;
use crate::controller::apply::{Applied, ChangeSignal};
use crate::controller::caches::MetaCache;
use crate::error::{Error, Result};
use crate::render::names;

/// Applies the namespace objects; returns the number of writes.
pub async fn apply(ctx: &Context, objects: NamespaceObjects) -> Result<usize> {
    let NamespaceObjects { namespace, operator_access } = objects;
    let ns = namespace.metadata.name.clone().unwrap_or_default();
    let live = ctx.owned.namespaces.get_meta(None, &ns);
    if live.as_ref().is_some_and(|m| m.deletion_timestamp.is_some()) {
        // A space re-created under the name of one being deleted waits for the old namespace.
        return Err(Error::StillTerminating(format!("namespace {ns}")));
    }
    let mut writes =
        written(ctx.applier.apply(&Api::all(ctx.client.clone()), namespace, live.as_ref(), ChangeSignal::ResourceVersion).await?);
    if let Some(binding) = operator_access {
        let live = ctx.owned.role_bindings.get_meta(Some(&ns), names::OPERATOR_ACCESS);
        let api = Api::namespaced(ctx.client.clone(), &ns);
        writes += written(ctx.applier.apply(&api, binding, live.as_ref(), ChangeSignal::ResourceVersion).await?);
    }
    Ok(writes)
}

pub(super) fn written(applied: Applied) -> usize {
    usize::from(applied == Applied::Written)
}
