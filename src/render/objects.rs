//! The Kubernetes objects of one space, as the operator wants them. Pure: no I/O, so every object
//! is unit-tested from a spec. Each object carries only the fields the operator owns (server-side
//! apply semantics), leaving the rest to Kubernetes defaults and to other field managers.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, HTTPGetAction, HTTPHeader,
    KeyToPath, LimitRange, LimitRangeItem, LimitRangeSpec, Namespace, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceQuota,
    ResourceQuotaSpec, ResourceRequirements, Secret, SecretKeySelector, SecurityContext, Service, ServicePort, ServiceSpec, Volume,
    VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    Ingress, IngressSpec, IngressTLS, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec, ServiceBackendPort,
};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement, ObjectMeta, OwnerReference};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use sha2::Digest;

use super::bindings::Bindings;
use super::config;
use super::credentials;
use super::names;
use super::nextcloud;
use super::resolve::ResolvedSpace;
use crate::api::labels::{
    ATTEMPT_ANNOTATION, COMPONENT_LABEL, CONFIG_HASH_ANNOTATION, FIELD_MANAGER, KEYS_ANNOTATION, MANAGED_BY_LABEL,
    NEXTCLOUD_IMAGE_ANNOTATION, NEXTCLOUD_VERSION_ANNOTATION, OCC_COMMANDS_ANNOTATION, OCC_LABEL, PART_OF_LABEL, URL_ANNOTATION,
};
use crate::api::space::NextcloudStatus;

const HTTP_PORT: i32 = 80;
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

