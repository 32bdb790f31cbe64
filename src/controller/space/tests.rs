//! Reconcile-level tests of the space pipeline against a fake API server: a `tower` service
//! behind a real `kube::Client`, answering the requests the pipeline sends the way the API server
//! does for them (server-side apply merges and bumps the resourceVersion, and the generation when
//! the spec changes; a missing object is a 404 Status), and recording every request. The caches
//! are filled from the fake's objects as the watches would fill them. No pool exists here: the
//! external systems are the integration tests' business (`tests/provision.rs`).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::{Method, Request, Response, StatusCode};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, LimitRange, Namespace, ResourceQuota, Secret, Service};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::rbac::v1::RoleBinding;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::events::Reporter;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher::Event;
use kube::{Client, Resource};
use serde_json::{Value, json};

use crate::api::conditions::{ConditionStatus, find};
use crate::api::labels::{FINALIZER, OFFICE_READY, PLACED, READY, WORKLOAD_READY};
use crate::api::space::{DeletionPolicy, OfficeSuite, SpacePhase};
use crate::api::{AssociationSpace, CachePool, DatabasePool, OfficeBackend, PreviewBackend, SpaceClass, StoragePool};
use crate::controller::backends::BackendStores;
use crate::controller::caches::{OwnedCaches, prune, resource_quota_digest};
use crate::controller::compact::{self, CompactWriter};
use crate::controller::pools::PoolRegistry;
use crate::controller::workload::{WorkloadObservation, observe_deployment};
use crate::controller::{Caches, Config, Context, apply::ApplyTracker, new_context};
use crate::gate::WriteGate;
use crate::render::resolve::tests as fixtures;

const OPERATOR_NS: &str = "framaspace-system";

/// One request the pipeline sent: method and path (without the query).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Call {
    method: Method,
    path: String,
}

