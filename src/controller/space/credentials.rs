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
            // Re-attaching retained data is the platform engineer's explicit act; the Secret went
            // with the old namespace, so the retained Nextcloud gets new identity values.
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
) -> Result<Credentials> {
    let ns = space.namespace.as_str();
    let current = read(ctx, ns).await?;
    let storage = placement::storage_provider(ctx, &placement.placement);
    let existing = current.as_ref().map(secret_data).unwrap_or_default();
    // The OnlyOffice JWT is the backend's, copied while the space uses that backend, removed after.
    let jwt = bindings
        .office
        .as_ref()
        .filter(|o| o.suite == OfficeSuite::Onlyoffice)
        .and_then(|o| crate::controller::backends::office_jwt(ctx, &o.backend));
    // The SMTP credentials are the class's, copied while the class has them, removed after.
    let smtp = placement::mail_credentials(ctx, space);
    if let Some(s) = &current
        && ctx.applier.untouched_since_applied::<Secret>(&s.metadata, ChangeSignal::ResourceVersion)
        // Still complete for the current placement (a StoragePool may have been assigned since).
        && credentials::is_complete(&existing, storage)
        && existing.get(credentials::ONLYOFFICE_JWT) == jwt.as_ref()
        && existing.get(credentials::SMTP_USERNAME) == smtp.as_ref().map(|c| &c.0)
        && existing.get(credentials::SMTP_PASSWORD) == smtp.as_ref().map(|c| &c.1)
    {
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
