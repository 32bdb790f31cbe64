//! What the operator reads of its occ Jobs: where a Job stands (its conditions) and what its
//! `occ` container said (the termination message: the JSON of `occ status` on success, the end
//! of its output on failure, see `render::nextcloud`), and the two writes every occ Job step makes.

use std::sync::Arc;

use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use kube::runtime::reflector::ObjectRef;

use crate::api::labels::OCC_LABEL;
use crate::controller::Context;
use crate::controller::apply::{Applied, ChangeSignal};
use crate::error::Result;
use crate::render::jobs::OCC_CONTAINER;

/// Where a Job stands, from its status conditions.
#[derive(Debug, PartialEq, Eq)]
pub enum JobState {
    Running,
    Succeeded,
    /// The Job controller's message, and when it failed (RFC 3339).
    Failed {
        message: String,
        at: String,
    },
}

pub fn job_state(job: &Job) -> JobState {
    let conditions = job.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    let holds = |t: &str| conditions.iter().find(|c| c.type_ == t && c.status == "True");
    if holds("Complete").is_some() {
        JobState::Succeeded
    } else if let Some(c) = holds("Failed") {
        JobState::Failed {
            message: c.message.clone().unwrap_or_else(|| c.reason.clone().unwrap_or_default()),
            at: c.last_transition_time.as_ref().map(|t| t.0.to_string()).unwrap_or_default(),
        }
    } else {
        JobState::Running
    }
}

/// The termination message of the `occ` container of the Job's newest finished pod. One LIST of
/// the Job's pods (by its uid: an earlier Job of the same name may still have pods), made only
/// when a Job finished and its outcome is not recorded yet.
pub async fn occ_output(ctx: &Context, ns: &str, job: &Job) -> Result<Option<String>> {
    termination_message(&ctx.client, ns, job).await
}

/// [`occ_output`] for callers without a space's context.
pub async fn termination_message(client: &kube::Client, ns: &str, job: &Job) -> Result<Option<String>> {
    Ok(termination(client, ns, job).await?.map(|t| t.message))
}

/// What the last finished pod of a Job said, and the image it ran.
pub struct Termination {
    pub message: String,
    /// The `occ` container's `imageID` (`repo@sha256:...`), empty when the kubelet gave none.
    pub image_id: String,
}

/// The Job's last finished pod: its termination message and the image the kubelet ran.
pub async fn termination(client: &kube::Client, ns: &str, job: &Job) -> Result<Option<Termination>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let selector = match job.metadata.uid.as_deref() {
        Some(uid) => format!("batch.kubernetes.io/controller-uid={uid}"),
        None => format!("batch.kubernetes.io/job-name={}", job.metadata.name.as_deref().unwrap_or_default()),
    };
    let pods = api.list(&ListParams::default().labels(&selector)).await?;
    let mut finished: Vec<(String, String, String)> = pods
        .items
        .iter()
        .filter_map(|p| {
            let status = p.status.as_ref()?;
            let occ = status.container_statuses.as_ref()?.iter().find(|c| c.name == OCC_CONTAINER)?;
            let terminated = occ.state.as_ref()?.terminated.clone()?;
            let when = terminated.finished_at.as_ref().map(|t| t.0.to_string()).unwrap_or_default();
            Some((when, terminated.message.unwrap_or_default(), occ.image_id.clone()))
        })
        .collect();
    finished.sort();
    Ok(finished.pop().map(|(_, message, image_id)| Termination { message, image_id }))
}

/// The image the Job's `occ` container runs.
pub fn occ_image(job: &Job) -> Option<String> {
    let pod = job.spec.as_ref()?.template.spec.as_ref()?;
    pod.containers.iter().find(|c| c.name == OCC_CONTAINER)?.image.clone()
}

/// Applies a Job (server-side, through the write gate); returns the number of writes.
pub async fn create(ctx: &Context, ns: &str, job: Job) -> Result<usize> {
    let api: Api<Job> = Api::namespaced(ctx.client.clone(), ns);
    Ok(usize::from(ctx.applier.apply(&api, job, None, ChangeSignal::Generation).await? == Applied::Written))
}

/// Deletes a Job and, in the background, its pods; one already gone is no error. Returns the
/// number of writes.
pub async fn delete(ctx: &Context, ns: &str, name: &str) -> Result<usize> {
    super::namespace::deleted(ctx, &Api::<Job>::namespaced(ctx.client.clone(), ns), name).await
}

