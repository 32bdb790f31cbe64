#!/usr/bin/env bash
# Existing Nextcloud instances, made the way Nextcloud's installer and Framasoft's scripts leave
# them, for the adoption tests and the adoption walk-through (`make adoption-sample`):
# - a PostgreSQL role and the database it owns, holding Nextcloud 33's tables as its migrations
#   create them (core/Migrations: oc_appconfig with type and lazy, oc_preferences with lazy, type,
#   flags and indexed and its prefs_app_key_ind_fl_i index, oc_filecache and its
#   fs_storage_path_hash unique index, oc_storages, oc_users, oc_authtoken and
#   authtoken_last_activity_idx) and the rows an installed, used instance has: core/installedat,
#   the enabled apps, the primary object store's storage `object::store:amazon::<bucket>`
#   (ObjectStoreStorage + S3ConnectionTrait), appdata_<instanceid> at its root, the users' home
#   storages `object::user:<uid>`, lastLogin preferences (User::updateLastLoginTimestamp), tokens;
# - a Garage bucket with its own key, holding the files as Nextcloud names them, urn:oid:<fileid>;
# - a Redis ACL user and its keys on the environment's Valkey;
# - its config.php written by PHP's var_export, as lib/private/Config.php writeData() does.
#
# Usage: legacy-instances.sh DIR NAME...   (sourced: the functions only)
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[ -s "$STATE_DIR/env" ] && . "$STATE_DIR/env"

