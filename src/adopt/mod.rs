//! `framaspace-operator adopt`: existing Nextcloud instances, from their `config.php` (or `occ
//! config:list system --private`) and an optional CSV of what they lack, turned into the
//! AssociationSpace manifests and adoption Secrets to apply, each space in `policy: Observe`.
//! Whatever cannot be mapped is refused with its reasons; the others are still written, so a
//! wave goes ahead without its refused instances.

pub mod instance;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::json;

use self::instance::{InstanceConfig, Unmappable};
use crate::api::labels::{ADOPTION_PURPOSE, ADOPTION_WAVE_LABEL, PURPOSE_LABEL, SPACE_LABEL};
use crate::api::space::{MAX_NAME_LENGTH, RESERVED_NAMES};

/// What the command is given.
pub struct Inventory {
    pub files: Vec<PathBuf>,
    /// Columns `host` (or `name`), `contact_email`, and optionally `class`, `display_name`,
    /// `quota`, `max_accounts`, `wave`.
    pub csv: Option<PathBuf>,
    /// `dbhost[:port]` → DatabasePool.
    pub database_pools: BTreeMap<String, String>,
    /// Object store `hostname[:port]` → StoragePool.
    pub storage_pools: BTreeMap<String, String>,
    /// The operator's namespace, where the adoption Secrets go.
    pub namespace: String,
    /// The class of the spaces the CSV gives none (none: the default class).
    pub class: Option<String>,
}

/// A CSV row: what config.php does not say.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct Extra {
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub contact_email: Option<String>,
    #[serde(default)]
    pub class: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub quota: Option<String>,
    #[serde(default)]
    pub max_accounts: Option<i32>,
    /// The adoption wave the space belongs to (label `frama.space/adoption-wave`, default `1`).
    #[serde(default)]
    pub wave: Option<String>,
}

/// One instance mapped: its space's name and the two manifests.
pub struct Mapped {
    pub name: String,
    pub source: PathBuf,
    pub yaml: String,
}

/// The outcome: the mapped instances and the refused ones (file, reasons).
#[derive(Default)]
pub struct Outcome {
    pub mapped: Vec<Mapped>,
    pub refused: Vec<(PathBuf, String)>,
}

/// `HOST[:PORT]=POOL` arguments as a map.
pub fn pool_map(args: &[String]) -> Result<BTreeMap<String, String>, String> {
    args.iter()
        .map(|a| a.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())).ok_or_else(|| format!("{a:?} is not HOST[:PORT]=POOL")))
        .collect()
}

fn read_csv(path: &Path) -> Result<Vec<Extra>, String> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    reader.deserialize().map(|r| r.map_err(|e| format!("{}: {e}", path.display()))).collect()
}

/// Whether the API server would take `name` as a space's name (the CRD's rules).
fn valid_name(name: &str) -> Result<(), String> {
    let label = name.len() <= MAX_NAME_LENGTH
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && !name.ends_with('-')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !label {
        return Err(format!(
            "{name:?} is not a space name (a DNS label of at most {MAX_NAME_LENGTH} characters that starts with a letter): give one in the CSV's name column"
        ));
    }
    if RESERVED_NAMES.contains(&name) || name.starts_with("xn--") {
        return Err(format!("{name:?} is reserved for a platform host: give another in the CSV's name column"));
    }
    Ok(())
}

fn pool_for(map: &BTreeMap<String, String>, endpoint: &str, default_port: &str, what: &str) -> Result<String, String> {
    let host = endpoint.rsplit_once(':').map_or(endpoint, |(h, _)| h);
    map.get(endpoint).or_else(|| map.get(host).filter(|_| endpoint.ends_with(&format!(":{default_port}")))).cloned().ok_or_else(|| {
        format!("no {what} is given for {endpoint}: add --{}-pool {endpoint}=<pool>", what.split(' ').next().unwrap_or(what))
    })
}