/// The Job named `name` in the space's namespace (cache).
pub fn current(ctx: &Context, ns: &str, name: &str) -> Option<Arc<Job>> {
    ctx.owned.jobs.get(&ObjectRef::new(name).within(ns))
}

/// The namespace's occ Jobs of one purpose (cache): looked for only when the current one does
/// not exist yet (a configuration change), not at every reconcile.
pub fn of_purpose(ctx: &Context, ns: &str, purpose: &str) -> Vec<Arc<Job>> {
    ctx.owned
        .jobs
        .state()
        .into_iter()
        .filter(|j| j.namespace().as_deref() == Some(ns) && j.labels().get(OCC_LABEL).map(String::as_str) == Some(purpose))
        .collect()
}

/// What [`replace`] did.
pub enum Replaced {
    /// An earlier Job of the purpose still runs: nothing was written (one occ at a time).
    WaitingFor(String),
    /// The finished earlier Jobs were deleted and the new one created: the writes made.
    Created(usize),
}

/// Puts `job` in place of the namespace's earlier Jobs of its purpose, once none of them runs:
/// finished ones have done their work, only the current one is kept.
pub async fn replace(ctx: &Context, ns: &str, purpose: &str, job: Job) -> Result<Replaced> {
    let earlier = of_purpose(ctx, ns, purpose);
    if let Some(active) = earlier.iter().find(|j| job_state(j) == JobState::Running) {
        return Ok(Replaced::WaitingFor(active.name_any()));
    }
    let mut writes = 0;
    for old in &earlier {
        writes += delete(ctx, ns, &old.name_any()).await?;
    }
    writes += create(ctx, ns, job).await?;
    Ok(Replaced::Created(writes))
}

/// What a step that owns a wiring Job (office, talk) needs besides the context.
pub struct WiringInputs<'a> {
    pub space: &'a crate::api::AssociationSpace,
    pub resolved: &'a crate::render::resolve::ResolvedSpace,
    pub bindings: &'a crate::render::bindings::Bindings,
    pub placement_errors: &'a [crate::placement::PlacementError],
    pub previous: &'a crate::api::space::AssociationSpaceStatus,
}

/// A wiring Job by what its occ container reported: the JSON of `occ status` after the commands
/// (a Nextcloud in normal mode), or the end of its output on failure.
pub enum Report {
    Running,
    /// Nextcloud serves after the commands: its version string.
    Serving(String),
    /// Why not, with the `kubectl logs` to read.
    Failed(String),
}

/// The report of a wiring Job, and its output (empty while it runs): one LIST of its pods, so a
/// step reads it once per Job and keeps the condition it gave.
pub async fn report(ctx: &Context, ns: &str, name: &str, job: &Job) -> Result<(Report, String)> {
    let state = job_state(job);
    if state == JobState::Running {
        return Ok((Report::Running, String::new()));
    }
    let output = occ_output(ctx, ns, job).await?.unwrap_or_default();
    let logs = format!("kubectl -n {ns} logs job/{name}");
    let report = match (state, crate::render::nextcloud::OccStatus::parse(&output)) {
        (JobState::Succeeded, Some(s)) if s.serving() => Report::Serving(s.version_string),
        (JobState::Succeeded, Some(s)) => Report::Failed(format!(
            "occ Job {name} completed but Nextcloud is not serving (installed {}, maintenance {}, upgrade needed {}); {logs}",
            s.installed, s.maintenance, s.needs_db_upgrade
        )),
        (JobState::Succeeded, None) => Report::Failed(format!("occ Job {name} completed without reporting occ status; {logs}")),
        (JobState::Failed { message, .. }, _) => {
            let said = crate::render::nextcloud::summarize(&output, 300);
            Report::Failed(format!("occ Job {name} failed: {}; {logs}", if said.is_empty() { message } else { said }))
        }
        (JobState::Running, _) => Report::Running,
    };
    Ok((report, output))
}

/// The condition an earlier reconcile gave a finished Job (it names the Job), if any.
pub fn reported<'a>(
    previous: &'a crate::api::space::AssociationSpaceStatus,
    type_: &str,
    reasons: &[&str],
    name: &str,
) -> Option<&'a crate::api::conditions::Condition> {
    previous
        .conditions
        .iter()
        .find(|c| c.type_ == type_ && reasons.contains(&c.reason.as_str()) && c.message.contains(&format!("occ Job {name} ")))
}
