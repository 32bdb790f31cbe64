//! `SpaceClass`: defaults and limits shared by a family of spaces.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ResourceRequirements, Toleration};
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::conditions::{Condition, conditions_schema};
use super::space::OfficeSuite;

/// Defaults and limits for spaces: Nextcloud image, base domain, app allow-list, quota and
/// account limits, resources, node placement, ingress. One class may be marked default.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "frama.space",
    version = "v1alpha1",
    kind = "SpaceClass",
    plural = "spaceclasses",
    singular = "spaceclass",
    shortname = "spc",
    category = "framaspace",
    status = "SpaceClassStatus",
    derive = "PartialEq",
    doc = "Defaults and limits shared by a family of Framaspace spaces.",
    printcolumn(name = "Default", type_ = "boolean", json_path = ".spec.default", description = "Used by spaces that name no class"),
    printcolumn(name = "Domain", type_ = "string", json_path = ".spec.baseDomain", description = "Spaces are <name>.<baseDomain>"),
    printcolumn(name = "Version", type_ = "string", json_path = ".spec.nextcloud.version", description = "Nextcloud version"),
    printcolumn(name = "Max-Quota", type_ = "string", json_path = ".spec.limits.maxQuota"),
    printcolumn(name = "Spaces", type_ = "integer", json_path = ".status.spaces", description = "Spaces using the class"),
    printcolumn(name = "Rollout", type_ = "string", json_path = ".status.rollout.phase", description = "Where the upgrade of the class's spaces to spec.nextcloud.version stands"),
    printcolumn(name = "Wave", type_ = "integer", json_path = ".status.rollout.wave", description = "The wave under way (0: the canary)"),
    printcolumn(name = "Upgraded", type_ = "integer", json_path = ".status.rollout.done", description = "Installed spaces on the target version"),
    printcolumn(name = "Upgrading", type_ = "integer", json_path = ".status.rollout.upgrading", priority = 1),
    printcolumn(name = "Pending", type_ = "integer", json_path = ".status.rollout.pending", priority = 1),
    printcolumn(name = "Failed", type_ = "integer", json_path = ".status.rollout.failed", description = "Spaces whose upgrade failed and was rolled back"),
    printcolumn(name = "Held", type_ = "integer", json_path = ".status.rollout.held", priority = 1),
    printcolumn(name = "Ready", type_ = "string", json_path = ".status.conditions[?(@.type==\"Ready\")].status"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = Rule::new("size(self.metadata.name) <= 63").message("metadata.name must be at most 63 characters"),
)]
#[serde(rename_all = "camelCase")]
pub struct SpaceClassSpec {
    /// Marks the class used by spaces whose `spaceClassName` is empty. Exactly one class should be default;
    /// with several, spaces without a class are refused a class and report it.
    #[serde(default)]
    pub default: bool,

    /// DNS domain under which each space gets `<space name>.<baseDomain>`.
    #[schemars(length(min = 3, max = 200), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$"))]
    #[x_kube(validation = Rule::new("self == oldSelf").message("spec.baseDomain is immutable: changing it would move every space of the class to another host"))]
    #[x_kube(validation = Rule::new("self.matches('[.][a-z]([-a-z0-9]*[a-z0-9])?$')").message("spec.baseDomain must end in a top-level domain that starts with a letter: an IP address is not a domain"))]
    pub base_domain: String,

    /// Nextcloud image and version run by every space of the class. A new version is the target
    /// of a rollout (`rollout`): one major at a time, never lower than a space already runs.
    #[x_kube(validation = Rule::new(NO_DOWNGRADE_RULE).message("spec.nextcloud.version must not go below the version it replaces: Nextcloud cannot be downgraded"))]
    #[x_kube(validation = Rule::new(ONE_MAJOR_RULE).message("spec.nextcloud.version may move up one major at a time (e.g. 33.x to 34.x): Nextcloud refuses to skip one"))]
    pub nextcloud: NextcloudImage,

