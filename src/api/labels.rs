//! Every `frama.space/…` label, annotation and finalizer, the well-known labels the operator sets,
//! and every condition type and shared reason: the vocabulary people select on, GitOps tools ignore
//! and dashboards read. One module, so no two places can disagree on a spelling.

/// The field manager of every server-side apply, and the value of the managed-by label.
pub const FIELD_MANAGER: &str = "framaspace-operator";
/// Prefix of the operator's own labels and annotations: the only ones its caches keep.
pub const OWN_PREFIX: &str = "frama.space/";

// ---- finalizer ------------------------------------------------------------------------------
/// Held by every space until its data was released according to its deletion policy.
pub const FINALIZER: &str = "frama.space/cleanup";

// ---- labels ---------------------------------------------------------------------------------
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_SELECTOR: &str = "app.kubernetes.io/managed-by=framaspace-operator";
pub const PART_OF_LABEL: &str = "app.kubernetes.io/part-of";
pub const NAME_LABEL: &str = "app.kubernetes.io/name";
pub const INSTANCE_LABEL: &str = "app.kubernetes.io/instance";
/// The space an object belongs to: the way back from any owned object to its space.
pub const SPACE_LABEL: &str = "frama.space/space";
/// On the Secret that keeps a retained space's Nextcloud identity (operator's namespace): the
/// space it belongs to. Not `SPACE_LABEL`: nothing of a deleted space's own remains labelled so.
pub const RETAINED_SPACE_LABEL: &str = "frama.space/retained-space";
/// `space` on a space's namespace; `office` or `preview` on a backend's objects.
pub const COMPONENT_LABEL: &str = "frama.space/component";
/// The OfficeBackend or PreviewBackend an object of the operator's namespace belongs to.
pub const BACKEND_LABEL: &str = "frama.space/backend";
/// The purpose of an occ Job (`install`, `office`, …).
pub const OCC_LABEL: &str = "frama.space/occ";
/// The node label a class's or backend's `nodePool` selects.
pub const NODE_POOL_LABEL: &str = "frama.space/node-pool";
/// What a Secret of the operator's namespace was made for; a class's mail Secret must say
/// [`SMTP_PURPOSE`], so no other Secret (a pool's admin credentials) is ever copied into the
/// spaces and sent to an SMTP host.
pub const PURPOSE_LABEL: &str = "frama.space/purpose";
pub const SMTP_PURPOSE: &str = "smtp-credentials";
/// The purpose of a Secret that holds an adopted instance's identity and keys; it also carries
/// [`SPACE_LABEL`] as an annotation naming the one space it was made for.
pub const ADOPTION_PURPOSE: &str = "adoption";
/// The wave an adopted space is switched to `Manage` with (set by `framaspace-operator adopt`).
pub const ADOPTION_WAVE_LABEL: &str = "frama.space/adoption-wave";
/// On a pool's admin Secret: the servers (`host:port`, comma-separated) the operator may send it
/// to. Written by whoever may write the operator's Secrets, so a pool cannot redirect them.
pub const ADMIN_ENDPOINTS_ANNOTATION: &str = "frama.space/endpoints";
/// On a pool's admin Secret, optional: the pools (`Kind/name`, comma-separated) that may use it.
pub const ADMIN_POOLS_ANNOTATION: &str = "frama.space/pools";

