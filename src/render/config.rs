//! Nextcloud `*.config.php` fragments of a space. Nextcloud merges every `*.config.php` of its
//! config directory into `config.php`, so each concern gets its own file and the operator never
//! rewrites what Nextcloud itself writes there. Secrets are read from the environment with
//! `getenv()`, so this ConfigMap holds no secret value.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::credentials;
use super::resolve::ResolvedSpace;

/// Environment variables the fragments read; the Deployment sets them from the credentials Secret.
pub const SECRET_ENV: &[(&str, &str)] = &[
    ("FRAMASPACE_SECRET", credentials::NEXTCLOUD_SECRET),
    ("FRAMASPACE_PASSWORDSALT", credentials::PASSWORD_SALT),
    ("FRAMASPACE_INSTANCEID", credentials::INSTANCE_ID),
];

/// A PHP single-quoted string literal: only `\` and `'` need escaping there.
pub fn php_string(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn fragment(comment: &str, entries: &[(&str, String)]) -> String {
    let mut out =
        String::from("<?php\n// Written by framaspace-operator; edits are overwritten.\n");
    out.push_str(&format!("// {comment}\n$CONFIG = array (\n"));
    for (key, value) in entries {
        out.push_str(&format!("  {} => {},\n", php_string(key), value));
    }
    out.push_str(");\n");
    out
}

fn placeholder(comment: &str) -> String {
    format!(
        "<?php\n// Written by framaspace-operator; edits are overwritten.\n// {comment}\n$CONFIG = array ();\n"
    )
}

/// Every fragment of the space, by file name (also the ConfigMap key).
pub fn render(space: &ResolvedSpace) -> BTreeMap<String, String> {
    let host = php_string(&space.host);
    let mut files = BTreeMap::new();
    files.insert(
        "framaspace.config.php".to_string(),
        fragment(
            "Identity, address and limits of the space.",
            &[
                ("instanceid", "getenv('FRAMASPACE_INSTANCEID')".into()),
                ("secret", "getenv('FRAMASPACE_SECRET')".into()),
                ("passwordsalt", "getenv('FRAMASPACE_PASSWORDSALT')".into()),
                ("trusted_domains", format!("array (0 => {host})")),
                (
                    "overwrite.cli.url",
                    php_string(&format!("https://{}", space.host)),
                ),
                ("overwritehost", host.clone()),
                ("overwriteprotocol", "'https'".into()),
                // Apps are chosen by the platform for every space alike, never from the app store.
                ("appstoreenabled", "false".into()),
                ("one-click-instance", "true".into()),
                (
                    "one-click-instance.user-limit",
                    space.max_accounts.to_string(),
                ),
                ("default_language", "'fr'".into()),
                ("default_locale", "'fr_FR'".into()),
                ("default_phone_region", "'FR'".into()),
                ("log_type", "'errorlog'".into()),
                ("loglevel", "2".into()),
                ("memcache.local", "'\\OC\\Memcache\\APCu'".into()),
            ],
        ),
    );
    files.insert(
        "database.config.php".to_string(),
        placeholder("Database: no DatabasePool is assigned to this space yet; see the DatabaseReady condition."),
    );
    files.insert(
        "redis.config.php".to_string(),
        placeholder("Cache and file locking: no CachePool is assigned to this space yet; see the CacheReady condition."),
    );
    files.insert(
        "objectstore.config.php".to_string(),
        placeholder(
            "Files: no StoragePool is assigned to this space yet; see the StorageReady condition.",
        ),
    );
    files.insert(
        "office.config.php".to_string(),
        placeholder(&format!(
            "Office suite {}: no backend is assigned to this space yet; see the OfficeReady condition.",
            space.office.as_str()
        )),
    );
    files
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::resolve::{resolve, tests as fixtures};

    fn resolved() -> ResolvedSpace {
        resolve(
            &fixtures::space("mon-asso"),
            &fixtures::class("standard", true),
        )
        .expect("resolves")
    }

    #[test]
    fn php_strings_are_escaped() {
        assert_eq!(php_string("l'asso"), r"'l\'asso'");
        assert_eq!(php_string(r"a\b"), r"'a\\b'");
    }

    #[test]
    fn main_fragment_has_host_and_user_limit() {
        let files = render(&resolved());
        let main = &files["framaspace.config.php"];
        assert!(main.starts_with("<?php\n"));
        assert!(main.contains("'trusted_domains' => array (0 => 'mon-asso.frama.space'),"));
        assert!(main.contains("'overwrite.cli.url' => 'https://mon-asso.frama.space',"));
        assert!(main.contains("'one-click-instance.user-limit' => 50,"));
        assert!(main.contains("'appstoreenabled' => false,"));
        assert!(main.contains("'secret' => getenv('FRAMASPACE_SECRET'),"));
    }

    #[test]
    fn backing_services_are_placeholders_until_assigned() {
        let files = render(&resolved());
        for f in [
            "database.config.php",
            "redis.config.php",
            "objectstore.config.php",
            "office.config.php",
        ] {
            assert!(files[f].contains("$CONFIG = array ();"), "{f}");
        }
    }

    #[test]
    fn every_secret_env_names_a_credential() {
        let keys: Vec<&str> = credentials::keys().collect();
        for (_, key) in SECRET_ENV {
            assert!(keys.contains(key));
        }
    }

    #[test]
    fn hash_follows_content() {
        let a = render(&resolved());
        let mut s = resolved();
        s.max_accounts = 10;
        let b = render(&s);
        assert_eq!(hash(&a), hash(&render(&resolved())));
        assert_ne!(hash(&a), hash(&b));
    }
}
