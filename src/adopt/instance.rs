//! One existing Nextcloud as its configuration describes it, and what the operator needs of it
//! to adopt it. The configuration is read the way Nextcloud writes it: `lib/private/Config.php`
//! `writeData()` writes `<?php\n$CONFIG = ` + `var_export($this->cache, true)` + `;\n`, a PHP
//! literal (parsed with `php-literal-parser`, never evaluated); or as `occ config:list system
//! --private` prints it (JSON `{"system": {...}}`), for a config.php that holds code (`getenv()`).

use php_literal_parser::Value;
use serde_json::Value as Json;
use thiserror::Error;

/// Why one instance cannot be mapped; the message names what to do.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct Unmappable(pub String);

/// What is read of one instance's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceConfig {
    pub instance_id: String,
    pub secret: String,
    pub password_salt: String,
    /// config.php's `version` (four parts).
    pub version: String,
    pub host: String,
    /// `dbhost` with its port (`host:port`, 5432 when it has none).
    pub db_endpoint: String,
    pub db_name: String,
    pub db_user: String,
    pub db_password: String,
    /// The object store's `hostname:port`.
    pub s3_endpoint: String,
    pub bucket: String,
    pub s3_key: String,
    pub s3_secret: String,
}

/// A configuration as a JSON value, whichever form it came in.
pub fn parse(text: &str) -> Result<Json, Unmappable> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') {
        let v: Json = serde_json::from_str(trimmed).map_err(|e| Unmappable(format!("not JSON from occ config:list: {e}")))?;
        return Ok(v.get("system").cloned().unwrap_or(v));
    }
    let start = text.find("$CONFIG").ok_or_else(|| Unmappable("no $CONFIG in the file: not a Nextcloud config.php".into()))?;
    let rest = &text[start + "$CONFIG".len()..];
    let rest = rest.trim_start().strip_prefix('=').ok_or_else(|| Unmappable("$CONFIG is not assigned a literal".into()))?;
    let end = rest.rfind(';').ok_or_else(|| Unmappable("the $CONFIG assignment does not end".into()))?;
    let value: Value = php_literal_parser::from_str(&rest[..end]).map_err(|e| {
        Unmappable(format!(
            "$CONFIG is not a plain literal ({e}): export it with `occ config:list system --private > config.json` and pass that file"
        ))
    })?;
    Ok(to_json(&value))
}

fn to_json(v: &Value) -> Json {
    match v {
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::String(s) => Json::String(s.clone()),
        Value::Null => Json::Null,
        Value::Array(map) => {
            let list = map.keys().enumerate().all(|(i, k)| k.clone().into_int() == Some(i as i64));
            if list && !map.is_empty() {
                Json::Array(map.values().map(to_json).collect())
            } else {
                Json::Object(map.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect())
            }
        }
    }
}

