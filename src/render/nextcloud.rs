//! How a space's Nextcloud is laid out in its pods, the scripts its containers run, and what the
//! operator reads back from them. Pure: the pod objects are in `objects`.
//!
//! The layout (checked against nextcloud/server and nextcloud/docker, see the notes at each item):
//! - the code is served from the image, read-only, at [`CODE_DIR`] (the official image unpacks the
//!   release there, `33/apache/Dockerfile`; the project's image makes it Apache's DocumentRoot);
//! - the configuration directory is [`CONFIG_DIR`] on an emptyDir, named by `NEXTCLOUD_CONFIG_DIR`
//!   (`lib/base.php` `initPaths()` reads it, and `console.php`/`occ` and `cron.php` use it too);
//! - a `prepare` init container, as uid 33, copies the operator's fragments there and writes an
//!   empty `config.php` owned by 33 (occ and cron.php refuse to run unless the running uid owns
//!   `config.php`: `console.php`, "Console has to be executed with the user that owns the file
//!   config/config.php"), and creates the data directory with its `.ncdata` marker, which
//!   `OC_Util::checkDataDirectoryValidity()` looks for on every request;
//! - `installed`, `version` and `config_is_read_only` come from the operator's `state.config.php`
//!   (Nextcloud merges `config.php` then `*.config.php` in natural order, `lib/private/Config.php`
//!   `readData()`), so a new pod knows at once what the database holds, and nothing Nextcloud does
//!   at runtime writes a file (`Config::checkReadOnly()`).

use serde::Deserialize;

/// The Nextcloud code in the image.
pub const CODE_DIR: &str = "/usr/src/nextcloud";
/// The emptyDir that holds the configuration and the data directory of a pod.
pub const RUN_DIR: &str = "/run/nextcloud";
pub const CONFIG_DIR: &str = "/run/nextcloud/config";
pub const DATA_DIR: &str = "/run/nextcloud/data";
/// Where the ConfigMap of fragments is mounted, read-only, for the `prepare` container to copy.
pub const CONFIG_SOURCE: &str = "/etc/framaspace/config";
/// The fragment that says the space is installed, at which version, and that its configuration
/// is read-only. Left out of an install Job's configuration (the installer writes its own).
pub const STATE_FILE: &str = "state.config.php";
/// The project's image answers this path with 200 only when Nextcloud serves its users
/// (`images/nextcloud/health.php`): installed, not in maintenance, no upgrade pending.
pub const HEALTH_PATH: &str = "/framaspace/health";
/// The admin account the install creates.
pub const ADMIN_USER: &str = "admin";
/// Where occ writes the JSON of `occ status` at the end of a Job: the kubelet copies this file
/// into the container's termination message, which the operator reads.
pub const TERMINATION_LOG: &str = "/dev/termination-log";

/// Creates the configuration directory and the data directory of a pod. Runs as uid 33 in the
/// `prepare` init container of every Nextcloud pod; `FRAMASPACE_WRITABLE_CONFIG=1` (install
/// Jobs) leaves the state fragment out, so the installer writes a configuration of its own.
pub fn prepare_script() -> String {
    [
        "set -eu",
        "umask 0027",
        "run=\"${FRAMASPACE_RUN:?}\"; src=\"${FRAMASPACE_CONFIG_SOURCE:?}\"",
        "mkdir -p \"$run/config\" \"$run/data\"",
        "chmod 0770 \"$run/data\"",
        "for f in \"$src\"/*.config.php; do",
        &format!("  if [ \"$(basename \"$f\")\" = {STATE_FILE} ] && [ \"${{FRAMASPACE_WRITABLE_CONFIG:-0}}\" = 1 ]; then continue; fi"),
        "  cp \"$f\" \"$run/config/\"",
        "done",
        "printf '<?php\\n$CONFIG = array (\\n);\\n' > \"$run/config/config.php\"",
        // The marker's content is what Setup writes; only its existence is checked. An install
        // starts from an empty data directory and writes its own.
        "if [ \"${FRAMASPACE_WRITABLE_CONFIG:-0}\" != 1 ]; then",
        "  printf '# Nextcloud data directory\\n# Do not change this file\\n' > \"$run/data/.ncdata\"",
        "fi",
    ]
    .join("\n")
        + "\n"
}

