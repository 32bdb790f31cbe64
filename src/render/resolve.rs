//! Defaulting: what a space gets once its class fills what its spec leaves out, and the checks
//! that only the class can answer (the API server's admission policy refuses most of these at
//! write time; a class edited afterwards can still leave a space outside its limits).

use crate::api::class::SpaceClass;
use crate::api::quantity::{MAX_QUOTA, MAX_QUOTA_BYTES, MIN_QUOTA, MIN_QUOTA_BYTES, parse_bytes};
use crate::api::space::{AssociationSpace, DeletionPolicy, OfficeSuite};
use crate::render::names;
use kube::ResourceExt;
use thiserror::Error;

/// Why a space cannot be built as asked. Permanent: only a change of the space or its class helps.
#[derive(Debug, Error, PartialEq, Eq, Clone)]
pub enum SpecError {
    #[error("SpaceClass {0:?} does not exist")]
    ClassNotFound(String),
    #[error("no SpaceClass is marked default and spec.spaceClassName is empty")]
    NoDefaultClass,
    #[error("several SpaceClasses are marked default ({0}); name one in spec.spaceClassName")]
    AmbiguousDefaultClass(String),
    #[error("spec.quota {quota} is above the maximum {max} of SpaceClass {class}")]
    QuotaAboveClassMaximum { quota: String, max: String, class: String },
    #[error("spec.maxAccounts {accounts} is above the maximum {max} of SpaceClass {class}")]
    AccountsAboveClassMaximum { accounts: i32, max: i32, class: String },
    #[error("{field}: {message}")]
    InvalidValue { field: &'static str, message: String },
    #[error("SpaceClass {class}: {message}")]
    UnsupportedNextcloud { class: String, message: String },
    #[error("SpaceClass {class} is not Ready: {message}")]
    BaseDomainUnderSpace { class: String, message: String },
    #[error(
        "the space's host {host} would be a parent domain of SpaceClass {class}'s spaces ({domain}): choose another name, or move that class"
    )]
    HostAboveClassDomain { host: String, class: String, domain: String },
    #[error("the space's host {host} is OfficeBackend {backend}'s: choose another name")]
    HostOfBackend { host: String, backend: String },
}

impl SpecError {
    /// CamelCase reason for conditions and Events.
    pub fn reason(&self) -> &'static str {
        match self {
            SpecError::ClassNotFound(_) => "ClassNotFound",
            SpecError::NoDefaultClass => "NoDefaultClass",
            SpecError::AmbiguousDefaultClass(_) => "AmbiguousDefaultClass",
            SpecError::QuotaAboveClassMaximum { .. } => "QuotaAboveClassMaximum",
            SpecError::AccountsAboveClassMaximum { .. } => "AccountsAboveClassMaximum",
            SpecError::InvalidValue { .. } => "InvalidValue",
            SpecError::BaseDomainUnderSpace { .. } => "BaseDomainUnderSpace",
            SpecError::HostAboveClassDomain { .. } => "HostAboveClassDomain",
            SpecError::HostOfBackend { .. } => "HostOfBackend",
            SpecError::UnsupportedNextcloud { .. } => "UnsupportedNextcloudVersion",
        }
    }

    /// A missing class may appear later (GitOps applies objects in any order): the space waits
    /// in Pending. The others are errors in what was written.
    pub fn is_waiting(&self) -> bool {
        matches!(self, SpecError::ClassNotFound(_) | SpecError::NoDefaultClass)
    }
}

impl ResolvedSpace {
    /// The space's address (https when the class's Ingress ends TLS).
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme(), self.host)
    }

    /// The scheme people reach the space with: the class's `ingress.publicScheme`, whoever ends TLS.
    pub fn scheme(&self) -> &'static str {
        self.class.ingress.public_scheme.as_str()
    }

    /// The apps the operator enables in the space: the platform's and the class's, sorted.
    pub fn apps(&self) -> Vec<String> {
        self.class.enabled_apps()
    }

    /// Whether the class's Ingress ends TLS for the space (it names a certificate issuer).
    pub fn tls(&self) -> bool {
        self.class.ingress.tls_issuer.is_some()
    }
}

/// The class a space uses: the one it names, else the only default class.
pub fn choose_class<'a>(space: &AssociationSpace, classes: &'a [std::sync::Arc<SpaceClass>]) -> Result<&'a SpaceClass, SpecError> {
    if let Some(name) = &space.spec.space_class_name {
        return classes.iter().find(|c| &c.name_any() == name).map(|c| c.as_ref()).ok_or_else(|| SpecError::ClassNotFound(name.clone()));
    }
    let defaults: Vec<&SpaceClass> = classes.iter().filter(|c| c.spec.default).map(|c| c.as_ref()).collect();
    match defaults.as_slice() {
        [] => Err(SpecError::NoDefaultClass),
        [one] => Ok(one),
        many => {
            let mut names: Vec<String> = many.iter().map(|c| c.name_any()).collect();
            names.sort();
            Err(SpecError::AmbiguousDefaultClass(names.join(", ")))
        }
    }
}