impl Call {
    fn is_write(&self) -> bool {
        self.method != Method::GET
    }
    fn shown(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

#[derive(Default)]
struct State {
    objects: BTreeMap<String, Value>,
    calls: Vec<Call>,
    resource_version: u64,
}

/// The fake API server.
#[derive(Clone, Default)]
struct FakeApi {
    state: Arc<Mutex<State>>,
}

fn not_found() -> Value {
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": "not found", "reason": "NotFound", "code": 404})
}

/// Merges an apply or merge patch into the stored object: top-level fields are replaced, the
/// metadata keys the patch names are replaced, the rest is kept.
fn merge(existing: Option<&Value>, patch: &Value) -> Value {
    let mut merged = existing.cloned().unwrap_or_else(|| json!({ "metadata": {} }));
    let Some(fields) = patch.as_object() else { return merged };
    for (key, value) in fields {
        if key == "metadata" {
            if let (Some(target), Some(meta)) = (merged["metadata"].as_object_mut(), value.as_object()) {
                for (k, v) in meta {
                    target.insert(k.clone(), v.clone());
                }
            }
        } else {
            merged[key] = value.clone();
        }
    }
    merged
}

impl FakeApi {
    fn client(&self) -> Client {
        let fake = self.clone();
        let service = tower::service_fn(move |request: Request<kube::client::Body>| {
            let fake = fake.clone();
            async move {
                let (parts, body) = request.into_parts();
                let bytes = body.collect_bytes().await.map(|b| b.to_vec()).unwrap_or_default();
                let (status, reply) = fake.answer(&parts.method, parts.uri.path(), &bytes);
                let body = serde_json::to_vec(&reply).unwrap_or_default();
                let response = Response::builder()
                    .status(status)
                    .header("content-type", "application/json")
                    .body(kube::client::Body::from(body))
                    .unwrap_or_else(|_| Response::new(kube::client::Body::from(Vec::new())));
                Ok::<_, Infallible>(response)
            }
        });
        Client::new(service, "default")
    }

    fn answer(&self, method: &Method, path: &str, body: &[u8]) -> (StatusCode, Value) {
        let mut state = self.state.lock().expect("the fake's lock");
        state.calls.push(Call { method: method.clone(), path: path.to_string() });
        let patch: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        match *method {
            Method::GET => match state.objects.get(path) {
                Some(o) => (StatusCode::OK, o.clone()),
                None => (StatusCode::NOT_FOUND, not_found()),
            },
            Method::DELETE => match state.objects.remove(path) {
                Some(o) => (StatusCode::OK, o),
                None => (StatusCode::NOT_FOUND, not_found()),
            },
            Method::POST => {
                let name = patch["metadata"]["name"].as_str().unwrap_or("generated").to_string();
                let key = format!("{path}/{name}");
                state.resource_version += 1;
                let mut created = patch.clone();
                created["metadata"]["resourceVersion"] = json!(state.resource_version.to_string());
                state.objects.insert(key, created.clone());
                (StatusCode::CREATED, created)
            }
            Method::PATCH => {
                let (key, status_only) = match path.strip_suffix("/status") {
                    Some(object) => (object.to_string(), true),
                    None => (path.to_string(), false),
                };
                let existing = state.objects.get(&key).cloned();
                let mut merged = if status_only {
                    let mut o = existing.clone().unwrap_or_else(|| json!({ "metadata": {} }));
                    o["status"] = patch["status"].clone();
                    o
                } else {
                    merge(existing.as_ref(), &patch)
                };
                let generation = existing.as_ref().and_then(|e| e["metadata"]["generation"].as_i64()).unwrap_or(0);
                let spec_changed = existing.as_ref().is_none_or(|e| e.get("spec") != merged.get("spec"));
                merged["metadata"]["generation"] = json!(if spec_changed && !status_only { generation + 1 } else { generation.max(1) });
                state.resource_version += 1;
                merged["metadata"]["resourceVersion"] = json!(state.resource_version.to_string());
                state.objects.insert(key, merged.clone());
                (StatusCode::OK, merged)
            }
            _ => (StatusCode::METHOD_NOT_ALLOWED, not_found()),
        }
    }

    fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut self.state.lock().expect("the fake's lock").calls)
    }

    fn put(&self, path: &str, object: Value) {
        let mut state = self.state.lock().expect("the fake's lock");
        state.resource_version += 1;
        let mut object = object;
        object["metadata"]["resourceVersion"] = json!(state.resource_version.to_string());
        state.objects.insert(path.to_string(), object);
    }

    fn get(&self, path: &str) -> Option<Value> {
        self.state.lock().expect("the fake's lock").objects.get(path).cloned()
    }

    fn objects(&self) -> Vec<Value> {
        self.state.lock().expect("the fake's lock").objects.values().cloned().collect()
    }

    /// What the Deployment controller and the kubelet would report once the pods are up.
    fn roll_out(&self, path: &str) {
        let Some(mut d) = self.get(path) else { return };
        let generation = d["metadata"]["generation"].clone();
        d["status"] = json!({"observedGeneration": generation, "replicas": 1, "readyReplicas": 1, "updatedReplicas": 1});
        self.put(path, d);
    }
}

fn space_path(name: &str) -> String {
    format!("/apis/frama.space/v1alpha1/associationspaces/{name}")
}

/// The writers of every cache the pipeline reads, filled from the fake's objects.
struct Informers {
    spaces: Writer<AssociationSpace>,
    namespaces: Writer<PartialObjectMeta<Namespace>>,
    role_bindings: CompactWriter<PartialObjectMeta<RoleBinding>>,
    config_maps: CompactWriter<PartialObjectMeta<ConfigMap>>,
    deployments: CompactWriter<Deployment, WorkloadObservation>,
    services: CompactWriter<PartialObjectMeta<Service>>,
    ingresses: CompactWriter<PartialObjectMeta<Ingress>>,
    network_policies: CompactWriter<PartialObjectMeta<NetworkPolicy>>,
    resource_quotas: CompactWriter<ResourceQuota>,
    limit_ranges: CompactWriter<PartialObjectMeta<LimitRange>>,
    jobs: Writer<Job>,
    offices: Writer<OfficeBackend>,
    _keep: Vec<Box<dyn std::any::Any + Send>>,
}

