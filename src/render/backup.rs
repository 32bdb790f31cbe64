//! A space's backups, pure: when the next one is due, the names of its Job and objects, the
//! manifest that says what it holds, and what retention removes.
//!
//! Layout of a space's backup bucket (on the class's StoragePool of purpose `Backups`):
//! - `db/<id>.sql.gz`: the database, the SQL the upgrade's snapshot script writes (gzip'd, made
//!   as the space's role, naming no other space);
//! - `files/<key>@<etag>`: one copy of each version of each object of the space's bucket, copied
//!   once and shared by every backup that saw that version (Nextcloud's object store overwrites
//!   `urn:oid:<fileid>` in place when a file changes, `lib/private/Files/ObjectStore/
//!   ObjectStoreStorage.php` `writeStream`, so a key alone does not name a content; its ETag does);
//! - `manifests/<id>.json`: what the backup holds (the dump's digest and the version of every
//!   object), written last: a backup without its manifest is not one.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::api::backup::BackupRecord;

/// The purpose label of a backup's dump Job.
pub const BACKUP_PURPOSE: &str = "backup";
/// Where a backup's dump waits in the space's own bucket until the operator moves it.
pub const DUMP_PREFIX: &str = "framaspace/backups/";
/// The operator's own objects in a space's bucket (snapshots, dumps): never part of the files.
pub const OPERATOR_PREFIX: &str = "framaspace/";

/// A backup's id: the UTC second it began, `20261205T031500Z`.
pub fn backup_id(now: jiff::Timestamp) -> String {
    now.strftime("%Y%m%dT%H%M%SZ").to_string()
}

pub fn job_name(id: &str) -> String {
    format!("nextcloud-backup-{}", id.to_ascii_lowercase())
}

pub fn dump_key(id: &str) -> String {
    format!("{DUMP_PREFIX}{id}.sql.gz")
}

/// Where a restore puts a backup's dump in the space's bucket for its Job to stream, until done.
pub fn restore_dump_key(id: &str) -> String {
    format!("framaspace/restores/{id}.sql.gz")
}

pub fn restore_job_name(id: &str) -> String {
    format!("nextcloud-restore-backup-{}", id.to_ascii_lowercase())
}

pub fn database_key(id: &str) -> String {
    format!("db/{id}.sql.gz")
}

pub fn manifest_key(id: &str) -> String {
    format!("manifests/{id}.json")
}

pub const FILES_PREFIX: &str = "files/";

/// Where the copy of one version of an object lives.
pub fn copy_key(key: &str, etag: &str) -> String {
    format!("{FILES_PREFIX}{key}@{etag}")
}

/// The space's offset within the period: spaces spread evenly over it, each always at the same
/// time of it (a hash of its name, stable across restarts and replicas).
pub fn offset(space: &str, period: Duration) -> Duration {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(space.as_bytes());
    let mut n = [0u8; 8];
    n.copy_from_slice(&digest[..8]);
    Duration::from_secs(u64::from_be_bytes(n) % period.as_secs().max(1))
}

/// The space's first slot strictly after `after`: slots are `k × period + offset` seconds after
/// the Unix epoch.
pub fn next_slot(space: &str, period: Duration, after: jiff::Timestamp) -> jiff::Timestamp {
    let p = period.as_secs().max(1) as i64;
    let o = offset(space, period).as_secs() as i64;
    let t = after.as_second();
    let k = (t - o).div_euclid(p) + 1;
    jiff::Timestamp::from_second(k * p + o).unwrap_or(after)
}

/// Why a backup starts now, if one does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Due {
    /// The annotation `frama.space/backup-requested` holds a value not yet answered.
    Requested(String),
    Scheduled,
}

