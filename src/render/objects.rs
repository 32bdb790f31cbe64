//! The Kubernetes objects of one space, as the operator wants them. Pure: no I/O, so every object
//! is unit-tested from a spec. Each object carries only the fields the operator owns (server-side
//! apply semantics), leaving the rest to Kubernetes defaults and to other field managers.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, HTTPGetAction, HTTPHeader,
    KeyToPath, LimitRange, LimitRangeItem, LimitRangeSpec, Namespace, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceQuota,
    ResourceQuotaSpec, ResourceRequirements, Secret, SecretKeySelector, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::bindings::Bindings;
use super::config;
use super::credentials;
use super::names;
use super::nextcloud;
use super::resolve::ResolvedSpace;
use crate::api::labels::{
    COMPONENT_LABEL, CONFIG_HASH_ANNOTATION, KEYS_ANNOTATION, NEXTCLOUD_IMAGE_ANNOTATION, NEXTCLOUD_VERSION_ANNOTATION, URL_ANNOTATION,
};
use crate::api::space::NextcloudStatus;

pub(super) const HTTP_PORT: i32 = 80;
/// www-data in the official Nextcloud image.
const WWW_DATA: i64 = 33;

pub fn owner_reference(space: &ResolvedSpace) -> OwnerReference {
    OwnerReference {
        api_version: "frama.space/v1alpha1".into(),
        kind: "AssociationSpace".into(),
        name: space.name.clone(),
        uid: space.uid.clone(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

pub(super) fn meta(space: &ResolvedSpace, name: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(space.namespace.clone()),
        labels: Some(names::labels(&space.name)),
        owner_references: Some(vec![owner_reference(space)]),
        ..ObjectMeta::default()
    }
}

/// The namespace that holds the space; owned by the space so Kubernetes collects it with it. Its
/// annotations record the placement, so a space restored without status keeps its pools.
pub fn namespace(space: &ResolvedSpace, placement_annotations: BTreeMap<String, String>, installed: Option<&NextcloudStatus>) -> Namespace {
    let mut labels = names::labels(&space.name);
    // Pod Security Admission: the Nextcloud image runs as a normal web server, nothing more.
    labels.insert("pod-security.kubernetes.io/enforce".into(), "baseline".into());
    labels.insert(COMPONENT_LABEL.into(), "space".into());
    Namespace {
        metadata: ObjectMeta {
            name: Some(space.namespace.clone()),
            labels: Some(labels),
            annotations: Some({
                let mut a = placement_annotations;
                a.insert(URL_ANNOTATION.to_string(), space.url());
                if let Some(nc) = installed {
                    a.insert(NEXTCLOUD_VERSION_ANNOTATION.to_string(), format!("{} {}", nc.version, nc.version_string));
                    a.insert(NEXTCLOUD_IMAGE_ANNOTATION.to_string(), nc.image.clone());
                }
                a
            }),
            owner_references: Some(vec![owner_reference(space)]),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

/// The Nextcloud a namespace's annotations record (written by [`namespace`]).
pub fn nextcloud_record(a: &BTreeMap<String, String>) -> Option<NextcloudStatus> {
    let (version, version_string) = a.get(NEXTCLOUD_VERSION_ANNOTATION)?.split_once(' ')?;
    let image = a.get(NEXTCLOUD_IMAGE_ANNOTATION)?;
    Some(NextcloudStatus { version: version.into(), version_string: version_string.into(), image: image.clone() })
}

/// `data`, not `stringData`: server-side apply tracks ownership of `data` keys, while
/// `stringData` is folded into `data` on write and would look like a change on every apply.
pub fn credentials_secret(space: &ResolvedSpace, data: BTreeMap<String, Vec<u8>>) -> Secret {
    let mut metadata = meta(space, names::CREDENTIALS_SECRET);
    // Key names only, so people can see what the Secret holds without reading a value.
    metadata.annotations = Some(BTreeMap::from([(KEYS_ANNOTATION.to_string(), data.keys().cloned().collect::<Vec<_>>().join(","))]));
    Secret {
        metadata,
        type_: Some("Opaque".into()),
        data: Some(data.into_iter().map(|(k, v)| (k, ByteString(v))).collect()),
        ..Secret::default()
    }
}

/// Grants the operator the Secrets of this namespace (through `access.cluster_role`), so its own
/// role needs no cluster-wide right on Secrets.
pub fn operator_access(space: &ResolvedSpace, access: &SecretAccess) -> RoleBinding {
    RoleBinding {
        metadata: meta(space, names::OPERATOR_ACCESS),
        role_ref: RoleRef { api_group: "rbac.authorization.k8s.io".into(), kind: "ClusterRole".into(), name: access.cluster_role.clone() },
        subjects: Some(vec![access.subject.clone()]),
    }
}

/// Who the operator is and the ClusterRole that gives it a namespace's Secrets.
#[derive(Clone, Debug, PartialEq)]
pub struct SecretAccess {
    pub cluster_role: String,
    pub subject: Subject,
}

impl SecretAccess {
    /// The RBAC subject of an authenticated user name: a ServiceAccount for
    /// `system:serviceaccount:<namespace>:<name>`, a User otherwise.
    pub fn for_user(cluster_role: String, username: &str) -> Self {
        let subject = match username.strip_prefix("system:serviceaccount:").and_then(|rest| rest.split_once(':')) {
            Some((namespace, name)) => {
                Subject { kind: "ServiceAccount".into(), name: name.into(), namespace: Some(namespace.into()), api_group: None }
            }
            None => {
                Subject { kind: "User".into(), name: username.into(), api_group: Some("rbac.authorization.k8s.io".into()), namespace: None }
            }
        };
        SecretAccess { cluster_role, subject }
    }
}

pub fn config_map(space: &ResolvedSpace, files: BTreeMap<String, String>) -> ConfigMap {
    ConfigMap { metadata: meta(space, names::CONFIG_MAP), data: Some(files), ..ConfigMap::default() }
}

pub(super) fn secret_env(name: &str, key: &str) -> EnvVar {
    // The SMTP credentials are the class's, copied when its Secret exists: without them the space
    // still starts (and cannot send mail), rather than no pod starting at all.
    let optional = [credentials::SMTP_USERNAME, credentials::SMTP_PASSWORD].contains(&key);
    EnvVar {
        name: name.to_string(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector { name: names::CREDENTIALS_SECRET.into(), key: key.into(), optional: Some(optional) }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

pub(super) fn plain_env(name: &str, value: &str) -> EnvVar {
    EnvVar { name: name.to_string(), value: Some(value.to_string()), ..EnvVar::default() }
}

/// An HTTP probe on the space's own host: the request is the one a visitor's would be.
fn http_probe(space: &ResolvedSpace, path: &str, period: i32, timeout: i32, failures: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            http_headers: Some(vec![HTTPHeader { name: "Host".into(), value: space.host.clone() }]),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(timeout),
        failure_threshold: Some(failures),
        ..Probe::default()
    }
}

/// What every Nextcloud container of the space shares: the environment from its Secret (read by
/// the fragments' `getenv()`), the configuration directory, the run directory.
pub(super) fn nextcloud_env(bindings: &Bindings) -> Vec<EnvVar> {
    let mut env: Vec<EnvVar> = config::secret_env(bindings).iter().map(|(name, key)| secret_env(name, key)).collect();
    env.extend([plain_env("NEXTCLOUD_CONFIG_DIR", nextcloud::CONFIG_DIR), plain_env("FRAMASPACE_RUN", nextcloud::RUN_DIR)]);
    env
}

pub(super) fn run_mount() -> VolumeMount {
    VolumeMount { name: "run".into(), mount_path: nextcloud::RUN_DIR.into(), ..VolumeMount::default() }
}

pub(super) fn as_www_data() -> SecurityContext {
    SecurityContext {
        run_as_user: Some(WWW_DATA),
        run_as_group: Some(WWW_DATA),
        run_as_non_root: Some(true),
        allow_privilege_escalation: Some(false),
        ..SecurityContext::default()
    }
}

/// The init container of every Nextcloud pod: the configuration and data directories, as uid 33
/// (see `nextcloud::prepare_script`). `writable` for an install Job.
fn prepare_container(image: &str, writable: bool, upgrade_from: Option<&str>) -> Container {
    let mut env = vec![
        plain_env("FRAMASPACE_RUN", nextcloud::RUN_DIR),
        plain_env("FRAMASPACE_CONFIG_SOURCE", nextcloud::CONFIG_SOURCE),
        plain_env("FRAMASPACE_WRITABLE_CONFIG", if writable { "1" } else { "0" }),
    ];
    if let Some(v) = upgrade_from {
        env.push(plain_env("FRAMASPACE_UPGRADE_FROM", v));
    }
    Container {
        name: "prepare".into(),
        image: Some(image.to_string()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec!["/bin/sh".into(), "-c".into(), nextcloud::prepare_script()]),
        env: Some(env),
        volume_mounts: Some(vec![
            VolumeMount {
                name: "config".into(),
                mount_path: nextcloud::CONFIG_SOURCE.into(),
                read_only: Some(true),
                ..VolumeMount::default()
            },
            run_mount(),
        ]),
        security_context: Some(as_www_data()),
        ..Container::default()
    }
}

fn nextcloud_pod(
    space: &ResolvedSpace,
    image: &str,
    writable: bool,
    config_files: &BTreeMap<String, String>,
    container: Container,
) -> PodSpec {
    nextcloud_pod_from(space, image, (writable, None), config_files, container)
}

/// [`nextcloud_pod`] with the configuration of an upgrade Job (writable, at `upgrade_from`).
pub(super) fn nextcloud_pod_from(
    space: &ResolvedSpace,
    image: &str,
    (writable, upgrade_from): (bool, Option<&str>),
    config_files: &BTreeMap<String, String>,
    container: Container,
) -> PodSpec {
    let placement = &space.class.placement;
    PodSpec {
        init_containers: Some(vec![prepare_container(image, writable, upgrade_from)]),
        containers: vec![container],
        volumes: Some(vec![
            Volume {
                name: "config".into(),
                config_map: Some(ConfigMapVolumeSource {
                    name: names::CONFIG_MAP.into(),
                    items: Some(config_files.keys().map(|k| KeyToPath { key: k.clone(), path: k.clone(), mode: None }).collect()),
                    ..ConfigMapVolumeSource::default()
                }),
                ..Volume::default()
            },
            // The configuration and the data directory's marker: recreated by `prepare` in every
            // new pod. In memory, so even the installer's transient config.php never reaches a disk.
            Volume {
                name: "run".into(),
                empty_dir: Some(EmptyDirVolumeSource { medium: Some("Memory".into()), size_limit: Some(Quantity("64Mi".into())) }),
                ..Volume::default()
            },
        ]),
        node_selector: Some(placement.node_selector.clone()),
        tolerations: (!placement.tolerations.is_empty()).then(|| placement.tolerations.clone()),
        security_context: Some(PodSecurityContext { fs_group: Some(WWW_DATA), ..PodSecurityContext::default() }),
        automount_service_account_token: Some(false),
        enable_service_links: Some(false),
        ..PodSpec::default()
    }
}

/// The web workload of an installed space: the recorded image and version, never the class's
/// newer one (an upgrade moves both together). Not built before the install succeeded.
pub fn deployment(
    space: &ResolvedSpace,
    bindings: &Bindings,
    config_files: &BTreeMap<String, String>,
    installed: &NextcloudStatus,
    stopped_for_upgrade: bool,
) -> Deployment {
    // One upload limit for the three layers: the Ingress's proxy-body-size caps the request, so
    // Apache takes any body (the image's `LimitRequestBody ${APACHE_BODY_LIMIT}`, 1 GiB by
    // default) and PHP as much as the Ingress (`upload_max_filesize`/`post_max_size` read
    // `${PHP_UPLOAD_LIMIT}`, 512M by default; nextcloud/docker 33/apache/Dockerfile).
    let mut env = nextcloud_env(bindings);
    env.extend([plain_env("PHP_UPLOAD_LIMIT", &space.class.ingress.max_upload_size), plain_env("APACHE_BODY_LIMIT", "0")]);
    let container = Container {
        name: names::NEXTCLOUD.into(),
        image: Some(installed.image.clone()),
        image_pull_policy: Some("IfNotPresent".into()),
        env: Some(env),
        volume_mounts: Some(vec![run_mount()]),
        resources: space.class.resources.clone(),
        ports: Some(vec![ContainerPort {
            name: Some("http".into()),
            container_port: HTTP_PORT,
            protocol: Some("TCP".into()),
            ..ContainerPort::default()
        }]),
        // The health endpoint answers 200 only when installed, in normal mode and at the code's
        // version (`status.php` answers 200 in every one of those states). Liveness stays on
        // `status.php`: a space in maintenance is not ready, but must not be restarted for it.
        startup_probe: Some(http_probe(space, nextcloud::HEALTH_PATH, 5, 3, 60)),
        readiness_probe: Some(http_probe(space, nextcloud::HEALTH_PATH, 30, 5, 2)),
        liveness_probe: Some(http_probe(space, "/status.php", 60, 10, 5)),
        ..Container::default()
    };
    let mut template_annotations = BTreeMap::new();
    template_annotations.insert(CONFIG_HASH_ANNOTATION.to_string(), config::hash(config_files));
    let mut pod = nextcloud_pod(space, &installed.image, false, config_files, container);
    pod.containers.push(cron_container(space, bindings, &installed.image));
    Deployment {
        metadata: meta(space, names::NEXTCLOUD),
        spec: Some(DeploymentSpec {
            // An upgrade stops the web server before its snapshot, and until the database matches
            // the code again (migrated, or restored).
            replicas: Some(if space.suspended || stopped_for_upgrade { 0 } else { 1 }),
            selector: LabelSelector { match_labels: Some(names::pod_selector(&space.name)), ..LabelSelector::default() },
            // Two Nextcloud versions must never run against one database.
            strategy: Some(DeploymentStrategy { type_: Some("Recreate".into()), ..DeploymentStrategy::default() }),
            revision_history_limit: Some(3),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(names::pod_labels(&space.name)),
                    annotations: Some(template_annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// The container that runs the space's background jobs (`nextcloud::cron_script`) beside the web
/// server, with the same code, configuration and credentials. A sidecar rather than a CronJob:
/// at 10,000 spaces a CronJob each would create 33 Jobs and pods a second, and each pod would
/// have to rebuild the configuration first; the sidecar costs no API object and no write.
/// Requests are its average: cron.php takes 0.2 to 1 CPU-second every 300 s (1 to 3 mCPU on average) and
/// tens of MiB while it runs; the limit is PHP's `memory_limit` (512M in the image).
pub const CRON_CONTAINER: &str = "cron";

fn cron_container(space: &ResolvedSpace, bindings: &Bindings, image: &str) -> Container {
    let q = |pairs: &[(&str, &str)]| -> BTreeMap<String, Quantity> {
        pairs.iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect()
    };
    Container {
        name: CRON_CONTAINER.into(),
        image: Some(image.to_string()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec!["/bin/sh".into(), "-c".into(), nextcloud::cron_script(&space.name, &space.host)]),
        env: Some(nextcloud_env(bindings)),
        volume_mounts: Some(vec![run_mount()]),
        security_context: Some(as_www_data()),
        resources: Some(ResourceRequirements {
            requests: Some(q(&[("cpu", "5m"), ("memory", "32Mi")])),
            limits: Some(q(&[("memory", "512Mi")])),
            ..ResourceRequirements::default()
        }),
        ..Container::default()
    }
}

/// Namespace limits when the class sets none: one Nextcloud pod plus room for `occ` Jobs.
pub fn default_namespace_quota() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("pods".to_string(), "10".to_string()),
        ("requests.cpu".to_string(), "4".to_string()),
        ("requests.memory".to_string(), "8Gi".to_string()),
        ("limits.memory".to_string(), "16Gi".to_string()),
        ("services.loadbalancers".to_string(), "0".to_string()),
        ("services.nodeports".to_string(), "0".to_string()),
    ])
}

pub fn resource_quota(space: &ResolvedSpace) -> ResourceQuota {
    let hard = if space.class.namespace_quota.is_empty() { default_namespace_quota() } else { space.class.namespace_quota.clone() };
    ResourceQuota {
        metadata: meta(space, names::RESOURCE_QUOTA),
        spec: Some(ResourceQuotaSpec {
            hard: Some(hard.into_iter().map(|(k, v)| (k, Quantity(v))).collect()),
            ..ResourceQuotaSpec::default()
        }),
        ..ResourceQuota::default()
    }
}

/// Defaults for containers that set no resources (the `occ` Jobs), so the ResourceQuota never
/// refuses them for lack of requests.
pub fn limit_range(space: &ResolvedSpace) -> LimitRange {
    let q = |pairs: &[(&str, &str)]| -> BTreeMap<String, Quantity> {
        pairs.iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect()
    };
    LimitRange {
        metadata: meta(space, names::LIMIT_RANGE),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".into(),
                default_request: Some(q(&[("cpu", "100m"), ("memory", "256Mi")])),
                default: Some(q(&[("memory", "1Gi")])),
                ..LimitRangeItem::default()
            }],
        }),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::render::bindings::{Bindings, DatabaseBinding};
    use crate::render::resolve::{ResolvedSpace, resolve, tests as fixtures};

    pub fn installed() -> NextcloudStatus {
        NextcloudStatus {
            version: "33.0.7.2".into(),
            version_string: "33.0.7".into(),
            image: "registry.frama.space/framaspace/nextcloud:33.0.7".into(),
        }
    }

    pub fn deployment(s: &ResolvedSpace, files: &BTreeMap<String, String>) -> Deployment {
        super::deployment(s, &Bindings::default(), files, &installed(), false)
    }

    pub fn render(s: &ResolvedSpace) -> BTreeMap<String, String> {
        config::render(s, &Bindings::default(), Some(&installed()))
    }

    pub fn bound() -> Bindings {
        Bindings {
            database: Some(DatabaseBinding {
                host: "pg".into(),
                port: 5432,
                database: "d".into(),
                user: "u".into(),
                ssl_mode: crate::api::database_pool::SslMode::Prefer,
                server_major: Some(15),
                ca: None,
            }),
            ..Bindings::default()
        }
    }

    pub fn resolved() -> ResolvedSpace {
        resolve(&fixtures::space("mon-asso"), &fixtures::class("standard", true)).expect("resolves")
    }

    #[test]
    fn the_secret_access_binding_names_the_operator_as_authenticated() {
        let s = resolved();
        let sa = operator_access(
            &s,
            &SecretAccess::for_user("fs-secrets".into(), "system:serviceaccount:framaspace-system:framaspace-operator"),
        );
        assert_eq!(sa.role_ref.kind, "ClusterRole");
        assert_eq!(sa.role_ref.name, "fs-secrets");
        let subject = &sa.subjects.unwrap_or_default()[0];
        assert_eq!((subject.kind.as_str(), subject.name.as_str()), ("ServiceAccount", "framaspace-operator"));
        assert_eq!(subject.namespace.as_deref(), Some("framaspace-system"));
        assert_eq!(subject.api_group, None);

        let user = SecretAccess::for_user("fs-secrets".into(), "kubernetes-admin").subject;
        assert_eq!((user.kind.as_str(), user.name.as_str(), user.namespace.as_deref()), ("User", "kubernetes-admin", None));
        assert_eq!(user.api_group.as_deref(), Some("rbac.authorization.k8s.io"));
        // A malformed service-account name is not split into a wrong subject.
        assert_eq!(SecretAccess::for_user("r".into(), "system:serviceaccount:only-namespace").subject.kind, "User");
    }

    #[test]
    fn namespace_is_owned_by_the_space() {
        let ns =
            namespace(&resolved(), BTreeMap::from([("frama.space/database-pool".to_string(), "pg-1".to_string())]), Some(&installed()));
        let a = ns.metadata.annotations.clone().unwrap_or_default();
        assert_eq!(a.get(NEXTCLOUD_VERSION_ANNOTATION).map(String::as_str), Some("33.0.7.2 33.0.7"));
        assert_eq!(nextcloud_record(&a), Some(installed()), "the record reads back");
        assert_eq!(nextcloud_record(&BTreeMap::new()), None);
        assert_eq!(ns.metadata.annotations.as_ref().and_then(|a| a.get("frama.space/database-pool")).map(String::as_str), Some("pg-1"));
        assert_eq!(ns.metadata.name.as_deref(), Some("space-mon-asso"));
        assert_eq!(ns.metadata.owner_references.unwrap_or_default()[0].name, "mon-asso");
    }

    #[test]
    fn deployment_runs_the_recorded_image_with_a_prepared_configuration() {
        let mut s = resolved();
        // The class moved on; the space keeps the Nextcloud its database was installed with.
        s.class.nextcloud.version = "33.0.8".into();
        let d = deployment(&s, &render(&s));
        let spec = d.spec.expect("spec");
        assert_eq!(spec.replicas, Some(1));
        assert_eq!(spec.strategy.and_then(|s| s.type_).as_deref(), Some("Recreate"));
        let pod = spec.template.spec.expect("pod");
        assert_eq!(pod.node_selector.unwrap_or_default().get("frama.space/node-pool").map(String::as_str), Some("web"));
        let c = &pod.containers[0];
        assert_eq!(c.image.as_deref(), Some("registry.frama.space/framaspace/nextcloud:33.0.7"));
        assert!(c.command.is_none(), "the image's own command (Apache) serves the code");
        let env = c.env.clone().unwrap_or_default();
        assert!(env.iter().any(|e| e.name == "NEXTCLOUD_CONFIG_DIR" && e.value.as_deref() == Some("/run/nextcloud/config")));
        assert!(!env.iter().any(|e| e.name.contains("ADMIN")), "the web pod never holds the admin password");
        for probe in [&c.startup_probe, &c.readiness_probe] {
            let http = probe.as_ref().and_then(|p| p.http_get.clone()).expect("http probe");
            assert_eq!(http.path.as_deref(), Some("/framaspace/health"));
            assert_eq!(http.http_headers.unwrap_or_default()[0].value, "mon-asso.frama.space");
        }
        let init = &pod.init_containers.clone().unwrap_or_default()[0];
        assert_eq!(init.security_context.as_ref().and_then(|s| s.run_as_user), Some(33));
        assert!(
            init.env.clone().unwrap_or_default().iter().any(|e| e.name == "FRAMASPACE_WRITABLE_CONFIG" && e.value.as_deref() == Some("0"))
        );
        let run = pod.volumes.unwrap_or_default().into_iter().find(|v| v.name == "run").and_then(|v| v.empty_dir).expect("run emptyDir");
        assert_eq!(run.medium.as_deref(), Some("Memory"));
    }

    #[test]
    fn suspended_space_has_zero_replicas() {
        let mut s = resolved();
        s.suspended = true;
        assert_eq!(deployment(&s, &render(&s)).spec.and_then(|s| s.replicas), Some(0));
    }

    #[test]
    fn config_change_changes_the_pod_template() {
        let s = resolved();
        let a = deployment(&s, &render(&s));
        let mut t = s.clone();
        t.max_accounts = 3;
        let b = deployment(&t, &render(&t));
        let hash = |d: &Deployment| d.spec.as_ref().and_then(|s| s.template.metadata.as_ref()).and_then(|m| m.annotations.clone());
        assert_ne!(hash(&a), hash(&b));
    }

    #[test]
    fn class_namespace_quota_replaces_the_default() {
        let mut s = resolved();
        assert!(resource_quota(&s).spec.and_then(|s| s.hard).unwrap_or_default().contains_key("requests.cpu"));
        s.class.namespace_quota = BTreeMap::from([("pods".to_string(), "3".to_string())]);
        let hard = resource_quota(&s).spec.and_then(|s| s.hard).unwrap_or_default();
        assert_eq!(hard.len(), 1);
        assert_eq!(hard.get("pods"), Some(&Quantity("3".into())));
    }

    #[test]
    fn the_web_pod_takes_the_uploads_its_ingress_takes_and_runs_the_background_jobs() {
        let s = resolved();
        let d = deployment(&s, &render(&s));
        let pod = d.spec.and_then(|d| d.template.spec).expect("pod");
        let env = pod.containers[0].env.clone().unwrap_or_default();
        let get = |n: &str| env.iter().find(|e| e.name == n).and_then(|e| e.value.clone());
        assert_eq!(get("PHP_UPLOAD_LIMIT").as_deref(), Some(s.class.ingress.max_upload_size.as_str()));
        assert_eq!(get("APACHE_BODY_LIMIT").as_deref(), Some("0"), "the Ingress caps the body, Apache does not cut it shorter");
        let cron = pod.containers.iter().find(|c| c.name == CRON_CONTAINER).expect("a cron container");
        assert_eq!(cron.image, pod.containers[0].image, "the same code as the web server");
        assert_eq!(cron.security_context.as_ref().and_then(|c| c.run_as_user), Some(33), "cron.php runs as the owner of config.php");
        assert!(cron.volume_mounts.as_ref().is_some_and(|m| m.iter().any(|v| v.mount_path == nextcloud::RUN_DIR)));
        assert!(cron.command.as_ref().is_some_and(|c| c[2].contains("php -f cron.php")));
        assert!(cron.liveness_probe.is_none() && cron.ports.is_none(), "no probe: a slow cron run is no reason to restart");
    }

    #[test]
    fn the_smtp_credentials_are_optional_the_others_are_not() {
        let s = resolved();
        let mut b = bound();
        b.mail = Some(crate::render::bindings::MailBinding {
            host: "smtp".into(),
            port: 587,
            security: crate::api::class::MailSecurity::StartTLS,
            from: "noreply@frama.space".into(),
            authenticated: true,
        });
        let d = super::deployment(&s, &b, &render(&s), &installed(), false);
        let env = d.spec.and_then(|d| d.template.spec).map(|p| p.containers[0].env.clone().unwrap_or_default()).unwrap_or_default();
        let optional = |n: &str| {
            env.iter().find(|e| e.name == n).and_then(|e| e.value_from.clone()).and_then(|v| v.secret_key_ref).and_then(|r| r.optional)
        };
        assert_eq!(optional("FRAMASPACE_SMTP_PASSWORD"), Some(true), "a class Secret not there yet leaves mail off, not the pod down");
        assert_eq!(optional("FRAMASPACE_DB_PASSWORD"), Some(false));
    }
}
