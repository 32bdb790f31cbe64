#!/usr/bin/env python3
"""The kubelet and occ of the local environment, for occ Job pods only (KWOK's stages leave pods
labelled frama.space/occ alone, see cluster-up.sh).

No container runs here, so this plays what the real ones would do, as they would print it:
- the install Job (`maintenance:install` then `occ status --output=json`): as the space's own
  PostgreSQL role, the way Setup does (`lib/private/Setup.php` install(): migrations create the
  oc_* tables in the role's search_path, then `core/installedat` once the admin exists), against
  the real PostgreSQL of the environment, so the operator's "already installed" check reads what
  a real install leaves; then the JSON line `core/Command/Status.php` prints;
- any other occ Job: each command's usual output line, then that JSON;
- every Job ends with the ids of the enabled apps, cut from `occ app:list --output=json`
  (`core/Command/App/ListApps.php`); which apps are enabled is kept where Nextcloud keeps it,
  `oc_appconfig` (`<app>`, `enabled`, `yes`) in the space's real database, so installs, office
  and apps Jobs see one another's changes; `app:enable` prints what `core/Command/App/Enable.php`
  prints ("<id> <version> enabled", "<id> already enabled", "<id> not found" and exit 1 for an
  app the image does not carry);
- an image inspection (`frama.space/occ=inspect`, in the operator's namespace): the ids of the
  image's apps, as `ls`-ing its apps directories prints them;
- the pod's end: phase Succeeded or Failed, the `occ` container terminated with the termination
  message the kubelet would copy (the file on success, the end of the logs on failure because of
  `terminationMessagePolicy: FallbackToLogsOnError`).

- an upgrade Job (`frama.space/occ=upgrade`): `occ upgrade` as `core/Command/Upgrade.php` prints
  it (the Updater's listeners: "Setting log level to debug", "Turned on maintenance mode",
  "Updating database schema", ... "Update successful", "Turned off maintenance mode"; on failure
  the exception, "Update failed", "Maintenance mode is kept active" and exit 5), from the version
  its configuration starts at (`FRAMASPACE_UPGRADE_FROM` of its prepare container) to the image's.
  Like `Updater::isUpgradePossible`, a skipped major or a downgrade fails before anything is
  written. A migration changes the real database: a table of the new major's schema and each
  enabled app's `installed_version` in `oc_appconfig`; then `db:add-missing-*` print nothing
  (nothing is missing, `core/Command/Db/AddMissingIndices.php`) and the report follows;
- a snapshot or restore Job (`frama.space/occ=snapshot|restore`): its script is run for real, here,
  with the pod's environment: the real `pg_dump`/`pg_restore`/`psql` against the real PostgreSQL
  (over TLS with `verify-full` where the pool says so, the CA from the space's ConfigMap as the
  kubelet projects it) and `curl --aws-sigv4` against the real MinIO or Garage, so what the
  operator relies on is what those programs do; its work volume a tmpfs of the volume's size
  limit, as a memory-backed emptyDir is; its client tools of the image's major (`snapshot:<N>`:
  a major other than the host's says so to `--version`);

Outcomes per namespace, chosen by the tests in $STATE_DIR/occ-sim/<namespace> (one word):
`fail` (the install cannot log in to PostgreSQL, every attempt), `slow:<seconds>` (the pod runs
that long first), `maintenance` (occ succeeds but Nextcloud reports maintenance mode),
`upgrade-drops:<app>` (`occ upgrade` disables that app as incompatible and succeeds),
`upgrade-fail` (the upgrade's migration stops midway with a database error, after writing part
of the new schema; `upgrade-fail:<seconds>` after working that long).
"""

import base64
import hashlib
import concurrent.futures
import http.client
import json
import shlex
import os
import ssl
import subprocess
import sys
import threading
import time