/// Whether a backup is due: a request not answered yet, or the space's next slot
/// (`status.backups.nextAt`, set when the space came under the policy and after each attempt)
/// has passed.
pub fn due(request: Option<&str>, last_request: Option<&str>, next_at: Option<jiff::Timestamp>, now: jiff::Timestamp) -> Option<Due> {
    if let Some(r) = request.filter(|r| !r.is_empty() && Some(*r) != last_request) {
        return Some(Due::Requested(r.to_string()));
    }
    next_at.is_some_and(|t| t <= now).then_some(Due::Scheduled)
}

/// When a failed attempt is tried again: its next slot, or sooner.
pub const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(1800);

/// What a backup holds, written beside it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub id: String,
    pub space: String,
    pub started_at: String,
    pub version: String,
    pub database: DumpEntry,
    pub objects: Vec<ObjectEntry>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DumpEntry {
    pub key: String,
    pub bytes: i64,
    pub sha256: String,
    /// Rows per table in the dump: what a restore test expects to find.
    #[serde(default)]
    pub rows: BTreeMap<String, i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectEntry {
    pub key: String,
    pub etag: String,
    pub size: u64,
}

impl ObjectEntry {
    pub fn copy_key(&self) -> String {
        copy_key(&self.key, &self.etag)
    }
}

/// The space's files in a listing of its bucket: everything but the operator's own objects.
pub fn files_of(listing: Vec<ObjectEntry>) -> Vec<ObjectEntry> {
    listing.into_iter().filter(|o| !o.key.starts_with(OPERATOR_PREFIX)).collect()
}

/// The objects whose version has no copy yet.
pub fn to_copy<'a>(files: &'a [ObjectEntry], copies: &BTreeSet<String>) -> Vec<&'a ObjectEntry> {
    files.iter().filter(|f| !copies.contains(&f.copy_key())).collect()
}

/// Retention: the records kept (newest first, at most `keep`) and the ids that go.
pub fn retain(mut records: Vec<BackupRecord>, keep: usize) -> (Vec<BackupRecord>, Vec<String>) {
    records.sort_by(|a, b| b.id.cmp(&a.id));
    records.dedup_by(|a, b| a.id == b.id);
    let dropped = records.split_off(keep.min(records.len()));
    (records, dropped.into_iter().map(|r| r.id).collect())
}

/// The ids of the manifests in a listing of `manifests/`.
pub fn manifest_ids(keys: &[String]) -> Vec<String> {
    let mut ids: Vec<String> =
        keys.iter().filter_map(|k| k.strip_prefix("manifests/")?.strip_suffix(".json").map(str::to_string)).collect();
    ids.sort();
    ids
}

/// The copies no kept manifest names.
pub fn unreferenced(copies: &BTreeSet<String>, kept: &[Manifest]) -> Vec<String> {
    let named: BTreeSet<String> = kept.iter().flat_map(|m| m.objects.iter().map(ObjectEntry::copy_key)).collect();
    copies.difference(&named).cloned().collect()
}