fn meta(space: &ResolvedSpace, name: &str) -> ObjectMeta {
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

fn secret_env(name: &str, key: &str) -> EnvVar {
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

fn plain_env(name: &str, value: &str) -> EnvVar {
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
fn nextcloud_env(bindings: &Bindings) -> Vec<EnvVar> {
    let mut env: Vec<EnvVar> = config::secret_env(bindings).iter().map(|(name, key)| secret_env(name, key)).collect();
    env.extend([plain_env("NEXTCLOUD_CONFIG_DIR", nextcloud::CONFIG_DIR), plain_env("FRAMASPACE_RUN", nextcloud::RUN_DIR)]);
    env
}

fn run_mount() -> VolumeMount {
    VolumeMount { name: "run".into(), mount_path: nextcloud::RUN_DIR.into(), ..VolumeMount::default() }
}

fn as_www_data() -> SecurityContext {
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
fn nextcloud_pod_from(
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

/// What distinguishes one occ Job from another.
struct OccPod<'a> {
    name: &'a str,
    purpose: &'a str,
    image: &'a str,
    /// The install's own configuration (no state fragment) instead of the read-only one.
    writable: bool,
    /// An upgrade Job's: the version its database holds.
    upgrade_from: Option<&'a str>,
    env: Vec<EnvVar>,
    script: String,
    annotations: BTreeMap<String, String>,
}

/// A one-shot Job in the space's Nextcloud image: the `occ` container runs `script` as uid 33
/// with the code, the space's configuration and environment, and ends by printing the JSON of
/// `occ status` into its termination message (read by the operator); on failure the kubelet
/// puts the end of its output there instead.
fn occ_job_object(space: &ResolvedSpace, config_files: &BTreeMap<String, String>, p: OccPod<'_>) -> Job {
    let OccPod { name, purpose, image, writable, upgrade_from, env, script, annotations } = p;
    let container = Container {
        name: OCC_CONTAINER.into(),
        image: Some(image.to_string()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec!["/bin/sh".into(), "-c".into(), script]),
        env: Some(env),
        volume_mounts: Some(vec![run_mount()]),
        security_context: Some(as_www_data()),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    };
    let mut pod = nextcloud_pod_from(space, image, (writable, upgrade_from), config_files, container);
    pod.restart_policy = Some("Never".into());
    let mut metadata = meta(space, name);
    metadata.labels.get_or_insert_default().insert(OCC_LABEL.into(), purpose.into());
    metadata.annotations = Some(annotations.clone());
    let mut pod_labels = names::labels(&space.name);
    pod_labels.insert(OCC_LABEL.into(), purpose.into());
    Job {
        metadata,
        spec: Some(JobSpec {
            // Failed pods are retried by the Job controller with exponential backoff (10 s, 20 s, ...).
            backoff_limit: Some(2),
            active_deadline_seconds: Some(1800),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(pod_labels), annotations: Some(annotations), ..ObjectMeta::default() }),
                spec: Some(pod),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

/// The purpose label of the Jobs that read which apps an image carries.
pub const INSPECT_PURPOSE: &str = "inspect";

/// The name of the Job that inspects an image: one per image reference, in the operator's
/// namespace.
pub fn image_inspection_name(reference: &str) -> String {
    use sha2::Digest;
    format!("nextcloud-image-{}", &config::hex(&sha2::Sha256::digest(reference.as_bytes()))[..12])
}

/// A Job that runs the class's image once, to list its apps (`nextcloud::inspect_script`): no
/// configuration, no credentials, no network need, uid 33, gone an hour after it ends.
pub fn image_inspection_job(reference: &str, namespace: &str) -> Job {
    let labels = BTreeMap::from([
        (MANAGED_BY_LABEL.to_string(), FIELD_MANAGER.to_string()),
        (PART_OF_LABEL.to_string(), "framaspace".to_string()),
        (OCC_LABEL.to_string(), INSPECT_PURPOSE.to_string()),
    ]);
    let container = Container {
        name: OCC_CONTAINER.into(),
        image: Some(reference.to_string()),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec!["/bin/sh".into(), "-c".into(), nextcloud::inspect_script()]),
        security_context: Some(as_www_data()),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    };
    Job {
        metadata: ObjectMeta {
            name: Some(image_inspection_name(reference)),
            namespace: Some(namespace.to_string()),
            labels: Some(labels.clone()),
            annotations: Some(BTreeMap::from([("frama.space/image".to_string(), reference.to_string())])),
            ..ObjectMeta::default()
        },
        spec: Some(JobSpec {
            backoff_limit: Some(2),
            active_deadline_seconds: Some(600),
            ttl_seconds_after_finished: Some(3600),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels), ..ObjectMeta::default() }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    restart_policy: Some("Never".into()),
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}

/// The container of every occ Job whose termination message the operator reads.
pub const OCC_CONTAINER: &str = "occ";
/// The name of a space's install Job (one at a time; a retry replaces a failed one).
pub const INSTALL_JOB: &str = "nextcloud-install";
pub const INSTALL_PURPOSE: &str = "install";

/// The install of a space: `occ maintenance:install` on its database, with its admin account
/// (e-mail: the space's contact), in the class's image, with a writable configuration of its own
/// (no state fragment). `None` until the space has a database.
pub fn install_job(
    space: &ResolvedSpace,
    bindings: &Bindings,
    config_files: &BTreeMap<String, String>,
    attempt: u32,
    plan: &nextcloud::InstallPlan,
) -> Option<Job> {
    let db = bindings.database.as_ref()?;
    let mut env = nextcloud_env(bindings);
    env.extend([
        plain_env("FRAMASPACE_DB_NAME", &db.database),
        plain_env("FRAMASPACE_DB_HOST", &db.host),
        plain_env("FRAMASPACE_DB_PORT", &db.port.to_string()),
        plain_env("FRAMASPACE_DB_USER", &db.user),
        plain_env("FRAMASPACE_ADMIN_USER", nextcloud::ADMIN_USER),
        secret_env("FRAMASPACE_ADMIN_PASSWORD", credentials::ADMIN_PASSWORD),
        plain_env("FRAMASPACE_CONTACT_USER", &nextcloud::contact_user(&space.contact_email)),
        plain_env("FRAMASPACE_CONTACT_EMAIL", &space.contact_email),
        plain_env("FRAMASPACE_CONTACT_NAME", &space.display_name),
    ]);
    let mut commands = vec!["maintenance:install".to_string(), "background:cron".to_string()];
    if !plan.apps.is_empty() {
        commands.push(format!("app:enable {}", plan.apps.join(" ")));
    }
    commands.push("user:add".into());
    if plan.welcome {
        commands.push("user:welcome".into());
    }
    let annotations =
        BTreeMap::from([(OCC_COMMANDS_ANNOTATION.to_string(), commands.join("\n")), (ATTEMPT_ANNOTATION.to_string(), attempt.to_string())]);
    let image = space.class.nextcloud.reference();
    let pod = OccPod {
        name: INSTALL_JOB,
        purpose: INSTALL_PURPOSE,
        image: &image,
        writable: true,
        upgrade_from: None,
        env,
        script: nextcloud::install_script(plan),
        annotations,
    };
    Some(occ_job_object(space, config_files, pod))
}

/// A Job running `occ` commands in the space's installed Nextcloud (its recorded image, its
/// read-only configuration). Named after a hash of its commands: the same commands are never run
/// twice, new ones get a new Job.
pub fn occ_job(
    space: &ResolvedSpace,
    bindings: &Bindings,
    config_files: &BTreeMap<String, String>,
    installed: &NextcloudStatus,
    purpose: &str,
    commands: &[String],
) -> Job {
    let annotations = BTreeMap::from([(OCC_COMMANDS_ANNOTATION.to_string(), commands.join("\n"))]);
    let name = occ_job_name(purpose, commands);
    let script = nextcloud::occ_script(commands);
    let pod = OccPod {
        name: &name,
        purpose,
        image: &installed.image,
        writable: false,
        upgrade_from: None,
        env: nextcloud_env(bindings),
        script,
        annotations,
    };
    occ_job_object(space, config_files, pod)
}

pub fn occ_job_name(purpose: &str, commands: &[String]) -> String {
    let digest = sha2::Sha256::digest(commands.join("\n").as_bytes());
    format!("occ-{purpose}-{}", &config::hex(&digest[..5]))
}

/// The purpose labels of an upgrade's Jobs (the local environment's kubelet plays them).
pub const SNAPSHOT_PURPOSE: &str = "snapshot";
pub const UPGRADE_PURPOSE: &str = "upgrade";
pub const RESTORE_PURPOSE: &str = "restore";

/// The upgrade Job: `occ upgrade` and the `db:add-missing-*` commands in the target image, with a
/// writable configuration of its own that starts at the version the database holds.
pub fn upgrade_job(
    space: &ResolvedSpace,
    bindings: &Bindings,
    config_files: &BTreeMap<String, String>,
    upgrade: &crate::api::space::UpgradeStatus,
) -> Job {
    let name = super::upgrade::upgrade_job_name(&upgrade.target);
    let annotations = BTreeMap::from([(
        OCC_COMMANDS_ANNOTATION.to_string(),
        "upgrade\ndb:add-missing-columns\ndb:add-missing-indices\ndb:add-missing-primary-keys".to_string(),
    )]);
    let pod = OccPod {
        name: &name,
        purpose: UPGRADE_PURPOSE,
        image: &upgrade.target_image,
        writable: true,
        upgrade_from: Some(&upgrade.from.version),
        env: nextcloud_env(bindings),
        script: nextcloud::upgrade_script(),
        annotations,
    };
    let mut job = occ_job_object(space, config_files, pod);
    if let Some(spec) = job.spec.as_mut() {
        // A failed migration is restored from the snapshot, never run again on what it left.
        spec.backoff_limit = Some(0);
        spec.active_deadline_seconds = Some(i64::from(space.class.rollout.step_timeout_seconds));
    }
    job
}

/// A snapshot or restore Job: PostgreSQL's client tools as the space's role, and the space's
/// bucket through its own key. `None` without a database or a bucket.
pub fn snapshot_job(space: &ResolvedSpace, bindings: &Bindings, upgrade: &crate::api::space::UpgradeStatus, restore: bool) -> Option<Job> {
    use super::upgrade as u;
    let db = bindings.database.as_ref()?;
    let storage = bindings.storage.as_ref()?;
    // The client of the pool's server major (`RolloutPolicy::snapshot_image_repository`).
    let major = db.server_major?;
    let key = upgrade.snapshot.clone().unwrap_or_else(|| u::snapshot_key(&upgrade.from.version_string, &upgrade.target));
    let scheme = if storage.use_ssl { "https" } else { "http" };
    let ssl_mode = db.ssl_mode.libpq();
    let mut env = vec![
        plain_env("PGHOST", &db.host),
        plain_env("PGPORT", &db.port.to_string()),
        plain_env("PGDATABASE", &db.database),
        plain_env("PGUSER", &db.user),
        plain_env("PGSSLMODE", ssl_mode),
        secret_env("PGPASSWORD", credentials::DATABASE_PASSWORD),
        secret_env("AWS_ACCESS_KEY_ID", credentials::S3_ACCESS_KEY),
        secret_env("AWS_SECRET_ACCESS_KEY", credentials::S3_SECRET_KEY),
        plain_env("FRAMASPACE_S3_REGION", &storage.region),
        plain_env("FRAMASPACE_S3_URL", &format!("{scheme}://{}:{}/{}/{key}", storage.host, storage.port, storage.bucket)),
        plain_env("FRAMASPACE_SNAPSHOT_KEY", &key),
        plain_env("FRAMASPACE_SNAPSHOT_DIR", u::WORK_DIR),
        plain_env("FRAMASPACE_PG_MAJOR", &major.to_string()),
    ];
    if restore {
        env.push(plain_env("FRAMASPACE_SNAPSHOT_SHA256", upgrade.snapshot_sha256.as_deref().unwrap_or_default()));
    }
    // libpq's verify modes need a root file (`fe-secure-openssl.c` `initialize_SSL`: without one
    // it looks for ~/.postgresql/root.crt and fails): the pool's CA from the space's ConfigMap,
    // else the image's public roots (`sslrootcert=system` exists only from libpq 16).
    let mut mounts = vec![VolumeMount { name: "work".into(), mount_path: u::WORK_DIR.into(), ..VolumeMount::default() }];
    let mut volumes = vec![Volume {
        name: "work".into(),
        empty_dir: Some(EmptyDirVolumeSource {
            medium: Some("Memory".into()),
            size_limit: Some(Quantity(if restore { u::RESTORE_WORK_LIMIT } else { "2Gi" }.into())),
        }),
        ..Volume::default()
    }];
    if db.ssl_mode == crate::api::database_pool::SslMode::VerifyFull {
        let root = match &db.ca {
            Some(_) => {
                mounts.push(VolumeMount {
                    name: "ca".into(),
                    mount_path: u::CA_DIR.into(),
                    read_only: Some(true),
                    ..VolumeMount::default()
                });
                volumes.push(Volume {
                    name: "ca".into(),
                    config_map: Some(ConfigMapVolumeSource {
                        name: names::CONFIG_MAP.into(),
                        items: Some(vec![KeyToPath {
                            key: nextcloud::POSTGRES_CA_FILE.into(),
                            path: nextcloud::POSTGRES_CA_FILE.into(),
                            mode: None,
                        }]),
                        ..ConfigMapVolumeSource::default()
                    }),
                    ..Volume::default()
                });
                format!("{}/{}", u::CA_DIR, nextcloud::POSTGRES_CA_FILE)
            }
            None => nextcloud::SYSTEM_CA_BUNDLE.to_string(),
        };
        env.push(plain_env("PGSSLROOTCERT", &root));
    }
    let (name, purpose, script) = if restore {
        (u::restore_job_name(&upgrade.target), RESTORE_PURPOSE, u::restore_script())
    } else {
        (u::snapshot_job_name(&upgrade.target), SNAPSHOT_PURPOSE, u::snapshot_script())
    };
    let q = |pairs: &[(&str, &str)]| -> BTreeMap<String, Quantity> {
        pairs.iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect()
    };
    let container = Container {
        name: OCC_CONTAINER.into(),
        image: Some(format!("{}:{major}", space.class.rollout.snapshot_image_repository)),
        image_pull_policy: Some("IfNotPresent".into()),
        command: Some(vec!["/bin/sh".into(), "-c".into(), script]),
        env: Some(env),
        volume_mounts: Some(mounts),
        security_context: Some(SecurityContext {
            run_as_user: Some(999),
            run_as_group: Some(999),
            run_as_non_root: Some(true),
            allow_privilege_escalation: Some(false),
            ..SecurityContext::default()
        }),
        // The snapshot holds its archive and its SQL in memory (the volume below): the limit
        // leaves them room. The restore streams (`upgrade::restore_script`): psql's buffer and a
        // pipe.
        resources: Some(ResourceRequirements {
            requests: Some(q(&[("cpu", "100m"), ("memory", "128Mi")])),
            limits: Some(q(&[("memory", if restore { "256Mi" } else { "2560Mi" })])),
            ..ResourceRequirements::default()
        }),
        termination_message_policy: Some("FallbackToLogsOnError".into()),
        ..Container::default()
    };
    let mut metadata = meta(space, &name);
    metadata.labels.get_or_insert_default().insert(OCC_LABEL.into(), purpose.into());
    let mut pod_labels = names::labels(&space.name);
    pod_labels.insert(OCC_LABEL.into(), purpose.into());
    Some(Job {
        metadata,
        spec: Some(JobSpec {
            backoff_limit: Some(2),
            active_deadline_seconds: Some(i64::from(space.class.rollout.step_timeout_seconds)),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(pod_labels), ..ObjectMeta::default() }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    restart_policy: Some("Never".into()),
                    volumes: Some(volumes),
                    node_selector: Some(space.class.placement.node_selector.clone()),
                    tolerations: (!space.class.placement.tolerations.is_empty()).then(|| space.class.placement.tolerations.clone()),
                    security_context: Some(PodSecurityContext { fs_group: Some(999), ..PodSecurityContext::default() }),
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    ..PodSpec::default()
                }),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    })
}

pub fn service(space: &ResolvedSpace) -> Service {
    Service {
        metadata: meta(space, names::NEXTCLOUD),
        spec: Some(ServiceSpec {
            selector: Some(names::pod_selector(&space.name)),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: HTTP_PORT,
                target_port: Some(IntOrString::String("http".into())),
                protocol: Some("TCP".into()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

pub fn ingress(space: &ResolvedSpace) -> Ingress {
    let settings = &space.class.ingress;
    let mut annotations = BTreeMap::from([
        ("nginx.ingress.kubernetes.io/proxy-body-size".to_string(), settings.max_upload_size.clone()),
        // Large uploads stream to Nextcloud instead of filling the controller's disk first.
        ("nginx.ingress.kubernetes.io/proxy-request-buffering".to_string(), "off".to_string()),
    ]);
    if let Some(issuer) = &settings.tls_issuer {
        annotations.insert("cert-manager.io/cluster-issuer".into(), issuer.clone());
    }
    let mut metadata = meta(space, names::NEXTCLOUD);
    metadata.annotations = Some(annotations);
    Ingress {
        metadata,
        spec: Some(IngressSpec {
            ingress_class_name: settings.class_name.clone(),
            tls: settings
                .tls_issuer
                .as_ref()
                .map(|_| vec![IngressTLS { hosts: Some(vec![space.host.clone()]), secret_name: Some(names::TLS_SECRET.into()) }]),
            rules: Some(vec![super::ingress::host_rule(
                &space.host,
                names::NEXTCLOUD,
                ServiceBackendPort { name: Some("http".into()), number: None },
            )]),
            ..IngressSpec::default()
        }),
        ..Ingress::default()
    }
}

fn namespace_peer(label: &str, values: &[&str]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: label.into(),
                operator: "In".into(),
                values: Some(values.iter().map(|v| v.to_string()).collect()),
            }]),
            ..LabelSelector::default()
        }),
        ..NetworkPolicyPeer::default()
    }
}

/// The pods of the office or preview backends, wherever the operator runs them.
fn backend_pods_peer(components: &[&str]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector::default()),
        pod_selector: Some(LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: COMPONENT_LABEL.into(),
                operator: "In".into(),
                values: Some(components.iter().map(|v| v.to_string()).collect()),
            }]),
            ..LabelSelector::default()
        }),
        ..NetworkPolicyPeer::default()
    }
}