    /// How the spaces move to a new `nextcloud.version`: canary, waves, parallelism per
    /// DatabasePool, failure threshold, maintenance windows, pause.
    #[serde(default)]
    pub rollout: super::rollout::RolloutPolicy,

    /// Storage and account limits, with the defaults spaces get when they ask for nothing.
    pub limits: SpaceLimits,

    /// Office suite of spaces that do not choose one.
    #[serde(default = "default_office")]
    pub default_office: OfficeSuite,

    /// Nextcloud apps validated by the platform, enabled in every space of the class alike: at
    /// install, and by one occ Job per space when the list changes (an app taken off the list is
    /// disabled). The operator never enables an app that is not listed; Nextcloud's own default
    /// apps are left as they are. The office apps are not listed here: each space's
    /// `spec.office` chooses them. Nor is the platform's own `framaspace_quota`, which every
    /// space runs. When omitted: the apps of the features Framaspace promises (calendar,
    /// contacts, deck, collectives with circles and text, spreed); `[]` enables none.
    #[serde(default = "promised_apps")]
    #[schemars(length(max = 100), extend("x-kubernetes-list-type" = "set"))]
    #[x_kube(validation = Rule::new("!self.exists(a, a == 'richdocuments' || a == 'onlyoffice')").message("spec.apps: richdocuments and onlyoffice are not listed here: each space's spec.office enables its suite's app"))]
    #[x_kube(validation = Rule::new("!self.exists(a, a == 'framaspace_quota')").message("spec.apps: framaspace_quota is not listed here: it is the platform's own app, enabled in every space"))]
    pub apps: Vec<AppId>,

    /// Compute resources of the Nextcloud container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,

    /// Nodes the Nextcloud pods run on (web nodes).
    #[serde(default)]
    pub placement: NodePlacement,

    /// How spaces are exposed.
    #[serde(default)]
    pub ingress: IngressSettings,

    /// Labels of the pools (DatabasePool, CachePool, StoragePool) the spaces of the class may be
    /// placed on; every pool when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_selector: Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>,

    /// How the spaces send mail (password resets, shares by mail, notifications, the first
    /// admin's welcome). Without it, a space sends no mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mail: Option<MailSettings>,

    /// The platform's help page: where a space's admins are sent when the space reaches its
    /// account limit (Nextcloud links to Nextcloud Enterprise otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 8, max = 255), regex(pattern = r"^https?://[^\s]+$"))]
    pub support_url: Option<String>,

    /// Hard limits of each space namespace (a ResourceQuota `spec.hard`, e.g. `pods: "10"`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("maxProperties" = 32, "additionalProperties" = { "type": "string", "maxLength": 32 }))]
    #[x_kube(validation = Rule::new(RESOURCE_NAMES_RULE).message("spec.namespaceQuota: each key must be a resource name (e.g. pods, requests.cpu, count/jobs.batch)"))]
    #[x_kube(validation = Rule::new("self.all(k, isQuantity(self[k]))").message("spec.namespaceQuota: each value must be a quantity (e.g. \"10\", 4Gi, 500m)"))]
    pub namespace_quota: BTreeMap<String, String>,
    /// The spaces' backups: where, how often, how many kept. Without it, nothing is backed up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup: Option<crate::api::backup::BackupPolicy>,
    /// Idle spaces sleep (no web pod) and wake on their first request. Without it, never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sleep: Option<crate::api::sleep::SleepPolicy>,
}

