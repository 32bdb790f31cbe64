//! Step "office": the `occ` commands of the space's suite run once per change in a Job with the
//! space's own image, environment and configuration, never two at once for a space; progress and
//! result in the OfficeReady condition and in Events.

use k8s_openapi::api::batch::v1::Job;
use kube::runtime::events::EventType;

use super::build::{OFFICE_PURPOSE as PURPOSE, OfficeWiring};
use super::jobs::{self, JobState, Replaced, Report, WiringInputs, job_state};
use super::status::publish;
use crate::api::conditions::{Condition, ConditionStatus};
use crate::api::labels::{OCC_FAILED, OFFICE_READY};
use crate::api::space::{AssociationSpaceStatus, OfficeSuite};
use crate::controller::Context;
use crate::error::Result;
use crate::render::nextcloud::enabled_apps;
/// The action of this step's Events.
const ACTION: &str = "ConfigureOffice";

fn office(status: ConditionStatus, reason: &str, message: impl Into<String>) -> Condition {
    Condition::new(OFFICE_READY, status, reason, message)
}

/// What the office step needs besides the context.
pub type OfficeInputs<'a> = WiringInputs<'a>;

/// OfficeReady from a finished Job (`jobs::report`), and the apps its report lists enabled (the
/// suite's app among them), when it was read now. Read once per Job: the condition names the
/// Job, so a later reconcile keeps it without reading again.
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
    if let Some(c) = jobs::reported(previous, OFFICE_READY, &["Configured", "Disabled", OCC_FAILED], name) {
        return Ok((c.clone(), None));
    }
    let (report, output) = jobs::report(ctx, ns, name, job).await?;
    let condition = match report {
        Report::Serving(version) if suite == OfficeSuite::None => {
            office(True, "Disabled", format!("office: none; occ Job {name} disabled richdocuments and onlyoffice (Nextcloud {version})"))
        }
        Report::Serving(version) => {
            office(True, "Configured", format!("{target}; occ Job {name} completed (Nextcloud {version} in normal mode)"))
        }
        Report::Failed(why) => office(False, OCC_FAILED, why),
        Report::Running => office(False, "Configuring", format!("occ Job {name} is running ({target})")),
    };
    let enabled = enabled_apps(&output).filter(|_| job_state(job) == JobState::Succeeded);
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
    let WiringInputs { space, resolved, bindings, placement_errors, previous } = inputs;
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
    let current = jobs::current(ctx, ns, &name);
    if suite == OfficeSuite::None && !wired_before && current.is_none() && jobs::of_purpose(ctx, ns, PURPOSE).is_empty() {
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
    match jobs::replace(ctx, ns, PURPOSE, job).await? {
        Replaced::WaitingFor(active) => {
            Ok((office(False, "Configuring", format!("waiting for occ Job {active} to finish before running {name}")), 0, None))
        }
        Replaced::Created(writes) => {
            publish(space, ctx, EventType::Normal, "OccJobCreated", &format!("occ Job {name}: {}", commands.join("; ")), ACTION).await;
            Ok((office(False, "Configuring", format!("occ Job {name} created ({target})")), writes, None))
        }
    }
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
