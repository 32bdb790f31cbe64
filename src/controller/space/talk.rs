//! Step "talk": a space whose class enables Talk (`spreed`) is wired to the TURN server of its
//! TalkBackend by one occ Job per wiring (`render::talk::talk_commands`: the lists emptied, then
//! `talk:stun:add` and `talk:turn:add` with the backend's secret from the space's own Secret);
//! a new backend or a new secret is a new Job, run once. A class that drops Talk has the space's
//! TURN and STUN lists emptied by one Job, and no TalkReady after it. Progress and result in
//! TalkReady and in Events; TalkReady never keeps a space from Ready (its files still serve).

use kube::runtime::events::EventType;

use super::build::TalkWiring;
use k8s_openapi::api::batch::v1::Job;

use super::jobs::{self, JobState, Replaced, Report, WiringInputs, job_state};
use super::status::publish;
use crate::api::conditions::{Condition, ConditionStatus};
use crate::api::labels::{OCC_FAILED, TALK_READY};
use crate::api::space::AssociationSpaceStatus;
use crate::controller::Context;
use crate::error::Result;
use crate::render::jobs::TALK_PURPOSE as PURPOSE;

/// The action of this step's Events.
const ACTION: &str = "ConfigureTalk";

fn talk(status: ConditionStatus, reason: &str, message: impl Into<String>) -> Condition {
    Condition::new(TALK_READY, status, reason, message)
}

/// What the talk step needs besides the context.
pub type TalkInputs<'a> = WiringInputs<'a>;

/// TalkReady (`None`: the class has no Talk and the space holds no wiring), and the API writes.
pub struct TalkOutcome {
    pub condition: Option<Condition>,
    pub writes: usize,
}

/// Whether the space's Talk was wired (or being wired) by an earlier Job.
fn wired_before(previous: &AssociationSpaceStatus) -> bool {
    previous.conditions.iter().any(|c| c.type_ == TALK_READY && ["Configured", "Configuring", OCC_FAILED].contains(&c.reason.as_str()))
}

/// TalkReady from a finished Job (`jobs::report`): read once per Job, the condition names it.
async fn finished(ctx: &Context, ns: &str, name: &str, job: &Job, target: &str, previous: &AssociationSpaceStatus) -> Result<Condition> {
    use ConditionStatus::*;
    if let Some(c) = jobs::reported(previous, TALK_READY, &["Configured", OCC_FAILED], name) {
        return Ok(c.clone());
    }
    Ok(match jobs::report(ctx, ns, name, job).await?.0 {
        Report::Serving(version) => {
            talk(True, "Configured", format!("{target}; occ Job {name} completed (Nextcloud {version} in normal mode)"))
        }
        Report::Failed(why) => talk(False, OCC_FAILED, why),
        Report::Running => talk(False, "Configuring", format!("occ Job {name} is running ({target})")),
    })
}

pub async fn step(ctx: &Context, inputs: TalkInputs<'_>, wiring: TalkWiring) -> Result<TalkOutcome> {
    use ConditionStatus::*;
    let WiringInputs { space, resolved, bindings, placement_errors, previous } = inputs;
    let TalkWiring { commands, job_name: name, job } = wiring;
    let done = |condition: Condition| Ok(TalkOutcome { condition: Some(condition), writes: 0 });
    let ns = resolved.namespace.as_str();
    let current = jobs::current(ctx, ns, &name);
    let target = match (&bindings.talk, resolved.has_talk()) {
        (Some(t), true) => match &t.signaling {
            Some(s) => format!("TURN server {}:{} and signaling server {} of TalkBackend {}", t.host, t.port, s.url, t.backend),
            None => format!("TURN server {}:{} of TalkBackend {}", t.host, t.port, t.backend),
        },
        _ => "TURN and STUN servers removed (the class has no Talk)".to_string(),
    };
    if !resolved.has_talk() {
        // Nothing to undo in a space Talk never reached.
        let unwiring = wired_before(previous) || previous.conditions.iter().any(|c| c.type_ == TALK_READY && c.reason == "Unwiring");
        let settled = current.as_ref().is_none_or(|j| job_state(j) != JobState::Running);
        if !unwiring && settled {
            return Ok(TalkOutcome { condition: None, writes: 0 });
        }
    } else if bindings.talk.is_none() {
        let why = placement_errors.iter().find(|e| e.kind() == "TalkBackend");
        return done(match (why, space.status.as_ref().and_then(|s| s.placement.as_ref()).and_then(|p| p.talk_backend.as_ref())) {
            (Some(e), _) => talk(False, e.reason(), format!("no TalkBackend: {e}")),
            (None, Some(b)) => talk(False, "WaitingForBackend", format!("TalkBackend {b} has not created its TURN secret yet")),
            (None, None) => talk(False, "NoBackendAssigned", "no TalkBackend is assigned yet"),
        });
    }
    if resolved.suspended {
        return done(talk(Unknown, "Suspended", "the space is suspended; its Talk wiring resumes with it"));
    }
    // `build` makes the Job only for an installed space: occ has nothing to run on before.
    let Some(job) = job else {
        return done(talk(Unknown, "WaitingForInstall", "Talk is wired once Nextcloud is installed"));
    };
    let was = previous.conditions.iter().find(|c| c.type_ == TALK_READY).map(|c| c.reason.clone()).unwrap_or_default();
    if let Some(current) = current {
        let condition = match job_state(&current) {
            JobState::Running => talk(False, "Configuring", format!("occ Job {name} is running ({target})")),
            JobState::Succeeded | JobState::Failed { .. } => finished(ctx, ns, &name, &current, &target, previous).await?,
        };
        if condition.reason != was {
            match condition.reason.as_str() {
                "Configured" if resolved.has_talk() => {
                    publish(space, ctx, EventType::Normal, "TalkConfigured", &condition.message, ACTION).await
                }
                OCC_FAILED => publish(space, ctx, EventType::Warning, "OccJobFailed", &condition.message, ACTION).await,
                _ => {}
            }
        }
        // The class dropped Talk and the lists are empty: no condition is left to show.
        if !resolved.has_talk() && condition.reason == "Configured" {
            publish(space, ctx, EventType::Normal, "TalkUnwired", &condition.message, ACTION).await;
            return Ok(TalkOutcome { condition: None, writes: 0 });
        }
        return done(condition);
    }
    match jobs::replace(ctx, ns, PURPOSE, job).await? {
        Replaced::WaitingFor(active) => {
            done(talk(False, "Configuring", format!("waiting for occ Job {active} to finish before running {name}")))
        }
        Replaced::Created(writes) => {
            // The commands name the secret's variable, never its value.
            publish(space, ctx, EventType::Normal, "OccJobCreated", &format!("occ Job {name}: {}", commands.join("; ")), ACTION).await;
            let reason = if resolved.has_talk() { "Configuring" } else { "Unwiring" };
            Ok(TalkOutcome { condition: Some(talk(False, reason, format!("occ Job {name} created ({target})"))), writes })
        }
    }
}
