//! Real PHP (Debian's `php-cli`) on every file the operator writes into a space's configuration:
//! each must parse, and the configuration Nextcloud would merge from them must hold what the
//! space needs. The merge is Nextcloud's rule (`lib/private/Config.php` `readData()`):
//! `config.php` first, then `*.config.php` sorted with `natsort`, each file's `$CONFIG` merged
//! with `array_merge`, so later files win key by key.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::bindings::{Bindings, CacheBinding, DatabaseBinding, MailBinding, OfficeBinding, PreviewBinding, StorageBinding};
use super::config;
use super::nextcloud::{CONFIG_DIR, DATA_DIR, prepare_script};
use super::resolve::{ResolvedSpace, resolve, tests as fixtures};
use crate::api::class::MailSecurity;
use crate::api::database_pool::SslMode;
use crate::api::space::{NextcloudStatus, OfficeSuite};

const MERGE: &str = r#"<?php
$dir = $argv[1];
$merged = [];
$CONFIG = [];
include $dir . '/config.php';
$merged = array_merge($merged, $CONFIG);
$files = glob($dir . '/*.config.php');
natsort($files);
foreach ($files as $file) {
    $CONFIG = [];
    include $file;
    if (isset($CONFIG) && is_array($CONFIG)) {
        $merged = array_merge($merged, $CONFIG);
    }
}
echo json_encode($merged);
"#;

/// A display name with everything that breaks naive PHP rendering.
const TRICKY: &str = r#"L'asso "du $HOME" \ C:\new ?> <?php echo 1; ${x} '"#;

fn php() -> Command {
    Command::new(std::env::var("PHP").unwrap_or_else(|_| "php".into()))
}

fn bindings(schema_mode: bool, suite: OfficeSuite) -> Bindings {
    Bindings {
        database: Some(DatabaseBinding {
            host: "pg.frama.space".into(),
            port: 5432,
            // Schema isolation shares one database; database isolation gives the space its own.
            database: if schema_mode { "framaspace".into() } else { "space_mon_asso".into() },
            user: "space_mon_asso".into(),
            ssl_mode: if schema_mode { SslMode::VerifyFull } else { SslMode::Prefer },
            server_major: Some(15),
            ca: None,
        }),
        cache: Some(CacheBinding {
            host: "redis".into(),
            port: 6379,
            tls: schema_mode,
            user: "space-mon-asso".into(),
            prefix: "space-mon-asso:".into(),
            database: if schema_mode { 0 } else { 12 },
            ca: None,
            // One configuration of two on a cluster (phpredis' RedisCluster constants resolved
            // by the real extension, Debian's php-redis).
            cluster: schema_mode.then(|| crate::render::bindings::ClusterBinding {
                seeds: vec!["redis:6379".into(), "redis-2:6379".into()],
                failover_mode: crate::api::cache_pool::FailoverMode::Error,
            }),
        }),
        storage: StorageBinding::from_endpoint("https://s3.frama.space", "fr-par", "space-mon-asso"),
        // One configuration of two with mail, authenticated over implicit TLS.
        talk: None,
        mail: schema_mode.then(|| MailBinding {
            host: "smtp.frama.space".into(),
            port: 465,
            security: MailSecurity::Tls,
            from: "noreply@frama.space".into(),
            authenticated: true,
        }),
        office: match suite {
            OfficeSuite::None => None,
            s => Some(OfficeBinding { suite: s, backend: "office-1".into(), url: "https://office.frama.space".into() }),
        },
        preview: Some(PreviewBinding { backend: "imaginary-1".into(), url: "http://preview-imaginary-1.fs.svc:9000".into() }),
    }
}

