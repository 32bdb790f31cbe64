//! Where a space's backing services live once it is placed and provisioned: what its Nextcloud
//! configuration, environment and network policy point at.

/// The space's database: host and port as the space reaches them (maybe a PgBouncer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatabaseBinding {
    pub host: String,
    pub port: i32,
    pub database: String,
    pub user: String,
    /// The pool's TLS mode, for Nextcloud's `pgsql_ssl`.
    pub ssl_mode: crate::api::database_pool::SslMode,
    /// The server's major, from the pool's last check: the snapshot Jobs' client is of it.
    pub server_major: Option<u32>,
    /// The pool's private CA (PEM certificates), when it names one.
    pub ca: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheBinding {
    pub host: String,
    pub port: i32,
    pub tls: bool,
    pub user: String,
    pub prefix: String,
    /// The space's own logical database on the server (`redis.dbindex`).
    pub database: u32,
    /// The pool's private CA (PEM certificates), when it names one.
    pub ca: Option<String>,
    /// A cluster pool: its seeds (`host:port`, the pool's host first) and phpredis' failover
    /// mode; `database` is then 0, shared.
    pub cluster: Option<ClusterBinding>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterBinding {
    pub seeds: Vec<String>,
    pub failover_mode: crate::api::cache_pool::FailoverMode,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StorageBinding {
    pub host: String,
    pub port: i32,
    pub use_ssl: bool,
    pub region: String,
    pub bucket: String,
}

impl StorageBinding {
    /// From an endpoint URL such as `https://s3.example:9000`.
    pub fn from_endpoint(endpoint: &str, region: &str, bucket: &str) -> Option<Self> {
        let (scheme, rest) = endpoint.split_once("://")?;
        let use_ssl = scheme == "https";
        let authority = rest.trim_end_matches('/');
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), p.parse().ok()?),
            None => (authority.to_string(), if use_ssl { 443 } else { 80 }),
        };
        Some(StorageBinding { host, port, use_ssl, region: region.into(), bucket: bucket.into() })
    }
}

/// The office server a space uses: its suite and public URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfficeBinding {
    pub suite: OfficeSuite,
    pub backend: String,
    pub url: String,
}

/// The Imaginary server computing the space's thumbnails.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PreviewBinding {
    pub backend: String,
    pub url: String,
}

/// The TURN server of the TalkBackend a space's Talk uses. The secret itself is only in the
/// backend's Secret and the space's own (copied by the credentials step).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TalkBinding {
    pub backend: String,
    pub host: String,
    pub port: i32,
    /// `talk::secret_fingerprint` of the secret the space's Secret holds.
    pub fingerprint: String,
    /// The backend's signaling server, when it runs one.
    pub signaling: Option<SignalingBinding>,
}

/// The High-performance backend a space's Talk uses: its URL, and the fingerprint of the
/// space's own secret for it (`signaling::space_secret`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalingBinding {
    pub url: String,
    pub fingerprint: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Bindings {
    pub database: Option<DatabaseBinding>,
    pub cache: Option<CacheBinding>,
    pub storage: Option<StorageBinding>,
    pub office: Option<OfficeBinding>,
    pub preview: Option<PreviewBinding>,
    /// The TURN server of a space whose class enables Talk, once assigned and its secret made.
    pub talk: Option<TalkBinding>,
    /// The class's SMTP server, when it has one.
    pub mail: Option<MailBinding>,
}

/// Where and how a space sends mail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailBinding {
    pub host: String,
    pub port: i32,
    pub security: crate::api::class::MailSecurity,
    pub from: String,
    /// SMTP authentication with the class's credentials (copied into the space's Secret).
    pub authenticated: bool,
}