/// The end of every occ Job: what Nextcloud now says of itself, on stdout for `kubectl logs`
/// and in the termination message for the operator.
fn report() -> String {
    format!("php occ status --output=json | tee {TERMINATION_LOG}\n")
}

/// `occ maintenance:install` with the space's database and admin, every value from the
/// environment (the Secret's values never appear in the pod spec). Options as
/// `core/Command/Maintenance/Install.php` declares them; `--database-port` is appended to the
/// host there.
pub fn install_script() -> String {
    let mut s = format!("set -eu\ncd {CODE_DIR}\n");
    s.push_str(concat!(
        "php occ maintenance:install --no-interaction --database pgsql",
        " --database-name \"$FRAMASPACE_DB_NAME\" --database-host \"$FRAMASPACE_DB_HOST\" --database-port \"$FRAMASPACE_DB_PORT\"",
        " --database-user \"$FRAMASPACE_DB_USER\" --database-pass \"$FRAMASPACE_DB_PASSWORD\"",
        " --admin-user \"$FRAMASPACE_ADMIN_USER\" --admin-pass \"$FRAMASPACE_ADMIN_PASSWORD\" --admin-email \"$FRAMASPACE_ADMIN_EMAIL\"",
        " --data-dir \"$FRAMASPACE_RUN/data\"\n"
    ));
    s.push_str(&report());
    s
}

/// Runs each command in order, stopping at the first failure, after `occ status --exit-code`
/// proved Nextcloud is in normal mode (1: maintenance, 2: upgrade needed;
/// `core/Command/Status.php`). `app:disable` of an app that is not enabled is not a failure.
pub fn occ_script(commands: &[String]) -> String {
    let mut s = format!("set -eu\ncd {CODE_DIR}\nphp occ status --exit-code\n");
    for c in commands {
        if c.starts_with("app:disable ") {
            s.push_str(&format!("php occ {c} || true\n"));
        } else {
            s.push_str(&format!("php occ {c}\n"));
        }
    }
    s.push_str(&report());
    s
}

/// What `occ status --output=json` prints (`core/Command/Status.php`): one JSON object; newer
/// releases add fields (`database`) and, when not installed, a comment line after it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OccStatus {
    pub installed: bool,
    /// Four parts, from the code's `version.php` (`$OC_Version`).
    pub version: String,
    #[serde(rename = "versionstring")]
    pub version_string: String,
    #[serde(default)]
    pub maintenance: bool,
    #[serde(default)]
    pub needs_db_upgrade: bool,
}

impl OccStatus {
    /// The first line of `output` that is the JSON of `occ status`.
    pub fn parse(output: &str) -> Option<OccStatus> {
        output.lines().filter(|l| l.trim_start().starts_with('{')).find_map(|l| serde_json::from_str(l.trim()).ok())
    }

    /// Whether this Nextcloud serves its users: installed, in normal mode, its database at the
    /// code's version.
    pub fn serving(&self) -> bool {
        self.installed && !self.maintenance && !self.needs_db_upgrade
    }
}