// ---- annotations ----------------------------------------------------------------------------
/// Hash of what the operator last applied to an object, kept for people and for drift checks.
pub const APPLIED_HASH_ANNOTATION: &str = "frama.space/applied-hash";
/// Hash of the space's configuration on its pod template: a change rolls the pods.
pub const CONFIG_HASH_ANNOTATION: &str = "frama.space/config-hash";
/// The Nextcloud a space runs, recorded on its namespace when its install succeeded (the exact
/// four-part `version` occ reported, and the image that reported it): the namespace wins over
/// the status, so a space restored without status is never installed again.
pub const NEXTCLOUD_VERSION_ANNOTATION: &str = "frama.space/nextcloud-version";
pub const NEXTCLOUD_IMAGE_ANNOTATION: &str = "frama.space/nextcloud-image";
/// Which attempt of the install Job this is (1, 2, ...): the retry delay grows with it.
pub const ATTEMPT_ANNOTATION: &str = "frama.space/attempt";
/// On a space, `"true"`: the data a deleted space of the same name retained is re-attached to
/// it. Only a platform engineer may set it (verb `reattach` on associationspaces, checked by the
/// admission policy `associationspace-reattach.frama.space`); the portal's role cannot.
pub const REATTACH_RETAINED_ANNOTATION: &str = "frama.space/reattach-retained";
/// On a space, `accept`: an installed space whose credentials Secret lost Nextcloud's identity
/// (`secret`, `passwordsalt`, `instanceid`) gets new values, and everyone is logged out.
pub const NEW_IDENTITY_ANNOTATION: &str = "frama.space/new-identity";
/// The occ commands a Job runs, for `kubectl describe job`.
pub const OCC_COMMANDS_ANNOTATION: &str = "frama.space/occ-commands";
/// The URL of a space, on its namespace.
pub const URL_ANNOTATION: &str = "frama.space/url";
/// The keys (never the values) of a space's credentials Secret.
pub const KEYS_ANNOTATION: &str = "frama.space/keys";
/// Placement, recorded on the space's namespace: it wins over the status (see `space::placement`).
pub const DATABASE_POOL_ANNOTATION: &str = "frama.space/database-pool";
pub const CACHE_POOL_ANNOTATION: &str = "frama.space/cache-pool";
/// The logical database of the CachePool server that is the space's and no other's.
pub const CACHE_DATABASE_ANNOTATION: &str = "frama.space/cache-database";
pub const STORAGE_POOL_ANNOTATION: &str = "frama.space/storage-pool";
pub const OFFICE_BACKEND_ANNOTATION: &str = "frama.space/office-backend";
pub const PREVIEW_BACKEND_ANNOTATION: &str = "frama.space/preview-backend";
pub const TALK_BACKEND_ANNOTATION: &str = "frama.space/talk-backend";
/// On a space created by a Clone restore: the SpaceRestore that fills it (it runs nothing until then).
pub const RESTORE_FROM_ANNOTATION: &str = "frama.space/restore-from";
/// On a space created by a Clone restore: the space it was cloned from.
pub const CLONED_FROM_LABEL: &str = "frama.space/cloned-from";
/// On a SpaceRestore the operator made to test a class's backups: the class.
pub const RESTORE_TEST_LABEL: &str = "frama.space/restore-test";
/// On a restore test's SpaceRestore: its verdict (`passed`, or `failed: <why>`), once checked.
pub const RESTORE_TEST_RESULT_ANNOTATION: &str = "frama.space/restore-test-result";
/// On a class: a restore test is run now each time this value changes; on a restore test's
/// SpaceRestore: the request it answered.
pub const RESTORE_TEST_REQUEST_ANNOTATION: &str = "frama.space/restore-test-requested";
/// On a space: a backup is taken now each time this value changes (any text, e.g. a date).
pub const BACKUP_REQUEST_ANNOTATION: &str = "frama.space/backup-requested";
/// On a sleeping space: a request came for it (RFC 3339, set by the wake component); the
/// operator wakes the space when this is newer than its sleep.
pub const WAKE_REQUEST_ANNOTATION: &str = "frama.space/wake-requested";

// ---- condition types ------------------------------------------------------------------------
/// Every kind's summary condition (`kubectl wait --for=condition=Ready`).
pub const READY: &str = "Ready";
pub const PLACED: &str = "Placed";
pub const DATABASE_READY: &str = "DatabaseReady";
pub const CACHE_READY: &str = "CacheReady";
pub const STORAGE_READY: &str = "StorageReady";
pub const WORKLOAD_READY: &str = "WorkloadReady";
pub const INGRESS_READY: &str = "IngressReady";
pub const OFFICE_READY: &str = "OfficeReady";
/// Talk is wired to the TURN server of the space's TalkBackend (absent when the class has no Talk).
pub const TALK_READY: &str = "TalkReady";
/// A TalkBackend's High-performance backend answers (absent without `spec.signaling`).
pub const SIGNALING_READY: &str = "SignalingReady";
/// The class's validated apps are enabled in the space (and the ones it dropped disabled).
pub const APPS_READY: &str = "AppsReady";
pub const INSTALLED: &str = "Installed";
/// The space runs its class's Nextcloud version (see the class's rollout).
pub const UP_TO_DATE: &str = "UpToDate";
/// An adopted space: whether the operator may take it over (observed), or has (managed).
pub const ADOPTED: &str = "Adopted";
/// The space's last backup succeeded (absent while its class has no backup policy).
pub const BACKED_UP: &str = "BackedUp";

/// The space conditions a status carries, in the order `kubectl describe` shows them after Ready.
pub const SPACE_CONDITIONS: [&str; 9] =
    [PLACED, DATABASE_READY, CACHE_READY, STORAGE_READY, INSTALLED, APPS_READY, OFFICE_READY, WORKLOAD_READY, INGRESS_READY];

// ---- reasons shared between the code that sets them and the code that reads them -------------
/// An occ Job failed: the one office reason that makes a space not Ready.
pub const OCC_FAILED: &str = "OccFailed";