fn meta_of<K: Resource<DynamicType = ()>>(o: &Value) -> Option<PartialObjectMeta<K>> {
    let mut meta: kube::core::ObjectMeta = serde_json::from_value(o["metadata"].clone()).ok()?;
    prune(&mut meta);
    Some(PartialObjectMeta { types: None, metadata: meta, _phantom: Default::default() })
}

impl Informers {
    /// Shows the caches every object of the fake, as the watches would.
    fn sync(&mut self, fake: &FakeApi) {
        for o in fake.objects() {
            match o["kind"].as_str().unwrap_or_default() {
                "AssociationSpace" => {
                    if let Ok(s) = serde_json::from_value::<AssociationSpace>(o.clone()) {
                        self.spaces.apply_watcher_event(&Event::Apply(s));
                    }
                }
                "Namespace" => {
                    if let Some(m) = meta_of::<Namespace>(&o) {
                        self.namespaces.apply_watcher_event(&Event::Apply(m));
                    }
                }
                "RoleBinding" => meta_of::<RoleBinding>(&o).iter().for_each(|m| self.role_bindings.apply(&Event::Apply(m.clone()))),
                "ConfigMap" => meta_of::<ConfigMap>(&o).iter().for_each(|m| self.config_maps.apply(&Event::Apply(m.clone()))),
                "Service" => meta_of::<Service>(&o).iter().for_each(|m| self.services.apply(&Event::Apply(m.clone()))),
                "Ingress" => meta_of::<Ingress>(&o).iter().for_each(|m| self.ingresses.apply(&Event::Apply(m.clone()))),
                "NetworkPolicy" => meta_of::<NetworkPolicy>(&o).iter().for_each(|m| self.network_policies.apply(&Event::Apply(m.clone()))),
                "LimitRange" => meta_of::<LimitRange>(&o).iter().for_each(|m| self.limit_ranges.apply(&Event::Apply(m.clone()))),
                "Deployment" => {
                    if let Ok(d) = serde_json::from_value::<Deployment>(o.clone()) {
                        self.deployments.apply(&Event::Apply(d));
                    }
                }
                "ResourceQuota" => {
                    if let Ok(q) = serde_json::from_value::<ResourceQuota>(o.clone()) {
                        self.resource_quotas.apply(&Event::Apply(q));
                    }
                }
                "Job" => {
                    if let Ok(j) = serde_json::from_value::<Job>(o.clone()) {
                        self.jobs.apply_watcher_event(&Event::Apply(j));
                    }
                }
                _ => {}
            }
        }
    }

    /// The watch reports an object gone.
    fn forget_job(&mut self, job: &Job) {
        self.jobs.apply_watcher_event(&Event::Delete(job.clone()));
    }
}

struct Harness {
    fake: FakeApi,
    ctx: Arc<Context>,
    informers: Informers,
}

fn harness() -> Harness {
    harness_with(WriteGate::always_open())
}