/// Writes the files as a pod's `prepare` container lays them out (its own script, for real),
/// lints each with `php -l`, and returns the merged configuration.
fn merged(dir: &Path, files: &BTreeMap<String, String>) -> Value {
    let src = dir.join("src");
    let run = dir.join("run");
    std::fs::create_dir_all(&src).expect("mkdir");
    for (name, content) in files {
        std::fs::write(src.join(name), content).expect("write");
    }
    let prepared = Command::new("sh")
        .arg("-c")
        .arg(prepare_script())
        .env("FRAMASPACE_RUN", &run)
        .env("FRAMASPACE_CONFIG_SOURCE", &src)
        .status()
        .expect("sh runs");
    assert!(prepared.success());
    let config = run.join("config");
    for entry in std::fs::read_dir(&config).expect("config dir") {
        let path = entry.expect("entry").path();
        let lint = php().arg("-l").arg(&path).output().expect("php-cli is installed (Debian package php-cli; .ci/run installs it)");
        assert!(lint.status.success(), "{} does not parse: {}", path.display(), String::from_utf8_lossy(&lint.stdout));
    }
    let out = php()
        .arg("-r")
        .arg(MERGE.trim_start_matches("<?php\n"))
        .arg(&config)
        .env("FRAMASPACE_DB_PASSWORD", "db-secret")
        .env("FRAMASPACE_REDIS_PASSWORD", "redis-secret")
        .env("FRAMASPACE_S3_KEY", "s3-key")
        .env("FRAMASPACE_S3_SECRET", "s3-secret")
        .env("FRAMASPACE_SECRET", "nc-secret")
        .env("FRAMASPACE_PASSWORDSALT", "salt")
        .env("FRAMASPACE_INSTANCEID", "ocabcdef")
        .env("FRAMASPACE_ONLYOFFICE_JWT", "jwt")
        .env("FRAMASPACE_SMTP_USERNAME", "smtp-user")
        .env("FRAMASPACE_SMTP_PASSWORD", "smtp-secret")
        .output()
        .expect("php runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the merge prints JSON")
}

fn space(suite: OfficeSuite, suspended: bool) -> ResolvedSpace {
    let mut s = fixtures::space("mon-asso");
    s.spec.display_name = TRICKY.into();
    let mut r = resolve(&s, &fixtures::class("standard", true)).expect("resolves");
    r.office = suite;
    r.suspended = suspended;
    r
}