/// The `occ` commands that wire the suite into Nextcloud: enable its app, disable the other. The
/// OnlyOffice server and JWT come from the system configuration (office.config.php); Collabora's
/// address lives in the richdocuments app's configuration, set here.
pub fn office_commands(suite: OfficeSuite, office: Option<&OfficeBinding>) -> Vec<String> {
    match (suite, office) {
        (OfficeSuite::Collabora, Some(o)) => vec![
            "app:disable onlyoffice".into(),
            "app:enable richdocuments".into(),
            format!("config:app:set richdocuments wopi_url --value={}", o.url),
            format!("config:app:set richdocuments public_wopi_url --value={}", o.url),
            "richdocuments:activate-config".into(),
        ],
        (OfficeSuite::Onlyoffice, Some(_)) => {
            vec!["app:disable richdocuments".into(), "app:enable onlyoffice".into(), "onlyoffice:documentserver --check".into()]
        }
        (OfficeSuite::None, _) => vec!["app:disable richdocuments".into(), "app:disable onlyoffice".into()],
        (_, None) => Vec::new(),
    }
}

impl Bindings {
    /// TCP ports the space's pods must reach outside the cluster.
    pub fn egress_ports(&self) -> Vec<i32> {
        let mut ports: Vec<i32> = [
            self.database.as_ref().map(|d| d.port),
            self.cache.as_ref().map(|c| c.port),
            self.storage.as_ref().map(|s| s.port),
            self.mail.as_ref().map(|m| m.port),
        ]
        .into_iter()
        .flatten()
        .collect();
        ports.sort_unstable();
        ports.dedup();
        ports
    }
}

use crate::api::space::OfficeSuite;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn office_commands_enable_one_suite_and_disable_the_other() {
        let c = OfficeBinding { suite: OfficeSuite::Collabora, backend: "c".into(), url: "https://office.frama.space".into() };
        let cmds = office_commands(OfficeSuite::Collabora, Some(&c));
        assert_eq!(cmds[..2], ["app:disable onlyoffice".to_string(), "app:enable richdocuments".to_string()]);
        assert!(cmds.contains(&"config:app:set richdocuments wopi_url --value=https://office.frama.space".to_string()));
        let o = OfficeBinding { suite: OfficeSuite::Onlyoffice, backend: "o".into(), url: "https://oo.frama.space".into() };
        let cmds = office_commands(OfficeSuite::Onlyoffice, Some(&o));
        assert_eq!(cmds[..2], ["app:disable richdocuments".to_string(), "app:enable onlyoffice".to_string()]);
        assert!(!cmds.iter().any(|c| c.contains("jwt")), "the JWT never appears in a command");
        assert_eq!(office_commands(OfficeSuite::None, None), ["app:disable richdocuments", "app:disable onlyoffice"]);
        assert!(office_commands(OfficeSuite::Collabora, None).is_empty(), "nothing to run before a backend is assigned");
    }

    #[test]
    fn endpoints_parse() {
        let s = StorageBinding::from_endpoint("http://127.0.0.1:29000", "us-east-1", "b").expect("parses");
        assert_eq!((s.host.as_str(), s.port, s.use_ssl), ("127.0.0.1", 29000, false));
        let s = StorageBinding::from_endpoint("https://s3.frama.space/", "r", "b").expect("parses");
        assert_eq!((s.host.as_str(), s.port, s.use_ssl), ("s3.frama.space", 443, true));
        assert!(StorageBinding::from_endpoint("s3.frama.space", "r", "b").is_none());
    }

    #[test]
    fn egress_ports_are_unique() {
        let b = Bindings {
            database: Some(DatabaseBinding {
                host: "h".into(),
                port: 5432,
                database: "d".into(),
                user: "u".into(),
                ssl_mode: crate::api::database_pool::SslMode::Prefer,
                server_major: Some(15),
                ca: None,
            }),
            cache: None,
            storage: Some(StorageBinding { host: "h".into(), port: 5432, use_ssl: false, region: "r".into(), bucket: "b".into() }),
            ..Bindings::default()
        };
        assert_eq!(b.egress_ports(), vec![5432]);
        assert!(Bindings::default().egress_ports().is_empty());
    }
}