fn harness_with(gate: WriteGate) -> Harness {
    let fake = FakeApi::default();
    let client = fake.client();
    let (spaces, spaces_writer) = reflector::store::<AssociationSpace>();
    let (classes, mut classes_writer) = reflector::store::<SpaceClass>();
    classes_writer.apply_watcher_event(&Event::Apply(fixtures::class("standard", true)));
    let (namespaces, namespaces_writer) = reflector::store();
    let (role_bindings, rb) = compact::store(compact::no_content);
    let (config_maps, cm) = compact::store(compact::no_content);
    let (deployments, dep) = compact::store(observe_deployment);
    let (services, svc) = compact::store(compact::no_content);
    let (ingresses, ing) = compact::store(compact::no_content);
    let (network_policies, np) = compact::store(compact::no_content);
    let (resource_quotas, rq) = compact::store(resource_quota_digest);
    let (limit_ranges, lr) = compact::store(compact::no_content);
    let (jobs, jobs_writer) = reflector::store();
    let (databases, dbw) = reflector::store::<DatabasePool>();
    let (caches, cw) = reflector::store::<CachePool>();
    let (storages, sw) = reflector::store::<StoragePool>();
    let (secrets, secw) = reflector::store::<Secret>();
    let (offices, offices_writer) = reflector::store::<OfficeBackend>();
    let (previews, pw) = reflector::store::<PreviewBackend>();
    let registry = Arc::new(PoolRegistry::new(OPERATOR_NS.into(), databases, caches, storages, secrets, gate.clone()));
    let (filled, ready) = tokio::sync::watch::channel(true);
    let config = Config {
        concurrency: 1,
        resync: Duration::from_secs(600),
        external_check: Duration::from_secs(3600),
        namespace: OPERATOR_NS.into(),
        pool_check: Duration::from_secs(30),
        metrics_address: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        leader_election: None,
        secret_access_role: None,
        wake_service: None,
    };
    let owned = OwnedCaches {
        namespaces,
        role_bindings,
        config_maps,
        deployments,
        services,
        ingresses,
        network_policies,
        resource_quotas,
        limit_ranges,
        jobs,
        routes: None,
    };
    let caches = Caches {
        classes,
        owned,
        pools: registry,
        ready,
        secret_access: None,
        backends: BackendStores { offices, previews, talks: reflector::store().0 },
        applier: Arc::new(ApplyTracker::new(gate)),
        spaces,
        restores: reflector::store().0,
    };
    let reporter = Reporter { controller: "framaspace-operator".into(), instance: None };
    let ctx = new_context(client, reporter, config, caches, Arc::new(crate::telemetry::metrics::Metrics::new()));
    let informers = Informers {
        spaces: spaces_writer,
        namespaces: namespaces_writer,
        role_bindings: rb,
        config_maps: cm,
        deployments: dep,
        services: svc,
        ingresses: ing,
        network_policies: np,
        resource_quotas: rq,
        limit_ranges: lr,
        jobs: jobs_writer,
        offices: offices_writer,
        _keep: vec![Box::new(dbw), Box::new(cw), Box::new(sw), Box::new(secw), Box::new(pw), Box::new(filled), Box::new(classes_writer)],
    };
    Harness { fake, ctx, informers }
}

impl Harness {
    /// Creates the space in the fake, as a user's `kubectl apply` would.
    fn create(&mut self, space: &AssociationSpace) {
        let mut object = serde_json::to_value(space).expect("a space serialises");
        object["metadata"]["generation"] = json!(1);
        self.fake.put(&space_path(&space.metadata.name.clone().unwrap_or_default()), object);
        self.informers.sync(&self.fake);
    }

    fn space(&self, name: &str) -> AssociationSpace {
        serde_json::from_value(self.fake.get(&space_path(name)).expect("the space exists")).expect("a space")
    }

    /// One reconcile of the space as the controller would run it, then the watches catch up.
    async fn reconcile(&mut self, name: &str) -> (crate::error::Result<Action>, Vec<Call>) {
        self.fake.take_calls();
        let space = Arc::new(self.space(name));
        let result = super::reconcile(space, self.ctx.clone()).await;
        let calls = self.fake.take_calls();
        self.informers.sync(&self.fake);
        (result, calls)
    }
}