/// The SMTP server the spaces of a class send their mail through.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MailSettings {
    /// Host name or address of the SMTP server.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[A-Za-z0-9]([-A-Za-z0-9.:]*[A-Za-z0-9])?$"))]
    pub host: String,
    /// Port of the SMTP server (587 submission, 465 implicit TLS, 25).
    #[serde(default = "default_smtp_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// `TLS` (implicit TLS, port 465), else `StartTLS` or `None`: both connect in clear, and
    /// Nextcloud's mailer upgrades with STARTTLS whenever the server offers it.
    #[serde(default)]
    pub security: MailSecurity,
    /// The sender of every mail of the spaces, e.g. `noreply@frama.space`.
    #[schemars(length(max = 254), regex(pattern = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"))]
    pub from: String,
    /// Secret in the operator's namespace with keys `username` and `password` for SMTP
    /// authentication; none when the server accepts the spaces without it. The password is
    /// copied into each space's own credentials Secret, nowhere else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<super::pool::AdminSecretRef>,
}

fn default_smtp_port() -> i32 {
    587
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum MailSecurity {
    #[default]
    StartTLS,
    #[serde(rename = "TLS")]
    Tls,
    None,
}

impl MailSettings {
    /// The local part and the domain of the sender (Nextcloud's `mail_from_address`, `mail_domain`).
    pub fn sender(&self) -> (&str, &str) {
        self.from.split_once('@').unwrap_or((self.from.as_str(), ""))
    }
}

fn default_office() -> OfficeSuite {
    OfficeSuite::Collabora
}

/// A Nextcloud app id (`calendar`, `richdocuments`, ...).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(transparent)]
pub struct AppId(#[schemars(length(min = 1, max = 64), regex(pattern = r"^[a-z][a-z0-9_]*$"))] pub String);

/// Container image of Nextcloud: the project's own image (`images/nextcloud/`), which serves the
/// code from the image, bakes the validated apps in and answers the health endpoint.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new(SUPPORTED_VERSION_RULE).message(UNSUPPORTED_VERSION_MESSAGE))]
pub struct NextcloudImage {
    /// Image repository, without tag (e.g. `registry.frama.space/framaspace/nextcloud`).
    #[serde(default = "default_image")]
    #[schemars(length(min = 1, max = 255), regex(pattern = r"^[a-z0-9]([-a-z0-9._/:]*[a-z0-9])?$"))]
    pub image: String,
    /// The Nextcloud release the image holds (`major.minor.patch`, e.g. `33.0.7`); at least
    /// 33.0.1, the first release with `memcache_customprefix`.
    /// Each part has at most three digits: the rules compare releases as
    /// `major*1e6 + minor*1e3 + patch`, which a larger part would overflow into the next.
    #[schemars(length(min = 5, max = 11), regex(pattern = r"^[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}$"))]
    pub version: String,
    /// Image tag, when it is not the version itself (e.g. `33.0.7-fs.1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"))]
    pub tag: Option<String>,
}

impl NextcloudImage {
    /// The image reference the pods of the class run.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.image, self.tag.as_deref().unwrap_or(&self.version))
    }
}

/// `major*1000000 + minor*1000 + patch` of a version the pattern accepts, in CEL.
macro_rules! cel_version {
    ($v:literal) => {
        concat!("(int(", $v, ".split('.')[0]) * 1000000 + int(", $v, ".split('.')[1]) * 1000 + int(", $v, ".split('.')[2]))")
    };
}

/// Both versions releases of at most three digits a part (a class stored before that bound, with
/// a part the comparison cannot hold, may move to any valid release: it is not wedged).
const NO_DOWNGRADE_RULE: &str = concat!(
    "!(self.version.matches('^[0-9]{1,3}\\\\.[0-9]{1,3}\\\\.[0-9]{1,3}$') && oldSelf.version.matches('^[0-9]{1,3}\\\\.[0-9]{1,3}\\\\.[0-9]{1,3}$')) || ",
    cel_version!("self.version"),
    " >= ",
    cel_version!("oldSelf.version")
);
const ONE_MAJOR_RULE: &str = "!(self.version.matches('^[0-9]{1,3}\\\\.[0-9]{1,3}\\\\.[0-9]{1,3}$') && oldSelf.version.matches('^[0-9]{1,3}\\\\.[0-9]{1,3}\\\\.[0-9]{1,3}$')) || int(self.version.split('.')[0]) <= int(oldSelf.version.split('.')[0]) + 1";

/// The first release the operator runs: every Redis key of a space must carry its ACL prefix,
/// which `memcache_customprefix` gives from 33.0.1 on (nextcloud/server#58810, in the 33.0.1
/// release notes of the admin manual). 32.x got a backport (#58812) in a patch release not
/// pinned down here, so 32 is refused too.
pub const FIRST_SUPPORTED: (u32, u32, u32) = (33, 0, 1);

/// The same rule as [`supported_version`], checked by the API server (a malformed version is
/// left to the pattern's own message).
const SUPPORTED_VERSION_RULE: &str = "!self.version.matches('^[0-9]+\\\\.[0-9]+\\\\.[0-9]+$') || int(self.version.split('.')[0]) > 33 || (int(self.version.split('.')[0]) == 33 && (int(self.version.split('.')[1]) > 0 || int(self.version.split('.')[2]) >= 1))";
const UNSUPPORTED_VERSION_MESSAGE: &str = "spec.nextcloud.version must be Nextcloud 33.0.1 or later: earlier releases have no memcache_customprefix, so their cache keys would fall outside the space's Redis ACL";

/// Whether the operator can run this Nextcloud version; the error names the field.
pub fn supported_version(version: &str) -> Result<(u32, u32, u32), String> {
    let parts: Vec<Option<u32>> = version.split('.').map(|p| p.parse().ok()).collect();
    let parsed = match parts.as_slice() {
        [Some(a), Some(b), Some(c)] => (*a, *b, *c),
        _ => return Err(format!("spec.nextcloud.version {version:?} is not a Nextcloud release (major.minor.patch, e.g. 33.0.7)")),
    };
    if parsed < FIRST_SUPPORTED {
        return Err(format!(
            "spec.nextcloud.version {version}: {}",
            UNSUPPORTED_VERSION_MESSAGE.trim_start_matches("spec.nextcloud.version ")
        ));
    }
    Ok(parsed)
}

fn default_image() -> String {
    "registry.frama.space/framaspace/nextcloud".to_string()
}

/// Limits a space may ask for, and what it gets when it asks for nothing.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("quantity(self.defaultQuota).compareTo(quantity(self.maxQuota)) <= 0").message("limits.defaultQuota must not exceed limits.maxQuota"))]
#[x_kube(validation = Rule::new("self.defaultMaxAccounts <= self.maxAccounts").message("limits.defaultMaxAccounts must not exceed limits.maxAccounts"))]
#[x_kube(validation = Rule::new("quantity(self.defaultQuota).compareTo(quantity('1Mi')) >= 0").message("limits.defaultQuota must be at least 1Mi: a smaller quota rounds to none at all on the storage servers"))]
#[x_kube(validation = Rule::new("quantity(self.maxQuota).compareTo(quantity('1Pi')) <= 0").message("limits.maxQuota must be at most 1Pi"))]
pub struct SpaceLimits {
    /// Largest storage quota a space of the class may have (e.g. `50Gi`).
    #[schemars(length(max = 20), regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$"))]
    pub max_quota: String,
    /// Quota of a space that does not set `spec.quota` (e.g. `40Gi`).
    #[schemars(length(max = 20), regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$"))]
    pub default_quota: String,
    /// Largest account limit a space of the class may have.
    #[schemars(range(min = 1, max = 10000))]
    pub max_accounts: i32,
    /// Account limit of a space that does not set `spec.maxAccounts`.
    #[schemars(range(min = 1, max = 10000))]
    pub default_max_accounts: i32,
}

/// Where the pods of a space may run.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct NodePlacement {
    /// Node labels the pods require (default: `frama.space/node-pool: web`).
    #[serde(default = "default_web_selector")]
    // Values are checked by the schema (a CEL rule on them costs more than the API server allows).
    #[schemars(extend("maxProperties" = 16, "additionalProperties" = { "type": "string", "maxLength": 63, "pattern": "^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$" }))]
    #[x_kube(validation = Rule::new(LABEL_KEYS_RULE).message("placement.nodeSelector: each key must be a label key (an optional DNS prefix and /, then letters, digits, -, _ or .)"))]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the pods tolerate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
}

