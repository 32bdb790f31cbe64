//! Nextcloud `*.config.php` fragments of a space: its whole configuration. Nextcloud reads
//! `config.php` and then every `*.config.php` of its config directory in natural order, later
//! keys winning (`lib/private/Config.php` `readData()`); the pods' `config.php` is empty and the
//! state fragment makes the configuration read-only, so these files are all there is and nothing
//! is ever written back (see `render::nextcloud`). Secrets are read from the environment with
//! `getenv()`, so this ConfigMap holds no secret value, and no file on a pod's disk either.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::bindings::Bindings;
use super::credentials;
use super::nextcloud::{CODE_DIR, DATA_DIR, STATE_FILE};
use super::resolve::ResolvedSpace;
use crate::api::space::{NextcloudStatus, OfficeSuite};

/// Environment variables the fragments read; the Deployment sets them from the credentials Secret.
pub const SECRET_ENV: &[(&str, &str)] = &[
    ("FRAMASPACE_SECRET", credentials::NEXTCLOUD_SECRET),
    ("FRAMASPACE_PASSWORDSALT", credentials::PASSWORD_SALT),
    ("FRAMASPACE_INSTANCEID", credentials::INSTANCE_ID),
];
pub const DATABASE_ENV: &[(&str, &str)] = &[("FRAMASPACE_DB_PASSWORD", credentials::DATABASE_PASSWORD)];
pub const CACHE_ENV: &[(&str, &str)] = &[("FRAMASPACE_REDIS_PASSWORD", credentials::REDIS_PASSWORD)];
pub const MAIL_ENV: &[(&str, &str)] =
    &[("FRAMASPACE_SMTP_USERNAME", credentials::SMTP_USERNAME), ("FRAMASPACE_SMTP_PASSWORD", credentials::SMTP_PASSWORD)];
pub const STORAGE_ENV: &[(&str, &str)] =
    &[("FRAMASPACE_S3_KEY", credentials::S3_ACCESS_KEY), ("FRAMASPACE_S3_SECRET", credentials::S3_SECRET_KEY)];

/// Every (variable, Secret key) the Deployment needs for what the space is bound to.
pub fn secret_env(bindings: &Bindings) -> Vec<(&'static str, &'static str)> {
    let mut env = SECRET_ENV.to_vec();
    if bindings.database.is_some() {
        env.extend_from_slice(DATABASE_ENV);
    }
    if bindings.cache.is_some() {
        env.extend_from_slice(CACHE_ENV);
    }
    if bindings.storage.is_some() {
        env.extend_from_slice(STORAGE_ENV);
    }
    if bindings.office.as_ref().is_some_and(|o| o.suite == OfficeSuite::Onlyoffice) {
        env.extend_from_slice(ONLYOFFICE_ENV);
    }
    if bindings.mail.as_ref().is_some_and(|m| m.authenticated) {
        env.extend_from_slice(MAIL_ENV);
    }
    env
}

pub const ONLYOFFICE_ENV: &[(&str, &str)] = &[("FRAMASPACE_ONLYOFFICE_JWT", credentials::ONLYOFFICE_JWT)];

/// Thumbnails of images, PDFs and office documents are computed by Imaginary; text and Markdown stay local.
const PREVIEW_PROVIDERS: &[&str] =
    &["OC\\Preview\\Imaginary", "OC\\Preview\\ImaginaryPDF", "OC\\Preview\\MarkDown", "OC\\Preview\\TXT", "OC\\Preview\\OpenDocument"];

