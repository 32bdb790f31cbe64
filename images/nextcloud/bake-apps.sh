#!/bin/sh
# Image build step: downloads the pinned apps (apps.lock) into custom_apps, then proves them (and
# the platform's framaspace_quota, copied in by the Dockerfile) with
# Nextcloud itself in a throwaway SQLite instance that never leaves this build step: the code
# signature of the server and of each app (occ integrity:check-core / check-app), and that each
# app can be enabled on this release. Also writes the pretty-URL rules into .htaccess, which
# cannot be written at run time (the code is read-only there).
set -eu
lock=/usr/local/share/framaspace/apps.lock
apps=/usr/src/nextcloud/custom_apps
scratch=$(mktemp -d)
grep -v '^#' "$lock" | grep -v '^$' | while read -r id version url; do
  echo "app $id $version"
  curl -fsSL -o "$scratch/$id.tar.gz" "$url"
  rm -rf "${apps:?}/$id"
  tar -xzf "$scratch/$id.tar.gz" -C "$apps"
  grep -q "<version>$version</version>" "$apps/$id/appinfo/info.xml" || { echo "$id: the tarball is not version $version"; exit 1; }
done
chown -R www-data:www-data "$scratch"
cat > "$scratch/apps.config.php" <<PHP
<?php
\$CONFIG = array (
  'apps_paths' => array (
    0 => array ('path' => '/usr/src/nextcloud/apps', 'url' => '/apps', 'writable' => false),
    1 => array ('path' => '/usr/src/nextcloud/custom_apps', 'url' => '/custom_apps', 'writable' => false),
  ),
  'appstoreenabled' => false,
  'htaccess.RewriteBase' => '/',
);
PHP
printf '<?php\n$CONFIG = array (\n);\n' > "$scratch/config.php"
chown www-data:www-data "$scratch"/*.php
occ() { su -s /bin/sh www-data -c "NEXTCLOUD_CONFIG_DIR=$scratch php /usr/src/nextcloud/occ $*"; }
occ maintenance:install --no-interaction --database sqlite --admin-user build --admin-pass "$(head -c 24 /dev/urandom | base64)" --data-dir "$scratch/data"
occ integrity:check-core
grep -v '^#' "$lock" | grep -v '^$' | while read -r id version url; do
  # check-app skips an app without a signature (core/Command/Integrity/CheckApp.php): require one.
  [ -s "$apps/$id/appinfo/signature.json" ] || { echo "$id: no appinfo/signature.json, not an app-store release"; exit 1; }
  occ integrity:check-app "$id" --path="$apps/$id" || { echo "$id: its code signature does not verify"; exit 1; }
  occ app:enable "$id" || { echo "$id $version cannot be enabled on this Nextcloud"; exit 1; }
done
# The platform's app is not an app-store release (no signature): it must load and enable here.
occ app:enable framaspace_quota || { echo "framaspace_quota cannot be enabled on this Nextcloud"; exit 1; }
touch /usr/src/nextcloud/.htaccess && chown www-data /usr/src/nextcloud/.htaccess
occ maintenance:update:htaccess
rm -rf "$scratch"