STATE = os.environ["STATE_DIR"]
PORT = int(os.environ.get("APISERVER_PORT", "26443"))
PKI = os.path.join(STATE, "pki")
SCENARIOS = os.path.join(STATE, "occ-sim")
PG_PORT = os.environ.get("PG_PORT", "25432")
# What the pinned image's version.php holds ($OC_Version / $OC_VersionString); the 4th part is
# Nextcloud's internal patch level, whatever it is the operator records what occ printed.
VERSIONS = {"33.0.7": "33.0.7.2"}
# The apps of the pinned image: a sample of the release's shipped apps (those Nextcloud enables
# at install: an approximation of 33's core/shipped.json "defaultEnabled", not read from the
# tarball), the apps images/nextcloud/apps.lock bakes in and the platform's framaspace_quota that
# the Dockerfile copies in. Versions are the sim's own.
DEFAULT_ENABLED = ["activity", "circles", "cloud_federation_api", "comments", "contactsinteraction", "dashboard", "dav",
                   "federatedfilesharing", "federation", "files", "files_pdfviewer", "files_reminders", "files_sharing",
                   "files_trashbin", "files_versions", "firstrunwizard", "logreader", "lookup_server_connector",
                   "nextcloud_announcements", "notifications", "oauth2", "password_policy", "photos", "privacy",
                   "provisioning_api", "recommendations", "related_resources", "serverinfo", "settings", "sharebymail",
                   "support", "survey_client", "systemtags", "text", "theming", "twofactor_backupcodes",
                   "updatenotification", "user_status", "viewer", "weather_status", "workflowengine"]
SHIPPED_DISABLED = ["admin_audit", "bruteforcesettings", "encryption", "files_external", "suspicious_login",
                    "twofactor_totp", "user_ldap", "webhook_listeners"]
BAKED = ["richdocuments", "onlyoffice", "framaspace_quota", "calendar", "contacts", "deck", "collectives", "spreed"]
IMAGE_APPS = set(DEFAULT_ENABLED + SHIPPED_DISABLED + BAKED)


def tag_of(image):
    """The tag of `repo:tag` or `repo:tag@sha256:...` (an image pinned by digest)."""
    return image.split("@", 1)[0].rsplit(":", 1)[-1]


def image_id(image):
    """What the kubelet reports as a container's imageID: the repository and the content's digest
    (containerd's `repo@sha256:...`); here a digest of the reference, so one image, one digest."""
    unpinned = image.split("@", 1)[0]
    repo = unpinned.rsplit(":", 1)[0] if ":" in unpinned.rsplit("/", 1)[-1] else unpinned
    digest = image.split("@", 1)[1] if "@" in image else "sha256:" + hashlib.sha256(unpinned.encode()).hexdigest()
    return f"{repo}@{digest}"


def apps_of(image):
    """The apps an image carries: all of the above, but for those its tag says it was built
    without (`<version>-without-<app>[-without-<app>...]`, a test's way to name a bad build)."""
    tag = tag_of(image)
    return IMAGE_APPS - set(tag.split("-without-")[1:])

ctx = ssl.create_default_context(cafile=os.path.join(PKI, "ca.crt"))
ctx.load_cert_chain(os.path.join(PKI, "admin.crt"), os.path.join(PKI, "admin.key"))


LOG_LOCK = threading.Lock()


def say(line, stream=sys.stdout):
    """One line of the log, written whole: pods are played concurrently, and print() writes the
    text and its newline in two calls, so two pods' lines could run into one (the tests grep
    the log line by line)."""
    with LOG_LOCK:
        stream.write(line + "\n")
        stream.flush()


def api(method, path, body=None, content_type="application/json"):
    conn = http.client.HTTPSConnection("127.0.0.1", PORT, context=ctx, timeout=10)
    headers = {"Content-Type": content_type} if body is not None else {}
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    if r.status >= 300:
        raise RuntimeError(f"{method} {path}: {r.status} {data[:200]!r}")
    return json.loads(data)


def scenario(ns):
    try:
        with open(os.path.join(SCENARIOS, ns)) as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


def env_of(pod, ns):
    """The container's environment as the kubelet resolves it (Secret references included)."""
    container = next(c for c in pod["spec"]["containers"] if c["name"] == "occ")
    env, secrets = {}, {}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        elif "valueFrom" in e and "secretKeyRef" in e["valueFrom"]:
            ref = e["valueFrom"]["secretKeyRef"]
            if ref["name"] not in secrets:
                secrets[ref["name"]] = api("GET", f"/api/v1/namespaces/{ns}/secrets/{ref['name']}").get("data", {})
            value = secrets[ref["name"]].get(ref["key"])
            if value is not None:
                env[e["name"]] = base64.b64decode(value).decode()
    return env, container["image"]


def status_json(image, maintenance=False):
    release = tag_of(image).split("-")[0]
    version = VERSIONS.get(release, release + ".0")
    return json.dumps({"installed": True, "version": version, "versionstring": release, "edition": "",
                       "maintenance": maintenance, "needsDbUpgrade": False, "productname": "Nextcloud",
                       "extendedSupport": False, "database": "connected"}, separators=(",", ":"))


