//! Names derived from a space's name, and the label sets built from them. One place, so every
//! module agrees. The label and annotation keys themselves are in `api::labels`.

use std::collections::BTreeMap;

use crate::api::labels::{FIELD_MANAGER, INSTANCE_LABEL, MANAGED_BY_LABEL, NAME_LABEL, PART_OF_LABEL, SPACE_LABEL};

pub const NEXTCLOUD: &str = "nextcloud";
/// The Service a sleeping space is published through (to the wake component).
pub const WAKE_SERVICE: &str = "nextcloud-wake";
pub const CREDENTIALS_SECRET: &str = "nextcloud-credentials";
pub const CONFIG_MAP: &str = "nextcloud-config";
/// The RoleBinding that lets the operator read and write the Secrets of a space's namespace.
pub const OPERATOR_ACCESS: &str = "framaspace-operator-secrets";
pub const TLS_SECRET: &str = "nextcloud-tls";
pub const RESOURCE_QUOTA: &str = "space-quota";
pub const LIMIT_RANGE: &str = "space-limits";

pub fn namespace(space: &str) -> String {
    format!("space-{space}")
}

pub fn host(space: &str, base_domain: &str) -> String {
    format!("{space}.{base_domain}")
}

/// Labels on every object the operator creates for a space: the selector its watches use, and
/// the way back from an object to its space.
pub fn labels(space: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_LABEL.to_string(), FIELD_MANAGER.to_string()),
        (PART_OF_LABEL.to_string(), "framaspace".to_string()),
        (SPACE_LABEL.to_string(), space.to_string()),
    ])
}

/// Labels that select the Nextcloud pods of a space (stable: a Deployment selector is immutable).
pub fn pod_selector(space: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(NAME_LABEL.to_string(), NEXTCLOUD.to_string()), (INSTANCE_LABEL.to_string(), space.to_string())])
}

pub fn pod_labels(space: &str) -> BTreeMap<String, String> {
    let mut l = labels(space);
    l.extend(pod_selector(space));
    l
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::space::MAX_NAME_LENGTH;

    #[test]
    fn longest_name_fits_every_derived_name() {
        let name = "a".repeat(MAX_NAME_LENGTH);
        assert!(namespace(&name).len() <= 63, "namespace is a DNS label");
        assert!(format!("space_{name}").len() <= 63, "PostgreSQL identifiers are at most 63 bytes");
        assert!(host(&name, "frama.space").split('.').all(|l| l.len() <= 63));
    }

    #[test]
    fn derived_names() {
        assert_eq!(namespace("mon-asso"), "space-mon-asso");
        assert_eq!(host("mon-asso", "frama.space"), "mon-asso.frama.space");
        assert_eq!(labels("x").get(SPACE_LABEL).map(String::as_str), Some("x"));
        assert!(pod_labels("x").contains_key("app.kubernetes.io/instance"));
    }
}
