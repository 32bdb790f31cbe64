//! The TalkBackend's own objects: its TURN secret and coturn's configuration (one Secret, made
//! once, owned by the backend), coturn's Deployment, and the High-performance backend when
//! `spec.signaling` asks for it (its Secret, with the configuration listing every assigned
//! space; its Deployment, Service and Ingress; all removed when the field is).

use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::Context;
use super::apply::ChangeSignal;
use super::backends::{BackendKind, api, apply_workload, live_deployment, written};
use super::caches::MetaCache;
use crate::api::backend::{BackendScaling, BackendStatus};
use crate::api::conditions::Condition;
use crate::api::labels::{BACKEND_LABEL, FIELD_MANAGER, MANAGED_BY_LABEL, SIGNALING_READY, SPACE_LABEL, TALK_BACKEND_ANNOTATION};
use crate::api::talk_backend::TalkBackend;
use crate::error::{Error, Result};
use crate::gate::KUBERNETES;
use crate::render::credentials::{self, OsRandom};
use crate::render::signaling::{self, SignalingKeys, SignalingSpace};
use crate::render::talk;

impl BackendKind for TalkBackend {
    fn scaling(&self) -> &BackendScaling {
        &self.spec.scaling
    }
    fn backend_status(&self) -> Option<&BackendStatus> {
        self.status.as_ref()
    }
    fn workload(&self) -> String {
        talk::turn_workload(&self.name_any())
    }
    /// A backend refused its ports runs no pod (`replicas` is then 0): started, it would take
    /// relay or media ports another backend's calls hold on the same nodes.
    async fn apply(&self, ctx: &Context, replicas: i32) -> Result<usize> {
        let runs = self.refusal(ctx).is_none();
        let mut writes = ensure_turn_secret(self, ctx).await?;
        let name = self.workload();
        let deployment = talk::turn_deployment(self, &ctx.pools.namespace, replicas);
        let live = live_deployment(ctx, &name).map(|(meta, _)| meta);
        writes += written(ctx.applier.apply(&api(ctx), deployment, live.as_ref(), ChangeSignal::Generation).await?);
        writes += apply_signaling(self, ctx, runs).await?;
        Ok(writes)
    }
    /// Its ports overlap those of a TalkBackend that came before it on the same nodes: its
    /// pods would run (the scheduler does not see the relay and media ranges) and fail calls.
    fn refusal(&self, ctx: &Context) -> Option<(&'static str, String)> {
        let others = ctx.backends.talks.state();
        crate::render::talk_ports::port_conflict(self, others.iter().map(|b| b.as_ref()))
            .map(|why| ("PortConflict", format!("{why}; it runs no pod until then")))
    }
    /// `SignalingReady`, with a High-performance backend: its one pod ready or not. Not part of
    /// Ready (the TURN servers serve calls without it, peer to peer).
    fn more_conditions(&self, ctx: &Context) -> Vec<Condition> {
        use crate::api::conditions::ConditionStatus::{False, True};
        let Some(s) = &self.spec.signaling else { return Vec::new() };
        let ready = live_deployment(ctx, &signaling::signaling_workload(&self.name_any())).is_some_and(|(_, w)| w.ready_replicas >= 1);
        vec![if ready {
            Condition::new(SIGNALING_READY, True, "Available", format!("the signaling server answers on {}", signaling::signaling_url(s)))
        } else {
            Condition::new(SIGNALING_READY, False, "NotReady", "the signaling server's pod (signaling, Janus, NATS) is not ready")
        }]
    }
}

/// The TURN secret of a TalkBackend, from the cache (see [`owned_value`]).
pub fn turn_secret(ctx: &Context, backend: &TalkBackend) -> Option<Vec<u8>> {
    owned_value(ctx, backend, &talk::turn_secret_name(&backend.name_any()), talk::TURN_SECRET_KEY)
}

/// A value of a Secret of the operator's namespace that the operator made for this TalkBackend
/// (labelled with it and owned by it), from the cache: naming a backend after another Secret of
/// that namespace copies nothing of it into the spaces.
pub fn owned_value(ctx: &Context, backend: &TalkBackend, secret: &str, key: &str) -> Option<Vec<u8>> {
    let secret = ctx.pools.operator_secret(secret)?;
    let ours = secret.labels().get(BACKEND_LABEL) == Some(&backend.name_any())
        && secret.owner_references().iter().any(|o| o.kind == "TalkBackend" && Some(&o.uid) == backend.uid().as_ref());
    ours.then(|| secret.data.as_ref().and_then(|d| d.get(key)).map(|v| v.0.clone())).flatten()
}

