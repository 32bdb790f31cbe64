#!/usr/bin/env bash
# Static checks of the image (no container engine here): the scripts parse, the PHP parses, the
# Dockerfile copies only files that exist, pins the release the example class runs, starts Apache
# without the official entrypoint, and every app of apps.lock is pinned to a version and a URL.
set -euo pipefail
cd "$(dirname "$0")"
fail() { echo "images/nextcloud: $*" >&2; exit 1; }
sh -n bake-apps.sh || fail "bake-apps.sh does not parse"
php -l health.php >/dev/null || fail "health.php does not parse"
for f in $(find framaspace_quota -name '*.php'); do php -l "$f" >/dev/null || fail "$f does not parse"; done
grep -q '<id>framaspace_quota</id>' framaspace_quota/appinfo/info.xml && grep -q '<filesystem/>' framaspace_quota/appinfo/info.xml ||
  fail "framaspace_quota/appinfo/info.xml: id framaspace_quota, type filesystem (loaded before the filesystem is set up)"
nc_major=$(sed -n 's/^ARG NEXTCLOUD_VERSION=\([0-9]*\)\..*/\1/p' Dockerfile)
grep -q "<nextcloud min-version=\"[0-9]*\" max-version=\"$nc_major\"/>" framaspace_quota/appinfo/info.xml ||
  fail "framaspace_quota must declare max-version $nc_major, the image's major (Nextcloud disables an app past its max-version at upgrade)"
php check-quota-app.php unit >/dev/null || { php check-quota-app.php unit; fail "the framaspace_quota checks failed"; }
grep -q '^FROM docker.io/library/nextcloud:${NEXTCLOUD_VERSION}-apache$' Dockerfile || fail "FROM must be the official apache image at NEXTCLOUD_VERSION"
version=$(sed -n 's/^ARG NEXTCLOUD_VERSION=//p' Dockerfile)
class=$(sed -n 's/^ *version: *\([0-9.]*\)$/\1/p' ../../examples/spaceclass-standard.yaml)
[ "$version" = "$class" ] || fail "the image pins $version, the example class runs $class"
grep -q '^ENTRYPOINT \[\]$' Dockerfile || fail "the official entrypoint (rsync, install, upgrade at start) must be replaced"
while read -r src; do
  for f in $src; do [ -e "$f" ] || fail "COPY $f: no such file"; done
done < <(sed -n 's/^COPY \(.*\) [^ ]*$/\1/p' Dockerfile)
n=0
while read -r id v url; do
  [[ $id =~ ^[a-z][a-z0-9_]*$ && $v =~ ^[0-9]+\.[0-9]+\.[0-9]+$ && $url == https://*/*$v* ]] || fail "apps.lock: bad line: $id $v $url"
  n=$((n + 1))
done < <(grep -v '^#' apps.lock | grep -v '^$')
# The office apps, and the apps of the promised features the server release lacks (the class's
# default list, api::class::PROMISED_APPS, minus the shipped circles and text).
promised=$(tr ',' ' ' <<<"$(sed -n 's/^pub const PROMISED_APPS: &\[&str\] = &\[\(.*\)\];$/\1/p' ../../src/api/class.rs | tr -d '" ')")
[ -n "$promised" ] || fail "src/api/class.rs: PROMISED_APPS not found"
for required in richdocuments onlyoffice $promised; do
  case $required in circles|text) continue ;; esac   # shipped with the server release
  grep -q "^$required " apps.lock || fail "apps.lock must bake $required (the app store is off)"
done
# Each Apache worker holds a PostgreSQL connection; the space's role has a connection limit.
workers=$(sed -n 's/^ *MaxRequestWorkers *\([0-9]*\)$/\1/p' framaspace.conf)
# The limit is a DatabasePool's tenantConnectionLimit: its smallest value without a PgBouncer
# (the pool's CEL rule) must hold them.
limit=$(sed -n 's/.*self\.tenantConnectionLimit >= \([0-9]*\) || has(self\.tenantHost).*/\1/p' ../../src/api/database_pool.rs | head -1)
[ -n "$workers" ] && [ -n "$limit" ] && [ $((workers + 2)) -le "$limit" ] ||
  fail "MaxRequestWorkers ($workers) plus the cron container and an occ Job must stay within the smallest tenantConnectionLimit ($limit)"
echo "images/nextcloud: Dockerfile, scripts and $n pinned apps check out"
