//! Which space a request's host belongs to. The index is rebuilt from the component's own watch
//! only when that watch brought a change, so a flood of requests while spaces wake costs one map
//! lookup each, not a walk over every space.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kube::runtime::reflector::{ObjectRef, Store};

use crate::api::AssociationSpace;

/// The spaces by the host they are served at, as of one change of the watch.
#[derive(Default)]
pub struct HostIndex {
    /// The change of the watch the map was built at (0: never built).
    built_at: u64,
    by_host: HashMap<String, ObjectRef<AssociationSpace>>,
}

impl HostIndex {
    /// The space served at `host`, the map rebuilt first when the watch changed since it was
    /// built (`change`: the watch's change count).
    pub fn space_at(index: &Mutex<HostIndex>, spaces: &Store<AssociationSpace>, change: u64, host: &str) -> Option<Arc<AssociationSpace>> {
        let found = {
            // A poisoned lock only means another request panicked while rebuilding: rebuild again.
            let mut index = index.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if index.built_at != change {
                index.by_host = by_host(&spaces.state());
                index.built_at = change;
            }
            index.by_host.get(host).cloned()
        }?;
        spaces.get(&found)
    }
}

/// Every space that is served (it has a URL and is not being deleted), by its host.
pub fn by_host(spaces: &[Arc<AssociationSpace>]) -> HashMap<String, ObjectRef<AssociationSpace>> {
    spaces.iter().filter_map(|s| Some((s.served_host()?.to_string(), ObjectRef::from_obj(s.as_ref())))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::space::{AssociationSpaceSpec, AssociationSpaceStatus};

    fn space(name: &str, url: Option<&str>, deleting: bool) -> Arc<AssociationSpace> {
        let spec: AssociationSpaceSpec = serde_json::from_value(serde_json::json!({
            "displayName": name, "contactEmail": format!("admin@{name}.example")
        }))
        .unwrap_or_else(|e| panic!("spec: {e}"));
        let mut s = AssociationSpace::new(name, spec);
        s.status = Some(AssociationSpaceStatus { url: url.map(String::from), ..AssociationSpaceStatus::default() });
        if deleting {
            s.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH));
        }
        Arc::new(s)
    }

    #[test]
    fn a_host_names_the_space_served_there_and_no_other() {
        let spaces = [
            space("velo", Some("https://velo.frama.space"), false),
            space("jardins", Some("http://jardins.frama.space"), false),
            space("unplaced", None, false),
            space("gone", Some("https://gone.frama.space"), true),
        ];
        let index = by_host(&spaces);
        let names: Vec<_> = ["velo.frama.space", "jardins.frama.space", "gone.frama.space", "frama.space"]
            .iter()
            .map(|h| index.get(*h).map(|r| r.name.clone()))
            .collect();
        assert_eq!(names, [Some("velo".to_string()), Some("jardins".to_string()), None, None]);
        assert_eq!(index.len(), 2, "a space without a URL or being deleted is served nowhere");
    }
}
