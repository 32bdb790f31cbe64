//! Step "build": every object of a space, built by pure functions from the resolved spec, its
//! placement and its bindings, before the first write. The apply steps consume this value whole
//! (each destructures its part), so an object added here and forgotten there does not compile
//! clean. The credentials Secret is the one exception (see `credentials`): its content is what
//! the cluster already holds, read once the namespace exists.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::rbac::v1::RoleBinding;

use super::placement;
use crate::api::space::{NextcloudStatus, Placement};
use crate::render::bindings::{Bindings, office_commands};
use crate::render::objects::{self, SecretAccess, occ_job_name};
use crate::render::resolve::ResolvedSpace;

/// The purpose label of the office occ Jobs.
pub const OFFICE_PURPOSE: &str = "office";

/// Every object of one space.
pub struct SpaceObjects {
    pub namespace: NamespaceObjects,
    pub workload: WorkloadObjects,
    pub exposure: ExposureObjects,
    /// The install Job of this attempt; `None` once installed, or without a database yet.
    pub install: Option<Job>,
    pub office: OfficeWiring,
}

/// The space's namespace (recording its placement) and the operator's access to its Secrets.
pub struct NamespaceObjects {
    pub namespace: Namespace,
    /// `None` when the operator's own role already reaches every Secret (development).
    pub operator_access: Option<RoleBinding>,
}

/// Nextcloud itself: its configuration, its Deployment and the namespace's limits.
pub struct WorkloadObjects {
    pub config_map: ConfigMap,
    /// Only for an installed space: no web pod runs before the install succeeded.
    pub deployment: Option<Deployment>,
    pub resource_quota: ResourceQuota,
    pub limit_range: LimitRange,
}

/// How the space is reached, and what it may reach.
pub struct ExposureObjects {
    pub service: Service,
    pub ingress: Ingress,
    pub network_policy: NetworkPolicy,
}

/// The occ commands that wire the space's office suite, and the Job that runs them (only in an
/// installed space).
pub struct OfficeWiring {
    pub commands: Vec<String>,
    pub job_name: String,
    pub job: Option<Job>,
}

/// What the objects are built from besides the resolved spec.
pub struct BuildInputs<'a> {
    pub placement: &'a Placement,
    pub bindings: &'a Bindings,
    pub access: Option<&'a SecretAccess>,
    /// The Nextcloud the space runs, once installed.
    pub installed: Option<&'a NextcloudStatus>,
    /// The attempt an install Job would be (see `install::next_attempt`).
    pub install_attempt: u32,
}

pub fn space_objects(space: &ResolvedSpace, inputs: BuildInputs<'_>) -> SpaceObjects {
    let BuildInputs { placement, bindings, access, installed, install_attempt } = inputs;
    let files: BTreeMap<String, String> = crate::render::config::render(space, bindings, installed);
    let commands = office_commands(space.office, bindings.office.as_ref());
    SpaceObjects {
        namespace: NamespaceObjects {
            namespace: objects::namespace(space, placement::annotations(placement), installed),
            operator_access: access.map(|a| objects::operator_access(space, a)),
        },
        install: match installed {
            None => objects::install_job(space, bindings, &files, install_attempt),
            Some(_) => None,
        },
        workload: WorkloadObjects {
            deployment: installed.map(|nc| objects::deployment(space, bindings, &files, nc)),
            resource_quota: objects::resource_quota(space),
            limit_range: objects::limit_range(space),
            config_map: objects::config_map(space, files.clone()),
        },
        exposure: ExposureObjects {
            service: objects::service(space),
            ingress: objects::ingress(space),
            network_policy: objects::network_policy(space, bindings),
        },
        office: OfficeWiring {
            job_name: occ_job_name(OFFICE_PURPOSE, &commands),
            job: installed.map(|nc| objects::occ_job(space, bindings, &files, nc, OFFICE_PURPOSE, &commands)),
            commands,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::resolve::{resolve, tests as fixtures};

    #[test]
    fn every_object_lives_in_the_space_namespace_and_carries_its_label() {
        let space = resolve(&fixtures::space("a"), &fixtures::class("c", true)).expect("resolves");
        let nc = NextcloudStatus { version: "33.0.7.2".into(), version_string: "33.0.7".into(), image: "nc:33.0.7".into() };
        let bindings = Bindings::default();
        let placement = Placement::default();
        let inputs = |installed| BuildInputs { placement: &placement, bindings: &bindings, access: None, installed, install_attempt: 1 };
        let fresh = space_objects(&space, inputs(None));
        assert!(fresh.workload.deployment.is_none() && fresh.office.job.is_none(), "nothing runs before the install");
        let o = space_objects(&space, inputs(Some(&nc)));
        assert!(o.namespace.operator_access.is_none());
        assert!(o.install.is_none());
        let deployment = o.workload.deployment.as_ref().expect("installed: a Deployment");
        let job = o.office.job.as_ref().expect("installed: the office Job");
        let metas = [
            &o.workload.config_map.metadata,
            &deployment.metadata,
            &o.workload.resource_quota.metadata,
            &o.workload.limit_range.metadata,
            &o.exposure.service.metadata,
            &o.exposure.ingress.metadata,
            &o.exposure.network_policy.metadata,
            &job.metadata,
        ];
        for m in metas {
            assert_eq!(m.namespace.as_deref(), Some("space-a"), "{:?}", m.name);
            let label = m.labels.as_ref().and_then(|l| l.get(crate::api::labels::SPACE_LABEL));
            assert_eq!(label.map(String::as_str), Some("a"), "{:?}", m.name);
        }
        assert_eq!(job.metadata.name.as_deref(), Some(o.office.job_name.as_str()));
    }
}
