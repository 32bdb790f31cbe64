<?php
// Framaspace health endpoint (the startup and readiness probes of every space's web pod):
// 200 only when this Nextcloud serves its users, 503 otherwise. status.php answers 200 when not
// installed, in maintenance or waiting for an upgrade (it never calls checkMaintenanceMode), so
// it cannot tell a kubelet the truth.
//
// lib/base.php may end the request itself (a redirect to the installer when not installed,
// an error page for an unreadable configuration): whatever happens, the shutdown handler below
// turns anything but our own final answer into a 503, so a redirect (which a probe would count
// as success) never leaves this script.
declare(strict_types=1);

$framaspaceHealthy = false;
register_shutdown_function(static function () use (&$framaspaceHealthy): void {
    if ($framaspaceHealthy) {
        return;
    }
    if (!headers_sent()) {
        header_remove('Location');
        http_response_code(503);
        header('Content-Type: application/json');
        header('Cache-Control: no-store');
    }
});

try {
    require_once '/usr/src/nextcloud/lib/base.php';
    $config = \OC::$server->getSystemConfig();
    $state = [
        'installed' => (bool)$config->getValue('installed', false),
        'maintenance' => (bool)$config->getValue('maintenance', false),
        // Util::needUpgrade() compares the configuration's `version` with the code's version.php
        // (and throws on a downgrade): the operator records that version, so a pod whose code
        // differs from it is never healthy.
        'needsDbUpgrade' => \OCP\Util::needUpgrade(),
        'version' => implode('.', \OCP\Util::getVersion()),
    ];
} catch (\Throwable $e) {
    $state = ['error' => get_class($e)];
}
$ok = ($state['installed'] ?? false) && !($state['maintenance'] ?? true) && !($state['needsDbUpgrade'] ?? true);
header('Content-Type: application/json');
header('Cache-Control: no-store');
http_response_code($ok ? 200 : 503);
echo json_encode($state), "\n";
$framaspaceHealthy = $ok;