legacy_pg() { PGPASSWORD="$FRAMASPACE_PG_PASSWORD" psql -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$FRAMASPACE_PG_PORT" -U postgres -d "${2:-postgres}" -qAtc "$1"; }
legacy_garage() { curl -sf -H "Authorization: Bearer $FRAMASPACE_GARAGE_ADMIN_TOKEN" -H 'Content-Type: application/json' "$FRAMASPACE_GARAGE_ADMIN_URL/v2/$1" "${@:2}"; }
legacy_rand() { tr -dc "$1" </dev/urandom | head -c "$2"; }

# The tables of Nextcloud 33 the operator reads or the tests compare, as its migrations make them.
LEGACY_SCHEMA="
CREATE TABLE oc_appconfig (appid varchar(32) NOT NULL DEFAULT '', configkey varchar(64) NOT NULL DEFAULT '', configvalue text,
  type integer NOT NULL DEFAULT 2, lazy smallint NOT NULL DEFAULT 0, PRIMARY KEY (appid, configkey));
CREATE INDEX ac_lazy_i ON oc_appconfig (lazy);
CREATE TABLE oc_storages (numeric_id bigserial PRIMARY KEY, id varchar(64), available integer NOT NULL DEFAULT 1, last_checked integer);
CREATE UNIQUE INDEX storages_id_index ON oc_storages (id);
CREATE TABLE oc_filecache (fileid bigserial PRIMARY KEY, storage bigint NOT NULL DEFAULT 0, path varchar(4000), path_hash varchar(32) NOT NULL DEFAULT '',
  parent bigint NOT NULL DEFAULT 0, name varchar(250), mimetype bigint NOT NULL DEFAULT 0, mimepart bigint NOT NULL DEFAULT 0, size bigint NOT NULL DEFAULT 0,
  mtime bigint NOT NULL DEFAULT 0, storage_mtime bigint NOT NULL DEFAULT 0, encrypted integer NOT NULL DEFAULT 0, unencrypted_size bigint NOT NULL DEFAULT 0,
  etag varchar(40), permissions integer DEFAULT 0, checksum varchar(255));
CREATE UNIQUE INDEX fs_storage_path_hash ON oc_filecache (storage, path_hash);
CREATE INDEX fs_parent ON oc_filecache (parent);
CREATE TABLE oc_users (uid varchar(64) NOT NULL DEFAULT '' PRIMARY KEY, displayname varchar(64), password varchar(255) NOT NULL DEFAULT '', uid_lower varchar(64) DEFAULT '');
CREATE INDEX user_uid_lower ON oc_users (uid_lower);
CREATE TABLE oc_preferences (userid varchar(64) NOT NULL DEFAULT '', appid varchar(32) NOT NULL DEFAULT '', configkey varchar(64) NOT NULL DEFAULT '',
  configvalue text, lazy smallint NOT NULL DEFAULT 0, type smallint NOT NULL DEFAULT 0, flags integer NOT NULL DEFAULT 0, indexed varchar(64) DEFAULT '',
  PRIMARY KEY (userid, appid, configkey));
CREATE INDEX prefs_uid_lazy_i ON oc_preferences (userid, lazy);
CREATE INDEX prefs_app_key_ind_fl_i ON oc_preferences (appid, configkey, indexed, flags);
CREATE TABLE oc_authtoken (id bigserial PRIMARY KEY, uid varchar(64) NOT NULL DEFAULT '', login_name varchar(255) NOT NULL DEFAULT '', password text,
  name text NOT NULL DEFAULT '', token varchar(200) NOT NULL DEFAULT '', type smallint DEFAULT 0, remember smallint DEFAULT 0, last_activity integer DEFAULT 0,
  last_check integer DEFAULT 0, scope text, expires integer, private_key text, public_key text, version smallint NOT NULL DEFAULT 1,
  password_invalid boolean DEFAULT false, password_hash varchar(255));
CREATE UNIQUE INDEX authtoken_token_index ON oc_authtoken (token);
CREATE INDEX authtoken_last_activity_idx ON oc_authtoken (last_activity);
CREATE INDEX authtoken_uid_index ON oc_authtoken (uid);
"

# The apps an instance installed by hand has enabled (some of 33's defaults; not the platform's
# framaspace_quota nor the class's twofactor_totp: adopting it enables them).
LEGACY_APPS="activity comments dashboard dav federatedfilesharing files files_sharing files_trashbin files_versions notifications photos provisioning_api settings text theming viewer"

# legacy_instance DIR NAME: makes instance NAME (host NAME.frama.space) and writes DIR/NAME.config.php.
# Its objects, fileid:bytes: alice's report, bob's photo, a preview in appdata (the rows below).
LEGACY_FILES="5:1200 8:3400 9:77"
legacy_instance() {
  local dir=$1 name=$2 sql=nc_${2//-/_}
  local dbpw iid secret salt key skey redispw bucket=nc-$name
  dbpw=$(legacy_rand 'A-Za-z0-9' 30); iid=oc$(legacy_rand 'a-z0-9' 10); secret=$(legacy_rand 'A-Za-z0-9+/' 48)
  salt=$(legacy_rand 'A-Za-z0-9+/' 30); key=GK$(openssl rand -hex 12); skey=$(openssl rand -hex 32); redispw=$(legacy_rand 'A-Za-z0-9' 32)
  legacy_pg "CREATE ROLE $sql LOGIN PASSWORD '$dbpw'" >/dev/null && legacy_pg "CREATE DATABASE $sql OWNER $sql" >/dev/null || return 1
  local rows="
INSERT INTO oc_appconfig (appid, configkey, configvalue) VALUES ('core', 'installedat', '1735689600.0412'), ('core', 'lastupdatedat', '1762000000'),
  ('core', 'vendor', 'nextcloud'), ('core', 'public_files', 'files_sharing/public.php'), ('backgroundjob', 'lastjob', '42');
INSERT INTO oc_appconfig (appid, configkey, configvalue) SELECT a, 'enabled', 'yes' FROM unnest(string_to_array('$LEGACY_APPS', ' ')) a;
INSERT INTO oc_appconfig (appid, configkey, configvalue) SELECT a, 'installed_version', '1.0.0' FROM unnest(string_to_array('$LEGACY_APPS', ' ')) a;
INSERT INTO oc_storages (numeric_id, id) VALUES (1, 'object::store:amazon::$bucket'), (2, 'object::user:alice'), (3, 'object::user:bob'), (4, 'object::user:carol');
INSERT INTO oc_filecache (fileid, storage, path, path_hash, parent, name, size, mtime, etag, permissions) VALUES
  (1, 1, '', md5(''), -1, '', 77, 1762000000, 'e1', 31), (2, 1, 'appdata_$iid', md5('appdata_$iid'), 1, 'appdata_$iid', 77, 1762000000, 'e2', 31),
  (3, 2, '', md5(''), -1, '', 1200, 1762000000, 'e3', 31), (4, 2, 'files', md5('files'), 3, 'files', 1200, 1762000000, 'e4', 31),
  (5, 2, 'files/Rapport 2026.odt', md5('files/Rapport 2026.odt'), 4, 'Rapport 2026.odt', 1200, 1762000100, 'e5', 27),
  (6, 3, '', md5(''), -1, '', 3400, 1762000000, 'e6', 31), (7, 3, 'files', md5('files'), 6, 'files', 3400, 1762000000, 'e7', 31),
  (8, 3, 'files/photo.jpg', md5('files/photo.jpg'), 7, 'photo.jpg', 3400, 1762000200, 'e8', 27),
  (9, 1, 'appdata_$iid/preview/5/256-256.png', md5('appdata_$iid/preview/5/256-256.png'), 2, '256-256.png', 77, 1762000300, 'e9', 27);
SELECT setval('oc_filecache_fileid_seq', 9); SELECT setval('oc_storages_numeric_id_seq', 4);
INSERT INTO oc_users (uid, displayname, password, uid_lower) VALUES
  ('alice', 'Alice', '3|\$argon2id\$v=19\$m=65536,t=4,p=1\$c2FsdA\$aGFzaA', 'alice'),
  ('bob', 'Bob', '3|\$argon2id\$v=19\$m=65536,t=4,p=1\$c2FsdB\$aGFzaB', 'bob'),
  ('carol', 'Carol', '3|\$argon2id\$v=19\$m=65536,t=4,p=1\$c2FsdC\$aGFzaC', 'carol');
INSERT INTO oc_preferences (userid, appid, configkey, configvalue) VALUES ('alice', 'login', 'lastLogin', '1764900000'),
  ('bob', 'login', 'lastLogin', '1764950000'), ('alice', 'settings', 'email', 'alice@$name.example'), ('carol', 'core', 'lang', 'fr');
INSERT INTO oc_authtoken (uid, login_name, name, token, type, last_activity, last_check, version) VALUES
  ('alice', 'alice', 'Firefox', md5('t1$name') || md5('t1b'), 0, 1764960000, 1764960000, 2),
  ('bob', 'bob', 'Nextcloud desktop', md5('t2$name') || md5('t2b'), 1, 1764955000, 1764955000, 2);"
  PGPASSWORD=$dbpw psql -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$FRAMASPACE_PG_PORT" -U "$sql" -d "$sql" -qAt \
    -c "$LEGACY_SCHEMA" -c "$rows" >/dev/null || return 1
  legacy_garage ImportKey -d "{\"accessKeyId\":\"$key\",\"secretAccessKey\":\"$skey\",\"name\":\"nextcloud-$name\"}" >/dev/null || return 1
  local gid; gid=$(legacy_garage CreateBucket -d "{\"globalAlias\":\"$bucket\"}" | jq -r .id) || return 1
  legacy_garage AllowBucketKey -d "{\"bucketId\":\"$gid\",\"accessKeyId\":\"$key\",\"permissions\":{\"read\":true,\"write\":true,\"owner\":true}}" >/dev/null || return 1
  local f id size
  for f in $LEGACY_FILES; do
    id=${f%%:*}; size=${f#*:}
    head -c "$size" /dev/urandom > "$dir/.object"
    # The key percent-encoded: curl signs the path as written, S3 signs the URI-encoded one.
    curl -sf -o /dev/null -X PUT -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" --aws-sigv4 "aws:amz:garage:s3" --user "$key:$skey" \
      --data-binary "@$dir/.object" "$FRAMASPACE_GARAGE_S3_URL/$bucket/urn%3Aoid%3A$id" || return 1
  done
  rm -f "$dir/.object"
  REDISCLI_AUTH="$FRAMASPACE_REDIS_PASSWORD" redis-cli --no-auth-warning --user admin -h 127.0.0.1 -p "$FRAMASPACE_REDIS_PORT" \
    ACL SETUSER "nc-$name" on ">$redispw" "~nc-$name:*" "&nc-$name:*" +@all -@admin -@dangerous >/dev/null
  REDISCLI_AUTH="$redispw" redis-cli --no-auth-warning --user "nc-$name" -h 127.0.0.1 -p "$FRAMASPACE_REDIS_PORT" \
    SET "nc-$name:$iid/appconfig" cached >/dev/null
  local host=${FRAMASPACE_PG_HOST:-127.0.0.1}
  NC_IID=$iid NC_SECRET=$secret NC_SALT=$salt NC_NAME=$name NC_DBNAME=$sql NC_DBUSER=$sql NC_DBPW=$dbpw NC_DBHOST="$host:$FRAMASPACE_PG_PORT" \
  NC_BUCKET=$bucket NC_KEY=$key NC_SKEY=$skey NC_S3PORT=${FRAMASPACE_GARAGE_S3_URL##*:} NC_REDISPORT=$FRAMASPACE_REDIS_PORT NC_REDISPW=$redispw \
    php -r '
$e = fn($k) => getenv($k);
$CONFIG = array(
  "htaccess.RewriteBase" => "/",
  "memcache.local" => "\\OC\\Memcache\\APCu",
  "apps_paths" => array(array("path" => "/var/www/html/apps", "url" => "/apps", "writable" => false),
                        array("path" => "/var/www/html/custom_apps", "url" => "/custom_apps", "writable" => true)),
  "memcache.distributed" => "\\OC\\Memcache\\Redis",
  "memcache.locking" => "\\OC\\Memcache\\Redis",
  "redis" => array("host" => "127.0.0.1", "port" => (int) $e("NC_REDISPORT"), "user" => "nc-" . $e("NC_NAME"), "password" => $e("NC_REDISPW")),
  "memcache_customprefix" => "nc-" . $e("NC_NAME") . ":",
  "objectstore" => array("class" => "\\OC\\Files\\ObjectStore\\S3", "arguments" => array(
    "bucket" => $e("NC_BUCKET"), "key" => $e("NC_KEY"), "secret" => $e("NC_SKEY"), "hostname" => "127.0.0.1",
    "port" => (int) $e("NC_S3PORT"), "use_ssl" => false, "region" => "garage", "use_path_style" => true)),
  "passwordsalt" => $e("NC_SALT"),
  "secret" => $e("NC_SECRET"),
  "trusted_domains" => array(0 => $e("NC_NAME") . ".frama.space"),
  "datadirectory" => "/var/www/html/data",
  "dbtype" => "pgsql",
  "version" => "33.0.7.2",
  "overwrite.cli.url" => "https://" . $e("NC_NAME") . ".frama.space",
  "dbname" => $e("NC_DBNAME"),
  "dbhost" => $e("NC_DBHOST"),
  "dbport" => "",
  "dbtableprefix" => "oc_",
  "dbuser" => $e("NC_DBUSER"),
  "dbpassword" => $e("NC_DBPW"),
  "installed" => true,
  "instanceid" => $e("NC_IID"),
  "maintenance" => false,
);
file_put_contents("php://stdout", "<?php\n\$CONFIG = " . var_export($CONFIG, true) . ";\n");
' > "$dir/$name.config.php"
  printf '%s.frama.space,contact@%s.example,Association %s\n' "$name" "$name" "$name" >> "$dir/extra.csv"
}

# Makes instances into DIR, with the CSV of what config.php lacks.
legacy_instances() {
  local dir=$1; shift
  mkdir -p "$dir"
  [ -s "$dir/extra.csv" ] || echo "host,contact_email,display_name" > "$dir/extra.csv"
  local name
  for name in "$@"; do legacy_instance "$dir" "$name" || { echo "legacy instance $name: not made" >&2; return 1; }; done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  [ $# -ge 2 ] || { echo "usage: $0 DIR NAME..." >&2; exit 2; }
  legacy_instances "$@"
fi