/// The last lines of a failed container's output (the kubelet's `FallbackToLogsOnError`), made
/// one short line for a condition message.
pub fn summarize(output: &str, max: usize) -> String {
    let joined = output.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" | ");
    if joined.chars().count() <= max {
        return joined;
    }
    let tail: String = joined.chars().rev().take(max).collect::<Vec<_>>().into_iter().rev().collect();
    format!("…{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_output_is_read_as_occ_prints_it() {
        // `occ status --output=json` of 33 (core/Command/Status.php): one line of JSON.
        let out = r#"{"installed":true,"version":"33.0.7.2","versionstring":"33.0.7","edition":"","maintenance":false,"needsDbUpgrade":false,"productname":"Nextcloud","extendedSupport":false,"database":"connected"}"#;
        let s = OccStatus::parse(&format!("Nextcloud was successfully installed\n{out}\n")).expect("parsed");
        assert!(s.serving());
        assert_eq!((s.version.as_str(), s.version_string.as_str()), ("33.0.7.2", "33.0.7"));
        let maintenance = out.replace("\"maintenance\":false", "\"maintenance\":true");
        assert!(!OccStatus::parse(&maintenance).expect("parsed").serving());
        let not_installed = r#"{"installed":false,"version":"33.0.7.2","versionstring":"33.0.7","edition":"","maintenance":false,"needsDbUpgrade":false}
Nextcloud is not installed yet"#;
        assert!(!OccStatus::parse(not_installed).expect("parsed").serving());
        assert_eq!(OccStatus::parse("Could not open input file: occ"), None);
    }

    #[test]
    fn scripts_take_secrets_from_the_environment_only() {
        let s = install_script();
        assert!(s.contains("--database-pass \"$FRAMASPACE_DB_PASSWORD\"") && s.contains("--admin-pass \"$FRAMASPACE_ADMIN_PASSWORD\""));
        assert!(s.contains("--admin-email \"$FRAMASPACE_ADMIN_EMAIL\""));
        assert!(s.ends_with("php occ status --output=json | tee /dev/termination-log\n"));
        let o = occ_script(&["app:enable richdocuments".into(), "app:disable onlyoffice".into()]);
        assert!(o.contains("php occ status --exit-code\nphp occ app:enable richdocuments\nphp occ app:disable onlyoffice || true\n"));
    }

    #[test]
    fn long_failures_keep_their_end() {
        assert_eq!(summarize("a\n\n b \n", 10), "a | b");
        let s = summarize(&"x".repeat(50), 10);
        assert_eq!(s.chars().count(), 11);
        assert!(s.starts_with('…'));
    }

    /// The prepare script run for real with `sh` in a temporary directory: the read-only layout
    /// of a web pod, then the writable one of an install Job.
    #[test]
    fn prepare_script_lays_out_config_and_data() {
        let root = std::env::temp_dir().join(format!("framaspace-prepare-{}", std::process::id()));
        let src = root.join("src");
        let run = root.join("run");
        std::fs::create_dir_all(&src).expect("mkdir");
        for f in ["framaspace.config.php", STATE_FILE, "redis.config.php"] {
            std::fs::write(src.join(f), "<?php\n$CONFIG = array ();\n").expect("write");
        }
        let sh = |writable: &str| {
            std::process::Command::new("sh")
                .arg("-c")
                .arg(prepare_script())
                .env("FRAMASPACE_RUN", &run)
                .env("FRAMASPACE_CONFIG_SOURCE", &src)
                .env("FRAMASPACE_WRITABLE_CONFIG", writable)
                .status()
                .expect("sh runs")
        };
        assert!(sh("0").success());
        assert!(run.join("config").join(STATE_FILE).exists());
        assert!(run.join("config/redis.config.php").exists());
        assert_eq!(std::fs::read_to_string(run.join("config/config.php")).unwrap_or_default(), "<?php\n$CONFIG = array (\n);\n");
        assert!(std::fs::read_to_string(run.join("data/.ncdata")).unwrap_or_default().starts_with("# Nextcloud data directory"));
        std::fs::remove_dir_all(&run).expect("clean");
        assert!(sh("1").success());
        assert!(!run.join("config").join(STATE_FILE).exists(), "an install Job's configuration has no state fragment");
        assert!(!run.join("data/.ncdata").exists(), "an install starts from an empty data directory");
        assert!(run.join("config/framaspace.config.php").exists());
        let _ = std::fs::remove_dir_all(&root);
    }
}
