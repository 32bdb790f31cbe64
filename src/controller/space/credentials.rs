//! Step "credentials": the space's Secret (database, Redis and S3 passwords, Nextcloud's
//! identity values, the OnlyOffice JWT while the space uses OnlyOffice, the class's SMTP
//! credentials while it has some). The only object whose
//! content depends on a read: an existing Secret is the source of truth, completed with what is
//! missing and never regenerated, so it is read (through the space's RoleBinding, which the
//! namespace step creates) before it is built.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::Api;

use super::placement;
use crate::api::space::OfficeSuite;
use crate::controller::Context;
use crate::controller::apply::{Applied, ChangeSignal};
use crate::error::{Error, Result};
use crate::render::bindings::Bindings;
use crate::render::credentials::{self, OsRandom};
use crate::render::names;
use crate::render::objects;
use crate::render::resolve::ResolvedSpace;

/// Whether Nextcloud's identity values may be generated where they are missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewIdentity {
    /// Not installed yet: the install will use them.
    Allowed,
    /// Installed, and the space's annotation accepts new ones.
    Accepted,
    /// Installed: missing values are an error, never made up.
    Refused,
}

impl NewIdentity {
    pub fn for_space(installed: bool, annotations: &BTreeMap<String, String>) -> Self {
        let accepted = annotations.get(crate::api::labels::NEW_IDENTITY_ANNOTATION).is_some_and(|v| v == "accept")
            // Re-attaching retained data is the platform engineer's explicit act; the identity
            // kept at the Retain deletion comes back (`retained_identity_name`), and a space
            // retained before that copy existed gets new values.
            || annotations.get(crate::api::labels::REATTACH_RETAINED_ANNOTATION).is_some_and(|v| v == "true");
        match (installed, accepted) {
            (false, _) => NewIdentity::Allowed,
            (true, true) => NewIdentity::Accepted,
            (true, false) => NewIdentity::Refused,
        }
    }
}

/// The space's credentials, and whether this reconcile wrote them.
pub struct Credentials {
    pub data: BTreeMap<String, Vec<u8>>,
    pub applied: Applied,
}

/// Reads the space's credentials Secret. Right after its RoleBinding is created the API server's
/// authorizer may not know it yet for a moment: a refusal is retried briefly before it counts.
pub async fn read(ctx: &Context, ns: &str) -> Result<Option<Secret>> {
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let mut attempts = 0;
    loop {
        match api.get_opt(names::CREDENTIALS_SECRET).await {
            Err(kube::Error::Api(s)) if s.code == 403 && ctx.secret_access.is_some() && attempts < 20 => {
                attempts += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return Ok(other?),
        }
    }
}

/// The Secret in the operator's namespace that keeps a retained space's Nextcloud identity
/// (`secret`, `passwordsalt`, `instanceid`) once its namespace, and the credentials with it, are
/// gone: the rows the retained database holds were written with them (encrypted app values,
/// hashed tokens), so a re-attached space gets them back instead of new ones.
pub fn retained_identity_name(space: &str) -> String {
    format!("retained-identity-{space}")
}

/// On a Retain deletion: keeps the identity values beside the retained ledger.
pub async fn keep_retained_identity(ctx: &Context, space: &str, creds: &BTreeMap<String, Vec<u8>>) -> Result<u32> {
    if !credentials::missing_identity(creds).is_empty() {
        return Ok(0);
    }
    let identity: BTreeMap<String, k8s_openapi::ByteString> =
        credentials::IDENTITY.iter().filter_map(|k| creds.get(*k).map(|v| (k.to_string(), k8s_openapi::ByteString(v.clone())))).collect();
    let name = retained_identity_name(space);
    if ctx.pools.operator_secret(&name).and_then(|s| s.data.clone()).is_some_and(|d| d == identity) {
        return Ok(0);
    }
    let secret = Secret {
        metadata: kube::core::ObjectMeta {
            name: Some(name.clone()),
            namespace: Some(ctx.pools.namespace.clone()),
            labels: Some(BTreeMap::from([
                (crate::api::labels::MANAGED_BY_LABEL.to_string(), crate::api::labels::FIELD_MANAGER.to_string()),
                (crate::api::labels::RETAINED_SPACE_LABEL.to_string(), space.to_string()),
            ])),
            ..Default::default()
        },
        data: Some(identity),
        type_: Some("Opaque".into()),
        ..Default::default()
    };
    ctx.gate.allow(crate::gate::KUBERNETES)?;
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.pools.namespace);
    let params = kube::api::PatchParams::apply(crate::api::labels::FIELD_MANAGER).force();
    // The body of a failed Secret write is never shown: it could echo the values back.
    api.patch(&name, &params, &kube::api::Patch::Apply(&secret)).await.map_err(|e| Error::SecretWrite {
        namespace: ctx.pools.namespace.clone(),
        name: name.clone(),
        code: if let kube::Error::Api(s) = &e { s.code } else { 0 },
    })?;
    Ok(1)
}

