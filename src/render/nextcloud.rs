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
/// A pool's private CA, a key of the ConfigMap of fragments beside them (`prepare` copies only
/// `*.config.php`), so it is read where the ConfigMap is mounted.
pub const POSTGRES_CA_FILE: &str = "postgres-ca.crt";
pub const CACHE_CA_FILE: &str = "cache-ca.crt";
/// The public roots of the images (Debian's ca-certificates), for a pool without a CA of its
/// own: a file every libpq takes as `sslrootcert` (`system` needs libpq 16).
pub const SYSTEM_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// Where a Nextcloud pod reads a CA file of the ConfigMap.
pub fn ca_path(file: &str) -> String {
    format!("{CONFIG_SOURCE}/{file}")
}

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

/// How often every space runs its background jobs: the period `cron.php` is written for (it
/// works up to 14 minutes, "after 5 minutes the next system cron task should spawn").
pub const CRON_PERIOD_SECONDS: u64 = 300;

/// A number in `0..modulo` fixed by the space's name: the same space always gets the same, and
/// spaces spread evenly, so 10,000 of them never start their background jobs at one instant.
pub fn stagger(space: &str, modulo: u64) -> u64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(space.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % modulo.max(1)
}

/// The UTC hour the space's maintenance window opens (`maintenance_window_start`): Nextcloud
/// runs its time-insensitive jobs (expiries, cleanups) in the four hours after it
/// (`config.sample.php`). Staggered over 01:00-04:59 UTC, the European night.
pub fn maintenance_window_start(space: &str) -> u64 {
    1 + stagger(space, 4)
}

/// The start of every script that is a container's main process. The shell is PID 1 there, and
/// PID 1 of a PID namespace receives only the signals it has a handler for (pid_namespaces(7)):
/// a bare `sh -c` ignores the kubelet's SIGTERM until SIGKILL ends the grace period, and its
/// child (php) never sees it. A trap alone is not enough either: sh runs a trap only once its
/// foreground command has ended. So each long command runs through `run`: in the background,
/// waited for, with TERM and INT forwarded to it; the script then ends with 143.
pub const FORWARD_SIGNALS: &str = "child=
trap 'stopping=1; [ -z \"$child\" ] || kill -TERM \"$child\" 2>/dev/null' TERM INT
run() {
  \"$@\" & child=$!
  while :; do
    wait \"$child\" && s=0 || s=$?
    kill -0 \"$child\" 2>/dev/null || break
  done
  child=
  [ -z \"${stopping:-}\" ] || exit 143
  return \"$s\"
}
";

/// The background jobs of a space: `cron.php` every [`CRON_PERIOD_SECONDS`], at the second of
/// the period the space's name fixes, as uid 33 like the web server (cron.php refuses another
/// user than the owner of `config.php`). A run that fails is logged and the next one comes.
/// cron.php takes no lock of its own (`core/Service/CronService.php`, `runCli`: only its
/// 14-minute end time and each job's reservation bound it): one loop per pod, one run at a time,
/// so the web workload stays at one replica. SIGTERM ends the wait or the run at once.
///
/// A run starts only while the pod's own web server answers the health endpoint (installed,
/// normal mode, database at the code's version): after an upgrade's migration, the new
/// version's background jobs (trash and version expiry, preview cleanup) would delete objects
/// whose rows a restore of the snapshot brings back, so none runs before the new version
/// serves; once it served, no restore follows.
pub fn cron_script(space: &str, host: &str) -> String {
    let period = CRON_PERIOD_SECONDS;
    let offset = stagger(space, period);
    format!(
        "set -u
{FORWARD_SIGNALS}cd {CODE_DIR}
while :; do
  wait=$(( ({offset} - $(date +%s) % {period} + {period}) % {period} ))
  [ \"$wait\" -eq 0 ] && wait={period}
  run sleep \"$wait\"
  if php -r {serving}; then
    run php -f cron.php || echo \"cron.php exited with $?\" >&2
  else
    echo \"the web server does not serve {HEALTH_PATH} yet: cron.php waits for the next period\" >&2
  fi
done
",
        serving = serving_check(host)
    )
}

/// PHP that exits 0 when the pod's web server answers the health endpoint with 2xx, for the
/// space's own host (`file_get_contents` returns false on any other status).
fn serving_check(host: &str) -> String {
    format!(
        "'$c = stream_context_create([\"http\" => [\"header\" => \"Host: {host}\", \"timeout\" => 10]]); exit(@file_get_contents(\"http://127.0.0.1{HEALTH_PATH}\", false, $c) === false ? 1 : 0);'"
    )
}

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
        // An upgrade Job's own configuration says what its database holds, the version
        // `occ upgrade` compares with the code's (`OC_Util::needUpgrade`), and is written by it.
        "if [ -n \"${FRAMASPACE_UPGRADE_FROM:-}\" ]; then",
        "  case \"$FRAMASPACE_UPGRADE_FROM\" in *[!0-9.]*|'') echo \"not a version: $FRAMASPACE_UPGRADE_FROM\" >&2; exit 1;; esac",
        "  printf \"<?php\\n\\$CONFIG = array (\\n  'installed' => true,\\n  'version' => '%s',\\n);\\n\" \"$FRAMASPACE_UPGRADE_FROM\" > \"$run/config/config.php\"",
        "else",
        "  printf '<?php\\n$CONFIG = array (\\n);\\n' > \"$run/config/config.php\"",
        "fi",
        // The marker's content is what Setup writes; only its existence is checked. An install
        // starts from an empty data directory and writes its own.
        "if [ \"${FRAMASPACE_WRITABLE_CONFIG:-0}\" != 1 ] || [ -n \"${FRAMASPACE_UPGRADE_FROM:-}\" ]; then",
        "  printf '# Nextcloud data directory\\n# Do not change this file\\n' > \"$run/data/.ncdata\"",
        "fi",
    ]
    .join("\n")
        + "\n"
}