fn text(v: &Json) -> Option<String> {
    match v {
        Json::String(s) if !s.is_empty() => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// What the operator needs, or every reason it cannot map the instance.
pub fn map(config: &Json) -> Result<InstanceConfig, Unmappable> {
    let missing = std::cell::RefCell::new(Vec::<String>::new());
    let need = |key: &str, v: &Json| -> String {
        text(v).unwrap_or_else(|| {
            missing.borrow_mut().push(format!("{key} is missing"));
            String::new()
        })
    };
    let instance_id = need("instanceid", &config["instanceid"]);
    let secret = need("secret", &config["secret"]);
    let password_salt = need("passwordsalt", &config["passwordsalt"]);
    let version = need("version", &config["version"]);
    let db_name = need("dbname", &config["dbname"]);
    let db_user = need("dbuser", &config["dbuser"]);
    let db_password = need("dbpassword", &config["dbpassword"]);
    let db_host = need("dbhost", &config["dbhost"]);
    let store = &config["objectstore"];
    let args = &store["arguments"];
    let bucket = need("objectstore.arguments.bucket", &args["bucket"]);
    let s3_key = need("objectstore.arguments.key", &args["key"]);
    let s3_secret = need("objectstore.arguments.secret", &args["secret"]);
    let s3_host = need("objectstore.arguments.hostname", &args["hostname"]);
    let mut problems = missing.take();
    let host = match config["trusted_domains"].get(0).and_then(text) {
        Some(h) => h.to_ascii_lowercase(),
        None => {
            problems.push("trusted_domains is empty: the space's host cannot be known".into());
            String::new()
        }
    };
    let dbtype = text(&config["dbtype"]).unwrap_or_default();
    if dbtype != "pgsql" {
        problems.push(format!("dbtype is {:?}: the operator's DatabasePools are PostgreSQL", dbtype));
    }
    if let Some(prefix) = text(&config["dbtableprefix"]).filter(|p| p != "oc_") {
        problems.push(format!("dbtableprefix is {prefix:?}: the operator reads Nextcloud's tables as oc_*"));
    }
    let class = text(&store["class"]).unwrap_or_default();
    if store.is_null() {
        problems.push("no objectstore: the operator's spaces keep their files in a bucket (primary object storage)".into());
    } else if class.trim_start_matches('\\') != "OC\\Files\\ObjectStore\\S3" {
        problems.push(format!("objectstore.class is {class:?}: only OC\\Files\\ObjectStore\\S3 is adopted"));
    }
    if !config["objectstore_multibucket"].is_null() || args["multibucket"] == Json::Bool(true) {
        problems.push("a multibucket object store spreads the space over many buckets: only one bucket is adopted".into());
    }
    if let Some(prefix) = text(&args["objectPrefix"]).filter(|p| p != "urn:oid:") {
        problems
            .push(format!("objectstore.arguments.objectPrefix is {prefix:?}: the operator's spaces name their objects urn:oid:<fileid>"));
    }
    if !problems.is_empty() {
        return Err(Unmappable(problems.join("; ")));
    }
    let db_endpoint = match (db_host.rsplit_once(':'), text(&config["dbport"])) {
        (Some((h, p)), _) if p.parse::<u16>().is_ok() => format!("{h}:{p}"),
        (_, Some(port)) => format!("{db_host}:{port}"),
        _ => format!("{db_host}:5432"),
    };
    let s3_port = text(&args["port"]).unwrap_or_else(|| if args["use_ssl"] == Json::Bool(false) { "80".into() } else { "443".into() });
    Ok(InstanceConfig {
        instance_id,
        secret,
        password_salt,
        version,
        host,
        db_endpoint,
        db_name,
        db_user,
        db_password,
        s3_endpoint: format!("{s3_host}:{s3_port}"),
        bucket,
        s3_key,
        s3_secret,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As `var_export` writes it (PHP 8: `array (`, `0 => ` keys, `\'` escapes, `true`).
    const CONFIG_PHP: &str = r#"<?php
$CONFIG = array (
  'instanceid' => 'oc8a2hdk31zq',
  'passwordsalt' => 'Ab/c+d\'e',
  'secret' => 'S3cr3t',
  'trusted_domains' => 
  array (
    0 => 'Asso.frama.space',
  ),
  'datadirectory' => '/var/www/html/data',
  'dbtype' => 'pgsql',
  'version' => '33.0.7.2',
  'overwrite.cli.url' => 'https://asso.frama.space',
  'dbname' => 'nc_asso',
  'dbhost' => 'pg.internal:5433',
  'dbport' => '',
  'dbtableprefix' => 'oc_',
  'dbuser' => 'nc_asso',
  'dbpassword' => 'dbpw',
  'installed' => true,
  'objectstore' => 
  array (
    'class' => '\\OC\\Files\\ObjectStore\\S3',
    'arguments' => 
    array (
      'bucket' => 'nc-asso',
      'key' => 'AK',
      'secret' => 'SK',
      'hostname' => 's3.internal',
      'port' => 9000,
      'use_ssl' => false,
      'use_path_style' => true,
    ),
  ),
  'memcache.local' => '\\OC\\Memcache\\APCu',
);
"#;

    #[test]
    fn a_config_php_as_nextcloud_writes_it_maps() {
        let c = map(&parse(CONFIG_PHP).expect("parses")).expect("maps");
        assert_eq!(c.host, "asso.frama.space");
        assert_eq!(c.password_salt, "Ab/c+d'e");
        assert_eq!(c.db_endpoint, "pg.internal:5433");
        assert_eq!(c.s3_endpoint, "s3.internal:9000");
        assert_eq!((c.bucket.as_str(), c.s3_key.as_str(), c.version.as_str()), ("nc-asso", "AK", "33.0.7.2"));
    }

    #[test]
    fn occ_config_list_json_maps_too() {
        let json = r#"{"system": {"instanceid": "oc1", "passwordsalt": "p", "secret": "s", "trusted_domains": ["a.frama.space"],
            "dbtype": "pgsql", "version": "33.0.7.2", "dbname": "d", "dbhost": "pg", "dbuser": "u", "dbpassword": "x",
            "objectstore": {"class": "OC\\Files\\ObjectStore\\S3", "arguments": {"bucket": "b-1", "key": "k", "secret": "s", "hostname": "s3"}}}}"#;
        let c = map(&parse(json).expect("parses")).expect("maps");
        assert_eq!((c.db_endpoint.as_str(), c.s3_endpoint.as_str()), ("pg:5432", "s3:443"));
    }

    #[test]
    fn what_cannot_be_adopted_is_refused_with_every_reason() {
        let mysql = CONFIG_PHP.replace("'pgsql'", "'mysql'").replace("  'secret' => 'S3cr3t',\n", "");
        let e = map(&parse(&mysql).expect("parses")).expect_err("refused");
        assert!(e.0.contains("dbtype is \"mysql\"") && e.0.contains("secret is missing"), "{e}");
        let code = "<?php\n$CONFIG = array ('dbpassword' => getenv('DB'));\n";
        assert!(parse(code).expect_err("refused").0.contains("occ config:list system --private"));
        let local = CONFIG_PHP.replace("'objectstore' => ", "'objectstore_off' => ");
        assert!(map(&parse(&local).expect("parses")).expect_err("refused").0.contains("no objectstore"));
    }
}