def psql(env, sql):
    return subprocess.run(
        ["psql", "-v", "ON_ERROR_STOP=1", "-qAt", "-h", "127.0.0.1", "-p", env["FRAMASPACE_DB_PORT"],
         "-U", env["FRAMASPACE_DB_USER"], "-d", env["FRAMASPACE_DB_NAME"], "-c", sql],
        env={**os.environ, "PGPASSWORD": env.get("FRAMASPACE_DB_PASSWORD", "")},
        capture_output=True, text=True, timeout=30)


def db_env(env, ns):
    """What Nextcloud reads of its database from the space's database.config.php, for Jobs that,
    unlike the install, get no database coordinates in their environment."""
    import re
    if "FRAMASPACE_DB_NAME" in env:
        return env
    cm = api("GET", f"/api/v1/namespaces/{ns}/configmaps/nextcloud-config").get("data", {})
    text = cm.get("database.config.php", "")
    value = lambda k: (re.search(rf"'{k}' => '([^']*)'", text) or [None, ""])[1]
    host, _, port = value("dbhost").partition(":")
    return {**env, "FRAMASPACE_DB_NAME": value("dbname"), "FRAMASPACE_DB_USER": value("dbuser"),
            "FRAMASPACE_DB_PORT": port or "5432"}


def enabled(env):
    r = psql(env, "SELECT appid FROM oc_appconfig WHERE configkey = 'enabled' AND configvalue = 'yes' ORDER BY appid")
    return [a for a in r.stdout.split()] if r.returncode == 0 else []


def set_enabled(env, app, on):
    psql(env, f"INSERT INTO oc_appconfig VALUES ('{app}', 'enabled', '{'yes' if on else 'no'}') "
              "ON CONFLICT (appid, configkey) DO UPDATE SET configvalue = EXCLUDED.configvalue;")


def app_report(env):
    return json.dumps({"enabled": enabled(env)}, separators=(",", ":"))


def app_enable(env, apps):
    """`occ app:enable a b ...`: each app in turn, exit 1 if one failed (the others still run)."""
    out, code, on = [], 0, set(enabled(env))
    for app in apps:
        if app in on:
            out.append(f"{app} already enabled")
        elif app not in IMAGE_APPS:
            out.append(f"{app} not found")
            code = 1
        else:
            set_enabled(env, app, True)
            out.append(f"{app} 1.0.0 enabled")
    return code, out


# The account tables the installer's migrations create (core/Migrations, Nextcloud 33's columns
# and indexes) and the operator's usage step reads: the admin account goes into oc_users
# (Setup::install creates it with the user manager), logins into oc_preferences (login/lastLogin)
# and sessions into oc_authtoken.
ACCOUNT_TABLES = (
    "CREATE TABLE IF NOT EXISTS oc_users (uid varchar(64) NOT NULL DEFAULT '' PRIMARY KEY, displayname varchar(64), "
    "password varchar(255) NOT NULL DEFAULT '', uid_lower varchar(64) DEFAULT ''); "
    "CREATE TABLE IF NOT EXISTS oc_preferences (userid varchar(64) NOT NULL DEFAULT '', appid varchar(32) NOT NULL DEFAULT '', "
    "configkey varchar(64) NOT NULL DEFAULT '', configvalue text, lazy smallint NOT NULL DEFAULT 0, type smallint NOT NULL DEFAULT 0, "
    "flags integer NOT NULL DEFAULT 0, indexed varchar(64) DEFAULT '', PRIMARY KEY (userid, appid, configkey)); "
    "CREATE INDEX IF NOT EXISTS prefs_app_key_ind_fl_i ON oc_preferences (appid, configkey, indexed, flags); "
    "CREATE TABLE IF NOT EXISTS oc_authtoken (id bigserial PRIMARY KEY, uid varchar(64) NOT NULL DEFAULT '', "
    "login_name varchar(255) NOT NULL DEFAULT '', password text, name text NOT NULL DEFAULT '', token varchar(200) NOT NULL DEFAULT '', "
    "type smallint DEFAULT 0, remember smallint DEFAULT 0, last_activity integer DEFAULT 0, last_check integer DEFAULT 0, scope text, "
    "expires integer, private_key text, public_key text, version smallint NOT NULL DEFAULT 1, password_invalid boolean DEFAULT false, "
    "password_hash varchar(255)); "
    "CREATE INDEX IF NOT EXISTS authtoken_last_activity_idx ON oc_authtoken (last_activity); "
    # apps/dav Migration/Version1012Date20190808122342.php: the reminders cron.php sends.
    "CREATE TABLE IF NOT EXISTS oc_calendar_reminders (id bigserial PRIMARY KEY, calendar_id bigint NOT NULL, "
    "object_id bigint NOT NULL, is_recurring smallint NOT NULL, uid varchar(255) NOT NULL, recurrence_id bigint, "
    "is_recurrence_exception smallint NOT NULL, event_hash varchar(255) NOT NULL, alarm_hash varchar(255) NOT NULL, "
    "type varchar(255) NOT NULL, is_relative smallint NOT NULL, notification_date bigint NOT NULL, is_repeat_based smallint NOT NULL); "
)