/// A space whose Nextcloud the operator installed and recorded (the install itself needs a
/// database: the e2e suites run it against the real PostgreSQL).
fn installed_space(name: &str) -> AssociationSpace {
    let mut s = fixtures::space(name);
    s.status = Some(crate::api::space::AssociationSpaceStatus {
        nextcloud: Some(crate::api::space::NextcloudStatus {
            version: "33.0.7.2".into(),
            version_string: "33.0.7".into(),
            image: "registry.frama.space/framaspace/nextcloud:33.0.7".into(),
        }),
        // As this operator's install leaves it: the platform's app enabled.
        apps: Some(crate::api::space::AppsStatus { requested: vec!["framaspace_quota".into()], enabled: vec!["framaspace_quota".into()] }),
        ..Default::default()
    });
    s
}

/// The credentials Secret an installed space has: Nextcloud's identity values at least (without
/// them the operator refuses to make up new ones, see `credentials::NewIdentity`).
fn with_identity(h: &mut Harness, space: &str) {
    let data = crate::render::credentials::IDENTITY
        .iter()
        .map(|k| (k.to_string(), k8s_openapi::ByteString(format!("{k}-value").into_bytes())))
        .collect();
    let secret = Secret {
        metadata: kube::core::ObjectMeta {
            name: Some("nextcloud-credentials".into()),
            namespace: Some(format!("space-{space}")),
            ..Default::default()
        },
        data: Some(data),
        ..Default::default()
    };
    let object = serde_json::to_value(&secret).expect("a Secret serialises");
    h.fake.put(&format!("/api/v1/namespaces/space-{space}/secrets/nextcloud-credentials"), object);
}

fn writes(calls: &[Call]) -> Vec<String> {
    calls.iter().filter(|c| c.is_write()).map(Call::shown).collect()
}

fn condition(space: &AssociationSpace, type_: &str) -> (ConditionStatus, String) {
    let c = space.status.as_ref().and_then(|s| find(&s.conditions, type_)).expect("the condition is set");
    (c.status, c.reason.clone())
}

#[tokio::test]
async fn a_fresh_space_is_built_whole_then_a_second_pass_writes_nothing() {
    let mut h = harness();
    h.create(&installed_space("a"));
    with_identity(&mut h, "a");
    let (result, calls) = h.reconcile("a").await;
    assert!(result.is_ok(), "{result:?}");
    let ns = "/api/v1/namespaces/space-a";
    assert_eq!(
        writes(&calls),
        [
            "PATCH /apis/frama.space/v1alpha1/associationspaces/a".to_string(),
            format!("PATCH {ns}"),
            format!("PATCH {ns}/secrets/nextcloud-credentials"),
            format!("PATCH {ns}/configmaps/nextcloud-config"),
            "PATCH /apis/apps/v1/namespaces/space-a/deployments/nextcloud".to_string(),
            format!("PATCH {ns}/resourcequotas/space-quota"),
            format!("PATCH {ns}/limitranges/space-limits"),
            format!("PATCH {ns}/services/nextcloud"),
            // The NetworkPolicy before the Ingress: the space is fenced before it is published.
            "PATCH /apis/networking.k8s.io/v1/namespaces/space-a/networkpolicies/nextcloud".to_string(),
            "PATCH /apis/networking.k8s.io/v1/namespaces/space-a/ingresses/nextcloud".to_string(),
            "PATCH /apis/frama.space/v1alpha1/associationspaces/a/status".to_string(),
        ],
        "finalizer, then every object once, then the status (a new space's progress is no Event)"
    );
    let space = h.space("a");
    assert!(space.metadata.finalizers.as_ref().is_some_and(|f| f.iter().any(|f| f == FINALIZER)));
    assert_eq!(condition(&space, PLACED), (ConditionStatus::False, "NoPool".into()), "no pool exists here");
    assert_eq!(space.status.as_ref().and_then(|s| s.phase), Some(SpacePhase::Provisioning));
    let secret: Secret =
        serde_json::from_value(h.fake.get(&format!("{ns}/secrets/nextcloud-credentials")).expect("a Secret")).expect("a Secret parses");
    assert!(secret.data.as_ref().is_some_and(|d| d.len() >= 4), "credentials generated");

    // The watches now show every object, the Deployment not yet seen by its controller: the
    // status already said so (no pod ready), so nothing is written.
    assert_eq!(condition(&h.space("a"), WORKLOAD_READY), (ConditionStatus::False, "PodsNotReady".into()));
    let (result, calls) = h.reconcile("a").await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(writes(&calls), Vec::<String>::new(), "a no-op resync writes nothing");
    // Reads: the ledger of retained spaces (a space not fully placed looks there), its Secret.
    assert_eq!(
        calls.iter().map(Call::shown).collect::<Vec<_>>(),
        [
            format!("GET /api/v1/namespaces/{OPERATOR_NS}/configmaps/framaspace-retained-placements"),
            format!("GET {ns}/secrets/nextcloud-credentials")
        ]
    );

    // The pods come up: the Deployment's status is the only news, and only the status follows it.
    h.fake.roll_out("/apis/apps/v1/namespaces/space-a/deployments/nextcloud");
    h.informers.sync(&h.fake);
    let (_, calls) = h.reconcile("a").await;
    assert_eq!(writes(&calls), ["PATCH /apis/frama.space/v1alpha1/associationspaces/a/status"]);
    assert_eq!(condition(&h.space("a"), WORKLOAD_READY), (ConditionStatus::True, "Available".into()));
}

