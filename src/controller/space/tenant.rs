//! A space's names in the systems that hold its data: derived from its name, or, for an adopted
//! instance, the database, role and bucket it already has.

use crate::api::StoragePool;
use crate::api::adoption::Adoption;
use crate::provision::TenantNames;

/// The space's bucket: `<bucketPrefix><name>`, or the one it adopts.
pub fn bucket_name(pool: &StoragePool, space: &str, adoption: Option<&Adoption>) -> String {
    match adoption {
        Some(a) => a.bucket.name.clone(),
        None => format!("{}{space}", pool.spec.bucket_prefix),
    }
}

/// The space's role, database and cache names: derived from its name, or the role and database
/// it adopts.
pub fn tenant_names(space: &str, adoption: Option<&Adoption>) -> TenantNames {
    match adoption {
        Some(a) => TenantNames::adopted(space, &a.database.role, &a.database.name),
        None => TenantNames::new(space),
    }
}