/// Everything the renderers need about one space, with the class defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedSpace {
    pub name: String,
    pub uid: String,
    pub class_name: String,
    pub class: crate::api::class::SpaceClassSpec,
    pub contact_email: String,
    pub display_name: String,
    pub office: OfficeSuite,
    pub quota: String,
    pub quota_bytes: u64,
    pub max_accounts: i32,
    pub suspended: bool,
    pub deletion_policy: DeletionPolicy,
    pub namespace: String,
    pub host: String,
    /// The image a new install or an upgrade of the space runs: the class's, pinned by digest
    /// once inspected (`SpaceClass::pinned_reference`).
    pub image: String,
    /// The existing instance the space adopts (`spec.adoption`).
    pub adoption: Option<crate::api::adoption::Adoption>,
    /// The TalkBackend the spec asks for (`spec.callsBackend`).
    pub calls_backend: Option<String>,
}

impl ResolvedSpace {
    /// Whether the class enables Talk: only then is the space given a TURN server.
    pub fn has_talk(&self) -> bool {
        self.class.apps.iter().any(|a| a.0 == TALK_APP)
    }

    /// The space's adoption while the operator may only read.
    pub fn observed_only(&self) -> bool {
        self.adoption.as_ref().is_some_and(|a| a.policy == crate::api::adoption::AdoptionPolicy::Observe)
    }
}

/// Nextcloud Talk's app id.
pub const TALK_APP: &str = "spreed";