def background(env, what):
    """cron.php once (core/Service/CronService.php): the reminders whose date passed are sent and
    their rows deleted (apps/dav CalDAV/Reminder/ReminderService.php, processReminders, for
    reminders that do not repeat), then core/lastcron records the run's end. Silent on success."""
    if what == "background-fail":
        return 1, "Exception: the database is gone\n"
    r = psql(env, "DELETE FROM oc_calendar_reminders WHERE notification_date <= extract(epoch from now())::bigint; "
                  "INSERT INTO oc_appconfig (appid, configkey, configvalue) VALUES ('core', 'lastcron', "
                  "extract(epoch from now())::bigint::text) ON CONFLICT (appid, configkey) DO UPDATE SET configvalue = EXCLUDED.configvalue;")
    if r.returncode != 0:
        return 1, r.stderr
    return 0, ""


def install(env, image, what, commands):
    if what == "fail":
        # Setup/PostgreSQL.php's DatabaseSetupException, printed by Install::printErrors.
        return 1, "PostgreSQL Login and/or password not valid\n -> You need to enter details of an existing account.\n"
    defaults = ", ".join(f"('{a}', 'enabled', 'yes')" for a in DEFAULT_ENABLED)
    admin = env.get("FRAMASPACE_ADMIN_USER", "admin").replace("'", "")
    r = psql(env, "CREATE TABLE IF NOT EXISTS oc_appconfig (appid varchar(32) NOT NULL, configkey varchar(64) NOT NULL, "
                  "configvalue text, PRIMARY KEY (appid, configkey)); "
                  + ACCOUNT_TABLES +
                  f"INSERT INTO oc_users (uid, displayname, password, uid_lower) VALUES ('{admin}', '{admin}', "
                  f"'3|$argon2id$v=19$m=65536,t=4,p=1$c2ltdWxhdGVk$aGFzaA', '{admin.lower()}') ON CONFLICT DO NOTHING; "
                  f"INSERT INTO oc_appconfig VALUES {defaults} ON CONFLICT DO NOTHING; "
                  "INSERT INTO oc_appconfig VALUES ('core', 'installedat', extract(epoch from now())::text) "
                  "ON CONFLICT DO NOTHING;")
    if r.returncode != 0:
        return 1, "Error while trying to create admin user: " + r.stderr.strip() + "\n"
    out = ["Nextcloud was successfully installed", "Set mode for background jobs to 'cron'"]
    for c in commands:
        if c.startswith("app:enable "):
            # `|| echo ...` in the install script: a missing app does not end the install.
            code, lines = app_enable(env, c.split()[1:])
            out += lines
            if code:
                out.append("not every app of the class could be enabled")
    return 0, "\n".join(out) + "\n" + status_json(image) + "\n" + app_report(env) + "\n"


def app_value(env, app, key):
    r = psql(env, f"SELECT configvalue FROM oc_appconfig WHERE appid = '{app}' AND configkey = '{key}'")
    return r.stdout.strip() if r.returncode == 0 else ""


def set_app_value(env, app, key, value):
    quoted = value.replace("'", "''")
    psql(env, f"INSERT INTO oc_appconfig VALUES ('{app}', '{key}', '{quoted}') "
              "ON CONFLICT (appid, configkey) DO UPDATE SET configvalue = EXCLUDED.configvalue;")