/// Once the space's own Secret holds the retained identity again, the copy goes.
async fn drop_retained_identity(ctx: &Context, space: &str) -> Result<()> {
    ctx.gate.allow(crate::gate::KUBERNETES)?;
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.pools.namespace);
    match api.delete(&retained_identity_name(space), &kube::api::DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

pub fn secret_data(secret: &Secret) -> BTreeMap<String, Vec<u8>> {
    secret.data.clone().unwrap_or_default().into_iter().map(|(k, v)| (k, v.0)).collect()
}

/// The credentials of the space, read from the API server at each reconcile (one GET, never a
/// write when nothing changed), applied only when they are not what the operator last wrote.
/// `identity`: whether new Nextcloud identity values may be generated (a space not installed yet,
/// or one annotated `frama.space/new-identity: accept`).
pub async fn ensure(
    space: &ResolvedSpace,
    ctx: &Context,
    placement: &placement::Placed,
    bindings: &Bindings,
    identity: NewIdentity,
    clone_source: Option<&str>,
) -> Result<Credentials> {
    let ns = space.namespace.as_str();
    let current = read(ctx, ns).await?;
    let storage = placement::storage_provider(ctx, &placement.placement);
    let mut existing = current.as_ref().map(secret_data).unwrap_or_default();
    // A re-attached space: the identity its retained database was written with comes back.
    let retained = ctx.pools.operator_secret(&retained_identity_name(&space.name)).and_then(|s| s.data.clone());
    if let Some(kept) = &retained
        && !credentials::missing_identity(&existing).is_empty()
    {
        for key in credentials::IDENTITY {
            if let Some(v) = kept.get(key) {
                existing.insert(key.to_string(), v.0.clone());
            }
        }
    }
    // A clone runs its source's data, written with its source's identity (encrypted app values,
    // the appdata folder named after the instance id): it gets the same values, never new ones.
    if let Some(source) = clone_source
        && !credentials::missing_identity(&existing).is_empty()
        && let Some(theirs) = read(ctx, &names::namespace(source)).await?
    {
        let theirs = secret_data(&theirs);
        for key in credentials::IDENTITY {
            if let Some(v) = theirs.get(key) {
                existing.insert(key.to_string(), v.clone());
            }
        }
    }
    // An adopted space keeps the instance's identity, database password and S3 key, whatever its
    // own Secret was given meanwhile.
    // Once the space's Secret holds them, the adoption Secret may go (a GitOps repository that
    // drops it after the takeover): the space keeps what it has.
    if let Some(a) = &space.adoption {
        match super::adoption::adopted_credentials(ctx, &space.name, a) {
            Ok(adopted) => existing.extend(adopted),
            Err(_) if super::adoption::SECRET_KEYS.iter().all(|(_, k)| existing.get(*k).is_some_and(|v| !v.is_empty())) => {}
            Err(why) => return Err(Error::AdoptionSecret(why)),
        }
    }
    // The copy goes once the space's Secret holds the same values.
    let holds_retained = |data: &BTreeMap<String, Vec<u8>>| {
        retained.as_ref().is_some_and(|kept| credentials::IDENTITY.iter().all(|k| kept.get(*k).map(|v| &v.0) == data.get(*k)))
    };
    // The OnlyOffice JWT is the backend's, copied while the space uses that backend, removed after.
    let jwt = bindings
        .office
        .as_ref()
        .filter(|o| o.suite == OfficeSuite::Onlyoffice)
        .and_then(|o| crate::controller::backends::office_jwt(ctx, &o.backend));
    // The TURN secret is the TalkBackend's, copied while the space uses that backend (and its
    // class has Talk), removed after: a space moved elsewhere no longer holds the old one.
    let talk_backend = bindings.talk.as_ref().and_then(|t| ctx.backends.talk(&t.backend));
    let turn = talk_backend.as_ref().and_then(|b| crate::controller::talk_backend::turn_secret(ctx, b));
    // The space's own signaling secret, from its backend's master and the space's uid.
    let signaling = talk_backend
        .as_ref()
        .filter(|_| bindings.talk.as_ref().is_some_and(|t| t.signaling.is_some()))
        .and_then(|b| crate::controller::talk_backend::signaling_master(ctx, b))
        .map(|master| crate::render::signaling::space_secret(&master, &space.uid).into_bytes());
    // The SMTP credentials are the class's, copied while the class has them, removed after.
    let smtp = placement::mail_credentials(ctx, space);
    if let Some(s) = &current
        && ctx.applier.untouched_since_applied::<Secret>(&s.metadata, ChangeSignal::ResourceVersion)
        // Still complete for the current placement (a StoragePool may have been assigned since).
        && credentials::is_complete(&existing, storage)
        && existing.get(credentials::ONLYOFFICE_JWT) == jwt.as_ref()
        && existing.get(credentials::TALK_TURN_SECRET) == turn.as_ref()
        && existing.get(credentials::TALK_SIGNALING_SECRET) == signaling.as_ref()
        && existing.get(credentials::SMTP_USERNAME) == smtp.as_ref().map(|c| &c.0)
        && existing.get(credentials::SMTP_PASSWORD) == smtp.as_ref().map(|c| &c.1)
        && current.as_ref().map(secret_data).as_ref() == Some(&existing)
    {
        if holds_retained(&existing) {
            drop_retained_identity(ctx, &space.name).await?;
        }
        return Ok(Credentials { data: existing, applied: Applied::Unchanged });
    }
    let missing = credentials::missing_identity(&existing);
    if identity == NewIdentity::Refused && !missing.is_empty() {
        // Not permanent: a Secret restored by hand (which no watch sees) is found at the next try.
        return Err(Error::IdentityLost { namespace: ns.to_string(), missing: missing.join(", ") });
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let mut data = credentials::complete(&existing, storage, &mut OsRandom)?;
    match jwt {
        Some(jwt) => data.insert(credentials::ONLYOFFICE_JWT.to_string(), jwt),
        None => data.remove(credentials::ONLYOFFICE_JWT),
    };
    match turn {
        Some(secret) => data.insert(credentials::TALK_TURN_SECRET.to_string(), secret),
        None => data.remove(credentials::TALK_TURN_SECRET),
    };
    match signaling {
        Some(secret) => data.insert(credentials::TALK_SIGNALING_SECRET.to_string(), secret),
        None => data.remove(credentials::TALK_SIGNALING_SECRET),
    };
    match smtp {
        Some((user, password)) => {
            data.insert(credentials::SMTP_USERNAME.to_string(), user);
            data.insert(credentials::SMTP_PASSWORD.to_string(), password);
        }
        None => {
            data.remove(credentials::SMTP_USERNAME);
            data.remove(credentials::SMTP_PASSWORD);
        }
    }
    let live = current.map(|s| s.metadata);
    let applied =
        ctx.applier.apply(&api, objects::credentials_secret(space, data.clone()), live.as_ref(), ChangeSignal::ResourceVersion).await?;
    if holds_retained(&data) {
        drop_retained_identity(ctx, &space.name).await?;
    }
    Ok(Credentials { data, applied })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_installed_space_gets_new_identity_values_only_when_asked() {
        let none = BTreeMap::new();
        let accept = BTreeMap::from([(crate::api::labels::NEW_IDENTITY_ANNOTATION.to_string(), "accept".to_string())]);
        assert_eq!(NewIdentity::for_space(false, &none), NewIdentity::Allowed, "before the install");
        assert_eq!(NewIdentity::for_space(true, &none), NewIdentity::Refused);
        assert_eq!(NewIdentity::for_space(true, &accept), NewIdentity::Accepted);
        let reattach = BTreeMap::from([(crate::api::labels::REATTACH_RETAINED_ANNOTATION.to_string(), "true".to_string())]);
        assert_eq!(NewIdentity::for_space(true, &reattach), NewIdentity::Accepted, "re-attached retained data");
        let partial = BTreeMap::from([(credentials::INSTANCE_ID.to_string(), b"oc1".to_vec())]);
        assert_eq!(credentials::missing_identity(&partial), [credentials::NEXTCLOUD_SECRET, credentials::PASSWORD_SALT]);
    }
}