#[tokio::test]
async fn a_spec_the_class_refuses_only_shows_in_status() {
    let mut h = harness();
    let mut space = fixtures::space("big");
    space.spec.quota = Some("60Gi".into());
    h.create(&space);
    let (result, calls) = h.reconcile("big").await;
    assert!(result.as_ref().is_err_and(|e| e.is_permanent()), "a permanent error waits for a change: {result:?}");
    assert_eq!(
        writes(&calls),
        ["POST /apis/events.k8s.io/v1/namespaces/default/events", "PATCH /apis/frama.space/v1alpha1/associationspaces/big/status"]
    );
    assert_eq!(condition(&h.space("big"), READY), (ConditionStatus::False, "QuotaAboveClassMaximum".into()));
}

/// A converged space, then deleted with `policy`: what its release writes.
async fn delete_with(policy: DeletionPolicy) -> (Vec<String>, FakeApi) {
    let mut h = harness();
    let mut space = fixtures::space("gone");
    space.spec.deletion_policy = policy;
    h.create(&space);
    let (result, _) = h.reconcile("gone").await;
    assert!(result.is_ok(), "{result:?}");
    // The namespace records a pool that no longer exists: its share is skipped and reported.
    let ns_path = "/api/v1/namespaces/space-gone";
    let mut ns = h.fake.get(ns_path).expect("the namespace");
    ns["metadata"]["annotations"]["frama.space/database-pool"] = json!("pg-gone");
    h.fake.put(ns_path, ns);
    let mut deleted = h.fake.get(&space_path("gone")).expect("the space");
    deleted["metadata"]["deletionTimestamp"] = json!("2026-12-01T10:00:00Z");
    h.fake.put(&space_path("gone"), deleted);
    h.informers.sync(&h.fake);
    let (result, calls) = h.reconcile("gone").await;
    assert!(result.is_ok(), "{result:?}");
    let space = h.space("gone");
    assert!(space.metadata.finalizers.as_ref().is_none_or(|f| f.is_empty()), "the finalizer is released");
    assert_eq!(space.status.as_ref().and_then(|s| s.phase), Some(SpacePhase::Deleting));
    (writes(&calls), h.fake)
}