/// A PHP single-quoted string literal: only `\` and `'` need escaping there.
pub fn php_string(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// A `//` comment ends at a line break or at `?>`, which would leave PHP: neither reaches one.
fn comment_text(s: &str) -> String {
    s.replace(['\n', '\r'], " ").replace("?>", "? >")
}

fn fragment(comment: &str, entries: &[(&str, String)]) -> String {
    let mut out = String::from("<?php\n// Written by framaspace-operator; edits are overwritten.\n");
    out.push_str(&format!("// {}\n$CONFIG = array (\n", comment_text(comment)));
    for (key, value) in entries {
        out.push_str(&format!("  {} => {},\n", php_string(key), value));
    }
    out.push_str(");\n");
    out
}

fn placeholder(comment: &str) -> String {
    format!("<?php\n// Written by framaspace-operator; edits are overwritten.\n// {}\n$CONFIG = array ();\n", comment_text(comment))
}

/// The apps directories of the image, both read-only: the shipped apps and the platform's
/// validated apps baked in at build (`images/nextcloud/`). The official image's own
/// `apps.config.php` declares the same two paths, with `custom_apps` writable for the app store,
/// which is off here.
fn apps_paths() -> String {
    format!(
        "array (0 => array ('path' => '{CODE_DIR}/apps', 'url' => '/apps', 'writable' => false), 1 => array ('path' => '{CODE_DIR}/custom_apps', 'url' => '/custom_apps', 'writable' => false))"
    )
}

/// What makes a pod installed without a volume: `installed` and the exact `version` the install
/// (or, later, an upgrade) reported, and a read-only configuration (`config_is_read_only`:
/// every `Config::set` throws, so no secret is ever copied into a `config.php`). Until the install
/// succeeded the fragment is empty, and install Jobs leave it out anyway.
pub fn state_fragment(installed: Option<&NextcloudStatus>) -> String {
    match installed {
        Some(nc) => fragment(
            &format!("Installed: Nextcloud {} ({}); configuration owned by the operator, read-only.", nc.version_string, nc.version),
            &[
                ("installed", "true".into()),
                ("version", php_string(&nc.version)),
                ("maintenance", "false".into()),
                ("config_is_read_only", "true".into()),
            ],
        ),
        None => placeholder("Not installed yet: see the Installed condition. Install Jobs leave this file out."),
    }
}

/// Every fragment of the space, by file name (also the ConfigMap key).
pub fn render(space: &ResolvedSpace, bindings: &Bindings, installed: Option<&NextcloudStatus>) -> BTreeMap<String, String> {
    let host = php_string(&space.host);
    // The class's public scheme, whoever ends TLS: a fixed `overwriteprotocol` wins over the
    // proxy's X-Forwarded-Proto, so deriving it from the Ingress's own certificate would make
    // every space behind a wildcard certificate build http:// links and insecure cookies.
    let scheme = space.scheme();
    let proxies = space.class.ingress.trusted_proxies.iter().map(|c| php_string(&c.0)).collect::<Vec<_>>();
    let mut files = BTreeMap::new();
    files.insert(STATE_FILE.to_string(), state_fragment(installed));
    files.insert(
        "framaspace.config.php".to_string(),
        fragment(
            "Identity, address and limits of the space.",
            &[
                ("instanceid", "getenv('FRAMASPACE_INSTANCEID')".into()),
                ("secret", "getenv('FRAMASPACE_SECRET')".into()),
                ("passwordsalt", "getenv('FRAMASPACE_PASSWORDSALT')".into()),
                ("trusted_domains", format!("array (0 => {host})")),
                ("overwrite.cli.url", php_string(&format!("{scheme}://{}", space.host))),
                ("overwritehost", host.clone()),
                ("overwriteprotocol", php_string(scheme)),
                // The ingress controller's pods: their X-Forwarded-For names the client, so brute-force
                // throttling and logs see each client, not the ingress.
                ("trusted_proxies", php_array(&proxies)),
                ("forwarded_for_headers", "array (0 => 'HTTP_X_FORWARDED_FOR')".into()),
                // Apps are chosen by the platform for every space alike, never from the app store.
                ("appstoreenabled", "false".into()),
                ("one-click-instance", "true".into()),
                // Nextcloud counts every account, the operator's `admin` too, and refuses a new one
                // once the count reaches the limit (`Support\Subscription\Registry`,
                // `delegateIsHardUserLimitReached()`: count >= limit): maxAccounts people, plus it.
                ("one-click-instance.user-limit", (i64::from(space.max_accounts) + 1).to_string()),
                ("default_language", "'fr'".into()),
                ("default_locale", "'fr_FR'".into()),
                ("default_phone_region", "'FR'".into()),
                ("log_type", "'errorlog'".into()),
                // admin_audit's own log (`AuditLogger`: `log_type_audit` defaults to a file in the
                // data directory, here a 64 MiB memory volume) goes where the main log goes.
                ("log_type_audit", "'errorlog'".into()),
                ("loglevel", "2".into()),
                ("memcache.local", "'\\OC\\Memcache\\APCu'".into()),
                ("framaspace.display_name", php_string(&space.display_name)),
                // The limit notification links here instead of Nextcloud Enterprise (`CoreNotifier`).
                ("one-click-instance.link", php_string(&support_url(space))),
                // The space's quota in bytes, shared by its accounts: the platform's framaspace_quota
                // app holds every home to what is left of it (images/nextcloud/framaspace_quota),
                // below the bucket's hard quota of the same size.
                ("framaspace.quota", space.quota_bytes.to_string()),
                // The pods' emptyDir; the prepare container writes its `.ncdata`.
                ("datadirectory", php_string(DATA_DIR)),
                ("apps_paths", apps_paths()),
                // Upgrades are the operator's Jobs, never a page offered to a visitor.
                ("upgrade.disable-web", "true".into()),
                ("htaccess.RewriteBase", "'/'".into()),
                // The cron container runs cron.php every 5 minutes; the jobs that may wait (expiries,
                // cleanups) run in the space's staggered night window.
                ("maintenance_window_start", crate::render::nextcloud::maintenance_window_start(&space.name).to_string()),
                // The space's role cannot create roles; the installer is not to try
                // (`AbstractDatabase::initialize()`).
                ("setup_create_db_user", "false".into()),
            ],
        ),
    );
    let database = match &bindings.database {
        Some(db) => fragment(
            "Database: the space's own role and database (or schema) on its DatabasePool.",
            &[
                ("dbtype", "'pgsql'".into()),
                ("dbhost", php_string(&format!("{}:{}", db.host, db.port))),
                ("dbname", php_string(&db.database)),
                ("dbuser", php_string(&db.user)),
                ("dbpassword", "getenv('FRAMASPACE_DB_PASSWORD')".into()),
                ("dbtableprefix", "'oc_'".into()),
                // `lib/private/DB/ConnectionFactory.php` passes `mode` and `rootcert` to libpq
                // (`sslmode`, `sslrootcert`; nextcloud/server#55170).
                ("pgsql_ssl", pgsql_ssl(db.ssl_mode, db.ca.is_some())),
            ],
        ),
        None => placeholder("Database: no DatabasePool is assigned to this space yet; see the DatabaseReady condition."),
    };
    files.insert("database.config.php".to_string(), database);
    let redis = match &bindings.cache {
        Some(c) => redis_fragment(c),
        None => placeholder("Cache and file locking: no CachePool is assigned to this space yet; see the CacheReady condition."),
    };
    files.insert("redis.config.php".to_string(), redis);
    // The pools' private CAs, beside the fragments (public certificates, not secrets).
    if let Some(ca) = bindings.database.as_ref().and_then(|d| d.ca.clone()) {
        files.insert(crate::render::nextcloud::POSTGRES_CA_FILE.to_string(), ca);
    }
    if let Some(ca) = bindings.cache.as_ref().filter(|c| c.tls).and_then(|c| c.ca.clone()) {
        files.insert(crate::render::nextcloud::CACHE_CA_FILE.to_string(), ca);
    }
    let objectstore = match &bindings.storage {
        Some(st) => fragment(
            // `verify_bucket_exists` (default true) sends a HeadBucket on every connection and a
            // CreateBucket when it is missing (`S3ConnectionTrait`); the operator owns the bucket.
            "Files: the space's bucket on its StoragePool, with a key allowed on that bucket only.",
            &[(
                "objectstore",
                format!(
                    "array ('class' => '\\OC\\Files\\ObjectStore\\S3', 'arguments' => array ('bucket' => {}, 'hostname' => {}, 'port' => {}, 'use_ssl' => {}, 'region' => {}, 'key' => getenv('FRAMASPACE_S3_KEY'), 'secret' => getenv('FRAMASPACE_S3_SECRET'), 'use_path_style' => true, 'verify_bucket_exists' => false))",
                    php_string(&st.bucket),
                    php_string(&st.host),
                    st.port,
                    st.use_ssl,
                    php_string(&st.region)
                ),
            )],
        ),
        None => placeholder("Files: no StoragePool is assigned to this space yet; see the StorageReady condition."),
    };
    files.insert("objectstore.config.php".to_string(), objectstore);
    let office = match (&bindings.office, space.office) {
        (_, OfficeSuite::None) => placeholder("Office suite: none, online editing is disabled (richdocuments and onlyoffice apps off)."),
        (Some(o), OfficeSuite::Onlyoffice) => fragment(
            &format!("Office suite onlyoffice: OfficeBackend {}; the JWT is shared with its spaces only.", o.backend),
            &[(
                "onlyoffice",
                format!(
                    "array ('DocumentServerUrl' => {}, 'jwt_secret' => getenv('FRAMASPACE_ONLYOFFICE_JWT'), 'jwt_header' => 'Authorization')",
                    php_string(&format!("{}/", o.url.trim_end_matches('/')))
                ),
            )],
        ),
        (Some(o), _) => placeholder(&format!(
            "Office suite collabora: OfficeBackend {} at {} (set in the richdocuments app by an occ Job).",
            o.backend, o.url
        )),
        (None, suite) => placeholder(&format!(
            "Office suite {}: no backend is assigned to this space yet; see the OfficeReady condition.",
            suite.as_str()
        )),
    };
    files.insert("office.config.php".to_string(), office);
    let preview = match &bindings.preview {
        Some(p) => fragment(
            &format!("Previews: thumbnails computed by PreviewBackend {}.", p.backend),
            &[
                ("enable_previews", "true".to_string()),
                (
                    "enabledPreviewProviders",
                    format!("array ({})", PREVIEW_PROVIDERS.iter().map(|p| format!("'{p}'")).collect::<Vec<_>>().join(", ")),
                ),
                ("preview_imaginary_url", php_string(&p.url)),
            ],
        ),
        None => placeholder("Previews: no PreviewBackend is assigned to this space yet; Nextcloud's built-in providers apply."),
    };
    files.insert("preview.config.php".to_string(), preview);
    files.insert("mail.config.php".to_string(), mail_fragment(bindings));
    files
}

/// The platform's help page, or the space class's domain when it names none.
fn support_url(space: &ResolvedSpace) -> String {
    space.class.support_url.clone().unwrap_or_else(|| format!("https://{}", space.class.base_domain))
}

fn php_array(items: &[String]) -> String {
    let entries: Vec<String> = items.iter().enumerate().map(|(i, v)| format!("{i} => {v}")).collect();
    format!("array ({})", entries.join(", "))
}

fn pgsql_ssl(mode: crate::api::database_pool::SslMode, private_ca: bool) -> String {
    use crate::api::database_pool::SslMode;
    use crate::render::nextcloud::{POSTGRES_CA_FILE, SYSTEM_CA_BUNDLE, ca_path};
    // verify-full needs a root: the pool's own CA, else the image's public roots.
    match mode {
        SslMode::VerifyFull => {
            let root = if private_ca { ca_path(POSTGRES_CA_FILE) } else { SYSTEM_CA_BUNDLE.to_string() };
            format!("array ('mode' => '{}', 'rootcert' => {})", mode.libpq(), php_string(&root))
        }
        other => format!("array ('mode' => '{}')", other.libpq()),
    }
}

/// Mail through the class's SMTP server (`lib/private/Mail/Mailer.php`: `mail_smtpsecure`
/// `ssl` is implicit TLS; otherwise Symfony's transport upgrades with STARTTLS when offered).
fn mail_fragment(bindings: &Bindings) -> String {
    use crate::api::class::MailSecurity;
    let Some(m) = &bindings.mail else {
        return placeholder("Mail: the space's class names no SMTP server; the space sends no mail.");
    };
    let (local, domain) = m.from.split_once('@').unwrap_or((m.from.as_str(), ""));
    let mut keys: Vec<(&str, String)> = vec![
        ("mail_smtpmode", "'smtp'".into()),
        ("mail_smtphost", php_string(&m.host)),
        ("mail_smtpport", m.port.to_string()),
        ("mail_smtpsecure", if m.security == MailSecurity::Tls { "'ssl'".into() } else { "''".into() }),
        ("mail_from_address", php_string(local)),
        ("mail_domain", php_string(domain)),
        ("mail_smtpauth", m.authenticated.to_string()),
    ];
    if m.authenticated {
        keys.push(("mail_smtpname", "getenv('FRAMASPACE_SMTP_USERNAME')".into()));
        keys.push(("mail_smtppassword", "getenv('FRAMASPACE_SMTP_PASSWORD')".into()));
    }
    fragment(&format!("Mail: SMTP server {}:{} of the space's class.", m.host, m.port), &keys)
}

/// Hash of the fragments; a pod template annotation, so a config change rolls the pods.
pub fn hash(files: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (name, content) in files {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(content.as_bytes());
        h.update([0]);
    }
    hex(&h.finalize()[..16])
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The cache fragment: one server (the space's own database through `redis`) or a cluster
/// (`redis.cluster`, read by `lib/private/RedisFactory.php`: seeds, timeouts, failover mode,
/// user and password, `ssl_context`; no `dbindex`, a cluster has one database).
fn redis_fragment(c: &super::bindings::CacheBinding) -> String {
    // `RedisFactory::getSslContext` hands this to phpredis' stream context: `cafile` is PHP's
    // OpenSSL context option for a private CA.
    let ssl_context = match (c.tls, &c.ca) {
        (true, Some(_)) => format!(
            ", 'ssl_context' => array ('verify_peer' => true, 'cafile' => {})",
            php_string(&crate::render::nextcloud::ca_path(crate::render::nextcloud::CACHE_CA_FILE))
        ),
        (true, None) => ", 'ssl_context' => array ('verify_peer' => true)".to_string(),
        (false, _) => String::new(),
    };
    let scheme = |host: &str| if c.tls { format!("tls://{host}") } else { host.to_string() };
    let (comment, entry) = match &c.cluster {
        None => (
            "Cache and file locking: the space's own database on its CachePool, through an ACL user pinned to it and to its key prefix. Not persistent: a pooled connection per Apache worker and space would outgrow the server's maxclients.",
            (
                "redis",
                format!(
                    "array ('host' => {}, 'port' => {}, 'dbindex' => {}, 'user' => {}, 'password' => getenv('FRAMASPACE_REDIS_PASSWORD'){ssl_context})",
                    php_string(&scheme(&c.host)),
                    c.port,
                    c.database,
                    php_string(&c.user),
                ),
            ),
        ),
        Some(cluster) => (
            "Cache and file locking: the CachePool's cluster, through an ACL user the operator gives every node, limited to the space's key prefix. Timeouts bound how long a request waits for a failed master (phpredis retries the command loop until then, then reads from a replica under FAILOVER_ERROR). Not persistent, as on a single server.",
            (
                "redis.cluster",
                format!(
                    "array ('seeds' => array ({}), 'timeout' => {CLUSTER_TIMEOUT}, 'read_timeout' => {CLUSTER_TIMEOUT}, 'failover_mode' => {}, 'user' => {}, 'password' => getenv('FRAMASPACE_REDIS_PASSWORD'){ssl_context})",
                    cluster.seeds.iter().map(|s| php_string(&scheme(s))).collect::<Vec<_>>().join(", "),
                    cluster.failover_mode.php_constant(),
                    php_string(&c.user),
                ),
            ),
        ),
    };
    fragment(
        comment,
        &[
            ("memcache.distributed", "'\\OC\\Memcache\\Redis'".into()),
            ("memcache.locking", "'\\OC\\Memcache\\Redis'".into()),
            ("memcache_customprefix", php_string(&c.prefix)),
            ("redis.persistent", "false".into()),
            (entry.0, entry.1),
        ],
    )
}

/// Seconds a cluster command may take, redirections and a failed master's retries included
/// (phpredis `cluster.md`, "Timeouts"): Nextcloud's sample leaves 0, which waits without end.
const CLUSTER_TIMEOUT: &str = "1.5";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::resolve::{resolve, tests as fixtures};

    fn resolved() -> ResolvedSpace {
        resolve(&fixtures::space("mon-asso"), &fixtures::class("standard", true)).expect("resolves")
    }

    fn bound() -> Bindings {
        use crate::render::bindings::*;
        Bindings {
            database: Some(DatabaseBinding {
                host: "pg".into(),
                port: 5432,
                database: "space_mon_asso".into(),
                user: "space_mon_asso".into(),
                ssl_mode: crate::api::database_pool::SslMode::VerifyFull,
                server_major: Some(15),
                ca: None,
            }),
            cache: Some(CacheBinding {
                host: "redis".into(),
                database: 3,
                ca: None,
                port: 6379,
                tls: false,
                user: "space-mon-asso".into(),
                prefix: "space-mon-asso:".into(),
                cluster: None,
            }),
            storage: StorageBinding::from_endpoint("https://s3.frama.space", "fr", "space-mon-asso"),
            office: None,
            preview: None,
            talk: None,
            mail: None,
        }
    }

    #[test]
    fn office_and_previews_follow_their_backends() {
        use crate::render::bindings::{OfficeBinding, PreviewBinding};
        let mut space = resolved();
        space.office = OfficeSuite::Onlyoffice;
        let mut b = bound();
        b.office = Some(OfficeBinding { suite: OfficeSuite::Onlyoffice, backend: "oo-1".into(), url: "https://oo.frama.space".into() });
        b.preview = Some(PreviewBinding { backend: "img-1".into(), url: "http://preview-img-1.fs.svc:9000".into() });
        let files = render(&space, &b, None);
        let office = &files["office.config.php"];
        assert!(office.contains("'DocumentServerUrl' => 'https://oo.frama.space/'"), "{office}");
        assert!(office.contains("'jwt_secret' => getenv('FRAMASPACE_ONLYOFFICE_JWT')"));
        assert!(secret_env(&b).contains(&("FRAMASPACE_ONLYOFFICE_JWT", credentials::ONLYOFFICE_JWT)));
        let preview = &files["preview.config.php"];
        assert!(preview.contains("'preview_imaginary_url' => 'http://preview-img-1.fs.svc:9000'"), "{preview}");
        assert!(preview.contains("'OC\\Preview\\Imaginary'"), "{preview}");

        space.office = OfficeSuite::Collabora;
        b.office = Some(OfficeBinding { suite: OfficeSuite::Collabora, backend: "c-1".into(), url: "https://office.frama.space".into() });
        let files = render(&space, &b, None);
        assert!(!files["office.config.php"].contains("onlyoffice' =>"));
        assert!(!secret_env(&b).iter().any(|(name, _)| *name == "FRAMASPACE_ONLYOFFICE_JWT"), "a Collabora space gets no JWT");

        space.office = OfficeSuite::None;
        b.office = None;
        assert!(render(&space, &b, None)["office.config.php"].contains("online editing is disabled"));
    }

    #[test]
    fn bound_services_are_configured_with_secrets_from_the_environment() {
        let files = render(&resolved(), &bound(), None);
        let db = &files["database.config.php"];
        assert!(
            db.contains("'dbtype' => 'pgsql',") && db.contains("'dbhost' => 'pg:5432',") && db.contains("'dbuser' => 'space_mon_asso',")
        );
        assert!(db.contains("'dbpassword' => getenv('FRAMASPACE_DB_PASSWORD'),"));
        let redis = &files["redis.config.php"];
        assert!(redis.contains("'memcache_customprefix' => 'space-mon-asso:',"), "{redis}");
        assert!(redis.contains("'user' => 'space-mon-asso', 'password' => getenv('FRAMASPACE_REDIS_PASSWORD')"), "{redis}");
        assert!(redis.contains(r"'memcache.locking' => '\OC\Memcache\Redis',"), "{redis}");
        let s3 = &files["objectstore.config.php"];
        assert!(s3.contains("'bucket' => 'space-mon-asso'") && s3.contains("'port' => 443") && s3.contains("'use_ssl' => true"), "{s3}");
        assert!(s3.contains("'key' => getenv('FRAMASPACE_S3_KEY')"));
        let env: Vec<&str> = secret_env(&bound()).iter().map(|(n, _)| *n).collect();
        assert!(env.contains(&"FRAMASPACE_DB_PASSWORD") && env.contains(&"FRAMASPACE_S3_SECRET"));
        assert_eq!(secret_env(&Bindings::default()).len(), SECRET_ENV.len());
    }

    #[test]
    fn php_strings_are_escaped() {
        assert_eq!(php_string("l'asso"), r"'l\'asso'");
        assert_eq!(php_string(r"a\b"), r"'a\\b'");
    }

    #[test]
    fn main_fragment_has_host_and_user_limit() {
        let files = render(&resolved(), &Bindings::default(), None);
        let main = &files["framaspace.config.php"];
        assert!(main.starts_with("<?php\n"));
        assert!(main.contains("'trusted_domains' => array (0 => 'mon-asso.frama.space'),"));
        assert!(main.contains("'overwrite.cli.url' => 'https://mon-asso.frama.space',"), "no TLS issuer, https all the same: {main}");
        assert!(main.contains("'overwriteprotocol' => 'https',"));
        assert!(main.contains("'one-click-instance.user-limit' => 51,"), "maxAccounts 50 people, plus the operator's admin");
        assert!(main.contains("'framaspace.quota' => 42949672960,"), "the space's 40Gi, in bytes, for the quota app");
        let mut tls = resolved();
        tls.class.ingress.tls_issuer = Some("letsencrypt".into());
        let main = &render(&tls, &Bindings::default(), None)["framaspace.config.php"];
        assert!(
            main.contains("'overwriteprotocol' => 'https',") && main.contains("'overwrite.cli.url' => 'https://mon-asso.frama.space',")
        );
        let mut clear = resolved();
        clear.class.ingress.public_scheme = crate::api::class::PublicScheme::Http;
        let main = &render(&clear, &Bindings::default(), None)["framaspace.config.php"];
        assert!(main.contains("'overwriteprotocol' => 'http',") && main.contains("'overwrite.cli.url' => 'http://mon-asso.frama.space',"));
        assert!(main.contains("'appstoreenabled' => false,"));
        assert!(main.contains("'secret' => getenv('FRAMASPACE_SECRET'),"));
    }

    #[test]
    fn backing_services_are_placeholders_until_assigned() {
        let files = render(&resolved(), &Bindings::default(), None);
        for f in ["database.config.php", "redis.config.php", "objectstore.config.php", "office.config.php", "preview.config.php"] {
            assert!(files[f].contains("$CONFIG = array ();"), "{f}");
        }
    }

    #[test]
    fn every_secret_env_names_a_credential() {
        let keys: Vec<&str> = credentials::keys().collect();
        for (_, key) in SECRET_ENV.iter().chain(DATABASE_ENV).chain(CACHE_ENV).chain(STORAGE_ENV) {
            assert!(keys.contains(key));
        }
    }

    #[test]
    fn hash_follows_content() {
        let a = render(&resolved(), &Bindings::default(), None);
        let mut s = resolved();
        s.max_accounts = 10;
        let b = render(&s, &Bindings::default(), None);
        assert_eq!(hash(&a), hash(&render(&resolved(), &Bindings::default(), None)));
        assert_ne!(hash(&a), hash(&b));
    }
}
