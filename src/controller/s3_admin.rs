//! A pool's S3 store, MinIO or Garage, behind the calls the operator makes, each bounded and at
//! most `maxConcurrentOperations` of them at once.

use tokio::sync::Semaphore;

use crate::provision::garage::GarageAdmin;
use crate::provision::minio::{Bucket, MinioAdmin};
use crate::provision::{BucketFacts, OPERATION_BOUND, ProvisionError, StorageUsage, System, Writes, bounded};

/// Either S3 provider, behind the calls the operator makes, at most `maxConcurrentOperations`
/// of them at once per store.
pub struct S3Admin {
    provider: S3Provider,
    limit: Semaphore,
}

pub enum S3Provider {
    Minio(MinioAdmin),
    Garage(GarageAdmin),
}

/// The same call on whichever store the pool has.
macro_rules! either {
    ($admin:expr, $a:ident => $call:expr) => {
        match &$admin.provider {
            S3Provider::Minio($a) => $call,
            S3Provider::Garage($a) => $call,
        }
    };
}

impl S3Admin {
    /// `limit`: at most this many operations at once (at least one).
    pub fn new(provider: S3Provider, limit: usize) -> Self {
        S3Admin { provider, limit: Semaphore::new(limit.max(1)) }
    }
    async fn permit(&self) -> Result<tokio::sync::SemaphorePermit<'_>, ProvisionError> {
        self.limit.acquire().await.map_err(|_| ProvisionError::Unreachable { system: self.system(), message: "shutting down".into() })
    }
    fn system(&self) -> System {
        match &self.provider {
            S3Provider::Minio(_) => System::Minio,
            S3Provider::Garage(_) => System::Garage,
        }
    }
    pub async fn server_version(&self) -> Result<String, ProvisionError> {
        let _p = self.permit().await?;
        bounded(self.system(), OPERATION_BOUND, async { either!(self, a => a.server_version().await) }).await
    }
    pub async fn ensure(&self, b: &Bucket<'_>) -> Result<Writes, ProvisionError> {
        let _p = self.permit().await?;
        bounded(self.system(), OPERATION_BOUND, async { either!(self, a => a.ensure(b).await) }).await
    }
    pub async fn revoke(&self, b: &Bucket<'_>) -> Result<Writes, ProvisionError> {
        let _p = self.permit().await?;
        bounded(self.system(), OPERATION_BOUND, async { either!(self, a => a.revoke(b).await) }).await
    }
    /// A space's bucket on this store (of purpose `Backups`), created and marked if missing, and
    /// the operator's client for it.
    pub async fn backup_bucket(&self, bucket: &str) -> Result<(Writes, crate::provision::s3::SignedClient), ProvisionError> {
        let _p = self.permit().await?;
        bounded(self.system(), OPERATION_BOUND, async { either!(self, a => a.ensure_backup_bucket(bucket).await) }).await
    }
    /// One object of the space's bucket removed with the space's own key.
    pub async fn remove_object(&self, b: &Bucket<'_>, key: &str) -> Result<u32, ProvisionError> {
        let _p = self.permit().await?;
        bounded(self.system(), OPERATION_BOUND, async { either!(self, a => a.remove_object(b, key).await) }).await
    }
    /// Garage: what its admin token's scope lacks. MinIO: its `info` call (`server_version`)
    /// already needs an admin key.
    pub async fn cannot_provision(&self) -> Result<Option<String>, ProvisionError> {
        let _p = self.permit().await?;
        match &self.provider {
            S3Provider::Minio(_) => Ok(None),
            S3Provider::Garage(a) => bounded(self.system(), OPERATION_BOUND, a.cannot_provision()).await,
        }
    }
    /// Not bounded as a whole either: a MinIO bucket is measured by listing it, one request per
    /// 1000 objects, each bounded.
    pub async fn measure(&self, b: &Bucket<'_>) -> Result<StorageUsage, ProvisionError> {
        let _p = self.permit().await?;
        match &self.provider {
            S3Provider::Minio(a) => a.measure(b).await,
            S3Provider::Garage(a) => bounded(self.system(), OPERATION_BOUND, a.measure(b)).await,
        }
    }
    /// A read-only look at a bucket (an adopted one); a MinIO listing is bounded per request.
    pub async fn inspect(&self, b: &Bucket<'_>) -> Result<BucketFacts, ProvisionError> {
        let _p = self.permit().await?;
        match &self.provider {
            S3Provider::Minio(a) => a.inspect(b).await,
            S3Provider::Garage(a) => bounded(self.system(), OPERATION_BOUND, a.inspect(b)).await,
        }
    }
    /// Not bounded as a whole: emptying a large bucket takes many requests, each bounded, and a
    /// Delete cut short resumes where it stopped.
    pub async fn delete(&self, b: &Bucket<'_>) -> Result<Writes, ProvisionError> {
        let _p = self.permit().await?;
        either!(self, a => a.delete(b).await)
    }
}