#[tokio::test]
async fn retain_records_where_the_data_stays_and_delete_does_not() {
    let ledger = format!("/api/v1/namespaces/{OPERATOR_NS}/configmaps/framaspace-retained-placements");
    let identity = format!("/api/v1/namespaces/{OPERATOR_NS}/secrets/retained-identity-gone");
    let (retain, fake) = delete_with(DeletionPolicy::Retain).await;
    assert_eq!(
        retain,
        [
            format!("PATCH {identity}"),
            format!("POST /api/v1/namespaces/{OPERATOR_NS}/configmaps"),
            format!("PATCH {ledger}"),
            "POST /apis/events.k8s.io/v1/namespaces/default/events".to_string(),
            "PATCH /apis/frama.space/v1alpha1/associationspaces/gone/status".to_string(),
            "POST /apis/events.k8s.io/v1/namespaces/default/events".to_string(),
            "PATCH /apis/frama.space/v1alpha1/associationspaces/gone".to_string(),
        ],
        "the identity kept, ledger, Deleting status and its Event, PoolMissing Event, finalizer"
    );
    let copy = fake.get(&identity).expect("the Nextcloud identity kept beside the ledger");
    for key in ["nextcloud-secret", "nextcloud-passwordsalt", "nextcloud-instanceid"] {
        assert!(copy["data"][key].as_str().is_some_and(|v| !v.is_empty()), "{key} kept");
    }
    assert!(copy["data"].get("database-password").is_none(), "only the identity, no password");
    let kept = fake.get(&ledger).expect("the ledger");
    assert!(kept["data"]["gone"].as_str().is_some_and(|p| p.contains("pg-gone")), "{kept}");

    let (delete, fake) = delete_with(DeletionPolicy::Delete).await;
    assert!(!delete.iter().any(|w| w.contains("configmaps") || w.contains("retained-identity")), "{delete:?}");
    assert!(fake.get(&ledger).is_none(), "nothing retained");
    assert_eq!(delete.last().map(String::as_str), Some("PATCH /apis/frama.space/v1alpha1/associationspaces/gone"));
}

fn ready_collabora() -> OfficeBackend {
    serde_json::from_value(json!({
        "apiVersion": "frama.space/v1alpha1", "kind": "OfficeBackend",
        "metadata": { "name": "collabora-1", "uid": "uid-office" },
        "spec": { "type": "collabora", "host": "office.frama.space", "scaling": { "spacesPerReplica": 100, "maxReplicas": 2 } },
        "status": { "conditions": [{ "type": "Ready", "status": "True", "reason": "Available", "message": "",
                                      "lastTransitionTime": "2026-12-01T00:00:00Z" }] }
    }))
    .expect("an OfficeBackend")
}

/// The Job controller's and the kubelet's part: the Job complete, its pod terminated with what
/// occ printed in its termination message.
fn complete(fake: &FakeApi, path: &str, output: &str) {
    let mut job = fake.get(path).expect("the Job");
    job["status"] = json!({ "conditions": [{ "type": "Complete", "status": "True" }] });
    let ns = job["metadata"]["namespace"].as_str().unwrap_or_default().to_string();
    fake.put(path, job);
    fake.put(
        &format!("/api/v1/namespaces/{ns}/pods"),
        json!({ "kind": "PodList", "apiVersion": "v1", "metadata": {}, "items": [{
            "metadata": { "name": "occ-pod", "namespace": ns },
            "status": { "phase": "Succeeded", "containerStatuses": [{ "name": "occ", "image": "nc", "imageID": "", "ready": false,
                "restartCount": 0, "state": { "terminated": { "exitCode": 0, "message": output, "finishedAt": "2026-12-01T00:00:00Z" } } }] }
        }]}),
    );
}

const SERVING: &str = r#"{"installed":true,"version":"33.0.7.2","versionstring":"33.0.7","edition":"","maintenance":false,"needsDbUpgrade":false,"productname":"Nextcloud","extendedSupport":false}"#;