/// What a restore does to the live bucket to make it the manifest's: the copies to put back
/// (missing, or another version) and the keys to remove (not in the manifest). The operator's
/// own objects are left alone.
pub fn restore_plan<'a>(manifest: &'a Manifest, live: &[ObjectEntry]) -> (Vec<&'a ObjectEntry>, Vec<String>) {
    let now: BTreeMap<&str, &str> = live.iter().map(|o| (o.key.as_str(), o.etag.as_str())).collect();
    let wanted: BTreeSet<&str> = manifest.objects.iter().map(|o| o.key.as_str()).collect();
    let put = manifest.objects.iter().filter(|o| now.get(o.key.as_str()) != Some(&o.etag.as_str())).collect();
    let remove = live.iter().filter(|o| !wanted.contains(o.key.as_str())).map(|o| o.key.clone()).collect();
    (put, remove)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> jiff::Timestamp {
        s.parse().expect("timestamp")
    }

    #[test]
    fn slots_spread_spaces_over_the_period_and_repeat_each_period() {
        let day = Duration::from_secs(86400);
        let a = next_slot("asso-a", day, ts("2026-12-05T00:00:00Z"));
        let b = next_slot("asso-b", day, ts("2026-12-05T00:00:00Z"));
        assert_ne!(a, b, "two spaces do not share a slot");
        let again = next_slot("asso-a", day, a);
        assert_eq!(again.as_second() - a.as_second(), 86400);
        assert!(next_slot("asso-a", day, a.checked_sub(jiff::SignedDuration::from_secs(1)).expect("t")) == a);
        let offsets: BTreeSet<u64> = (0..1000).map(|i| offset(&format!("s{i}"), day).as_secs() / 3600).collect();
        assert_eq!(offsets.len(), 24, "a thousand spaces fall in every hour of the day");
    }

    #[test]
    fn a_backup_is_due_on_request_or_after_its_slot() {
        let slot = ts("2026-12-05T10:00:00Z");
        let before = ts("2026-12-05T09:59:59Z");
        assert_eq!(due(None, None, None, slot), None, "a space new to the policy waits for its first slot");
        assert_eq!(due(None, None, Some(slot), before), None);
        assert_eq!(due(None, None, Some(slot), slot), Some(Due::Scheduled));
        assert_eq!(due(Some("now"), None, Some(slot), before), Some(Due::Requested("now".into())));
        assert_eq!(due(Some("now"), Some("now"), Some(slot), before), None, "a request is answered once");
    }

    fn record(id: &str) -> BackupRecord {
        BackupRecord::fixture(id)
    }

    #[test]
    fn retention_keeps_the_newest() {
        let (kept, dropped) = retain(vec![record("20261203T0"), record("20261205T0"), record("20261204T0")], 2);
        assert_eq!(kept.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), ["20261205T0", "20261204T0"]);
        assert_eq!(dropped, ["20261203T0"]);
    }

    fn entry(key: &str, etag: &str) -> ObjectEntry {
        ObjectEntry { key: key.into(), etag: etag.into(), size: 1 }
    }

    #[test]
    fn only_new_versions_are_copied_and_only_unnamed_copies_removed() {
        let files = files_of(vec![entry("urn:oid:1", "a"), entry("urn:oid:2", "b"), entry("framaspace/backups/x.sql.gz", "c")]);
        assert_eq!(files.len(), 2, "the operator's own objects are not the space's files");
        let copies = BTreeSet::from([copy_key("urn:oid:1", "a"), copy_key("urn:oid:1", "old")]);
        assert_eq!(to_copy(&files, &copies), [&entry("urn:oid:2", "b")]);
        let m = Manifest { objects: files.clone(), ..Manifest::default() };
        assert_eq!(unreferenced(&copies, &[m]), [copy_key("urn:oid:1", "old")]);
    }

    #[test]
    fn a_restore_puts_back_what_changed_and_removes_what_came_after() {
        let m =
            Manifest { objects: vec![entry("urn:oid:1", "a"), entry("urn:oid:2", "b"), entry("urn:oid:3", "c")], ..Manifest::default() };
        let live = vec![entry("urn:oid:1", "a"), entry("urn:oid:2", "changed"), entry("urn:oid:9", "new")];
        let (put, remove) = restore_plan(&m, &live);
        assert_eq!(put, [&entry("urn:oid:2", "b"), &entry("urn:oid:3", "c")]);
        assert_eq!(remove, ["urn:oid:9"]);
    }

    #[test]
    fn names_are_stable() {
        let id = backup_id(ts("2026-12-05T03:15:00Z"));
        assert_eq!(id, "20261205T031500Z");
        assert_eq!(job_name(&id), "nextcloud-backup-20261205t031500z");
        assert_eq!(dump_key(&id), "framaspace/backups/20261205T031500Z.sql.gz");
        assert_eq!(manifest_ids(&[manifest_key(&id), "files/x@y".into()]), [id]);
    }
}
