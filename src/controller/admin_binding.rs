//! Where a pool's admin Secret may be sent (hostile pass 2, F2): only to the servers the Secret
//! itself names, in annotations that only whoever may write the operator's Secrets can set.

/// `host:port` as an admin Secret's `frama.space/endpoints` lists it.
pub fn host_port(host: &str, port: i32) -> String {
    format!("{}:{port}", host.trim().trim_end_matches('.').to_ascii_lowercase())
}

/// The `host:port` an admin URL sends to (the scheme's port when it names none).
pub fn url_host_port(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    Some(host_port(u.host_str()?, i32::from(u.port_or_known_default()?)))
}

/// Whether an admin Secret's annotations let `kind`/`pool` send it to `endpoint`; else why not.
pub fn admin_secret_bound(
    annotations: &std::collections::BTreeMap<String, String>,
    kind: &str,
    pool: &str,
    endpoint: &str,
) -> Result<(), String> {
    use crate::api::labels::{ADMIN_ENDPOINTS_ANNOTATION, ADMIN_POOLS_ANNOTATION};
    let listed =
        |key: &str| annotations.get(key).map(|v| v.split(',').map(|e| e.trim().to_string()).filter(|e| !e.is_empty()).collect::<Vec<_>>());
    let endpoints: Vec<String> =
        listed(ADMIN_ENDPOINTS_ANNOTATION).unwrap_or_default().iter().map(|e| e.trim_end_matches('.').to_ascii_lowercase()).collect();
    if !endpoints.iter().any(|e| e == endpoint) {
        return Err(format!(
            "is not bound to {endpoint}: nothing was sent; whoever may write the operator's Secrets lists the servers it is for in its annotation {ADMIN_ENDPOINTS_ANNOTATION} (host:port, comma-separated)"
        ));
    }
    if let Some(pools) = listed(ADMIN_POOLS_ANNOTATION)
        && !pools.iter().any(|p| p == &format!("{kind}/{pool}"))
    {
        return Err(format!(
            "is not for {kind} {pool}: its annotation {ADMIN_POOLS_ANNOTATION} names the pools that may use it; nothing was sent"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_secret_goes_only_where_it_is_bound() {
        let notes = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let bound = notes(&[("frama.space/endpoints", "127.0.0.1:25432, PG.example:5432.")]);
        assert!(admin_secret_bound(&bound, "DatabasePool", "pg-1", "127.0.0.1:25432").is_ok());
        assert!(admin_secret_bound(&bound, "DatabasePool", "pg-2", &host_port("pg.example.", 5432)).is_ok());
        let e = admin_secret_bound(&bound, "CachePool", "exfil", "127.0.0.1:26999").expect_err("another server");
        assert!(e.contains("not bound to 127.0.0.1:26999") && e.contains("frama.space/endpoints"), "{e}");
        assert!(admin_secret_bound(&notes(&[]), "DatabasePool", "pg-1", "127.0.0.1:25432").is_err(), "an unbound Secret goes nowhere");
        let named =
            notes(&[("frama.space/endpoints", "127.0.0.1:25432"), ("frama.space/pools", "DatabasePool/pg-1,DatabasePool/pg-shared")]);
        assert!(admin_secret_bound(&named, "DatabasePool", "pg-shared", "127.0.0.1:25432").is_ok());
        assert!(
            admin_secret_bound(&named, "DatabasePool", "pg-other", "127.0.0.1:25432")
                .expect_err("not listed")
                .contains("is not for DatabasePool pg-other")
        );
        assert_eq!(url_host_port("http://127.0.0.1:23903/").as_deref(), Some("127.0.0.1:23903"));
        assert_eq!(url_host_port("https://S3.frama.space").as_deref(), Some("s3.frama.space:443"));
    }
}