#[tokio::test]
async fn an_office_switch_runs_one_job_after_the_last_and_its_outcome_drives_office_ready() {
    let mut h = harness();
    h.informers.offices.apply_watcher_event(&Event::Apply(ready_collabora()));
    h.create(&installed_space("o"));
    with_identity(&mut h, "o");
    let (result, calls) = h.reconcile("o").await;
    assert!(result.is_ok(), "{result:?}");
    let jobs: Vec<_> = writes(&calls).into_iter().filter(|w| w.contains("/jobs/")).collect();
    assert_eq!(jobs.len(), 1, "one occ Job for the collabora wiring: {jobs:?}");
    let first = jobs[0].trim_start_matches("PATCH ").to_string();
    assert_eq!(condition(&h.space("o"), OFFICE_READY), (ConditionStatus::False, "Configuring".into()));

    // The Job's exit code alone proves nothing: a Nextcloud left in maintenance is not wired.
    complete(&h.fake, &first, &SERVING.replace("\"maintenance\":false", "\"maintenance\":true"));
    h.informers.sync(&h.fake);
    let (_, calls) = h.reconcile("o").await;
    assert!(!writes(&calls).iter().any(|w| w.contains("/jobs")), "a finished Job is not run again");
    assert_eq!(condition(&h.space("o"), OFFICE_READY), (ConditionStatus::False, "OccFailed".into()));
    let mut status = h.fake.get(&space_path("o")).expect("the space");
    status["status"]["conditions"] = json!([]);
    h.fake.put(&space_path("o"), status);
    complete(&h.fake, &first, &format!("richdocuments 10.2.0 enabled\n{SERVING}\n"));
    h.informers.sync(&h.fake);
    let (_, calls) = h.reconcile("o").await;
    assert!(calls.iter().any(|c| c.path.ends_with("/pods")), "the outcome is read from the Job's pod");
    assert_eq!(condition(&h.space("o"), OFFICE_READY), (ConditionStatus::True, "Configured".into()));
    let (_, calls) = h.reconcile("o").await;
    assert!(!calls.iter().any(|c| c.path.ends_with("/pods")), "and read once");

    let mut switched = h.fake.get(&space_path("o")).expect("the space");
    switched["spec"]["office"] = json!("none");
    switched["metadata"]["generation"] = json!(2);
    h.fake.put(&space_path("o"), switched);
    h.informers.sync(&h.fake);
    let (result, calls) = h.reconcile("o").await;
    assert!(result.is_ok(), "{result:?}");
    let job_writes: Vec<_> = writes(&calls).into_iter().filter(|w| w.contains("/jobs")).collect();
    assert_eq!(job_writes.len(), 2, "{job_writes:?}");
    assert_eq!(job_writes[0], format!("DELETE {first}"), "the finished Job of the old wiring goes first");
    assert!(job_writes[1].starts_with("PATCH ") && job_writes[1] != format!("PATCH {first}"), "then a new Job: {job_writes:?}");
    let old: Job = serde_json::from_value(json!({"apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": first.rsplit('/').next(), "namespace": "space-o"}}))
    .expect("a Job");
    h.informers.forget_job(&old);
    let space = h.space("o");
    assert_eq!(space.status.as_ref().and_then(|s| s.office), Some(OfficeSuite::None));
    assert_eq!(condition(&space, OFFICE_READY), (ConditionStatus::False, "Configuring".into()));
}

#[tokio::test]
async fn a_replica_that_lost_the_lease_writes_nothing_more() {
    let gate = WriteGate::leased(Duration::from_secs(10));
    gate.confirm(std::time::Instant::now());
    let mut h = harness_with(gate.clone());
    h.create(&fixtures::space("a"));
    let (result, _) = h.reconcile("a").await;
    assert!(result.is_ok(), "{result:?}");
    let mut edited = h.fake.get(&space_path("a")).expect("the space");
    edited["spec"]["maxAccounts"] = json!(10);
    edited["metadata"]["generation"] = json!(2);
    h.fake.put(&space_path("a"), edited);
    h.informers.sync(&h.fake);
    gate.close();
    let (result, calls) = h.reconcile("a").await;
    assert_eq!(writes(&calls), Vec::<String>::new(), "the change is left to the new leader");
    assert!(result.is_err_and(|e| e.reason() == "NotLeader"));
    assert!(gate.refused() >= 1);
}