/// Maps one instance to its manifests.
fn manifests(inv: &Inventory, c: &InstanceConfig, extra: Option<&Extra>) -> Result<(String, String), String> {
    let name = match extra.and_then(|e| e.name.clone()) {
        Some(n) => n,
        None => c.host.split('.').next().unwrap_or_default().to_string(),
    };
    valid_name(&name)?;
    let mut problems = Vec::new();
    let database_pool = pool_for(&inv.database_pools, &c.db_endpoint, "5432", "database pool").map_err(|e| problems.push(e)).ok();
    let storage_pool = pool_for(&inv.storage_pools, &c.s3_endpoint, "443", "storage pool").map_err(|e| problems.push(e)).ok();
    let contact = extra.and_then(|e| e.contact_email.clone()).filter(|m| m.contains('@'));
    if contact.is_none() {
        problems.push(format!("no contact e-mail for {}: add a row with its host and contact_email to the CSV", c.host));
    }
    if !problems.is_empty() {
        return Err(problems.join("; "));
    }
    let secret_name = format!("adopt-{name}");
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": secret_name,
            "namespace": inv.namespace,
            "labels": { PURPOSE_LABEL: ADOPTION_PURPOSE },
            "annotations": { SPACE_LABEL: name },
        },
        "type": "Opaque",
        "stringData": {
            "instanceid": c.instance_id,
            "secret": c.secret,
            "passwordsalt": c.password_salt,
            "dbpassword": c.db_password,
            "objectstore-key": c.s3_key,
            "objectstore-secret": c.s3_secret,
        },
    });
    let mut spec = json!({
        "displayName": extra.and_then(|e| e.display_name.clone()).unwrap_or_else(|| name.clone()),
        "contactEmail": contact,
        "adoption": {
            "policy": "Observe",
            "database": { "pool": database_pool, "name": c.db_name, "role": c.db_user },
            "bucket": { "pool": storage_pool, "name": c.bucket },
            "secretName": secret_name,
            "version": c.version,
            "host": c.host,
        },
    });
    if let Some(class) = extra.and_then(|e| e.class.clone()).or_else(|| inv.class.clone()) {
        spec["spaceClassName"] = json!(class);
    }
    if let Some(q) = extra.and_then(|e| e.quota.clone()) {
        spec["quota"] = json!(q);
    }
    if let Some(m) = extra.and_then(|e| e.max_accounts) {
        spec["maxAccounts"] = json!(m);
    }
    let space = json!({
        "apiVersion": "frama.space/v1alpha1",
        "kind": "AssociationSpace",
        "metadata": { "name": name, "labels": { ADOPTION_WAVE_LABEL: extra.and_then(|e| e.wave.clone()).unwrap_or_else(|| "1".into()) } },
        "spec": spec,
    });
    let yaml = |v: &serde_json::Value| serde_yaml_ng::to_string(v).map_err(|e| format!("cannot write YAML: {e}"));
    Ok((name, format!("---\n{}---\n{}", yaml(&secret)?, yaml(&space)?)))
}

/// Maps every file of the inventory.
pub fn run(inv: &Inventory) -> Result<Outcome, String> {
    let extras = match &inv.csv {
        Some(p) => read_csv(p)?,
        None => Vec::new(),
    };
    let mut outcome = Outcome::default();
    let mut seen: BTreeMap<String, PathBuf> = BTreeMap::new();
    for file in &inv.files {
        let refuse = |why: String| (file.clone(), why);
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) => {
                outcome.refused.push(refuse(format!("cannot read it: {e}")));
                continue;
            }
        };
        let config = match instance::parse(&text).and_then(|v| instance::map(&v)) {
            Ok(c) => c,
            Err(Unmappable(why)) => {
                outcome.refused.push(refuse(why));
                continue;
            }
        };
        // Two instances on one database or bucket would each take the other's data.
        let keys = [
            format!("database {} on {}", config.db_name, config.db_endpoint),
            format!("bucket {} on {}", config.bucket, config.s3_endpoint),
        ];
        if let Some((key, other)) = keys.iter().find_map(|k| seen.get(k).map(|o| (k, o))) {
            outcome.refused.push(refuse(format!("its {key} is also {}'s: adopt at most one of them", other.display())));
            continue;
        }
        let label = config.host.split('.').next().unwrap_or_default();
        let extra = extras.iter().find(|e| e.host.as_deref() == Some(config.host.as_str()) || e.name.as_deref() == Some(label));
        match manifests(inv, &config, extra) {
            Ok((name, yaml)) => {
                if outcome.mapped.iter().any(|m| m.name == name) {
                    outcome.refused.push(refuse(format!("space name {name} is already another instance's: give one a name in the CSV")));
                    continue;
                }
                for k in keys {
                    seen.insert(k, file.clone());
                }
                outcome.mapped.push(Mapped { name, source: file.clone(), yaml });
            }
            Err(why) => outcome.refused.push(refuse(why)),
        }
    }
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_crd_rules() {
        assert!(valid_name("asso-1").is_ok());
        assert!(valid_name("1asso").is_err());
        assert!(valid_name("www").is_err());
        assert!(valid_name(&"a".repeat(41)).is_err());
    }

    #[test]
    fn pools_are_found_by_endpoint_or_by_host_on_the_default_port() {
        let m = pool_map(&["pg.internal=pg-1".into(), "pg2:5433=pg-2".into()]).expect("parses");
        assert_eq!(pool_for(&m, "pg.internal:5432", "5432", "database pool"), Ok("pg-1".into()));
        assert_eq!(pool_for(&m, "pg2:5433", "5432", "database pool"), Ok("pg-2".into()));
        let e = pool_for(&m, "pg.internal:6000", "5432", "database pool").expect_err("no pool");
        assert!(e.contains("--database-pool pg.internal:6000=<pool>"), "{e}");
        assert!(pool_map(&["nope".into()]).is_err());
    }
}
