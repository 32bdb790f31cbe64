//! A space's bucket as the backup, restore and upgrade steps reach it: on its StoragePool, with
//! its own key (never an admin's: the space's key is limited to its bucket).

use crate::controller::Context;
use crate::provision::s3::SignedClient;
use crate::provision::{ProvisionError, System};

/// The space's bucket, on its StoragePool, and its own key: the snapshot is its object.
pub struct SnapshotStore<'a> {
    pub pool: &'a str,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
}

impl SnapshotStore<'_> {
    /// A client of the space's bucket with its own key, its writes through the gate.
    pub fn client(&self, ctx: &Context) -> Result<SignedClient, ProvisionError> {
        client_for(ctx, self.pool, &self.access_key, &self.secret_key)
    }
}

/// A client of a StoragePool with a space's key.
pub fn client_for(ctx: &Context, pool: &str, access_key: &str, secret_key: &str) -> Result<SignedClient, ProvisionError> {
    let pool = ctx.pools.storage_pool(pool).map_err(|e| ProvisionError::Failed {
        system: System::Minio,
        operation: "read the space's StoragePool",
        message: e.to_string(),
    })?;
    let system = match pool.spec.provider {
        crate::api::storage_pool::StorageProvider::Minio => System::Minio,
        crate::api::storage_pool::StorageProvider::Garage => System::Garage,
    };
    Ok(SignedClient::new(&pool.spec.endpoint, &pool.spec.region, access_key, secret_key, system)?.with_gate(ctx.gate.clone()))
}
