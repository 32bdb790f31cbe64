//! Step "resolve": the space's class, and its spec with the class's defaults and limits applied.
//! Pure; a spec the class refuses (or a missing class) stops the pipeline before anything that
//! runs is touched, and only shows in status.

use std::sync::Arc;

use kube::ResourceExt;

use crate::api::{AssociationSpace, SpaceClass};
use crate::render::names;
use crate::render::resolve::{self, ResolvedSpace, SpecError};

/// `served_at(name, host)`: whether the space of that name is served at that host (the spaces' cache).
/// `backend_at(host)`: the office backend served at that host, if any: a new space never takes
/// one (hostile pass 2, B4: a portal space named `collabora2` would shadow `collabora2.<domain>`).
pub fn step(
    space: &AssociationSpace,
    classes: &[Arc<SpaceClass>],
    served_at: impl Fn(&str, &str) -> bool,
    backend_at: impl Fn(&str) -> Option<String>,
) -> Result<ResolvedSpace, SpecError> {
    let class = resolve::choose_class(space, classes)?;
    let domains = || classes.iter().map(|c| c.spec.base_domain.as_str());
    if let Some(message) = crate::api::class::under_space_host(&class.spec.base_domain, domains(), &served_at) {
        return Err(SpecError::BaseDomainUnderSpace { class: class.name_any(), message });
    }
    // A new space whose host would hold another class's domain; one accepted before that class
    // existed keeps its host (the class is the one at fault, above).
    let host = names::host(&space.name_any(), &class.spec.base_domain);
    let accepted = space.status.as_ref().is_some_and(|s| s.url.is_some());
    let class_name = class.name_any();
    if !accepted
        && let Some(other) =
            classes.iter().find(|c| c.name_any() != class_name && crate::api::class::is_at_or_above(&host, &c.spec.base_domain))
    {
        return Err(SpecError::HostAboveClassDomain { host, class: other.name_any(), domain: other.spec.base_domain.clone() });
    }
    if !accepted && let Some(backend) = backend_at(&host) {
        return Err(SpecError::HostOfBackend { host, backend });
    }
    resolve::resolve(space, class)
}