/// The end of every occ Job: what Nextcloud now says of itself, on stdout for `kubectl logs`
/// and in the termination message for the operator. Two JSON lines: `occ status`, then the ids
/// of the enabled apps, cut from `occ app:list --output=json` (`core/Command/App/ListApps.php`:
/// `{"enabled":{id:version},"disabled":{id:null}}`), whose versions would not fit the 4 KiB of
/// a termination message.
fn report() -> String {
    format!("{{ php occ status --output=json; php occ app:list --output=json | php -r {APP_IDS}; }} | tee {TERMINATION_LOG}\n")
}

/// The PHP that keeps the enabled app ids of `app:list`'s JSON.
const APP_IDS: &str =
    "'$l = json_decode(stream_get_contents(STDIN), true); echo json_encode([\"enabled\" => array_keys($l[\"enabled\"] ?? [])]), PHP_EOL;'";

/// What an install sets up besides Nextcloud itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InstallPlan {
    /// The class's validated apps, enabled right after the install.
    pub apps: Vec<String>,
    /// Send the association's account its welcome mail, with a link to choose a password (the
    /// class has an SMTP server).
    pub welcome: bool,
}

/// `occ maintenance:install` with the space's database and the operator's own `admin` account,
/// every value from the environment (the Secret's values never appear in the pod spec). Options
/// as `core/Command/Maintenance/Install.php` declares them; `--database-port` is appended to the
/// host there. Then the background jobs' mode, the class's apps, and the association's own
/// account at `spec.contactEmail`: created with a random password nobody ever sees
/// (`user:add --password-from-env`), and, with mail, its welcome mail carrying a link to choose
/// one (`user:welcome --reset-password`, `core/Command/User/Welcome.php`). A welcome that cannot
/// be sent does not undo the install: the platform can send it again with the same command.
pub fn install_script(plan: &InstallPlan) -> String {
    let mut s = format!("set -eu\n{FORWARD_SIGNALS}cd {CODE_DIR}\n");
    s.push_str(concat!(
        "run php occ maintenance:install --no-interaction --database pgsql",
        " --database-name \"$FRAMASPACE_DB_NAME\" --database-host \"$FRAMASPACE_DB_HOST\" --database-port \"$FRAMASPACE_DB_PORT\"",
        " --database-user \"$FRAMASPACE_DB_USER\" --database-pass \"$FRAMASPACE_DB_PASSWORD\"",
        " --admin-user \"$FRAMASPACE_ADMIN_USER\" --admin-pass \"$FRAMASPACE_ADMIN_PASSWORD\"",
        " --data-dir \"$FRAMASPACE_RUN/data\"\n"
    ));
    // Background jobs run from the cron container from the first minute: the admin overview
    // never shows the ajax mode, and cron.php finds the mode it expects.
    s.push_str("run php occ background:cron\n");
    // An app the image lacks must not undo the install: the report shows what got enabled, and
    // the apps step retries the rest in an apps Job, whose failure AppsReady reports.
    if !plan.apps.is_empty() {
        s.push_str(&format!(
            "run php occ app:enable {} || echo \"not every app of the class could be enabled\" >&2\n",
            plan.apps.join(" ")
        ));
    }
    s.push_str(concat!(
        "if ! php occ user:info \"$FRAMASPACE_CONTACT_USER\" >/dev/null 2>&1; then\n",
        "  OC_PASS=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \\n') php occ user:add --password-from-env",
        " --display-name \"$FRAMASPACE_CONTACT_NAME\" --group admin \"$FRAMASPACE_CONTACT_USER\"\n",
        "fi\n",
        "php occ user:setting \"$FRAMASPACE_CONTACT_USER\" settings email \"$FRAMASPACE_CONTACT_EMAIL\"\n",
    ));
    if plan.welcome {
        s.push_str(
            "php occ user:welcome --reset-password \"$FRAMASPACE_CONTACT_USER\" || echo \"the welcome mail could not be sent\" >&2\n",
        );
    }
    s.push_str(&report());
    s
}