fn port(protocol: &str, number: i32) -> NetworkPolicyPort {
    NetworkPolicyPort { protocol: Some(protocol.into()), port: Some(IntOrString::Int(number)), end_port: None }
}

/// Least privilege on the network: in, only the ingress controller and the office backends (WOPI
/// callbacks); out, DNS, the office and preview backends, and the TCP ports of the space's pools.
pub fn network_policy(space: &ResolvedSpace, bindings: &Bindings) -> NetworkPolicy {
    let pool_ports = bindings.egress_ports();
    let mut egress = vec![
        NetworkPolicyEgressRule {
            to: Some(vec![namespace_peer("kubernetes.io/metadata.name", &["kube-system"])]),
            ports: Some(vec![port("UDP", 53), port("TCP", 53)]),
        },
        NetworkPolicyEgressRule { to: Some(vec![backend_pods_peer(&["office", "preview"])]), ports: None },
    ];
    if !pool_ports.is_empty() {
        egress.push(NetworkPolicyEgressRule { to: None, ports: Some(pool_ports.iter().map(|p| port("TCP", *p)).collect()) });
    }
    NetworkPolicy {
        metadata: meta(space, names::NEXTCLOUD),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".into(), "Egress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![
                    namespace_peer("kubernetes.io/metadata.name", &[space.class.ingress.controller_namespace.as_str()]),
                    backend_pods_peer(&["office"]),
                ]),
                ports: Some(vec![port("TCP", HTTP_PORT)]),
            }]),
            egress: Some(egress),
        }),
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
mod tests {
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