impl Default for NodePlacement {
    fn default() -> Self {
        NodePlacement { node_selector: default_web_selector(), tolerations: Vec::new() }
    }
}

fn default_web_selector() -> BTreeMap<String, String> {
    BTreeMap::from([(super::labels::NODE_POOL_LABEL.to_string(), "web".to_string())])
}

/// The scheme people reach the spaces with, whoever ends TLS (a per-space certificate from
/// `tlsIssuer`, the ingress controller's default wildcard certificate, or a load balancer in
/// front).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PublicScheme {
    #[default]
    Https,
    /// Only where nothing in front ends TLS (a test environment): sessions, links and
    /// login flows then travel in clear.
    Http,
}

impl PublicScheme {
    pub fn as_str(self) -> &'static str {
        match self {
            PublicScheme::Https => "https",
            PublicScheme::Http => "http",
        }
    }
}

/// How spaces are published.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.tlsIssuer) && has(self.publicScheme) && self.publicScheme == 'http')").message("spec.ingress.publicScheme: http with a tlsIssuer would send people to the scheme the certificate exists to replace"))]
#[x_kube(validation = Rule::new("!has(self.gateway) || (!has(self.className) && !has(self.tlsIssuer))").message("spec.ingress.gateway: with a Gateway, TLS ends at its listener and there is no IngressClass; className and tlsIssuer are Ingress settings"))]
pub struct IngressSettings {
    /// The scheme of every URL Nextcloud builds for the space (`overwriteprotocol`,
    /// `overwrite.cli.url`, so the links of its mails), independent of who ends TLS: `https` (the
    /// default) also when a wildcard certificate of the ingress controller or a load balancer
    /// ends it and no `tlsIssuer` is set. `overwriteprotocol` wins over the proxy's
    /// `X-Forwarded-Proto` (`OCP\IRequest::getServerProtocol`), and the session cookie is
    /// `Secure` only with https (`OC::initSession`).
    #[serde(default)]
    pub public_scheme: PublicScheme,
    /// IngressClass of the spaces' Ingress objects (cluster default when empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"))]
    pub class_name: Option<String>,
    /// cert-manager ClusterIssuer that signs the spaces' certificates; no TLS section when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"))]
    pub tls_issuer: Option<String>,
    /// Largest single upload (nginx `proxy-body-size`, and the image's Apache `LimitRequestBody`
    /// and PHP `upload_max_filesize`, so all three agree), e.g. `16G`. Chunked uploads of the
    /// clients are cut in smaller requests and are not bound by it.
    #[serde(default = "default_upload")]
    #[schemars(length(max = 10), regex(pattern = r"^[0-9]+[kKmMgG]?$"))]
    pub max_upload_size: String,
    /// Publish the spaces through Gateway API instead of Ingress: one HTTPRoute per space
    /// (`nextcloud` in its namespace) attached to this Gateway, whose listener (a wildcard
    /// `*.<baseDomain>` with its certificate) ends TLS. Setting or removing it moves the class's
    /// spaces from one to the other: the new route or Ingress is created first, and the old one is
    /// deleted only once the new one is taken (the Gateway reports the route `Accepted`; an
    /// Ingress has an address in its status), so a space is never left unreachable. The Gateway
    /// API CRDs must be installed before the operator starts (it looks for HTTPRoute once, at
    /// start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayParent>,
    /// Namespace of the ingress controller (with a Gateway: of its data plane, the proxies), the
    /// only one allowed to reach the spaces' pods.
    #[serde(default = "default_ingress_namespace")]
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub controller_namespace: String,
    /// Addresses (CIDRs) of the ingress controller's pods, whose `X-Forwarded-For` Nextcloud
    /// believes (its `trusted_proxies`), so each client is throttled by its own address.
    /// Default: the private ranges (10/8, 172.16/12, 192.168/16) and 100.64/10.
    #[serde(default = "default_trusted_proxies")]
    #[schemars(length(max = 32))]
    pub trusted_proxies: Vec<Cidr>,
}

