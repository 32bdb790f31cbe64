//! The scripts of a space's upgrade: the snapshot of its database before `occ upgrade` runs,
//! the upgrade itself, and the restore after a failure. Pure; the Jobs that run them are in
//! `objects`.
//!
//! The snapshot is a `pg_dump --format=custom` of the schema the space's tables live in (`public`
//! of its own database, or its schema in a shared one), made as the space's own role, and stored
//! in the space's own bucket under [`SNAPSHOT_PREFIX`]: the only key that can read it is the
//! space's (Garage keys cannot be limited to a prefix, so a platform-wide snapshot bucket would
//! put a key that reads every association's database in every namespace). Nextcloud's object
//! store only ever reads `urn:oid:<fileid>` objects of its bucket, so it never sees the snapshot.
//!
//! The restore drops every table, view and sequence of that schema and replays the snapshot, in
//! one transaction: a failed restore leaves the database as the failed upgrade left it, and the
//! next attempt starts again from the same snapshot.

/// Where the snapshots of a space live in its bucket.
pub const SNAPSHOT_PREFIX: &str = "framaspace/snapshots/";
/// Where a snapshot or restore Job keeps the dump while it works (a memory-backed volume: the
/// dump holds the space's app settings, which are not written to a node's disk).
pub const WORK_DIR: &str = "/snapshot";

/// `33.0.7` → `33-0-7`: a release as a piece of an object name.
pub fn slug(version: &str) -> String {
    version.replace('.', "-")
}

/// The snapshot's object key: one per hop, so a retried hop reuses its own snapshot.
pub fn snapshot_key(from: &str, target: &str) -> String {
    format!("{SNAPSHOT_PREFIX}{}-to-{}.pgdump", slug(from), slug(target))
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

/// Dumps the space's schema and uploads it; prints one JSON line (key, bytes, sha256, schema)
/// into the termination message.
pub fn snapshot_script() -> String {
    format!(
        "set -eu
umask 077
dump=\"$FRAMASPACE_SNAPSHOT_DIR/snapshot.pgdump\"
schema=$(psql -X -qAt -c 'SELECT current_schema()')
pg_dump --format=custom --no-owner --no-privileges --schema=\"$schema\" --file=\"$dump\"
bytes=$(wc -c < \"$dump\" | tr -d ' ')
sum=$(sha256sum \"$dump\" | cut -d' ' -f1)
{CURL} -H \"x-amz-content-sha256: $sum\" --upload-file \"$dump\" \"$FRAMASPACE_S3_URL\"
echo \"{{\\\"snapshot\\\":\\\"$FRAMASPACE_SNAPSHOT_KEY\\\",\\\"bytes\\\":$bytes,\\\"sha256\\\":\\\"$sum\\\",\\\"schema\\\":\\\"$schema\\\"}}\" | tee /dev/termination-log
"
    )
}

/// Fetches the snapshot, checks its digest, and replaces the schema's content with it in one
/// transaction. The schema itself (and its owner and grants, the operator's) stays.
///
/// No pipe feeds the database: the SQL is written to files first, and `psql --single-transaction`
/// runs them, so a `pg_restore` that fails (an archive from a newer `pg_dump`, a full volume)
/// stops the script before the database is touched, and any error rolls the whole restore back
/// with a non-zero exit. (Piped, a `pg_restore` that died would leave psql an open transaction
/// at end of input: rolled back, psql exiting 0, and the restore reported done on a database
/// still as the failed upgrade left it.)
pub fn restore_script() -> String {
    format!(
        "set -eu
umask 077
dir=\"$FRAMASPACE_SNAPSHOT_DIR\"
dump=\"$dir/snapshot.pgdump\"
{CURL} -H 'x-amz-content-sha256: {EMPTY_SHA256}' --output \"$dump\" \"$FRAMASPACE_S3_URL\"
echo \"$FRAMASPACE_SNAPSHOT_SHA256  $dump\" | sha256sum -c - >/dev/null
schema=$(psql -X -qAt -c 'SELECT current_schema()')
pg_restore --list \"$dump\" > \"$dir/toc\"
grep -v -E ' SCHEMA - | COMMENT - SCHEMA ' \"$dir/toc\" > \"$dir/list\"
pg_restore --no-owner --no-privileges --use-list=\"$dir/list\" --file=\"$dir/restore.sql\" \"$dump\"
cat > \"$dir/drop.sql\" <<SQL
SET client_min_messages = warning;
DO \\$\\$ DECLARE r record; BEGIN
  FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = '$schema' AND c.relkind IN ('v', 'm', 'r', 'p', 'S', 'f') ORDER BY c.relkind DESC LOOP
    EXECUTE format('DROP %s IF EXISTS %I.%I CASCADE',
      CASE r.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END,
      '$schema', r.relname);
  END LOOP; END \\$\\$;
SQL
psql -X -q -v ON_ERROR_STOP=1 --single-transaction -f \"$dir/drop.sql\" -f \"$dir/restore.sql\" >/dev/null
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
        assert_eq!(snapshot_key("33.0.7", "34.0.1"), "framaspace/snapshots/33-0-7-to-34-0-1.pgdump");
        assert_eq!(upgrade_job_name("34.0.1"), "nextcloud-upgrade-34-0-1");
        let r = SnapshotReport::parse("x\n{\"snapshot\":\"k\",\"bytes\":12,\"sha256\":\"ab\",\"schema\":\"public\"}\n");
        assert_eq!(r, Some(SnapshotReport { snapshot: "k".into(), bytes: 12, sha256: "ab".into() }));
        assert!(restored("{\"restored\":\"k\",\"schema\":\"public\"}", "k") && !restored("{\"restored\":\"j\"}", "k"));
    }

    #[test]
    fn the_restore_touches_the_database_only_in_one_transaction_of_finished_files() {
        let s = restore_script();
        assert!(!s.contains("| psql"), "a pipe would hide a pg_restore that died: {s}");
        assert!(s.contains("psql -X -q -v ON_ERROR_STOP=1 --single-transaction -f \"$dir/drop.sql\" -f \"$dir/restore.sql\""), "{s}");
        let written = s.find("--file=\"$dir/restore.sql\"").unwrap_or(usize::MAX);
        assert!(written < s.find("--single-transaction").unwrap_or(0), "the SQL is complete before psql starts");
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
}
