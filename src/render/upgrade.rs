//! The scripts of a space's upgrade: the snapshot of its database before `occ upgrade` runs,
//! the upgrade itself, and the restore after a failure. Pure; the Jobs that run them are in
//! `objects`.
//!
//! The snapshot is the SQL that replays the schema the space's tables live in (`public` of its
//! own database, or its schema in a shared one), gzip'd, made as the space's own role and stored in
//! the space's own bucket under [`SNAPSHOT_PREFIX`]: the only key that can read it is the space's
//! (Garage keys cannot be limited to a prefix, so a platform-wide snapshot bucket would put a key
//! that reads every association's database in every namespace). Nextcloud's object store only
//! ever reads `urn:oid:<fileid>` objects of its bucket, so it never sees the snapshot.
//!
//! Why SQL and not the `pg_dump --format=custom` archive it is cut from: an archive always carries
//! the DATABASE entry "in case --create is specified at pg_restore time" (postgres
//! `src/bin/pg_dump/pg_dump.c`, `main`: `if (!plainText) dopt.outputCreateDB = 1`, then
//! `dumpDatabase` → `dumpDatabaseConfig`), and in a shared database that entry holds one
//! `ALTER ROLE <role> IN DATABASE … SET search_path` per space of the pool: every other space's
//! name, in this space's bucket. The snapshot Job makes the archive, keeps the entries of its
//! table of contents that the restore replays (`pg_restore --list`, without the SCHEMA entry the
//! operator owns) and uploads `pg_restore --use-list --file=-` of those: the DATABASE entry is
//! never printed without `--create`, so nothing in the file names another space.
//!
//! The restore streams: the snapshot goes from the bucket through `gunzip` into one
//! `psql --single-transaction` after the schema's content is dropped, so it needs no room for the
//! snapshot, however large. What commits is decided at the end of the stream: the last statement
//! is `SELECT 1` only when the download ended well and its SHA-256 is the one the snapshot Job
//! reported; otherwise it is an error, and psql (`ON_ERROR_STOP`) rolls the whole restore back and
//! exits non-zero. A failed restore leaves the database as the failed upgrade left it, and the
//! next attempt starts again from the same snapshot.

/// Where the snapshots of a space live in its bucket.
pub const SNAPSHOT_PREFIX: &str = "framaspace/snapshots/";
/// Where a snapshot or restore Job keeps its files while it works (a memory-backed volume: the
/// dump holds the space's app settings, which are not written to a node's disk). The snapshot
/// holds the archive and its SQL there; the restore only a pipe and a digest
/// ([`RESTORE_WORK_LIMIT`]).
pub const WORK_DIR: &str = "/snapshot";
/// Where a snapshot or restore Job reads the pool's private CA.
pub const CA_DIR: &str = "/etc/framaspace/ca";
/// The restore's volume: it streams the snapshot, so this is room for a FIFO and a digest, not
/// for the snapshot.
pub const RESTORE_WORK_LIMIT: &str = "1Mi";

/// `33.0.7` → `33-0-7`: a release as a piece of an object name.
pub fn slug(version: &str) -> String {
    version.replace('.', "-")
}

/// The snapshot's object key: one per hop, so a retried hop reuses its own snapshot.
pub fn snapshot_key(from: &str, target: &str) -> String {
    format!("{SNAPSHOT_PREFIX}{}-to-{}.sql.gz", slug(from), slug(target))
}

pub fn snapshot_job_name(target: &str) -> String {
    format!("nextcloud-snapshot-{}", slug(target))
}

pub fn upgrade_job_name(target: &str) -> String {
    format!("nextcloud-upgrade-{}", slug(target))
}

pub fn restore_job_name(target: &str) -> String {
    format!("nextcloud-restore-{}", slug(target))
}

