//! Step "namespace": the space's namespace (its placement in annotations) and the RoleBinding
//! that lets the operator reach the Secrets there. The first write of a reconcile.

use k8s_openapi::api::core::v1::Namespace;
use kube::{Api, ResourceExt};

use super::build::NamespaceObjects;
use crate::api::labels::{FIELD_MANAGER, MANAGED_BY_LABEL, SPACE_LABEL};
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
    if live.is_none() {
        // The cache holds only the operator's namespaces: one of the same name made by someone
        // else (an admin's, with its Secrets) must not become the space's, be bound to the
        // operator, or be collected with the space.
        let api = Api::<Namespace>::all(ctx.client.clone());
        if let Some(existing) = api.get_metadata_opt(&ns).await? {
            let space = namespace.labels().get(SPACE_LABEL).cloned().unwrap_or_default();
            if let Some(holder) = foreign(&existing.metadata, &space) {
                return Err(Error::NamespaceConflict { namespace: ns, holder });
            }
        }
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

/// Who holds a namespace the space did not create: `None` when it is the space's own (the
/// operator's labels for this space), else what it shows of its holder.
fn foreign(meta: &kube::core::ObjectMeta, space: &str) -> Option<String> {
    let labels = meta.labels.clone().unwrap_or_default();
    let managed = labels.get(MANAGED_BY_LABEL).map(String::as_str) == Some(FIELD_MANAGER);
    match labels.get(SPACE_LABEL) {
        Some(s) if managed && s == space => None,
        Some(s) if managed => Some(format!("labelled for space {s}")),
        _ => Some("not labelled by framaspace-operator".to_string()),
    }
}

pub(super) fn written(applied: Applied) -> usize {
    usize::from(applied == Applied::Written)
}

/// Deletes a space's object (its dependents in the background), through the write gate; one
/// already gone is no error. Returns the number of writes.
pub(super) async fn deleted<K>(ctx: &Context, api: &Api<K>, name: &str) -> Result<usize>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    ctx.gate.allow(crate::gate::KUBERNETES)?;
    match api.delete(name, &kube::api::DeleteParams::background()).await {
        Ok(_) => Ok(1),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(0),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(labels: &[(&str, &str)]) -> kube::core::ObjectMeta {
        kube::core::ObjectMeta { labels: Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()), ..Default::default() }
    }

    #[test]
    fn only_a_namespace_labelled_for_the_space_is_its_own() {
        assert_eq!(foreign(&meta(&[(MANAGED_BY_LABEL, FIELD_MANAGER), (SPACE_LABEL, "x")]), "x"), None);
        assert!(foreign(&meta(&[]), "x").is_some_and(|h| h.contains("not labelled")), "an admin's namespace");
        assert!(foreign(&meta(&[(MANAGED_BY_LABEL, FIELD_MANAGER), (SPACE_LABEL, "y")]), "x").is_some());
        assert!(foreign(&meta(&[(SPACE_LABEL, "x")]), "x").is_some(), "the space label alone proves nothing");
    }
}