/// The Gateway the spaces' HTTPRoutes attach to. The Gateway must allow routes from the spaces'
/// namespaces (`allowedRoutes.namespaces`, e.g. a selector on `app.kubernetes.io/managed-by:
/// framaspace-operator`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GatewayParent {
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"))]
    pub name: String,
    #[schemars(length(min = 1, max = 63), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"))]
    pub namespace: String,
    /// The listener of the Gateway (its `name`), when the route must attach to one only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"))]
    pub section_name: Option<String>,
}

/// An IPv4 or IPv6 network in CIDR notation.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(transparent)]
pub struct Cidr(#[schemars(length(min = 3, max = 43), regex(pattern = r"^[0-9a-fA-F.:]+/[0-9]{1,3}$"))] pub String);

fn default_trusted_proxies() -> Vec<Cidr> {
    ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"].into_iter().map(|c| Cidr(c.to_string())).collect()
}

impl Default for IngressSettings {
    fn default() -> Self {
        IngressSettings {
            public_scheme: PublicScheme::default(),
            class_name: None,
            tls_issuer: None,
            gateway: None,
            max_upload_size: default_upload(),
            controller_namespace: default_ingress_namespace(),
            trusted_proxies: default_trusted_proxies(),
        }
    }
}

fn default_upload() -> String {
    "16G".to_string()
}

fn default_ingress_namespace() -> String {
    "ingress-nginx".to_string()
}

/// The apps found in an image.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClassImageStatus {
    /// The image reference inspected (`image:tag`).
    pub reference: String,
    /// Every app of the image (shipped with the release and baked in), by id.
    #[serde(default)]
    pub apps: Vec<String>,
    /// The content the inspection ran (`sha256:...`, its pod's `imageID`): the spaces' pods and
    /// Jobs run `image:tag@digest`, so a tag pushed again never mixes two builds in one space.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// The digest of a container's `imageID` (`repo@sha256:<64 hex>`, or with a `docker-pullable://`
/// scheme): what the kubelet pulled.
pub fn image_digest(image_id: &str) -> Option<String> {
    let digest = image_id.rsplit_once('@')?.1;
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then(|| digest.to_ascii_lowercase())
}

/// Whether a space running `running` runs `wanted`: the same reference, or `wanted` pinned by a
/// digest and `running` its tag (a space installed before its class's image was inspected runs
/// the tag until its next upgrade; nothing is rolled out for the pin alone).
pub fn same_image(running: &str, wanted: &str) -> bool {
    running == wanted || wanted.split_once('@').is_some_and(|(tag, _)| running == tag)
}

/// Label keys as Kubernetes accepts them: an optional DNS subdomain prefix and `/`, then a name.
const LABEL_KEYS_RULE: &str = "self.all(k, size(k) <= 317 && k.matches('^([a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$'))";
/// Resource names of a ResourceQuota's `hard`: `pods`, `requests.cpu`, `count/jobs.batch`.
const RESOURCE_NAMES_RULE: &str = "self.all(k, size(k) <= 253 && k.matches('^[a-z0-9]([-a-z0-9_./]*[a-z0-9])?$'))";

/// The hosts of spaces of other classes that `domain` would sit under: for each other class's
/// base domain `D` that `domain` ends with, the label right under `D` (a space of that name would
/// be `<label>.D`, a parent domain of every space of the class: cookies, certificates). Reserved
/// names are never a space's host and are left out.
pub fn space_hosts_above<'a>(domain: &str, others: impl IntoIterator<Item = &'a str>) -> Vec<(&'a str, String)> {
    others
        .into_iter()
        .filter(|other| *other != domain)
        .filter_map(|other| {
            let prefix = domain.strip_suffix(other)?.strip_suffix('.')?;
            let label = prefix.rsplit('.').next()?;
            (!super::space::RESERVED_NAMES.contains(&label)).then(|| (other, label.to_string()))
        })
        .collect()
}

