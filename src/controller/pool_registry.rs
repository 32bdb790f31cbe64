//! The admin clients of every pool (PoolRegistry): built from a pool's spec and its admin Secret,
//! only toward the servers the Secret is bound to, rebuilt when either changes; the pools' CAs.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::runtime::reflector::{ObjectRef, Store};
use tokio::sync::Mutex;

use super::s3_admin::{S3Admin, S3Provider};
use crate::api::pool::CaSecretRef;
use crate::api::storage_pool::StorageProvider;
use crate::api::{CachePool, DatabasePool, StoragePool};
use crate::error::{Error, Result};
use crate::gate::WriteGate;
use crate::provision::ProvisionError;
use crate::provision::cache::CacheAdmin;
use crate::provision::garage::GarageAdmin;
use crate::provision::minio::MinioAdmin;
use crate::provision::postgres::{PgAdmin, PgTarget};
use crate::provision::redis::{RedisAdmin, RedisTarget};
use crate::provision::redis_cluster::ClusterAdmin;

type Cached<T> = Mutex<HashMap<String, (String, Arc<T>)>>;

pub struct PoolRegistry {
    pub namespace: String,
    /// Handed to every admin client: their writes ask it first.
    gate: WriteGate,
    pub databases: Store<DatabasePool>,
    pub caches: Store<CachePool>,
    pub storages: Store<StoragePool>,
    admin_secrets: Store<Secret>,
    pg: Cached<PgAdmin>,
    redis: Cached<CacheAdmin>,
    s3: Cached<S3Admin>,
    /// The certificates taken from each CA Secret key, by the Secret's version: every space's
    /// bindings ask for its pools' CAs at each reconcile, and parsing them is done once.
    cas: std::sync::Mutex<HashMap<(String, String), (String, String)>>,
}

pub(crate) fn pool_error(kind: &'static str, name: &str, message: impl Into<String>) -> Error {
    Error::Pool { kind, name: name.to_string(), message: message.into() }
}

impl PoolRegistry {
    pub fn new(
        namespace: String,
        databases: Store<DatabasePool>,
        caches: Store<CachePool>,
        storages: Store<StoragePool>,
        admin_secrets: Store<Secret>,
        gate: WriteGate,
    ) -> Self {
        PoolRegistry {
            namespace,
            gate,
            databases,
            caches,
            storages,
            admin_secrets,
            pg: Mutex::default(),
            redis: Mutex::default(),
            s3: Mutex::default(),
            cas: std::sync::Mutex::default(),
        }
    }

    /// A Secret of the operator's namespace, from the cache.
    pub fn operator_secret(&self, name: &str) -> Option<Arc<Secret>> {
        self.admin_secrets.get(&ObjectRef::new(name).within(&self.namespace))
    }

    /// The username and password of a class's mail Secret: only a Secret labelled
    /// `frama.space/purpose: smtp-credentials` and named by no pool as its admin Secret (whoever
    /// may edit a class must not have the operator copy a pool's admin credentials into every
    /// space and send them to an SMTP host of their choice: hostile pass 2, F1).
    pub fn mail_secret(&self, name: &str) -> std::result::Result<(Vec<u8>, Vec<u8>), String> {
        use crate::api::labels::{PURPOSE_LABEL, SMTP_PURPOSE};
        let ns = &self.namespace;
        let s = self.operator_secret(name).ok_or_else(|| format!("Secret {ns}/{name} not found"))?;
        if s.labels().get(PURPOSE_LABEL).map(String::as_str) != Some(SMTP_PURPOSE) {
            return Err(format!("Secret {ns}/{name} is not labelled {PURPOSE_LABEL}={SMTP_PURPOSE}: nothing of it is copied"));
        }
        let pools = self.databases.state().into_iter().map(|p| ("DatabasePool", p.name_any(), p.spec.admin_secret_ref.name.clone()));
        let pools = pools
            .chain(self.caches.state().into_iter().map(|p| ("CachePool", p.name_any(), p.spec.admin_secret_ref.name.clone())))
            .chain(self.storages.state().into_iter().map(|p| ("StoragePool", p.name_any(), p.spec.admin_secret_ref.name.clone())));
        if let Some((kind, pool, _)) = pools.into_iter().find(|(_, _, secret)| secret == name) {
            return Err(format!("Secret {ns}/{name} is the admin Secret of {kind} {pool}: nothing of it is copied"));
        }
        let data = s.data.as_ref().ok_or_else(|| format!("Secret {ns}/{name} is empty"))?;
        match (data.get("username"), data.get("password")) {
            (Some(u), Some(p)) => Ok((u.0.clone(), p.0.clone())),
            _ => Err(format!("Secret {ns}/{name} lacks the key username or password")),
        }
    }

