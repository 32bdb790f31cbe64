//! One way to write the status of every kind: a server-side apply of the status subresource with
//! the operator's field manager, through the write gate, and only when it differs from the stored
//! one (a no-op resync writes nothing).

use std::fmt::Debug;

use kube::api::{Patch, PatchParams};
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::api::labels::FIELD_MANAGER;
use crate::error::{Error, Result};
use crate::gate::{KUBERNETES, WriteGate};

/// Writes `desired` as the status of `object` unless `current` already equals it. Returns the
/// object the API server answered with, or `None` when nothing was written.
pub async fn write_status<K, S>(client: &Client, gate: &WriteGate, object: &K, current: Option<&S>, desired: &S) -> Result<Option<K>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug,
    S: Serialize + PartialEq,
{
    if current == Some(desired) {
        return Ok(None);
    }
    gate.allow(KUBERNETES)?;
    let patch = json!({ "apiVersion": K::api_version(&()), "kind": K::kind(&()), "status": desired });
    let written = Api::<K>::all(client.clone())
        .patch_status(&object.name_any(), &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
        .await
        .map_err(Error::from)?;
    Ok(Some(written))
}