/// The class of `domain` sits under a space's host: the first such host that `served_at`
/// (name, host) says a space holds, as a message for the class's condition and its spaces.
pub fn under_space_host<'a>(
    domain: &str,
    others: impl IntoIterator<Item = &'a str>,
    served_at: impl Fn(&str, &str) -> bool,
) -> Option<String> {
    space_hosts_above(domain, others).into_iter().find(|(other, label)| served_at(label, &format!("{label}.{other}"))).map(|(other, label)| {
        format!(
            "spec.baseDomain {domain} is under {label}.{other}, the host of space {label}: its admins would hold a parent domain of every space here; the class's spaces are refused until it uses a domain outside {other}"
        )
    })
}

/// Whether a space's `host` is, or is a parent of, `domain`: its admins would hold every space there.
pub fn is_at_or_above(host: &str, domain: &str) -> bool {
    domain == host || domain.strip_suffix(host).is_some_and(|p| p.ends_with('.'))
}

/// The platform's own apps, baked into the space image from `images/nextcloud` and enabled in
/// every space whatever its class lists: `framaspace_quota` shows every account what is left of
/// the space's quota and stops uploads at it.
pub const PLATFORM_APPS: &[&str] = &["framaspace_quota"];

/// The apps behind the features Framaspace promises that Nextcloud does not ship: agendas
/// (calendar), contacts, Kanban (deck), the wiki (collectives, which needs Teams, `circles`, and
/// `text`, both shipped) and calls (spreed, Talk). Baked into the image by
/// `images/nextcloud/apps.lock`; a class that omits `spec.apps` gets them.
pub const PROMISED_APPS: &[&str] = &["calendar", "circles", "collectives", "contacts", "deck", "spreed", "text"];

