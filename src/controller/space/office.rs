//! Step "office": the `occ` commands of the space's suite run once per change in a Job with the
//! space's own image, environment and configuration, never two at once for a space; progress and
//! result in the OfficeReady condition and in Events.

use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::runtime::events::EventType;
use kube::runtime::reflector::ObjectRef;

use super::build::{OFFICE_PURPOSE as PURPOSE, OfficeWiring};
use super::jobs::{self, JobState, job_state, occ_output};
use super::status::publish;
use crate::api::AssociationSpace;
use crate::api::conditions::{Condition, ConditionStatus};
use crate::api::labels::{OCC_FAILED, OCC_LABEL, OFFICE_READY};
use crate::api::space::{AssociationSpaceStatus, OfficeSuite};
use crate::controller::Context;
use crate::error::Result;
use crate::placement::PlacementError;
use crate::render::bindings::Bindings;
use crate::render::nextcloud::{OccStatus, enabled_apps, summarize};
use crate::render::resolve::ResolvedSpace;
/// The action of this step's Events.
const ACTION: &str = "ConfigureOffice";

fn office(status: ConditionStatus, reason: &str, message: impl Into<String>) -> Condition {
    Condition::new(OFFICE_READY, status, reason, message)
}

/// What the office step needs besides the context.
pub struct OfficeInputs<'a> {
    pub space: &'a AssociationSpace,
    pub resolved: &'a ResolvedSpace,
    pub bindings: &'a Bindings,
    pub placement_errors: &'a [PlacementError],
    pub previous: &'a AssociationSpaceStatus,
}

/// OfficeReady from a finished Job, by what its occ container reported: the JSON of `occ status`
/// after the commands (a Nextcloud in normal mode), or the end of its output on failure; and the
/// apps its report lists enabled (the suite's app among them), when it was read now. Read once
/// per Job: the condition names the Job, so a later reconcile keeps it without reading again.
async fn finished(
    ctx: &Context,
    ns: &str,
    name: &str,
    job: &Job,
    target: &str,
    suite: OfficeSuite,
    previous: &AssociationSpaceStatus,
) -> Result<(Condition, Option<Vec<String>>)> {
    use ConditionStatus::*;
    let known = previous.conditions.iter().find(|c| {
        c.type_ == OFFICE_READY
            && ["Configured", "Disabled", OCC_FAILED].contains(&c.reason.as_str())
            && c.message.contains(&format!("occ Job {name} "))
    });
    if let Some(c) = known {
        return Ok((c.clone(), None));
    }
    let output = occ_output(ctx, ns, job).await?.unwrap_or_default();
    let enabled = enabled_apps(&output).filter(|_| job_state(job) == JobState::Succeeded);
    let logs = format!("kubectl -n {ns} logs job/{name}");
    let condition = match (job_state(job), OccStatus::parse(&output)) {
        (JobState::Succeeded, Some(s)) if s.serving() && suite == OfficeSuite::None => office(
            True,
            "Disabled",
            format!("office: none; occ Job {name} disabled richdocuments and onlyoffice (Nextcloud {})", s.version_string),
        ),
        (JobState::Succeeded, Some(s)) if s.serving() => {
            office(True, "Configured", format!("{target}; occ Job {name} completed (Nextcloud {} in normal mode)", s.version_string))
        }
        (JobState::Succeeded, Some(s)) => office(
            False,
            OCC_FAILED,
            format!(
                "occ Job {name} completed but Nextcloud is not serving (installed {}, maintenance {}, upgrade needed {}); {logs}",
                s.installed, s.maintenance, s.needs_db_upgrade
            ),
        ),
        (JobState::Succeeded, None) => office(False, OCC_FAILED, format!("occ Job {name} completed without reporting occ status; {logs}")),
        (JobState::Failed { message, .. }, _) => {
            let said = summarize(&output, 300);
            let said = if said.is_empty() { message } else { said };
            office(False, OCC_FAILED, format!("occ Job {name} failed: {said}; {logs}"))
        }
        (JobState::Running, _) => office(False, "Configuring", format!("occ Job {name} is running ({target})")),
    };
    Ok((condition, enabled))
}

/// What the step decided: OfficeReady, the API writes, and the apps Nextcloud reported enabled
/// when an office Job's report was read in this reconcile.
pub struct OfficeOutcome {
    pub condition: Condition,
    pub writes: usize,
    pub enabled: Option<Vec<String>>,
}

/// Wires the space's office suite.
pub async fn step(ctx: &Context, inputs: OfficeInputs<'_>, wiring: OfficeWiring) -> Result<OfficeOutcome> {
    let (condition, writes, enabled) = wire(ctx, inputs, wiring).await?;
    Ok(OfficeOutcome { condition, writes, enabled })
}