/// The Secret `name` of the backend as it stands: from the cache when it holds it, else from
/// the API server (the cache may lag behind a write). `None` when there is none; an error when
/// one exists that this backend did not make (it is never written over).
async fn backend_secret(ctx: &Context, backend: &TalkBackend, name: &str) -> Result<Option<Arc<Secret>>> {
    let live = match ctx.pools.operator_secret(name) {
        Some(s) => Some(s),
        None => api::<Secret>(ctx).get_opt(name).await?.map(Arc::new),
    };
    let Some(live) = live else { return Ok(None) };
    let ours = live.labels().get(BACKEND_LABEL) == Some(&backend.name_any())
        && live.owner_references().iter().any(|o| o.kind == "TalkBackend" && Some(&o.uid) == backend.uid().as_ref());
    if !ours {
        return Err(Error::Pool {
            kind: "TalkBackend",
            name: backend.name_any(),
            message: format!("Secret {name} exists and was not made for this backend: rename one of them"),
        });
    }
    Ok(Some(live))
}

fn value(secret: Option<&Arc<Secret>>, key: &str) -> Option<String> {
    secret.and_then(|s| s.data.as_ref()).and_then(|d| d.get(key)).map(|v| String::from_utf8_lossy(&v.0).into_owned())
}

/// Writes a Secret of the backend (owned by it, labelled with it) when its data differ from
/// `live`'s: created when there is none (a concurrent creation wins and its values are kept),
/// else applied. The body of a failed write is never shown: it could echo a secret back.
async fn write_secret(
    ctx: &Context,
    backend: &TalkBackend,
    name: &str,
    data: std::collections::BTreeMap<&str, String>,
    live: Option<&Arc<Secret>>,
) -> Result<usize> {
    if let Some(live) = live
        && data.iter().all(|(k, v)| value(Some(live), k).as_deref() == Some(v.as_str()))
    {
        return Ok(0);
    }
    let owner = backend.controller_owner_ref(&()).ok_or_else(|| Error::StillTerminating(format!("TalkBackend {}", backend.name_any())))?;
    let body = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": { "name": name, "namespace": ctx.pools.namespace, "ownerReferences": [owner],
                      "labels": { MANAGED_BY_LABEL: FIELD_MANAGER, BACKEND_LABEL: backend.name_any() } },
        "type": "Opaque",
        "stringData": data,
    });
    let body: Secret = serde_json::from_value(body).map_err(|e| Error::Encode { what: "Secret", source: e })?;
    ctx.gate.allow(KUBERNETES)?;
    let secrets: Api<Secret> = api(ctx);
    let result = match live {
        None => secrets.create(&PostParams::default(), &body).await.map(|_| 1).or_else(|e| match e {
            kube::Error::Api(s) if s.code == 409 => Ok(0),
            e => Err(e),
        }),
        Some(_) => secrets.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body)).await.map(|_| 1),
    };
    result.map_err(|e| {
        let code = if let kube::Error::Api(s) = &e { s.code } else { 0 };
        Error::SecretWrite { namespace: ctx.pools.namespace.clone(), name: name.to_string(), code }
    })
}

/// The TURN secret: generated once with the CSPRNG and kept in a Secret of the operator's
/// namespace owned by the backend, beside coturn's configuration (which holds it too and follows
/// the spec). Copied by the operator into the credentials of the spaces assigned to it only.
async fn ensure_turn_secret(backend: &TalkBackend, ctx: &Context) -> Result<usize> {
    let name = talk::turn_secret_name(&backend.name_any());
    let live = backend_secret(ctx, backend, &name).await?;
    let secret = match value(live.as_ref(), talk::TURN_SECRET_KEY) {
        Some(s) => s,
        None => credentials::turn_secret(&mut OsRandom)?,
    };
    let conf = talk::turnserver_conf(&backend.spec, &secret);
    write_secret(ctx, backend, &name, [(talk::TURN_SECRET_KEY, secret), (talk::TURN_CONFIG_KEY, conf)].into(), live.as_ref()).await
}