pub fn resolve(space: &AssociationSpace, class: &SpaceClass) -> Result<ResolvedSpace, SpecError> {
    let class_name = class.name_any();
    let limits = &class.spec.limits;
    let invalid =
        |field: &'static str| move |e: crate::api::quantity::QuantityError| SpecError::InvalidValue { field, message: e.to_string() };

    // The API server refuses such a class since the rule exists; one stored before it is refused here.
    crate::api::class::supported_version(&class.spec.nextcloud.version)
        .map_err(|message| SpecError::UnsupportedNextcloud { class: class_name.clone(), message })?;
    let quota = space.spec.quota.clone().unwrap_or_else(|| limits.default_quota.clone());
    let quota_bytes = parse_bytes(&quota).map_err(invalid("spec.quota"))?;
    // The API server refuses these since its rules exist; an object stored before them stops here.
    if !(MIN_QUOTA_BYTES..=MAX_QUOTA_BYTES).contains(&quota_bytes) {
        return Err(SpecError::InvalidValue {
            field: "spec.quota",
            message: format!("{quota} is outside {MIN_QUOTA}..{MAX_QUOTA}: a smaller quota rounds to none at all on the storage servers"),
        });
    }
    let max_bytes = parse_bytes(&limits.max_quota).map_err(invalid("spaceclass.spec.limits.maxQuota"))?;
    if quota_bytes > max_bytes {
        return Err(SpecError::QuotaAboveClassMaximum { quota, max: limits.max_quota.clone(), class: class_name });
    }
    let max_accounts = space.spec.max_accounts.unwrap_or(limits.default_max_accounts);
    if max_accounts > limits.max_accounts {
        return Err(SpecError::AccountsAboveClassMaximum { accounts: max_accounts, max: limits.max_accounts, class: class_name });
    }
    let name = space.name_any();
    Ok(ResolvedSpace {
        uid: space.uid().unwrap_or_default(),
        namespace: names::namespace(&name),
        host: names::host(&name, &class.spec.base_domain),
        office: space.spec.office.unwrap_or(class.spec.default_office),
        contact_email: space.spec.contact_email.clone(),
        display_name: space.spec.display_name.clone(),
        suspended: space.spec.suspended,
        calls_backend: space.spec.calls_backend.clone(),
        deletion_policy: space.spec.deletion_policy,
        class: class.spec.clone(),
        image: class.pinned_reference(),
        adoption: space.spec.adoption.clone(),
        class_name,
        quota,
        quota_bytes,
        max_accounts,
        name,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::api::class::{IngressSettings, NextcloudImage, NodePlacement, SpaceClassSpec, SpaceLimits};
    use crate::api::space::AssociationSpaceSpec;
    use std::sync::Arc;

    pub fn class(name: &str, default: bool) -> SpaceClass {
        SpaceClass::new(
            name,
            SpaceClassSpec {
                default,
                base_domain: "frama.space".into(),
                nextcloud: NextcloudImage {
                    image: "registry.frama.space/framaspace/nextcloud".into(),
                    version: "33.0.7".into(),
                    tag: None,
                },
                limits: SpaceLimits { max_quota: "50Gi".into(), default_quota: "40Gi".into(), max_accounts: 50, default_max_accounts: 50 },
                default_office: OfficeSuite::Collabora,
                apps: vec![],
                resources: None,
                placement: NodePlacement::default(),
                ingress: IngressSettings::default(),
                namespace_quota: Default::default(),
                mail: None,
                support_url: None,
                pool_selector: None,
                rollout: Default::default(),
                backup: None,
                sleep: None,
            },
        )
    }

    pub fn space(name: &str) -> AssociationSpace {
        let mut s = AssociationSpace::new(
            name,
            AssociationSpaceSpec {
                display_name: "Mon Asso".into(),
                contact_email: "admin@mon-asso.example".into(),
                space_class_name: None,
                office: None,
                quota: None,
                max_accounts: None,
                suspended: false,
                hold_upgrade: false,
                keep_awake: false,
                calls_backend: None,
                deletion_policy: DeletionPolicy::Retain,
                adoption: None,
            },
        );
        s.metadata.uid = Some("uid-1".into());
        s
    }

    #[test]
    fn class_defaults_fill_the_spec() {
        let r = resolve(&space("mon-asso"), &class("standard", true)).expect("resolves");
        assert_eq!(r.quota, "40Gi");
        assert_eq!(r.quota_bytes, 40 << 30);
        assert_eq!(r.max_accounts, 50);
        assert_eq!(r.office, OfficeSuite::Collabora);
        assert_eq!(r.host, "mon-asso.frama.space");
        assert_eq!(r.namespace, "space-mon-asso");
        assert_eq!(r.class_name, "standard");
    }

    #[test]
    fn a_class_on_a_nextcloud_the_operator_cannot_run_is_refused() {
        let mut c = class("old", true);
        c.spec.nextcloud.version = "31.0.9".into();
        let e = resolve(&space("x"), &c).expect_err("refused");
        assert_eq!(e.reason(), "UnsupportedNextcloudVersion");
        assert!(e.to_string().contains("spec.nextcloud.version 31.0.9") && e.to_string().contains("memcache_customprefix"), "{e}");
        c.spec.nextcloud.version = "31.0.9-apache".into();
        assert!(resolve(&space("x"), &c).expect_err("refused").to_string().contains("is not a Nextcloud release"));
        for ok in ["33.0.1", "33.0.7", "34.0.0", "40.1.2"] {
            c.spec.nextcloud.version = ok.into();
            assert!(resolve(&space("x"), &c).is_ok(), "{ok}");
        }
        for refused in ["33.0.0", "32.0.13", "30.99.99"] {
            c.spec.nextcloud.version = refused.into();
            assert!(resolve(&space("x"), &c).is_err(), "{refused}");
        }
    }

    #[test]
    fn spec_wins_over_class_defaults() {
        let mut s = space("a");
        s.spec.quota = Some("10Gi".into());
        s.spec.max_accounts = Some(5);
        s.spec.office = Some(OfficeSuite::Onlyoffice);
        let r = resolve(&s, &class("standard", true)).expect("resolves");
        assert_eq!((r.quota.as_str(), r.max_accounts, r.office), ("10Gi", 5, OfficeSuite::Onlyoffice));
    }

    #[test]
    fn limits_of_the_class_are_enforced() {
        let mut s = space("a");
        s.spec.quota = Some("51Gi".into());
        assert_eq!(resolve(&s, &class("c", true)).map(|_| ()).unwrap_err().reason(), "QuotaAboveClassMaximum");
        s.spec.quota = Some("0.5".into());
        assert_eq!(
            resolve(&s, &class("c", true)).map(|_| ()).map_err(|e| e.reason()),
            Err("InvalidValue"),
            "half a byte rounds to no quota: refused"
        );
        s.spec.quota = Some("1Mi".into());
        assert!(resolve(&s, &class("c", true)).is_ok(), "1Mi is the smallest quota");
        s.spec.quota = Some("50Gi".into());
        s.spec.max_accounts = Some(51);
        assert_eq!(resolve(&s, &class("c", true)).map(|_| ()).unwrap_err().reason(), "AccountsAboveClassMaximum");
    }

    #[test]
    fn class_choice() {
        let classes = vec![Arc::new(class("a", false)), Arc::new(class("b", true))];
        assert_eq!(choose_class(&space("x"), &classes).map(|c| c.name_any()), Ok("b".into()));
        let mut named = space("x");
        named.spec.space_class_name = Some("a".into());
        assert_eq!(choose_class(&named, &classes).map(|c| c.name_any()), Ok("a".into()));
        named.spec.space_class_name = Some("zz".into());
        assert_eq!(choose_class(&named, &classes).map(|_| ()), Err(SpecError::ClassNotFound("zz".into())));
        assert_eq!(choose_class(&space("x"), &classes[..1]).map(|_| ()), Err(SpecError::NoDefaultClass));
        let two = vec![Arc::new(class("b", true)), Arc::new(class("a", true))];
        assert_eq!(choose_class(&space("x"), &two).map(|_| ()), Err(SpecError::AmbiguousDefaultClass("a, b".into())));
    }
}