    /// A key of a pool's admin Secret, and the Secret's version (to rebuild clients on rotation).
    /// A value of a pool's admin Secret, only when the Secret is bound to the server the pool
    /// would send it to (and to the pool, when it names pools): hostile pass 2, F2.
    fn admin_value(&self, kind: &'static str, pool: &str, endpoint: &str, secret: &str, key: &str) -> Result<(String, String)> {
        let s = self
            .admin_secrets
            .get(&ObjectRef::new(secret).within(&self.namespace))
            .ok_or_else(|| pool_error(kind, pool, format!("admin Secret {}/{secret} not found", self.namespace)))?;
        super::admin_binding::admin_secret_bound(s.annotations(), kind, pool, endpoint)
            .map_err(|why| pool_error(kind, pool, format!("admin Secret {}/{secret} {why}", self.namespace)))?;
        let value = s
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
            .ok_or_else(|| pool_error(kind, pool, format!("admin Secret {}/{secret} has no key {key:?}", self.namespace)))?;
        Ok((value, s.resource_version().unwrap_or_default()))
    }

    /// The certificates of a pool's CA Secret (only those: `provision::tls::certificates_only`)
    /// and the Secret's version.
    fn ca_value(&self, kind: &'static str, pool: &str, r: &CaSecretRef) -> Result<(String, String)> {
        let s = self
            .admin_secrets
            .get(&ObjectRef::new(&r.name).within(&self.namespace))
            .ok_or_else(|| pool_error(kind, pool, format!("CA Secret {}/{} not found", self.namespace, r.name)))?;
        let version = s.resource_version().unwrap_or_default();
        let slot = (r.name.clone(), r.key.clone());
        if let Some((pem, _)) = self.cas.lock().ok().and_then(|c| c.get(&slot).filter(|(_, v)| *v == version).cloned()) {
            return Ok((pem, version));
        }
        let raw = s
            .data
            .as_ref()
            .and_then(|d| d.get(&r.key))
            .ok_or_else(|| pool_error(kind, pool, format!("CA Secret {}/{} has no key {:?}", self.namespace, r.name, r.key)))?;
        let pem = crate::provision::tls::certificates_only(&raw.0)
            .map_err(|e| pool_error(kind, pool, format!("key {:?} of CA Secret {}/{} {e}", r.key, self.namespace, r.name)))?;
        if let Ok(mut c) = self.cas.lock() {
            c.insert(slot, (pem.clone(), version.clone()));
        }
        Ok((pem, version))
    }

    /// The CA a DatabasePool's clients trust, if it names one that holds certificates.
    pub fn database_ca(&self, pool: &DatabasePool) -> Option<String> {
        let r = pool.spec.ca_secret_ref.as_ref()?;
        self.ca_value("DatabasePool", &pool.name_any(), r).ok().map(|(pem, _)| pem)
    }

    /// The CA a CachePool's clients trust, if it names one that holds certificates.
    pub fn cache_ca(&self, pool: &CachePool) -> Option<String> {
        let r = pool.spec.ca_secret_ref.as_ref()?;
        self.ca_value("CachePool", &pool.name_any(), r).ok().map(|(pem, _)| pem)
    }

    async fn cached<T, F>(cache: &Cached<T>, name: &str, fingerprint: String, build: F) -> Result<Arc<T>>
    where
        F: AsyncFnOnce() -> Result<T, ProvisionError>,
    {
        let mut map = cache.lock().await;
        if let Some((fp, client)) = map.get(name)
            && *fp == fingerprint
        {
            return Ok(client.clone());
        }
        let client = Arc::new(build().await?);
        map.insert(name.to_string(), (fingerprint, client.clone()));
        Ok(client)
    }

    /// Waits until the pools' admin Secrets are cached (a pool checked earlier would look
    /// misconfigured). Only one task may wait (see `runtime::caches_ready`); the pools themselves
    /// are awaited through their shared watch.
    pub async fn wait_until_secrets_ready(&self) {
        let _ = self.admin_secrets.wait_until_ready().await;
    }

    pub fn database_pool(&self, name: &str) -> Result<Arc<DatabasePool>> {
        self.databases.get(&ObjectRef::new(name)).ok_or_else(|| pool_error("DatabasePool", name, "not found"))
    }
    pub fn cache_pool(&self, name: &str) -> Result<Arc<CachePool>> {
        self.caches.get(&ObjectRef::new(name)).ok_or_else(|| pool_error("CachePool", name, "not found"))
    }
    pub fn storage_pool(&self, name: &str) -> Result<Arc<StoragePool>> {
        self.storages.get(&ObjectRef::new(name)).ok_or_else(|| pool_error("StoragePool", name, "not found"))
    }