/// The credentials go to curl on its standard input (`-K -`), never on its command line. curl
/// 7.88 signs without `x-amz-content-sha256`, which Garage requires ("Missing
/// X-Amz-Content-Sha256 field"); the scripts send it, and curl signs the value given.
const CURL: &str = "printf 'user = \"%s:%s\"\\n' \"$AWS_ACCESS_KEY_ID\" \"$AWS_SECRET_ACCESS_KEY\" | curl -K - --fail --silent --show-error --aws-sigv4 \"aws:amz:$FRAMASPACE_S3_REGION:s3\"";

/// The SHA-256 of an empty body: a GET's payload.
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// The client tools against the server, before anything is read or written: `pg_dump` refuses a
/// newer server, and the SQL of a newer `pg_restore` carries settings an older server refuses
/// (`SET transaction_timeout` from 17), which would make every restore fail. The server's major
/// is `server_version_num / 10000` (PostgreSQL 10 and later); the operator chose the image for
/// `$FRAMASPACE_PG_MAJOR`, the pool's last check.
const SAME_MAJOR: &str = "client=$(pg_dump --version | sed -E 's/^[^0-9]*([0-9]+).*/\\1/')
server=$(( $(psql -X -qAt -c 'SHOW server_version_num') / 10000 ))
if [ \"$client\" != \"$server\" ] || [ \"$client\" != \"$FRAMASPACE_PG_MAJOR\" ]; then
  echo \"the PostgreSQL client is $client, the server $server (the pool reported $FRAMASPACE_PG_MAJOR): nothing was dumped or restored\" >&2
  exit 1
fi
";

/// Dumps the space's schema, keeps what the restore replays as gzip'd SQL, and uploads it;
/// prints one JSON line (key, bytes, sha256, schema) into the termination message.
pub fn snapshot_script() -> String {
    format!(
        "set -eu
umask 077
{SAME_MAJOR}dir=\"$FRAMASPACE_SNAPSHOT_DIR\"
dump=\"$dir/snapshot.pgdump\"
sql=\"$dir/snapshot.sql.gz\"
schema=$(psql -X -qAt -c 'SELECT current_schema()')
pg_dump --format=custom --no-owner --no-privileges --schema=\"$schema\" --file=\"$dump\"
pg_restore --list \"$dump\" > \"$dir/toc\"
grep -v -E '{SCHEMA_ENTRIES}' \"$dir/toc\" > \"$dir/list\"
{{ pg_restore --no-owner --no-privileges --use-list=\"$dir/list\" --file=- \"$dump\" || echo failed > \"$dir/failed\"; }} | gzip -n > \"$sql\"
if [ -e \"$dir/failed\" ]; then echo \"pg_restore could not read the dump\" >&2; exit 1; fi
rm -f \"$dump\"
rows=$(gzip -dc \"$sql\" | awk '{ROWS_AWK}')
bytes=$(wc -c < \"$sql\" | tr -d ' ')
sum=$(sha256sum \"$sql\" | cut -d' ' -f1)
{CURL} -H \"x-amz-content-sha256: $sum\" --upload-file \"$sql\" \"$FRAMASPACE_S3_URL\"
echo \"{{\\\"snapshot\\\":\\\"$FRAMASPACE_SNAPSHOT_KEY\\\",\\\"bytes\\\":$bytes,\\\"sha256\\\":\\\"$sum\\\",\\\"schema\\\":\\\"$schema\\\",\\\"rows\\\":$rows}}\" | tee /dev/termination-log
"
    )
}

/// The rows of each table in the SQL the snapshot wrote, as a JSON object (`{"oc_users":41}`):
/// the lines of each `COPY <schema>.<table> (...) FROM stdin;` block up to its `\.` (text COPY
/// escapes newlines inside values, one row per line). A restore test compares them with what
/// the restored database holds.
const ROWS_AWK: &str = r#"BEGIN { printf "{" } /^COPY / { t = $2; sub(/^[^.]*\./, "", t); gsub(/"/, "", t); n = 0; inside = 1; next } inside { if ($0 == "\\.") { printf "%s\"%s\":%d", sep, t, n; sep = ","; inside = 0 } else n++ } END { printf "}" }"#;

/// The entries of the archive's table of contents that the snapshot leaves out: the schema
/// itself and its comment, which the operator created and keeps (with its owner and grants).
const SCHEMA_ENTRIES: &str = " SCHEMA - | COMMENT - SCHEMA ";

/// Replaces the schema's content with the snapshot, streamed from the bucket, in one transaction
/// that commits only if the whole snapshot arrived with its digest. The schema itself (and its
/// owner and grants, the operator's) stays.
///
/// Before the drop, the transaction ends every other session of the space's role (a role may end
/// its own sessions, `pg_terminate_backend`): a statement of the failed version still running or
/// waiting on a lock would otherwise go on after the restore's COMMIT, on the restored schema.
/// The pipe cannot hide a failure: the download and `gunzip` are checked, with the digest, before
/// the last statement is chosen, and a stream cut short leaves psql a statement or a COPY that the
/// closing `\.` and the error end (`ON_ERROR_STOP`: ROLLBACK, exit 3).
pub fn restore_script() -> String {
    format!(
        "set -eu
umask 077
{SAME_MAJOR}dir=\"$FRAMASPACE_SNAPSHOT_DIR\"
schema=$(psql -X -qAt -c 'SELECT current_schema()')
rm -f \"$dir/raw\" \"$dir/sum\"
mkfifo \"$dir/raw\"
{{
  cat <<SQL
SET client_min_messages = warning;
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = current_user AND pid <> pg_backend_pid();
DO \\$\\$ DECLARE r record; BEGIN
  FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = '$schema' AND c.relkind IN ('v', 'm', 'r', 'p', 'S', 'f') ORDER BY c.relkind DESC LOOP
    EXECUTE format('DROP %s IF EXISTS %I.%I CASCADE',
      CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
      '$schema', r.relname);
  END LOOP; END \\$\\$;
SQL
  sha256sum < \"$dir/raw\" | cut -d' ' -f1 > \"$dir/sum\" &
  hasher=$!
  if {CURL} -H 'x-amz-content-sha256: {EMPTY_SHA256}' --output - \"$FRAMASPACE_S3_URL\" | tee \"$dir/raw\" | gzip -dc; then whole=1; else whole=0; fi
  wait \"$hasher\" || true
  if [ \"$whole\" = 1 ] && [ \"$(cat \"$dir/sum\")\" = \"$FRAMASPACE_SNAPSHOT_SHA256\" ]; then
    echo 'SELECT 1;'
  else
    echo 'the snapshot did not arrive whole, or not with the digest of the snapshot Job' >&2
    printf '\\n\\\\.\\nSELECT 1/0 AS snapshot_incomplete;\\n'
  fi
}} | psql -X -q -v ON_ERROR_STOP=1 --single-transaction -f - >/dev/null
echo \"{{\\\"restored\\\":\\\"$FRAMASPACE_SNAPSHOT_KEY\\\",\\\"schema\\\":\\\"$schema\\\"}}\" | tee /dev/termination-log
"
    )
}

/// What a snapshot Job printed.
#[derive(Clone, Debug, serde::Deserialize, PartialEq, Eq)]
pub struct SnapshotReport {
    pub snapshot: String,
    pub bytes: i64,
    pub sha256: String,
    /// Rows per table in the dump (absent from reports of older operators).
    #[serde(default)]
    pub rows: std::collections::BTreeMap<String, i64>,
}

impl SnapshotReport {
    pub fn parse(output: &str) -> Option<SnapshotReport> {
        output.lines().filter(|l| l.trim_start().starts_with('{')).find_map(|l| serde_json::from_str(l.trim()).ok())
    }
}

/// Whether a restore Job said it restored `key`.
pub fn restored(output: &str, key: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Restored {
        restored: String,
    }
    output.lines().filter_map(|l| serde_json::from_str::<Restored>(l.trim()).ok()).any(|r| r.restored == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_hop() {
        assert_eq!(snapshot_key("33.0.7", "34.0.1"), "framaspace/snapshots/33-0-7-to-34-0-1.sql.gz");
        assert_eq!(upgrade_job_name("34.0.1"), "nextcloud-upgrade-34-0-1");
        let r = SnapshotReport::parse("x\n{\"snapshot\":\"k\",\"bytes\":12,\"sha256\":\"ab\",\"schema\":\"public\"}\n");
        assert_eq!(r, Some(SnapshotReport { snapshot: "k".into(), bytes: 12, sha256: "ab".into(), rows: Default::default() }));
        assert!(restored("{\"restored\":\"k\",\"schema\":\"public\"}", "k") && !restored("{\"restored\":\"j\"}", "k"));
    }

    /// Runs the restore script with a `curl` that serves `snapshot` and a `psql` that records
    /// what it is fed; returns that stream.
    fn restore_stream(snapshot: &[u8], digest: &str) -> String {
        let dir = std::env::temp_dir().join(format!("fs-restore-{}-{}", std::process::id(), digest.len() + snapshot.len()));
        let bin = dir.join("bin");
        let work = dir.join("work");
        std::fs::create_dir_all(&bin).expect("temp dir");
        std::fs::create_dir_all(&work).expect("temp dir");
        std::fs::write(dir.join("snapshot"), snapshot).expect("snapshot");
        let stub = |name: &str, body: String| {
            use std::os::unix::fs::PermissionsExt;
            let p = bin.join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("stub");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        };
        stub("curl", format!("cat >/dev/null; cat '{}'", dir.join("snapshot").display()));
        stub(
            "psql",
            format!(
                "case \"$*\" in *current_schema*) echo public;; *server_version_num*) echo 150018;; *) cat > '{}';; esac",
                dir.join("fed").display()
            ),
        );
        stub("pg_dump", "echo 'pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)'".to_string());
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
        let script = restore_script().replace("/dev/termination-log", &dir.join("message").display().to_string());
        let ran = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("PATH", path)
            .env("FRAMASPACE_SNAPSHOT_DIR", &work)
            .env("FRAMASPACE_SNAPSHOT_SHA256", digest)
            .env("FRAMASPACE_SNAPSHOT_KEY", "k")
            .env("FRAMASPACE_PG_MAJOR", "15")
            .env("FRAMASPACE_S3_REGION", "r")
            .env("FRAMASPACE_S3_URL", "http://s3/b/k")
            .env("AWS_ACCESS_KEY_ID", "a")
            .env("AWS_SECRET_ACCESS_KEY", "s")
            .output()
            .expect("sh runs");
        assert!(ran.status.success(), "{}", String::from_utf8_lossy(&ran.stderr));
        let fed = std::fs::read_to_string(dir.join("fed")).unwrap_or_default();
        let _ = std::fs::remove_dir_all(&dir);
        fed
    }

    fn gzip(sql: &str) -> Vec<u8> {
        use std::io::Write;
        let mut child = std::process::Command::new("gzip")
            .arg("-n")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("gzip");
        child.stdin.take().expect("stdin").write_all(sql.as_bytes()).expect("write");
        child.wait_with_output().expect("gzip output").stdout
    }

    fn sha256(bytes: &[u8]) -> String {
        use sha2::Digest;
        crate::render::config::hex(&sha2::Sha256::digest(bytes))
    }

    #[test]
    fn the_restore_commits_only_a_whole_snapshot_with_its_digest() {
        let sql = "CREATE TABLE public.t (id integer);\nCOPY public.t (id) FROM stdin;\n1\n2\n\\.\n";
        let good = gzip(sql);
        let fed = restore_stream(&good, &sha256(&good));
        let (drop, replay) = (fed.find("DROP %s IF EXISTS").unwrap_or(usize::MAX), fed.find("CREATE TABLE public.t").unwrap_or(0));
        assert!(
            fed.contains("pg_terminate_backend(pid)") && drop < replay,
            "other sessions ended, then the drop, then the snapshot: {fed}"
        );
        assert!(fed.ends_with("\\.\nSELECT 1;\n"), "{fed}");
        // Cut in the middle of the COPY: the closing `\.` ends it and the error rolls back.
        let cut = &good[..good.len() - 6];
        let fed = restore_stream(cut, &sha256(cut));
        assert!(fed.ends_with("\n\\.\nSELECT 1/0 AS snapshot_incomplete;\n"), "{fed}");
        // Whole, but not what the snapshot Job uploaded.
        let fed = restore_stream(&good, &sha256(b"another snapshot"));
        assert!(fed.contains("CREATE TABLE public.t") && fed.ends_with("SELECT 1/0 AS snapshot_incomplete;\n"), "{fed}");
    }

    /// A client of another major than the server (an image built for 17 on a pool of 15): the
    /// snapshot stops before `pg_dump` runs, so the upgrade gives up before the database changes.
    #[test]
    fn a_client_of_another_major_dumps_nothing() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("fs-major-{}", std::process::id()));
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin).expect("temp dir");
        let stub = |name: &str, body: &str| {
            let p = bin.join(name);
            std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("stub");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        };
        let dumped = dir.join("dumped");
        stub("pg_dump", &format!("case \"$*\" in --version) echo 'pg_dump (PostgreSQL) 17.6';; *) touch '{}';; esac", dumped.display()));
        stub("psql", "case \"$*\" in *server_version_num*) echo 150018;; *) echo public;; esac");
        for (script, major) in [(snapshot_script(), "15"), (snapshot_script(), "17"), (restore_script(), "15")] {
            let ran = std::process::Command::new("sh")
                .arg("-c")
                .arg(&script)
                .env("PATH", format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()))
                .env("FRAMASPACE_SNAPSHOT_DIR", &dir)
                .env("FRAMASPACE_PG_MAJOR", major)
                .output()
                .expect("sh runs");
            let said = String::from_utf8_lossy(&ran.stderr).to_string();
            assert!(!ran.status.success(), "{said}");
            assert!(said.contains("the PostgreSQL client is 17, the server 15"), "{said}");
        }
        assert!(!dumped.exists(), "pg_dump never ran against the server");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn secrets_stay_off_command_lines() {
        for s in [snapshot_script(), restore_script()] {
            assert!(s.contains("| curl -K - "), "{s}");
            assert!(!s.contains("--user"), "{s}");
            let parsed = std::process::Command::new("sh").arg("-n").arg("-c").arg(&s).status();
            assert!(parsed.map(|st| st.success()).unwrap_or(true), "the script parses: {s}");
        }
    }

    #[test]
    fn the_rows_of_each_table_are_counted_from_the_dump() {
        let sql = "SET x;\nCOPY public.oc_users (uid, name) FROM stdin;\na\t1\nb\t2\n\\.\n\nCOPY space_a.\"oc_odd\" (x) FROM stdin;\n\\.\nSELECT 1;\n";
        let out = std::process::Command::new("awk")
            .arg(ROWS_AWK)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child.stdin.take().map(|mut i| i.write_all(sql.as_bytes())).transpose()?;
                child.wait_with_output()
            })
            .expect("awk runs");
        let rows: std::collections::BTreeMap<String, i64> = serde_json::from_slice(&out.stdout).expect("a JSON object");
        assert_eq!(rows, std::collections::BTreeMap::from([("oc_users".to_string(), 2), ("oc_odd".to_string(), 0)]));
        assert!(snapshot_script().contains("rows=$(gzip -dc"), "the report carries them");
    }
}
