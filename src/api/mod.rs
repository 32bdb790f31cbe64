//! The `frama.space/v1alpha1` API: one module per kind, plus the pieces they share.

// `#[kube(printcolumn(..), printcolumn(..))]` repeats `type_ = ...` by design; clippy reads the
// derive's arguments as duplicated attributes.
#![allow(clippy::duplicated_attributes)]

pub mod admission;
pub mod adoption;
pub mod backend;
pub mod backup;
pub mod cache_pool;
pub mod class;
pub mod conditions;
pub mod database_pool;
pub mod gateway;
pub mod labels;
pub mod nextcloud;
pub mod office_backend;
pub mod pool;
pub mod preview_backend;
pub mod quantity;
pub mod restore;
pub mod rollout;
pub mod sleep;
pub mod space;
pub mod talk_backend;

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::CustomResourceExt;

pub use cache_pool::CachePool;
pub use class::SpaceClass;
pub use database_pool::DatabasePool;
pub use office_backend::OfficeBackend;
pub use preview_backend::PreviewBackend;
pub use restore::SpaceRestore;
pub use space::AssociationSpace;
pub use storage_pool::StoragePool;
pub use talk_backend::TalkBackend;

pub mod storage_pool;

pub const GROUP: &str = "frama.space";

/// Every CRD of the API with the file name it is written to under `crds/`.
pub fn crds() -> Vec<(&'static str, CustomResourceDefinition)> {
    vec![
        ("associationspace", AssociationSpace::crd()),
        ("spaceclass", SpaceClass::crd()),
        ("databasepool", DatabasePool::crd()),
        ("cachepool", CachePool::crd()),
        ("storagepool", StoragePool::crd()),
        ("officebackend", OfficeBackend::crd()),
        ("previewbackend", PreviewBackend::crd()),
        ("talkbackend", TalkBackend::crd()),
        ("spacerestore", SpaceRestore::crd()),
    ]
}