    pub async fn postgres(&self, name: &str) -> Result<Arc<PgAdmin>> {
        let pool = self.database_pool(name)?;
        let s = &pool.spec;
        let endpoint = super::admin_binding::host_port(&s.host, s.port);
        let (user, _) = self.admin_value("DatabasePool", name, &endpoint, &s.admin_secret_ref.name, "username")?;
        let (password, version) = self.admin_value("DatabasePool", name, &endpoint, &s.admin_secret_ref.name, "password")?;
        let ca = s.ca_secret_ref.as_ref().map(|r| self.ca_value("DatabasePool", name, r)).transpose()?;
        let fingerprint =
            format!("{}/{version}/{}", pool.metadata.generation.unwrap_or_default(), ca.as_ref().map(|(_, v)| v.as_str()).unwrap_or(""));
        let target = PgTarget {
            host: s.host.clone(),
            port: u16::try_from(s.port).unwrap_or(5432),
            username: user,
            password,
            ssl_mode: s.ssl_mode,
            isolation: s.isolation,
            shared_database: s.shared_database.clone(),
            max_connections: u32::try_from(s.max_concurrent_operations.unwrap_or(4)).unwrap_or(4),
            ca: ca.map(|(pem, _)| pem),
            tenant_connections: u32::try_from(s.tenant_connection_limit).unwrap_or(10),
        };
        let gate = self.gate.clone();
        Self::cached(&self.pg, name, fingerprint, async || Ok(PgAdmin::connect(target).await?.with_gate(gate))).await
    }

    pub async fn redis(&self, name: &str) -> Result<Arc<CacheAdmin>> {
        let pool = self.cache_pool(name)?;
        let s = &pool.spec;
        let endpoint = super::admin_binding::host_port(&s.host, s.port);
        let secret = &s.admin_secret_ref.name;
        let (user, _) = self.admin_value("CachePool", name, &endpoint, secret, "username")?;
        let (password, version) = self.admin_value("CachePool", name, &endpoint, secret, "password")?;
        let ca = s.ca_secret_ref.as_ref().map(|r| self.ca_value("CachePool", name, r)).transpose()?;
        let fingerprint =
            format!("{}/{version}/{}", pool.metadata.generation.unwrap_or_default(), ca.as_ref().map(|(_, v)| v.as_str()).unwrap_or(""));
        let target = RedisTarget {
            host: s.host.clone(),
            port: u16::try_from(s.port).unwrap_or(6379),
            tls: s.tls,
            username: user,
            password,
            max_concurrent: usize::try_from(s.max_concurrent_operations.unwrap_or(8)).unwrap_or(8),
            ca: ca.map(|(pem, _)| pem),
        };
        let gate = self.gate.clone();
        if s.cluster.is_some() {
            // Every node is contacted only when the admin Secret lists it, as the seed is.
            let annotations = self
                .admin_secrets
                .get(&ObjectRef::new(secret).within(&self.namespace))
                .map(|s| s.annotations().clone())
                .unwrap_or_default();
            let pool_name = name.to_string();
            let namespace = self.namespace.clone();
            let secret = secret.clone();
            let may_contact: crate::provision::redis_cluster::MayContact = Arc::new(move |address: &str| {
                let endpoint = address.rsplit_once(':').map(|(h, p)| super::admin_binding::host_port(h, p.parse().unwrap_or(0)));
                super::admin_binding::admin_secret_bound(&annotations, "CachePool", &pool_name, &endpoint.unwrap_or_default())
                    .map_err(|why| format!("admin Secret {namespace}/{secret} {why}"))
            });
            let seeds = s.seeds();
            return Self::cached(&self.redis, name, fingerprint, async || {
                Ok(CacheAdmin::Cluster(ClusterAdmin::new(seeds, target, may_contact).with_gate(gate)))
            })
            .await;
        }
        Self::cached(&self.redis, name, fingerprint, async || Ok(CacheAdmin::Server(RedisAdmin::connect(&target).await?.with_gate(gate))))
            .await
    }

    pub async fn s3(&self, name: &str) -> Result<Arc<S3Admin>> {
        let pool = self.storage_pool(name)?;
        let s = &pool.spec;
        let admin_endpoint = s.admin_endpoint.clone().unwrap_or_else(|| s.endpoint.clone());
        let endpoint = super::admin_binding::url_host_port(&admin_endpoint)
            .ok_or_else(|| pool_error("StoragePool", name, "its admin endpoint has no host"))?;
        let (fingerprint, admin) = match s.provider {
            StorageProvider::Minio => {
                let (access, _) = self.admin_value("StoragePool", name, &endpoint, &s.admin_secret_ref.name, "accessKey")?;
                let (secret, version) = self.admin_value("StoragePool", name, &endpoint, &s.admin_secret_ref.name, "secretKey")?;
                let fp = format!("{}/{version}", pool.metadata.generation.unwrap_or_default());
                (
                    fp,
                    MinioAdmin::new(&admin_endpoint, &s.region, &access, &secret)
                        .map(|a| S3Provider::Minio(a.with_gate(self.gate.clone()))),
                )
            }
            StorageProvider::Garage => {
                let (token, version) = self.admin_value("StoragePool", name, &endpoint, &s.admin_secret_ref.name, "token")?;
                let fp = format!("{}/{version}", pool.metadata.generation.unwrap_or_default());
                (
                    fp,
                    GarageAdmin::new(&admin_endpoint, &token, &s.endpoint, &s.region)
                        .map(|a| S3Provider::Garage(a.with_gate(self.gate.clone()))),
                )
            }
        };
        let limit = usize::try_from(s.max_concurrent_operations.unwrap_or(4)).unwrap_or(4).max(1);
        Self::cached(&self.s3, name, fingerprint, async || admin.map(|provider| S3Admin::new(provider, limit))).await
    }
}