async fn wire(ctx: &Context, inputs: OfficeInputs<'_>, wiring: OfficeWiring) -> Result<(Condition, usize, Option<Vec<String>>)> {
    use ConditionStatus::*;
    let OfficeInputs { space, resolved, bindings, placement_errors, previous } = inputs;
    let OfficeWiring { commands, job_name: name, job } = wiring;
    let suite = resolved.office;
    if suite != OfficeSuite::None && bindings.office.is_none() {
        let why = placement_errors.iter().find(|e| e.kind() == "OfficeBackend");
        let (reason, message) = match why {
            Some(e) => (e.reason(), format!("no {} backend: {e}", suite.as_str())),
            None => ("NoBackendAssigned", format!("no {} OfficeBackend is assigned yet", suite.as_str())),
        };
        return Ok((office(False, reason, message), 0, None));
    }
    if let Some(o) = &bindings.office
        && suite == OfficeSuite::Onlyoffice
        && crate::controller::backends::office_jwt(ctx, &o.backend).is_none()
    {
        return Ok((
            office(False, "WaitingForBackend", format!("OfficeBackend {} has not created its JWT Secret yet", o.backend)),
            0,
            None,
        ));
    }
    if resolved.suspended {
        return Ok((office(Unknown, "Suspended", "the space is suspended; its office wiring resumes with it"), 0, None));
    }
    // `build` makes the Job only for an installed space: occ has nothing to run on before.
    let Some(job) = job else {
        return Ok((
            office(Unknown, "WaitingForInstall", format!("office suite {} is wired once Nextcloud is installed", suite.as_str())),
            0,
            None,
        ));
    };
    let ns = resolved.namespace.as_str();
    // A new space's Nextcloud has neither app enabled: `office: none` needs a Job only to undo an
    // earlier suite.
    let wired_before = previous
        .conditions
        .iter()
        .any(|c| c.type_ == OFFICE_READY && ["Configured", "Configuring", OCC_FAILED].contains(&c.reason.as_str()));
    // The Job of the current commands, by name; the namespace's other occ Jobs are only looked
    // for when it does not exist yet (a configuration change), not at every reconcile.
    let current = ctx.owned.jobs.get(&ObjectRef::new(&name).within(ns));
    let others = || -> Vec<_> {
        ctx.owned
            .jobs
            .state()
            .into_iter()
            .filter(|j| j.namespace().as_deref() == Some(ns) && j.labels().get(OCC_LABEL).map(String::as_str) == Some(PURPOSE))
            .collect()
    };
    if suite == OfficeSuite::None && !wired_before && current.is_none() && others().is_empty() {
        return Ok((office(True, "Disabled", "office: none; no office app was ever enabled"), 0, None));
    }
    let target = match &bindings.office {
        Some(o) => format!("{} via OfficeBackend {}", suite.as_str(), o.backend),
        None => "apps disabled".to_string(),
    };
    let was = previous.conditions.iter().find(|c| c.type_ == OFFICE_READY).map(|c| c.reason.clone()).unwrap_or_default();
    if let Some(current) = current {
        let (condition, enabled) = match job_state(&current) {
            JobState::Running => (office(False, "Configuring", format!("occ Job {name} is running ({target})")), None),
            JobState::Succeeded | JobState::Failed { .. } => finished(ctx, ns, &name, &current, &target, suite, previous).await?,
        };
        if condition.reason != was {
            match condition.reason.as_str() {
                "Configured" | "Disabled" => publish(space, ctx, EventType::Normal, "OfficeConfigured", &condition.message, ACTION).await,
                OCC_FAILED => publish(space, ctx, EventType::Warning, "OccJobFailed", &condition.message, ACTION).await,
                _ => {}
            }
        }
        return Ok((condition, 0, enabled));
    }
    let earlier = others();
    if let Some(active) = earlier.iter().find(|j| job_state(j) == JobState::Running) {
        let message = format!("waiting for occ Job {} to finish before running {name}", active.name_any());
        return Ok((office(False, "Configuring", message), 0, None));
    }
    // Finished Jobs of earlier configurations have done their work; only the current one is kept.
    let mut writes = 0;
    for old in &earlier {
        writes += jobs::delete(ctx, ns, &old.name_any()).await?;
    }
    writes += jobs::create(ctx, ns, job).await?;
    publish(space, ctx, EventType::Normal, "OccJobCreated", &format!("occ Job {name}: {}", commands.join("; ")), ACTION).await;
    Ok((office(False, "Configuring", format!("occ Job {name} created ({target})")), writes, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{JobCondition, JobStatus};

    fn job(conditions: &[(&str, &str)]) -> Job {
        Job {
            status: Some(JobStatus {
                conditions: Some(
                    conditions
                        .iter()
                        .map(|(t, s)| JobCondition {
                            type_: t.to_string(),
                            status: s.to_string(),
                            message: Some("boom".into()),
                            ..JobCondition::default()
                        })
                        .collect(),
                ),
                ..JobStatus::default()
            }),
            ..Job::default()
        }
    }

    #[test]
    fn job_states_come_from_conditions() {
        assert_eq!(job_state(&Job::default()), JobState::Running);
        assert_eq!(job_state(&job(&[("Complete", "True")])), JobState::Succeeded);
        assert_eq!(job_state(&job(&[("Failed", "True")])), JobState::Failed { message: "boom".into(), at: String::new() });
        assert_eq!(job_state(&job(&[("Failed", "False"), ("SuccessCriteriaMet", "True")])), JobState::Running);
    }
}
