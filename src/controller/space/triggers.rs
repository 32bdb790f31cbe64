//! Which spaces a watch event concerns: the spaces of a class, the spaces on a pool (and those
//! still waiting for one), the space an owned object belongs to.

use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Resource, ResourceExt};

use crate::api::labels::{PLACED, TALK_BACKEND_ANNOTATION, TALK_READY};
use crate::api::{AssociationSpace, SpaceClass, conditions};
use crate::controller::caches::{self, MetaStore};
use k8s_openapi::api::core::v1::Namespace;

/// Spaces whose reconcile depends on `class`: those naming it, and those naming none (the
/// default class may have changed).
pub fn spaces_of_class(spaces: &Store<AssociationSpace>, class: &SpaceClass) -> Vec<ObjectRef<AssociationSpace>> {
    let name = class.name_any();
    spaces
        .state()
        .iter()
        .filter(|s| s.spec.space_class_name.as_ref().is_none_or(|c| *c == name))
        .map(|s| ObjectRef::from_obj(s.as_ref()))
        .collect()
}

/// Maps an owned object to its space, when that space exists: objects outliving their space
/// (being collected) or merely carrying the label (copied by hand) trigger nothing.
pub fn owned_by<K: Resource>(spaces: &Store<AssociationSpace>) -> impl Fn(K) -> Option<ObjectRef<AssociationSpace>> + use<K> {
    let spaces = spaces.clone();
    move |o| caches::owning_space(&o).filter(|space| spaces.get(space).is_some())
}

/// Spaces affected by a pool's change: those placed on it, and those still waiting for a pool.
pub fn spaces_of_pool(
    spaces: &Store<AssociationSpace>,
    namespaces: &MetaStore<Namespace>,
    annotation: &str,
    pool: &str,
) -> Vec<ObjectRef<AssociationSpace>> {
    let waiting = |s: &AssociationSpace| !condition_true(s, PLACED);
    assigned_or_waiting(spaces, namespaces, annotation, pool, waiting)
}

/// Spaces affected by a TalkBackend's change: those assigned to it, and those whose calls wait
/// for one (TalkReady not True), so adding a backend wires them now, not at their next resync.
pub fn spaces_of_talk_backend(
    spaces: &Store<AssociationSpace>,
    namespaces: &MetaStore<Namespace>,
    backend: &str,
) -> Vec<ObjectRef<AssociationSpace>> {
    let waiting = |s: &AssociationSpace| has_condition(s, TALK_READY) && !condition_true(s, TALK_READY);
    assigned_or_waiting(spaces, namespaces, TALK_BACKEND_ANNOTATION, backend, waiting)
}

fn has_condition(space: &AssociationSpace, type_: &str) -> bool {
    space.status.as_ref().and_then(|st| conditions::find(&st.conditions, type_)).is_some()
}

fn condition_true(space: &AssociationSpace, type_: &str) -> bool {
    space.status.as_ref().and_then(|st| conditions::find(&st.conditions, type_)).is_some_and(|c| c.is_true())
}

/// The spaces whose namespace records `name` under `annotation`, and those `waiting` says wait.
fn assigned_or_waiting(
    spaces: &Store<AssociationSpace>,
    namespaces: &MetaStore<Namespace>,
    annotation: &str,
    name: &str,
    waiting: impl Fn(&AssociationSpace) -> bool,
) -> Vec<ObjectRef<AssociationSpace>> {
    let mut refs: Vec<ObjectRef<AssociationSpace>> = namespaces
        .state()
        .iter()
        .filter(|ns| ns.annotations().get(annotation).map(String::as_str) == Some(name))
        .filter_map(|ns| caches::owning_space(ns.as_ref()))
        .collect();
    refs.extend(spaces.state().iter().filter(|s| waiting(s)).map(|s| ObjectRef::from_obj(s.as_ref())));
    refs
}