    fn deployment(s: &ResolvedSpace, files: &BTreeMap<String, String>) -> Deployment {
        super::deployment(s, &Bindings::default(), files, &installed(), false)
    }

    fn render(s: &ResolvedSpace) -> BTreeMap<String, String> {
        config::render(s, &Bindings::default(), Some(&installed()))
    }

    fn bound() -> Bindings {
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

    fn resolved() -> ResolvedSpace {
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
    fn every_namespaced_object_is_labelled_owned_and_in_the_space_namespace() {
        let s = resolved();
        let files = render(&s);
        let metas = [
            credentials_secret(&s, BTreeMap::new()).metadata,
            config_map(&s, files.clone()).metadata,
            deployment(&s, &files).metadata,
            service(&s).metadata,
            ingress(&s).metadata,
            network_policy(&s, &Bindings::default()).metadata,
            resource_quota(&s).metadata,
            limit_range(&s).metadata,
            operator_access(&s, &SecretAccess::for_user("r".into(), "u")).metadata,
        ];
        for m in metas {
            assert_eq!(m.namespace.as_deref(), Some("space-mon-asso"));
            let labels = m.labels.unwrap_or_default();
            assert_eq!(labels.get(MANAGED_BY_LABEL).map(String::as_str), Some("framaspace-operator"));
            assert_eq!(labels.get(crate::api::labels::SPACE_LABEL).map(String::as_str), Some("mon-asso"));
            let owner = &m.owner_references.unwrap_or_default()[0];
            assert_eq!((owner.kind.as_str(), owner.uid.as_str(), owner.controller), ("AssociationSpace", "uid-1", Some(true)));
        }
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
    fn the_install_job_runs_occ_as_www_data_with_its_own_configuration() {
        let s = resolved();
        let files = render(&s);
        let plan = nextcloud::InstallPlan { apps: vec!["calendar".into()], welcome: false };
        assert!(install_job(&s, &Bindings::default(), &files, 1, &plan).is_none(), "no install without a database");
        let job = install_job(&s, &bound(), &files, 2, &plan).expect("job");
        let commands = job.metadata.annotations.as_ref().and_then(|a| a.get(OCC_COMMANDS_ANNOTATION)).cloned().unwrap_or_default();
        assert!(commands.contains("app:enable calendar") && !commands.contains("user:welcome"), "{commands}");
        assert_eq!(job.metadata.name.as_deref(), Some(INSTALL_JOB));
        assert_eq!(job.metadata.annotations.as_ref().and_then(|a| a.get(ATTEMPT_ANNOTATION)).map(String::as_str), Some("2"));
        let pod = job.spec.and_then(|j| j.template.spec).expect("pod");
        assert_eq!(pod.restart_policy.as_deref(), Some("Never"));
        let c = &pod.containers[0];
        assert_eq!(c.image.as_deref(), Some("registry.frama.space/framaspace/nextcloud:33.0.7"), "the class's release is installed");
        assert_eq!(c.security_context.as_ref().and_then(|s| s.run_as_user), Some(33));
        assert_eq!(c.termination_message_policy.as_deref(), Some("FallbackToLogsOnError"));
        let env = c.env.clone().unwrap_or_default();
        let get = |n: &str| env.iter().find(|e| e.name == n).cloned();
        assert_eq!(get("FRAMASPACE_CONTACT_EMAIL").and_then(|e| e.value).as_deref(), Some("admin@mon-asso.example"));
        assert_eq!(get("FRAMASPACE_CONTACT_USER").and_then(|e| e.value).as_deref(), Some("admin@mon-asso.example"));
        assert!(get("FRAMASPACE_ADMIN_EMAIL").is_none(), "the operator's own admin account has no address");
        assert!(get("FRAMASPACE_ADMIN_PASSWORD").is_some_and(|e| e.value.is_none() && e.value_from.is_some()));
        assert_eq!(get("FRAMASPACE_DB_PORT").and_then(|e| e.value).as_deref(), Some("5432"));
        let init = &pod.init_containers.unwrap_or_default()[0];
        assert!(
            init.env.clone().unwrap_or_default().iter().any(|e| e.name == "FRAMASPACE_WRITABLE_CONFIG" && e.value.as_deref() == Some("1"))
        );
    }

    #[test]
    fn occ_jobs_carry_code_configuration_and_uid_33() {
        let s = resolved();
        let files = render(&s);
        let job = occ_job(&s, &bound(), &files, &installed(), "office", &["app:enable richdocuments".to_string()]);
        let pod = job.spec.and_then(|j| j.template.spec).expect("pod");
        let c = &pod.containers[0];
        assert_eq!(c.image.as_deref(), Some("registry.frama.space/framaspace/nextcloud:33.0.7"));
        assert_eq!(c.security_context.as_ref().and_then(|s| s.run_as_user), Some(33));
        let script = c.command.clone().unwrap_or_default().join(" ");
        assert!(script.contains("cd /usr/src/nextcloud") && script.contains("php occ app:enable richdocuments"), "{script}");
        assert!(c.env.clone().unwrap_or_default().iter().any(|e| e.name == "NEXTCLOUD_CONFIG_DIR"));
        assert_eq!(pod.init_containers.unwrap_or_default()[0].name, "prepare");
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
    fn ingress_uses_class_settings() {
        let mut s = resolved();
        s.class.ingress.class_name = Some("nginx".into());
        s.class.ingress.tls_issuer = Some("letsencrypt".into());
        let i = ingress(&s);
        let ann = i.metadata.annotations.unwrap_or_default();
        assert_eq!(ann.get("cert-manager.io/cluster-issuer").map(String::as_str), Some("letsencrypt"));
        assert_eq!(ann.get("nginx.ingress.kubernetes.io/proxy-body-size").map(String::as_str), Some("16G"));
        let spec = i.spec.expect("spec");
        assert_eq!(spec.ingress_class_name.as_deref(), Some("nginx"));
        assert_eq!(spec.tls.unwrap_or_default()[0].hosts, Some(vec!["mon-asso.frama.space".to_string()]));
        assert_eq!(spec.rules.unwrap_or_default()[0].host.as_deref(), Some("mon-asso.frama.space"));
    }

    #[test]
    fn ingress_without_issuer_has_no_tls() {
        let i = ingress(&resolved());
        assert!(i.spec.and_then(|s| s.tls).is_none());
        assert!(!i.metadata.annotations.unwrap_or_default().contains_key("cert-manager.io/cluster-issuer"));
    }

    #[test]
    fn network_policy_admits_only_the_ingress_controller_and_office() {
        let np = network_policy(&resolved(), &bound());
        let spec = np.spec.expect("spec");
        let from = spec.ingress.unwrap_or_default()[0].from.clone().unwrap_or_default();
        let json = serde_json::to_string(&from).unwrap_or_default();
        assert!(json.contains("ingress-nginx") && json.contains("office"));
        assert_eq!(from.len(), 2);
        let egress = spec.egress.unwrap_or_default();
        assert_eq!(egress.len(), 3, "DNS, backends and the pool ports");
        assert_eq!(network_policy(&resolved(), &Bindings::default()).spec.and_then(|s| s.egress).map(|e| e.len()), Some(2));
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