#[test]
fn every_rendered_configuration_parses_and_merges_into_what_the_space_needs() {
    let installed = NextcloudStatus { version: "33.0.7.2".into(), version_string: "33.0.7".into(), image: "nc:33.0.7".into() };
    let root = std::env::temp_dir().join(format!("framaspace-php-{}", std::process::id()));
    let mut cases = 0;
    for schema_mode in [false, true] {
        for suite in [OfficeSuite::Collabora, OfficeSuite::Onlyoffice, OfficeSuite::None] {
            for suspended in [false, true] {
                for state in [None, Some(&installed)] {
                    let s = space(suite, suspended);
                    let b = bindings(schema_mode, suite);
                    let dir = root.join(format!("{schema_mode}-{}-{suspended}-{}", suite.as_str(), state.is_some()));
                    let c = merged(&dir, &config::render(&s, &b, state));
                    let case = format!("schema {schema_mode}, {}, suspended {suspended}, installed {}", suite.as_str(), state.is_some());
                    let db = b.database.as_ref().map(|d| d.database.clone()).unwrap_or_default();
                    assert_eq!(c["framaspace.display_name"], TRICKY, "{case}");
                    assert_eq!(c["dbtype"], "pgsql", "{case}");
                    assert_eq!(c["dbname"], db.as_str(), "{case}");
                    assert_eq!(c["dbhost"], "pg.frama.space:5432", "{case}");
                    assert_eq!(c["dbpassword"], "db-secret", "{case}: from the environment");
                    assert_eq!(c["memcache_customprefix"], "space-mon-asso:", "{case}");
                    if schema_mode {
                        let cluster = &c["redis.cluster"];
                        assert!(c.get("redis").is_none(), "{case}: a cluster only");
                        assert_eq!(cluster["seeds"], serde_json::json!(["tls://redis:6379", "tls://redis-2:6379"]), "{case}");
                        assert_eq!(cluster["failover_mode"], 1, "{case}: RedisCluster::FAILOVER_ERROR");
                        assert_eq!(cluster["password"], "redis-secret", "{case}");
                        assert_eq!(cluster["user"], "space-mon-asso", "{case}");
                        assert_eq!(cluster["timeout"], 1.5, "{case}");
                        assert!(cluster.get("dbindex").is_none(), "{case}: a cluster has one database");
                    } else {
                        assert_eq!(c["redis"]["password"], "redis-secret", "{case}");
                        assert_eq!(c["redis"]["dbindex"], 12, "{case}: the space's own database");
                    }
                    assert_eq!(c["redis.persistent"], false, "{case}");
                    assert_eq!(c["objectstore"]["arguments"]["bucket"], "space-mon-asso", "{case}");
                    assert_eq!(c["objectstore"]["arguments"]["verify_bucket_exists"], false, "{case}");
                    assert_eq!(c["objectstore"]["arguments"]["secret"], "s3-secret", "{case}");
                    assert_eq!(c["secret"], "nc-secret", "{case}");
                    assert_eq!(c["datadirectory"], DATA_DIR, "{case}");
                    assert_eq!(c["appstoreenabled"], false, "{case}");
                    assert_eq!(c["upgrade.disable-web"], true, "{case}");
                    assert_eq!(c["apps_paths"][1]["writable"], false, "{case}");
                    assert_eq!(c["trusted_domains"][0], "mon-asso.frama.space", "{case}");
                    assert_eq!(c["one-click-instance.user-limit"], 51, "{case}: 50 people and the operator's admin");
                    assert_eq!(c["one-click-instance.link"], "https://frama.space", "{case}: no Enterprise upsell");
                    // framaspace_quota reads it with getSystemValueInt(): a PHP int, in bytes.
                    assert_eq!(c["framaspace.quota"].as_i64(), Some(40 << 30), "{case}: the space's quota, an integer");
                    assert_eq!(c["overwriteprotocol"], "https", "{case}: https without a TLS issuer (a wildcard certificate in front)");
                    assert_eq!(c["overwrite.cli.url"], "https://mon-asso.frama.space", "{case}");
                    assert_eq!(c["trusted_proxies"][3], "100.64.0.0/10", "{case}");
                    assert_eq!(c["forwarded_for_headers"][0], "HTTP_X_FORWARDED_FOR", "{case}");
                    let window = c["maintenance_window_start"].as_i64().unwrap_or_default();
                    assert!((1..=4).contains(&window), "{case}: the staggered night window, {window}");
                    if schema_mode {
                        assert_eq!(c["pgsql_ssl"]["mode"], "verify-full", "{case}");
                        assert_eq!(c["pgsql_ssl"]["rootcert"], crate::render::nextcloud::SYSTEM_CA_BUNDLE, "{case}");
                        assert_eq!(c["mail_smtpmode"], "smtp", "{case}");
                        assert_eq!(c["mail_smtphost"], "smtp.frama.space", "{case}");
                        assert_eq!(c["mail_smtpport"], 465, "{case}");
                        assert_eq!(c["mail_smtpsecure"], "ssl", "{case}: implicit TLS");
                        assert_eq!(c["mail_from_address"], "noreply", "{case}");
                        assert_eq!(c["mail_domain"], "frama.space", "{case}");
                        assert_eq!(c["mail_smtpauth"], true, "{case}");
                        assert_eq!(c["mail_smtpname"], "smtp-user", "{case}: from the environment");
                        assert_eq!(c["mail_smtppassword"], "smtp-secret", "{case}: from the environment");
                    } else {
                        assert_eq!(c["pgsql_ssl"]["mode"], "prefer", "{case}");
                        assert_eq!(c["mail_smtpmode"], Value::Null, "{case}: no mail server, no mail settings");
                    }
                    match state {
                        Some(nc) => {
                            assert_eq!(c["installed"], true, "{case}");
                            assert_eq!(c["version"], nc.version.as_str(), "{case}");
                            assert_eq!(c["config_is_read_only"], true, "{case}");
                            assert_eq!(c["maintenance"], false, "{case}");
                        }
                        None => {
                            assert_eq!(c["installed"], Value::Null, "{case}: the installer must see no installation");
                            assert_eq!(c["config_is_read_only"], Value::Null, "{case}: the installer writes its config");
                        }
                    }
                    match suite {
                        OfficeSuite::Onlyoffice => {
                            assert_eq!(c["onlyoffice"]["DocumentServerUrl"], "https://office.frama.space/", "{case}");
                            assert_eq!(c["onlyoffice"]["jwt_secret"], "jwt", "{case}");
                        }
                        _ => assert_eq!(c["onlyoffice"], Value::Null, "{case}"),
                    }
                    assert_eq!(c["preview_imaginary_url"], "http://preview-imaginary-1.fs.svc:9000", "{case}");
                    cases += 1;
                }
            }
        }
    }
    assert_eq!(cases, 24);
    assert!(CONFIG_DIR.starts_with("/run/"));
    let _ = std::fs::remove_dir_all(&root);
}