fn promised_apps() -> Vec<AppId> {
    PROMISED_APPS.iter().map(|a| AppId(a.to_string())).collect()
}

impl SpaceClassSpec {
    /// Every app the operator enables in the class's spaces: the platform's and `spec.apps`,
    /// sorted (the order of the class's list changes no Job name).
    pub fn enabled_apps(&self) -> Vec<String> {
        let mut apps: Vec<String> = PLATFORM_APPS.iter().map(|a| a.to_string()).chain(self.apps.iter().map(|a| a.0.clone())).collect();
        apps.sort();
        apps.dedup();
        apps
    }
}

impl SpaceClass {
    /// The image its spaces run: `image:tag`, pinned by the digest its inspection read once it
    /// has (upstream review, upgrade #16: with `IfNotPresent`, a tag pushed again would run two
    /// builds side by side).
    pub fn pinned_reference(&self) -> String {
        let reference = self.spec.nextcloud.reference();
        match self.status.as_ref().and_then(|s| s.image.as_ref()).filter(|i| i.reference == reference).and_then(|i| i.digest.as_ref()) {
            Some(digest) => format!("{reference}@{digest}"),
            None => reference,
        }
    }

    /// The apps the class's spaces need that its current image is known not to carry; empty
    /// while the image is not inspected yet.
    pub fn apps_not_in_image(&self) -> Vec<String> {
        let reference = self.spec.nextcloud.reference();
        match self.status.as_ref().and_then(|s| s.image.as_ref()).filter(|i| i.reference == reference) {
            Some(image) => missing_apps(&self.spec, image),
            None => Vec::new(),
        }
    }
}

/// The apps of the class (the platform's and `spec.apps`) that `image` does not carry.
pub fn missing_apps(spec: &SpaceClassSpec, image: &ClassImageStatus) -> Vec<String> {
    spec.enabled_apps().into_iter().filter(|a| !image.apps.contains(a)).collect()
}