/// What an image carries, without installing anything: the ids of the apps in its apps
/// directories (each has an `appinfo/info.xml`), space-separated, into the termination message.
pub fn inspect_script() -> String {
    format!(
        "set -eu\ncd {CODE_DIR}\nfor d in apps/*/ custom_apps/*/; do [ -f \"${{d}}appinfo/info.xml\" ] && basename \"$d\"; done | sort | tr '\\n' ' ' | tee {TERMINATION_LOG}\n"
    )
}

/// The app ids an inspection printed.
pub fn inspected_apps(output: &str) -> Vec<String> {
    output
        .split_whitespace()
        .filter(|w| w.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        .map(String::from)
        .collect()
}

/// The login of the association's own account: its contact address, with what Nextcloud does
/// not take in a user id (`lib/private/User/Manager.php`, `verifyUid()`: letters, digits and
/// ` _.@-'`) made `_`. People log in with it or with the address itself.
pub fn contact_user(contact_email: &str) -> String {
    contact_email.chars().map(|c| if c.is_ascii_alphanumeric() || "_.@-".contains(c) { c } else { '_' }).collect()
}

/// The ids of the apps enabled in the space, from the report's second line.
pub fn enabled_apps(output: &str) -> Option<Vec<String>> {
    #[derive(Deserialize)]
    struct Enabled {
        enabled: Vec<String>,
    }
    output
        .lines()
        .filter(|l| l.trim_start().starts_with('{'))
        .find_map(|l| serde_json::from_str::<Enabled>(l.trim()).ok())
        .map(|e| e.enabled)
}

/// Runs each command in order, stopping at the first failure, after `occ status --exit-code`
/// proved Nextcloud is in normal mode (1: maintenance, 2: upgrade needed;
/// `core/Command/Status.php`). `app:disable` of an app that is not enabled is not a failure.
pub fn occ_script(commands: &[String]) -> String {
    let mut s = format!("set -eu\n{FORWARD_SIGNALS}cd {CODE_DIR}\nphp occ status --exit-code\n");
    for c in commands {
        if c.starts_with("app:disable ") {
            s.push_str(&format!("run php occ {c} || true\n"));
        } else {
            s.push_str(&format!("run php occ {c}\n"));
        }
    }
    s.push_str(&report());
    s
}

/// One background run of a sleeping space: `cron.php` once, as the cron container runs it. It
/// runs every job that is due, at most one pass over the job list or 14 minutes
/// (`core/Service/CronService.php`, `runCli`), the time-insensitive ones only inside the space's
/// maintenance window, and records its end in `core/lastcron` (`run`), which the operator reads.
/// Without `-v` it prints nothing when it succeeds.
pub fn background_script() -> String {
    format!("set -eu\n{FORWARD_SIGNALS}cd {CODE_DIR}\nrun php -f cron.php\n")
}

/// The upgrade of a space to the image the Job runs (`core/Command/Upgrade.php`: exit 0 on
/// success or when already at the code's version, 5 when the Updater failed, with maintenance
/// kept on; 2 when in maintenance without an upgrade pending), then the indices, columns and
/// primary keys a release adds to existing installations (`core/Command/Db/AddMissing*.php`,
/// silent when nothing is missing). `set -e`: the first failure ends the Job, and its output is
/// the termination message.
pub fn upgrade_script() -> String {
    let mut s = format!("set -eu\n{FORWARD_SIGNALS}cd {CODE_DIR}\n");
    s.push_str("run php occ upgrade --no-interaction\n");
    for c in ["db:add-missing-columns", "db:add-missing-indices", "db:add-missing-primary-keys"] {
        s.push_str(&format!("run php occ {c} --no-interaction\n"));
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
        let s = install_script(&InstallPlan { apps: vec!["calendar".into(), "deck".into()], welcome: true });
        assert!(s.contains("--database-pass \"$FRAMASPACE_DB_PASSWORD\"") && s.contains("--admin-pass \"$FRAMASPACE_ADMIN_PASSWORD\""));
        assert!(!s.contains("--admin-email"), "the operator's admin account has no address: the contact's account has it");
        assert!(s.contains("php occ app:enable calendar deck || "), "a missing app does not fail the install");
        assert!(s.contains("OC_PASS=$(od -An -N32 -tx1 /dev/urandom"), "a random password generated in the pod, never known");
        assert!(s.contains("user:add --password-from-env") && s.contains("--group admin"));
        assert!(s.contains("php occ user:welcome --reset-password \"$FRAMASPACE_CONTACT_USER\""));
        assert!(s.ends_with("| tee /dev/termination-log\n"));
        let quiet = install_script(&InstallPlan::default());
        assert!(
            !quiet.contains("user:welcome") && !quiet.contains("app:enable"),
            "no mail server: no welcome; no apps listed: none enabled"
        );
        let o = occ_script(&["app:enable richdocuments".into(), "app:disable onlyoffice".into()]);
        assert!(
            o.contains("php occ status --exit-code\nrun php occ app:enable richdocuments\nrun php occ app:disable onlyoffice || true\n")
        );
    }

    #[test]
    fn background_jobs_are_staggered_and_run_as_cron_php_expects() {
        let offsets: std::collections::BTreeSet<u64> = (0..200).map(|i| stagger(&format!("space-{i}"), 300)).collect();
        assert!(offsets.len() > 100, "200 spaces spread over the period: {} distinct seconds", offsets.len());
        assert_eq!(stagger("collectif-velo", 300), stagger("collectif-velo", 300), "stable across reconciles and restarts");
        let hours: std::collections::BTreeSet<u64> = (0..50).map(|i| maintenance_window_start(&format!("s{i}"))).collect();
        assert_eq!(hours, (1..=4).collect(), "windows open at 01..04 UTC");
        let s = cron_script("collectif-velo", "collectif-velo.frama.space");
        assert!(s.contains(&format!("cd {CODE_DIR}\n")) && s.contains("php -f cron.php"));
        assert!(s.contains("Host: collectif-velo.frama.space") && s.contains("http://127.0.0.1/framaspace/health"), "{s}");
        assert!(s.contains(&format!("({} - $(date +%s) % 300 + 300) % 300", stagger("collectif-velo", 300))));
        assert!(install_script(&InstallPlan::default()).contains("php occ background:cron\n"), "cron mode from the install on");
    }

    /// Runs the cron loop for real with `sh`, `php` and `sleep` stubbed (`LOG` in their bodies is
    /// the path of a log they may write); returns that log and the loop's standard error.
    fn run_cron_loop(tag: &str, php: &str, sleep: &str) -> (String, String) {
        let root = std::env::temp_dir().join(format!("framaspace-{tag}-{}", std::process::id()));
        let bin = root.join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        let log = root.join("log").display().to_string();
        let stub = |name: &str, body: &str| {
            let p = bin.join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{}\n", body.replace("LOG", &log))).expect("write");
            std::process::Command::new("chmod").arg("755").arg(&p).status().expect("chmod");
        };
        stub("php", php);
        stub("sleep", sleep);
        let script = cron_script("collectif-velo", "collectif-velo.frama.space").replace(&format!("cd {CODE_DIR}"), "cd /");
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .output()
            .expect("sh runs");
        let logged = std::fs::read_to_string(&log).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&root);
        (logged, String::from_utf8_lossy(&out.stderr).into_owned())
    }

    /// The loop waits for its second of the period, runs cron.php, survives its failure and
    /// waits again.
    #[test]
    fn cron_loop_waits_runs_and_survives_a_failure() {
        // The health check answers (`php -r`), cron.php fails; after two runs of it the stubbed
        // sleep ends the loop: it signals its shell.
        let (logged, stderr) = run_cron_loop(
            "cron",
            "[ \"$1\" = -r ] && exit 0; echo \"php $*\" >> LOG; exit 3",
            "echo \"sleep $1\" >> LOG; [ \"$(grep -c php LOG)\" -lt 2 ] || kill -TERM $PPID",
        );
        let lines: Vec<&str> = logged.lines().collect();
        assert!(lines.len() >= 3, "{logged}");
        assert!(lines[0].starts_with("sleep ") && lines[1] == "php -f cron.php" && lines[2].starts_with("sleep "), "{logged}");
        let waited: u64 = lines[0].trim_start_matches("sleep ").parse().unwrap_or(0);
        assert!((1..=300).contains(&waited), "{logged}");
        assert!(stderr.contains("cron.php exited with 3"), "a failed run is logged");
    }

    /// While the pod's web server does not serve (an upgrade not yet verified), no cron.php runs.
    #[test]
    fn cron_waits_while_the_web_server_does_not_serve() {
        let (logged, stderr) = run_cron_loop(
            "cron-wait",
            "[ \"$1\" = -r ] && exit 1; echo \"php $*\" >> LOG",
            "echo sleep >> LOG; [ \"$(grep -c sleep LOG)\" -lt 3 ] || kill -TERM $PPID",
        );
        assert!(logged.lines().filter(|l| *l == "sleep").count() >= 2, "{logged}");
        assert!(!logged.contains("cron.php"), "{logged}");
        assert!(stderr.contains("cron.php waits for the next period"));
    }

    /// The cron loop as a container's PID 1 (a PID namespace of its own, as root; a plain child
    /// elsewhere): SIGTERM ends it and what it runs at once, not at the kubelet's SIGKILL.
    #[test]
    fn sigterm_ends_the_cron_loop_and_its_command_at_once() {
        use std::time::{Duration, Instant};
        let root = std::env::temp_dir().join(format!("framaspace-term-{}", std::process::id()));
        std::fs::create_dir_all(&root).expect("mkdir");
        let script = cron_script("collectif-velo", "collectif-velo.frama.space").replace(&format!("cd {CODE_DIR}"), "cd /");
        let namespaced = std::process::Command::new("unshare").args(["-p", "-f", "true"]).status().map(|s| s.success()).unwrap_or(false);
        let mut cmd = if namespaced {
            let mut c = std::process::Command::new("unshare");
            c.args(["-p", "-f", "--kill-child=KILL", "sh", "-c"]);
            c
        } else {
            let mut c = std::process::Command::new("sh");
            c.arg("-c");
            c
        };
        // The sleep the loop starts tells where it is; the loop is then signalled.
        let marker = root.join("sleeping");
        let script = script.replace("run sleep \"$wait\"", &format!("run sh -c 'echo $$ > {}; exec sleep 300'", marker.display()));
        let mut child = cmd.arg(&script).spawn().expect("sh runs");
        let started = Instant::now();
        while !marker.exists() && started.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(marker.exists(), "the loop waits in its sleep");
        std::thread::sleep(Duration::from_millis(100));
        // The shell: the unshare's child in a namespace, the spawned process otherwise.
        let shell = if namespaced {
            let kids = std::fs::read_to_string(format!("/proc/{}/task/{}/children", child.id(), child.id())).unwrap_or_default();
            kids.split_whitespace().next().and_then(|p| p.parse::<u32>().ok()).expect("the namespaced shell")
        } else {
            child.id()
        };
        let sleeper = std::fs::read_to_string(&marker).unwrap_or_default().trim().parse::<u32>().unwrap_or(0);
        std::process::Command::new("kill").args(["-TERM", &shell.to_string()]).status().expect("kill");
        let signalled = Instant::now();
        let mut ended = None;
        while signalled.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(status)) = child.try_wait() {
                ended = Some(status);
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if ended.is_none() {
            let _ = child.kill();
        }
        let _ = child.wait();
        let sleeper_left = !namespaced && sleeper > 0 && std::path::Path::new(&format!("/proc/{sleeper}")).exists();
        if sleeper_left {
            let _ = std::process::Command::new("kill").args(["-KILL", &sleeper.to_string()]).status();
        }
        let _ = std::fs::remove_dir_all(&root);
        assert!(ended.is_some(), "SIGTERM ended the loop (PID 1 in a namespace: {namespaced})");
        assert!(!sleeper_left, "and the command it waited on");
    }

    #[test]
    fn the_report_gives_status_and_enabled_apps() {
        let out = "{\"installed\":true,\"version\":\"33.0.7.2\",\"versionstring\":\"33.0.7\",\"maintenance\":false,\"needsDbUpgrade\":false}\n{\"enabled\":[\"activity\",\"calendar\"]}\n";
        assert!(OccStatus::parse(out).expect("status").serving());
        assert_eq!(enabled_apps(out), Some(vec!["activity".to_string(), "calendar".to_string()]));
        assert_eq!(enabled_apps("{\"installed\":true}"), None);
        assert_eq!(contact_user("marie+velo@asso.org"), "marie_velo@asso.org");
        // The PHP that trims app:list, run by Debian's php-cli on what app:list prints.
        let php = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "echo '{{\"enabled\":{{\"activity\":\"5.0.0\",\"dav\":\"1.33.0\"}},\"disabled\":{{\"deck\":null}}}}' | php -r {APP_IDS}"
            ))
            .output();
        if let Ok(o) = php {
            assert_eq!(
                String::from_utf8_lossy(&o.stdout),
                "{\"enabled\":[\"activity\",\"dav\"]}\n",
                "{}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }

    /// The inspection run for real with `sh` over a fake code tree.
    #[test]
    fn the_inspection_lists_the_apps_of_the_image() {
        let root = std::env::temp_dir().join(format!("framaspace-inspect-{}", std::process::id()));
        for app in ["apps/files", "apps/twofactor_totp", "custom_apps/richdocuments"] {
            std::fs::create_dir_all(root.join(app).join("appinfo")).expect("mkdir");
            std::fs::write(root.join(app).join("appinfo/info.xml"), "<info/>").expect("write");
        }
        std::fs::create_dir_all(root.join("apps/not_an_app")).expect("mkdir");
        let log = root.join("termination-log");
        let script = inspect_script().replace(CODE_DIR, &root.display().to_string()).replace(TERMINATION_LOG, &log.display().to_string());
        let ok = std::process::Command::new("sh").arg("-c").arg(&script).status().expect("sh runs");
        assert!(ok.success());
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        assert_eq!(inspected_apps(&said), ["files", "richdocuments", "twofactor_totp"], "{said:?}");
        let _ = std::fs::remove_dir_all(&root);
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
