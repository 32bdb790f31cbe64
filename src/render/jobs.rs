//! The space's one-shot Jobs, each in its image with the space's configuration: occ Jobs (install,
//! apps, office, upgrade), the class's image inspection, and the upgrade's snapshot and restore.
//! The pod layout they share with the web workload is `objects`'.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    ConfigMapVolumeSource, Container, EmptyDirVolumeSource, EnvVar, KeyToPath, PodSecurityContext, PodSpec, PodTemplateSpec,
    ResourceRequirements, SecurityContext, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use sha2::Digest;

use super::bindings::Bindings;
use super::config;
use super::credentials;
use super::names;
use super::nextcloud;
use super::objects::{as_www_data, meta, nextcloud_env, nextcloud_pod_from, plain_env, run_mount, secret_env};
use super::resolve::ResolvedSpace;
use crate::api::labels::{ATTEMPT_ANNOTATION, FIELD_MANAGER, MANAGED_BY_LABEL, OCC_COMMANDS_ANNOTATION, OCC_LABEL, PART_OF_LABEL};
use crate::api::space::NextcloudStatus;

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
    let image = space.image.clone();
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
    let named = OccJobNamed { name: occ_job_name(purpose, commands), env: Vec::new(), annotations: BTreeMap::new() };
    occ_job_named(space, bindings, config_files, installed, purpose, commands, named)
}

/// What an occ Job of a wiring carries besides its commands: its name, the environment only it
/// is given, its own annotations.
struct OccJobNamed {
    name: String,
    env: Vec<EnvVar>,
    annotations: BTreeMap<String, String>,
}

fn occ_job_named(
    space: &ResolvedSpace,
    bindings: &Bindings,
    config_files: &BTreeMap<String, String>,
    installed: &NextcloudStatus,
    purpose: &str,
    commands: &[String],
    named: OccJobNamed,
) -> Job {
    let OccJobNamed { name, env: own_env, mut annotations } = named;
    annotations.insert(OCC_COMMANDS_ANNOTATION.to_string(), commands.join("\n"));
    let mut env = nextcloud_env(bindings);
    env.extend(own_env);
    let pod = OccPod {
        name: &name,
        purpose,
        image: &installed.image,
        writable: false,
        upgrade_from: None,
        env,
        script: nextcloud::occ_script(commands),
        annotations,
    };
    occ_job_object(space, config_files, pod)
}

/// The talk Job: the `talk::talk_commands` of the space's wiring, with the space's copy of its
/// backend's TURN secret (and its own signaling secret) in its environment (this Job's only,
/// never the web pods'), named by the commands and the secrets' fingerprints, so a new secret
/// rewires the space once.
pub fn talk_job(
    space: &ResolvedSpace,
    bindings: &Bindings,
    config_files: &BTreeMap<String, String>,
    installed: &NextcloudStatus,
    commands: &[String],
) -> Job {
    let mut named = OccJobNamed { name: talk_job_name(commands, bindings), env: Vec::new(), annotations: BTreeMap::new() };
    if let Some(t) = &bindings.talk {
        named.env.push(secret_env(super::talk::TURN_SECRET_ENV, credentials::TALK_TURN_SECRET));
        if t.signaling.is_some() {
            named.env.push(secret_env(super::signaling::SIGNALING_SECRET_ENV, credentials::TALK_SIGNALING_SECRET));
        }
        named.annotations.insert(TALK_FINGERPRINT_ANNOTATION.into(), t.fingerprint.clone());
    }
    occ_job_named(space, bindings, config_files, installed, TALK_PURPOSE, commands, named)
}

/// The purpose label of the Jobs that wire a space's Talk.
pub const TALK_PURPOSE: &str = "talk";
/// On a talk Job: the fingerprint of the TURN secret it wires (never the secret).
pub const TALK_FINGERPRINT_ANNOTATION: &str = "frama.space/turn-secret-fingerprint";

pub fn talk_job_name(commands: &[String], bindings: &Bindings) -> String {
    let mut named = commands.to_vec();
    named.extend(bindings.talk.as_ref().map(|t| format!("# {}", t.fingerprint)));
    named.extend(bindings.talk.as_ref().and_then(|t| t.signaling.as_ref()).map(|s| format!("# {}", s.fingerprint)));
    occ_job_name(TALK_PURPOSE, &named)
}

pub fn occ_job_name(purpose: &str, commands: &[String]) -> String {
    let digest = sha2::Sha256::digest(commands.join("\n").as_bytes());
    format!("occ-{purpose}-{}", &config::hex(&digest[..5]))
}

/// The purpose label of a sleeping space's background runs.
pub const BACKGROUND_PURPOSE: &str = "background";

/// The name of the background run due at `due` (Unix seconds): one Job per due time, so a run is
/// never made twice for the same reason.
pub fn background_job_name(due: i64) -> String {
    format!("nextcloud-background-{due}")
}