def talk_add(env, command):
    """`occ talk:stun:add <host:port>`, `occ talk:turn:add <schemes> <server> <protocols>
    --secret=...` and `occ talk:signaling:add <server> <secret> [--verify]` as spreed's
    lib/Command/Stun/Add.php, Turn/Add.php and Signaling/Add.php run them: the Job's shell
    expands the secret's variable first (from the pod's environment, as the kubelet set it), the
    list is the JSON in oc_appconfig (spreed, stun_servers | turn_servers), a server already
    listed is refused with exit 1, and the line printed names the server, never the secret."""
    try:
        words = shlex.split(expand(command, env))
    except KeyError as e:
        return 2, f"sh: 1: {e.args[0]}"
    if words[0] == "talk:signaling:add":
        # lib/Command/Signaling/Add.php: appended to the list, the secret replaced, no check
        # of duplicates; JSON {"servers": [{"server", "verify"}], "secret"}.
        server, secret = words[1], words[2]
        if server.strip() == "":
            return 1, "Server cannot be empty."
        if secret.strip() == "":
            return 1, "Secret cannot be empty."
        signaling = json.loads(app_value(env, "spreed", "signaling_servers") or "null")
        servers = signaling.get("servers", []) if isinstance(signaling, dict) else []
        servers.append({"server": server, "verify": "--verify" in words[3:]})
        set_app_value(env, "spreed", "signaling_servers", json.dumps({"servers": servers, "secret": secret}))
        return 0, f"Added signaling server {server}."
    if words[0] == "talk:stun:add":
        servers = json.loads(app_value(env, "spreed", "stun_servers") or "[]")
        if words[1] in servers:
            return 1, "Server already exists."
        set_app_value(env, "spreed", "stun_servers", json.dumps(servers + [words[1]]))
        return 0, f"Added {words[1]}."
    schemes, server, protocols = words[1:4]
    secret = next((w.split("=", 1)[1] for w in words if w.startswith("--secret=")), None)
    if schemes not in ("turn", "turns", "turn,turns"):
        return 1, "Not allowed schemes, must be turn or turns or turn,turns."
    if protocols not in ("tcp", "udp", "udp,tcp"):
        return 1, "Not allowed protocols, must be udp or tcp or udp,tcp."
    if secret is None or secret.strip() == "":
        return 1, "You must provide --secret or --generate-secret." if secret is None else "Secret cannot be empty."
    servers = json.loads(app_value(env, "spreed", "turn_servers") or "[]")
    if any(s.get("schemes") == schemes and s.get("server") == server and s.get("protocols") == protocols for s in servers):
        return 1, "Server already exists with the same configuration."
    servers.append({"schemes": schemes, "server": server, "secret": secret, "protocols": protocols})
    set_app_value(env, "spreed", "turn_servers", json.dumps(servers))
    return 0, f"Added {server}."


def expand(command, env):
    """What `sh` does to the command line of the Job's script: `$VAR` and `${VAR}` from the
    container's environment (`set -u`: an unset one is an error)."""
    import re
    def value(m):
        name = m.group(1) or m.group(2)
        if name not in env:
            raise KeyError(f"{name}: parameter not set")
        return env[name]
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, command)


def occ(env, commands, image, what):
    out = []
    for c in commands:
        words = c.split()
        if words[0] == "app:enable":
            code, lines = app_enable(env, words[1:])
            out += lines
            if code:  # `set -e` in the Job's script: the first failing command ends it
                return code, "\n".join(out) + "\n"
        elif words[0] == "app:disable":
            # core/Command/App/Disable.php: an app that is not enabled is left as it is.
            if words[1] in enabled(env):
                set_enabled(env, words[1], False)
                out.append(f"{words[1]} 1.0.0 disabled")
            else:
                out.append(f"No such app enabled: {words[1]}")
        elif words[0] == "config:app:delete":
            # core/Command/Config/App/DeleteConfig.php: deleted whether or not it existed.
            psql(env, f"DELETE FROM oc_appconfig WHERE appid = '{words[1]}' AND configkey = '{words[2]}';")
            out.append(f"Config value {words[2]} of app {words[1]} deleted")
        elif words[0].startswith("talk:") and "spreed" not in enabled(env):
            # An app's commands are registered only while it is enabled; Symfony's
            # Application::find then fails on the namespace (NamespaceNotFoundException).
            out.append(f'There are no commands defined in the "{words[0].rsplit(":", 1)[0]}" namespace.')
            return 1, "\n".join(out) + "\n"
        elif words[0] in ("talk:stun:add", "talk:turn:add", "talk:signaling:add"):
            code, line = talk_add(env, c)
            out.append(line)
            if code:
                return code, "\n".join(out) + "\n"
        elif words[0] == "config:app:set":
            out.append(f"Config value '{words[2]}' for app '{words[1]}' is now set to '{c.split('--value=', 1)[-1]}', stored as mixed in fast cache")
    out.append(status_json(image, maintenance=(what == "maintenance")))
    out.append(app_report(env))
    return 0, "\n".join(out) + "\n"