/// The master secret of a TalkBackend's signaling server, from the cache (see [`owned_value`]).
pub fn signaling_master(ctx: &Context, backend: &TalkBackend) -> Option<Vec<u8>> {
    owned_value(ctx, backend, &signaling::signaling_secret_name(&backend.name_any()), signaling::MASTER_KEY)
}

/// The spaces assigned to the backend, as its signaling server lists them: each space's name, its
/// URL (its class's host) and its secret from the master and its uid. A space not in the cache
/// yet, or without a class, is listed at the next reconcile.
fn signaling_spaces(ctx: &Context, backend: &str, master: &[u8]) -> Vec<SignalingSpace> {
    let classes = ctx.classes.state();
    ctx.owned
        .namespaces
        .state()
        .iter()
        .filter(|ns| ns.annotations().get(TALK_BACKEND_ANNOTATION).map(String::as_str) == Some(backend))
        .filter_map(|ns| ns.labels().get(SPACE_LABEL).cloned())
        .filter_map(|name| {
            let space = ctx.spaces.get(&kube::runtime::reflector::ObjectRef::new(&name))?;
            let class = crate::render::resolve::choose_class(&space, &classes).ok()?;
            Some(SignalingSpace {
                url: format!("https://{}", crate::render::names::host(&name, &class.spec.base_domain)),
                secret: signaling::space_secret(master, &space.uid()?),
                name,
            })
        })
        .collect()
}

/// The High-performance backend: its Secret (keys generated once; the configuration with every
/// assigned space), Deployment, Service and Ingress; all deleted when `spec.signaling` goes.
async fn apply_signaling(backend: &TalkBackend, ctx: &Context, runs: bool) -> Result<usize> {
    let ns = ctx.pools.namespace.as_str();
    let name = signaling::signaling_workload(&backend.name_any());
    let secret_name = signaling::signaling_secret_name(&backend.name_any());
    let Some(settings) = &backend.spec.signaling else {
        let mut writes = 0;
        if live_deployment(ctx, &name).is_some() {
            writes +=
                delete::<Deployment>(ctx, &name).await? + delete::<Service>(ctx, &name).await? + delete::<Ingress>(ctx, &name).await?;
        }
        if ctx.pools.operator_secret(&secret_name).is_some() {
            writes += delete::<Secret>(ctx, &secret_name).await?;
        }
        return Ok(writes);
    };
    let live = backend_secret(ctx, backend, &secret_name).await?;
    let kept = |key: &str, length: usize| -> Result<String> {
        Ok(match value(live.as_ref(), key) {
            Some(v) => v,
            None => credentials::hex_secret(&mut OsRandom, length)?,
        })
    };
    // The session keys: any length for the hash, 32 bytes for the block key (AES-256).
    let (master, hash_key, block_key, internal) = (
        kept(signaling::MASTER_KEY, 64)?,
        kept(signaling::HASH_KEY, 64)?,
        kept(signaling::BLOCK_KEY, 32)?,
        kept(signaling::INTERNAL_KEY, 64)?,
    );
    let spaces = signaling_spaces(ctx, &backend.name_any(), master.as_bytes());
    let keys = SignalingKeys { hash_key: &hash_key, block_key: &block_key, internal_secret: &internal };
    let conf = signaling::server_conf(&keys, &spaces);
    let data = [
        (signaling::MASTER_KEY, master),
        (signaling::HASH_KEY, hash_key.clone()),
        (signaling::BLOCK_KEY, block_key.clone()),
        (signaling::INTERNAL_KEY, internal.clone()),
        (signaling::CONFIG_KEY, conf),
    ];
    let mut writes = write_secret(ctx, backend, &secret_name, data.into(), live.as_ref()).await?;
    let (deployment, service, ingress) = signaling::signaling_objects(backend, settings, ns, runs);
    writes += apply_workload(ctx, &name, deployment, service).await?;
    let live = ctx.owned.ingresses.get_meta(Some(ns), &name);
    writes += written(ctx.applier.apply(&api(ctx), ingress, live.as_ref(), ChangeSignal::Generation).await?);
    Ok(writes)
}

async fn delete<K>(ctx: &Context, name: &str) -> Result<usize>
where
    K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    ctx.gate.allow(KUBERNETES)?;
    match api::<K>(ctx).delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(1),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(0),
        Err(e) => Err(e.into()),
    }
}