/// A sleeping space's background run (`nextcloud::background_script`) in its installed image,
/// with its read-only configuration: its web stays at zero pods. Given up after 20 minutes
/// (cron.php asks for no new job after 14); not retried by the Job controller: the operator
/// plans the next run.
pub fn background_job(
    space: &ResolvedSpace,
    bindings: &Bindings,
    config_files: &BTreeMap<String, String>,
    installed: &NextcloudStatus,
    due: i64,
) -> Job {
    let name = background_job_name(due);
    let pod = OccPod {
        name: &name,
        purpose: BACKGROUND_PURPOSE,
        image: &installed.image,
        writable: false,
        upgrade_from: None,
        env: nextcloud_env(bindings),
        script: nextcloud::background_script(),
        annotations: BTreeMap::new(),
    };
    let mut job = occ_job_object(space, config_files, pod);
    if let Some(spec) = job.spec.as_mut() {
        spec.backoff_limit = Some(0);
        spec.active_deadline_seconds = Some(1200);
    }
    job
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
    let key = upgrade.snapshot.clone().unwrap_or_else(|| u::snapshot_key(&upgrade.from.version_string, &upgrade.target));
    let dump = if restore {
        DumpJob {
            name: u::restore_job_name(&upgrade.target),
            purpose: RESTORE_PURPOSE,
            key,
            restore_sha256: Some(upgrade.snapshot_sha256.clone().unwrap_or_default()),
        }
    } else {
        DumpJob { name: u::snapshot_job_name(&upgrade.target), purpose: SNAPSHOT_PURPOSE, key, restore_sha256: None }
    };
    dump_job(space, bindings, dump)
}

/// A backup's dump Job (`render::backup`): the snapshot's script, into the key the operator
/// then moves to the backup location.
pub fn backup_job(space: &ResolvedSpace, bindings: &Bindings, id: &str) -> Option<Job> {
    use super::backup as b;
    dump_job(space, bindings, DumpJob { name: b::job_name(id), purpose: b::BACKUP_PURPOSE, key: b::dump_key(id), restore_sha256: None })
}

/// A restore's database Job: the upgrade's restore script, streaming the backup's dump (put in
/// the space's bucket by the operator) into one transaction that commits only with its digest.
pub fn restore_backup_job(space: &ResolvedSpace, bindings: &Bindings, id: &str, sha256: &str) -> Option<Job> {
    use super::backup as b;
    let dump = DumpJob {
        name: b::restore_job_name(id),
        purpose: RESTORE_PURPOSE,
        key: b::restore_dump_key(id),
        restore_sha256: Some(sha256.to_string()),
    };
    dump_job(space, bindings, dump)
}

/// What tells one dump or restore Job from another.
struct DumpJob {
    name: String,
    purpose: &'static str,
    /// The object in the space's bucket it writes or reads.
    key: String,
    /// A restore's: the digest the dump must arrive with.
    restore_sha256: Option<String>,
}

/// A Job of PostgreSQL's client tools as the space's role, with the space's bucket through its
/// own key: `upgrade::snapshot_script`, or `upgrade::restore_script` when it restores.
fn dump_job(space: &ResolvedSpace, bindings: &Bindings, dump: DumpJob) -> Option<Job> {
    use super::upgrade as u;
    let DumpJob { name, purpose, key, restore_sha256 } = dump;
    let restore = restore_sha256.is_some();
    let db = bindings.database.as_ref()?;
    let storage = bindings.storage.as_ref()?;
    // The client of the pool's server major (`RolloutPolicy::snapshot_image_repository`).
    let major = db.server_major?;
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
    if let Some(sum) = &restore_sha256 {
        env.push(plain_env("FRAMASPACE_SNAPSHOT_SHA256", sum));
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
    let script = if restore { u::restore_script() } else { u::snapshot_script() };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::objects::tests::{bound, installed, render, resolved};

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
    fn a_backup_dumps_into_its_key_and_a_restore_streams_it_back_with_its_digest() {
        let s = resolved();
        let env_of = |job: &Job| -> BTreeMap<String, String> {
            let pod = job.spec.as_ref().and_then(|j| j.template.spec.as_ref()).expect("pod");
            pod.containers[0].env.clone().unwrap_or_default().into_iter().filter_map(|e| Some((e.name, e.value?))).collect()
        };
        assert!(backup_job(&s, &bound(), "20261205T031500Z").is_none(), "no dump without a bucket");
        let mut b = bound();
        b.storage = super::super::bindings::StorageBinding::from_endpoint("http://s3:9000", "us-east-1", "space-mon-asso");
        let job = backup_job(&s, &b, "20261205T031500Z").expect("a dump Job");
        assert_eq!(job.metadata.name.as_deref(), Some("nextcloud-backup-20261205t031500z"));
        assert_eq!(job.metadata.labels.as_ref().and_then(|l| l.get(OCC_LABEL)).map(String::as_str), Some("backup"));
        let env = env_of(&job);
        assert_eq!(env.get("FRAMASPACE_SNAPSHOT_KEY").map(String::as_str), Some("framaspace/backups/20261205T031500Z.sql.gz"));
        assert_eq!(
            env.get("FRAMASPACE_S3_URL").map(String::as_str),
            Some("http://s3:9000/space-mon-asso/framaspace/backups/20261205T031500Z.sql.gz"),
            "into the space's own bucket, with its own key"
        );
        assert!(!env.contains_key("FRAMASPACE_SNAPSHOT_SHA256"));
        let restore = restore_backup_job(&s, &b, "20261205T031500Z", "ab12").expect("a restore Job");
        assert_eq!(restore.metadata.name.as_deref(), Some("nextcloud-restore-backup-20261205t031500z"));
        let env = env_of(&restore);
        assert_eq!(env.get("FRAMASPACE_SNAPSHOT_KEY").map(String::as_str), Some("framaspace/restores/20261205T031500Z.sql.gz"));
        assert_eq!(env.get("FRAMASPACE_SNAPSHOT_SHA256").map(String::as_str), Some("ab12"));
        let script = restore
            .spec
            .and_then(|j| j.template.spec)
            .map(|p| p.containers[0].command.clone().unwrap_or_default().join(" "))
            .unwrap_or_default();
        assert!(script.contains("--single-transaction"), "the restore script");
    }
}