def upgrade(pod, env, image, what):
    """`occ upgrade` then `db:add-missing-*`, as the upgrade Job's script runs them (set -e)."""
    init = next((c for c in pod["spec"].get("initContainers", []) if c["name"] == "prepare"), {})
    start = next((e.get("value", "") for e in init.get("env", []) if e["name"] == "FRAMASPACE_UPGRADE_FROM"), "")
    code_version = json.loads(status_json(image))["version"]
    parse = lambda v: tuple(int(x) for x in v.split(".")[:3])
    out = ["Setting log level to debug", "Turned on maintenance mode"]
    if not start:
        return 1, "Nextcloud is not installed - only a limited number of commands are available\n"
    if parse(code_version) < parse(start) or parse(code_version)[0] > parse(start)[0] + 1:
        out += ["Exception: Updates between multiple major versions and downgrades are unsupported.", "Update failed",
                "Maintenance mode is kept active", "Resetting log level"]
        return 5, "\n".join(out) + "\n"
    if parse(code_version) == parse(start):
        return 0, "Nextcloud is already latest version\n" + status_json(image) + "\n" + app_report(env) + "\n"
    major = parse(code_version)[0]
    out.append("Updating database schema")
    r = psql(env, f"CREATE TABLE IF NOT EXISTS oc_sim_schema_{major} (id bigserial PRIMARY KEY, migrated text NOT NULL); "
                  f"INSERT INTO oc_sim_schema_{major} (migrated) VALUES ('{code_version}');")
    if r.returncode != 0:
        out += [f"Doctrine\\DBAL\\Exception: {r.stderr.strip()}", "Update failed", "Maintenance mode is kept active",
                "Resetting log level"]
        return 5, "\n".join(out) + "\n"
    if what.split(":")[0] == "upgrade-fail":
        # A migration that breaks halfway: part of the schema is new, the rest is not.
        psql(env, "UPDATE oc_appconfig SET configvalue = 'half-migrated' WHERE appid = 'core' AND configkey = 'installedat';")
        out += ["Doctrine\\DBAL\\Exception\\DriverException: An exception occurred while executing a query: "
                "SQLSTATE[42P07]: Duplicate table: 7 ERROR:  relation \"oc_share_external_idx\" already exists",
                "Update failed", "Maintenance mode is kept active", "Resetting log level"]
        return 5, "\n".join(out) + "\n"
    out.append("Updated database")
    # `Updater::checkAppsRequirements`: an enabled app the new code lacks, or that is not
    # compatible with it, is disabled, and `occ upgrade` says so and still succeeds.
    dropped = what.split(":", 1)[1] if what.startswith("upgrade-drops:") else None
    for app in enabled(env):
        if app not in apps_of(image) or app == dropped:
            set_enabled(env, app, False)
            out.append(f"Disabled incompatible app: {app}")
    for app in enabled(env):
        psql(env, f"INSERT INTO oc_appconfig VALUES ('{app}', 'installed_version', '{code_version}') "
                  "ON CONFLICT (appid, configkey) DO UPDATE SET configvalue = EXCLUDED.configvalue;")
        out += [f"Updating <{app}> ...", f"Updated <{app}> to {code_version}"]
    out += ["Starting code integrity check...", "Finished code integrity check", "Update successful",
            "Turned off maintenance mode", "Resetting log level"]
    return 0, "\n".join(out) + "\n" + status_json(image) + "\n" + app_report(env) + "\n"


def quantity(q):
    """A Kubernetes quantity in bytes (the binary and decimal suffixes the operator writes)."""
    units = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40, "k": 10**3, "M": 10**6, "G": 10**9}
    for suffix, factor in units.items():
        if q.endswith(suffix):
            return int(float(q[:-len(suffix)]) * factor)
    return int(q)