/// Observed state of a class.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpaceClassStatus {
    /// Number of spaces using the class.
    #[serde(default)]
    pub spaces: i64,
    /// What the class's image carries, read from the image itself by a Job of the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<ClassImageStatus>,
    /// Where the upgrade of the class's spaces to `spec.nextcloud.version` stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<super::rollout::RolloutStatus>,
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Conditions of the class.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_space_hosts_a_domain_would_sit_under_are_found() {
        let others = ["frama.space", "pro.example.org", "b.frama.space"];
        assert_eq!(space_hosts_above("velo.frama.space", others), [("frama.space", "velo".to_string())]);
        assert_eq!(
            space_hosts_above("a.b.frama.space", others),
            [("frama.space", "b".to_string()), ("b.frama.space", "a".to_string())],
            "deeper too, under each class it ends with"
        );
        assert!(space_hosts_above("office.frama.space", others).is_empty(), "a reserved name is never a space's host");
        assert!(space_hosts_above("frama.space", others).is_empty(), "its own domain is not another's");
        assert!(space_hosts_above("xframa.space", others).is_empty(), "a suffix of the text is not a parent domain");
        assert!(is_at_or_above("velo.frama.space", "velo.frama.space") && is_at_or_above("velo.frama.space", "a.velo.frama.space"));
        assert!(!is_at_or_above("velo.frama.space", "xvelo.frama.space"));
    }

    #[test]
    fn the_apps_enabled_are_the_platforms_and_the_class_list_sorted() {
        let mut spec = crate::render::resolve::tests::class("c", false).spec;
        spec.apps = vec![AppId("twofactor_totp".into()), AppId("calendar".into())];
        assert_eq!(spec.enabled_apps(), ["calendar", "framaspace_quota", "twofactor_totp"]);
        let image = ClassImageStatus { reference: "nc:33".into(), apps: vec!["calendar".into(), "twofactor_totp".into()], digest: None };
        assert_eq!(missing_apps(&spec, &image), ["framaspace_quota"], "an image without the platform's app lacks it");
    }

    #[test]
    fn a_class_pins_the_digest_its_inspection_read() {
        let mut class = crate::render::resolve::tests::class("c", false);
        let tag = class.spec.nextcloud.reference();
        assert_eq!(class.pinned_reference(), tag, "not inspected yet: the tag");
        let digest = format!("sha256:{}", "ab".repeat(32));
        let id = format!("registry.frama.space/framaspace/nextcloud@{digest}");
        assert_eq!(image_digest(&id).as_deref(), Some(digest.as_str()));
        assert_eq!(image_digest(&format!("docker-pullable://{id}")).as_deref(), Some(digest.as_str()));
        assert_eq!(image_digest("registry.frama.space/framaspace/nextcloud:33.0.7"), None);
        assert_eq!(image_digest(""), None, "a kubelet that reports none");
        assert_eq!(image_digest("x@sha256:abc"), None, "not a digest");
        let image = ClassImageStatus { reference: tag.clone(), apps: Vec::new(), digest: Some(digest.clone()) };
        class.status = Some(SpaceClassStatus { image: Some(image.clone()), ..Default::default() });
        let pinned = class.pinned_reference();
        assert_eq!(pinned, format!("{tag}@{digest}"));
        assert!(same_image(&pinned, &pinned) && same_image(&tag, &pinned), "a space on the tag is not rolled for the pin alone");
        assert!(!same_image(&format!("{tag}@sha256:{}", "cd".repeat(32)), &pinned), "another build of the tag is");
        assert!(!same_image("registry.frama.space/framaspace/nextcloud:33.0.8", &pinned));
        class.spec.nextcloud.version = "33.0.8".into();
        assert_eq!(class.pinned_reference(), class.spec.nextcloud.reference(), "a digest read for another tag pins nothing");
    }
}