def work_volume(pod, container):
    """The size limit of the emptyDir mounted at FRAMASPACE_SNAPSHOT_DIR, if any. A memory-backed
    emptyDir is a tmpfs whose size is its sizeLimit (the kubelet's SizeMemoryBackedVolumes)."""
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
    for v in pod["spec"].get("volumes", []):
        d = v.get("emptyDir")
        if d is not None and v["name"] in mounts and d.get("sizeLimit"):
            return quantity(d["sizeLimit"])
    return None


def client_of(image, base):
    """The PostgreSQL client tools of the image's tag (`snapshot:<major>`): the host's, which are
    of one major; for another major, tools that say so (`--version`) and otherwise behave as the
    host's, so a client/server mismatch is what the Job's own check sees. A PATH prefix."""
    tag = tag_of(image)
    host = subprocess.run(["pg_dump", "--version"], capture_output=True, text=True).stdout
    host_major = "".join(c for c in host.split(")")[-1].strip().split(".")[0] if c.isdigit())
    if not tag.isdigit() or tag == host_major:
        return ""
    bin_dir = os.path.join(base, "pg-bin")
    os.mkdir(bin_dir)
    for tool in ("pg_dump", "pg_restore", "psql"):
        real = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, text=True).stdout.strip()
        with open(os.path.join(bin_dir, tool), "w") as f:
            f.write(f'#!/bin/sh\n[ "$1" = --version ] && {{ echo "{tool} (PostgreSQL) {tag}.0"; exit 0; }}\nexec {real} "$@"\n')
        os.chmod(os.path.join(bin_dir, tool), 0o755)
    return bin_dir + ":"


def mount_config_maps(pod, container, env, base):
    """The container's ConfigMap volumes (a pool's CA), written where the kubelet would project
    them, here under `base`; the environment's paths into them follow."""
    ns = pod["metadata"]["namespace"]
    volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
    env = dict(env)
    for i, m in enumerate(container.get("volumeMounts", [])):
        source = volumes.get(m["name"], {}).get("configMap")
        if not source:
            continue
        data = api("GET", f"/api/v1/namespaces/{ns}/configmaps/{source['name']}").get("data", {})
        target = os.path.join(base, f"mount-{i}")
        os.makedirs(target)
        for item in source.get("items") or [{"key": k, "path": k} for k in data]:
            if item["key"] in data:
                with open(os.path.join(target, item["path"]), "w") as f:
                    f.write(data[item["key"]])
        for k, v in env.items():
            if v.startswith(m["mountPath"] + "/"):
                env[k] = target + v[len(m["mountPath"]):]
    return env


def run_script(pod, env):
    """A snapshot or restore Job's own script, run here with the pod's environment, its work
    volume a tmpfs of the volume's size limit as the kubelet mounts it (root only; otherwise a
    plain directory, said in the log). Returns the exit code, the output, and the termination
    message the kubelet would copy on success."""
    import shutil
    import tempfile
    container = next(c for c in pod["spec"]["containers"] if c["name"] == "occ")
    script = container["command"][-1]
    base = tempfile.mkdtemp(prefix="framaspace-job-")
    work = os.path.join(base, "work")
    os.mkdir(work)
    limit = work_volume(pod, container)
    mounted = False
    if limit is not None:
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={limit},mode=0700", "tmpfs", work],
                                 capture_output=True).returncode == 0
        if not mounted:
            say(f"{pod['metadata']['namespace']}/{pod['metadata']['name']}: no tmpfs of {limit} bytes (not root?), a plain directory")
    path = client_of(container["image"], base) + os.environ.get("PATH", "/usr/bin:/bin")
    env = mount_config_maps(pod, container, env, base)
    try:
        log = os.path.join(base, "termination-log")
        script = script.replace("/dev/termination-log", log)
        run_env = {"PATH": path, **env, "FRAMASPACE_SNAPSHOT_DIR": work}
        r = subprocess.run(["sh", "-c", script], env=run_env, capture_output=True, text=True, timeout=1800)
        message = open(log).read() if os.path.exists(log) else ""
        return r.returncode, r.stdout + r.stderr, message
    finally:
        if mounted:
            subprocess.run(["umount", work], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def fallback(lines):
    """FallbackToLogsOnError: the end of the container's log, at most 80 lines and 2048 bytes,
    whichever is smaller (kubelet `pkg/kubelet/kuberuntime/kuberuntime_container.go`,
    `readLastStringFromContainerLogs`: MaxContainerTerminationMessageLogLines lines into a
    circular buffer of MaxContainerTerminationMessageLogLength bytes)."""
    tail = "\n".join(lines[-80:]).encode()
    return tail[-2048:].decode(errors="ignore")


def finish(pod, code, output, message=None):
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    lines = output.strip().splitlines()
    # On success the kubelet copies /dev/termination-log (the two JSON lines tee wrote); on
    # failure, with FallbackToLogsOnError, the last lines of the container's output.
    if message is None:
        message = "\n".join(lines[-2:]) if code == 0 else fallback(lines)
    elif code != 0:
        message = fallback(lines)
    terminated = {"exitCode": code, "reason": "Completed" if code == 0 else "Error", "message": message,
                  "startedAt": now, "finishedAt": now}
    status = {
        "phase": "Succeeded" if code == 0 else "Failed",
        "initContainerStatuses": [{"name": c["name"], "image": c["image"], "imageID": "", "ready": True, "restartCount": 0,
                                   "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}}}
                                  for c in pod["spec"].get("initContainers", [])],
        "containerStatuses": [{"name": "occ", "image": pod["spec"]["containers"][0]["image"],
                               "imageID": image_id(pod["spec"]["containers"][0]["image"]), "ready": False,
                               "restartCount": 0, "state": {"terminated": terminated}}],
        "conditions": [{"type": "Ready", "status": "False", "reason": "PodCompleted", "lastTransitionTime": now}],
    }
    api("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status", {"status": status}, "application/merge-patch+json")


def running(pod):
    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    api("PATCH", f"/api/v1/namespaces/{ns}/pods/{name}/status",
        {"status": {"phase": "Running", "startTime": now,
                    "containerStatuses": [{"name": "occ", "image": pod["spec"]["containers"][0]["image"], "imageID": "",
                                           "ready": True, "restartCount": 0, "state": {"running": {"startedAt": now}}}]}},
        "application/merge-patch+json")


def play(pod, started):
    """One pass over one pod: Running first, then its end once its scenario's delay passed."""
    meta = pod["metadata"]
    ns, uid = meta["namespace"], meta["uid"]
    what = scenario(ns)
    try:
        if uid not in started:
            started[uid] = time.time()
            running(pod)
        purpose = meta.get("labels", {}).get("frama.space/occ")
        delay = float(what.split(":", 1)[1]) if what.startswith("slow:") else 0
        if what.startswith("upgrade-fail:") and purpose == "upgrade":
            delay = float(what.split(":", 1)[1])  # a migration that takes that long, then fails
        if time.time() - started[uid] < delay:
            return
        env, image = env_of(pod, ns)
        commands = meta.get("annotations", {}).get("frama.space/occ-commands", "").splitlines()
        message = None
        if purpose == "inspect":
            # nextcloud::inspect_script: the ids of the image's apps directories, one line.
            code, output = 0, " ".join(sorted(apps_of(image))) + " \n"
        elif purpose == "install":
            code, output = install(env, image, what, commands)
        elif purpose == "upgrade":
            code, output = upgrade(pod, db_env(env, ns), image, what)
        elif purpose == "background":
            code, output = background(db_env(env, ns), what)
        elif purpose in ("snapshot", "restore", "backup"):
            code, output, message = run_script(pod, env)
        else:
            code, output = occ(db_env(env, ns), commands, image, what)
        finish(pod, code, output, message)
        started[uid] = float("inf")  # done: never played again, even if the list is stale
        say(f"{ns}/{meta['name']}: exit {code}")
    except Exception as e:
        say(f"{ns}/{meta['name']}: {e}", sys.stderr)


def main():
    started = {}
    # A few pods at a time, as a node's kubelets would (the bench starts a thousand installs).
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        while True:
            try:
                pods = api("GET", "/api/v1/pods?labelSelector=frama.space%2Focc")["items"]
            except Exception as e:  # the API server restarts in some suites
                say(f"list: {e}", sys.stderr)
                time.sleep(1)
                continue
            todo = [p for p in pods
                    if not p["metadata"].get("deletionTimestamp") and p["spec"].get("nodeName")
                    and p.get("status", {}).get("phase", "Pending") in ("Pending", "Running")
                    and started.get(p["metadata"]["uid"]) != float("inf")]
            list(pool.map(lambda p: play(p, started), todo))
            time.sleep(0.3)


if __name__ == "__main__":
    main()
