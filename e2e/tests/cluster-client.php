<?php
// A space's Nextcloud talking to the Valkey cluster, through the real phpredis (Debian's
// php-redis), with the configuration the operator rendered for it: the ConfigMap's
// redis.config.php is included as Nextcloud's Config would, and the client is built the way
// lib/private/RedisFactory.php create() builds it for 'redis.cluster' (seeds, timeout,
// read_timeout, persistent, [user, password], ssl_context; then OPT_SLAVE_FAILOVER). phpredis'
// RedisCluster follows MOVED and ASK itself, maps the slots with CLUSTER SLOTS, and sends KEYS to
// every master (cluster.md). Usage: php cluster-client.php CONFIG.php own|other PREFIX|side
// Prints one JSON object.
$CONFIG = [];
include $argv[1];
$config = $CONFIG['redis.cluster'];
$auth = [$config['user'], $config['password']];
$persistent = $CONFIG['redis.persistent'] ?? true;
$c = isset($config['ssl_context'])
    ? new RedisCluster(null, $config['seeds'], $config['timeout'], $config['read_timeout'], $persistent, $auth, $config['ssl_context'])
    : new RedisCluster(null, $config['seeds'], $config['timeout'], $config['read_timeout'], $persistent, $auth);
$c->setOption(RedisCluster::OPT_SLAVE_FAILOVER, $config['failover_mode']);
$prefix = $CONFIG['memcache_customprefix'];

// One attempt: its answer, or false with the server's error (phpredis returns false on an error
// reply and throws on a cluster failure).
function attempt(RedisCluster $c, callable $f) {
    try {
        $c->clearLastError();
        $r = $f();
        return ['ok' => $r !== false, 'error' => $c->getLastError()];
    } catch (Throwable $e) {
        return ['ok' => false, 'error' => get_class($e) . ': ' . $e->getMessage()];
    }
}

$out = [];
switch ($argv[2]) {
    case 'own':
        // Keys over every master's slots, as a space's cache spreads.
        $n = 60;
        $written = 0;
        for ($i = 0; $i < $n; $i++) {
            $written += $c->setex($prefix . "k$i", 300, "v$i") ? 1 : 0;
        }
        $read = 0;
        for ($i = 0; $i < $n; $i++) {
            $read += $c->get($prefix . "k$i") === "v$i" ? 1 : 0;
        }
        // lib/private/Memcache/Redis.php: the 'dec' script by EVALSHA, then EVAL.
        $c->setex($prefix . 'counter', 300, '5');
        $dec = 'if redis.call("exists", KEYS[1]) == 1 then return redis.call("decrby", KEYS[1], ARGV[1]) else return "NEX" end';
        $lua = $c->evalSha(sha1($dec), [$prefix . 'counter', 2], 1);
        if ($lua === false) {
            $lua = $c->eval($dec, [$prefix . 'counter', 2], 1);
        }
        // clear() before nextcloud/server#61559: KEYS on every master, then DEL.
        $keys = $c->keys($prefix . '*');
        // clear() after it: SCAN per master (_masters()), then UNLINK.
        $scanned = 0;
        foreach ($c->_masters() as $master) {
            $it = null;
            while (($batch = $c->scan($it, $master, $prefix . '*', 100)) !== false) {
                $scanned += count($batch);
            }
        }
        // A lock as memcache.locking takes one: SET NX EX under the prefix.
        $lock = $c->set($prefix . 'lock/files/x', 'exclusive', ['nx', 'ex' => 30]);
        $deleted = $c->del(is_array($keys) ? $keys : []);
        $out = [
            'written' => $written,
            'read' => $read,
            'lua' => $lua,
            'keys' => is_array($keys) ? count($keys) : -1,
            'scanned' => $scanned,
            'lock' => $lock,
            'deleted' => $deleted,
            'masters' => count($c->_masters()),
        ];
        break;
    case 'other':
        $other = $argv[3];
        $out = [
            'get' => attempt($c, fn() => $c->get($other . 'k1')),
            'set' => attempt($c, fn() => $c->setex($other . 'k1', 60, 'x')),
            'unlink' => attempt($c, fn() => $c->unlink($other . 'k1')),
            'eval' => attempt($c, fn() => $c->eval('return redis.call("get", KEYS[1])', [$other . 'k1'], 1)),
            'publish' => attempt($c, fn() => $c->publish($other . 'channel', 'x')),
        ];
        break;
    case 'side':
        $node = $c->_masters()[0];
        $out = [
            'config' => attempt($c, fn() => $c->rawCommand($node, 'CONFIG', 'GET', 'maxmemory')),
            'flushall' => attempt($c, fn() => $c->rawCommand($node, 'FLUSHALL')),
            'client_list' => attempt($c, fn() => $c->rawCommand($node, 'CLIENT', 'LIST')),
            'acl_list' => attempt($c, fn() => $c->rawCommand($node, 'ACL', 'LIST')),
            'script_load' => attempt($c, fn() => $c->rawCommand($node, 'SCRIPT', 'LOAD', 'return 1')),
            'getkeysinslot' => attempt($c, fn() => $c->rawCommand($node, 'CLUSTER', 'GETKEYSINSLOT', '0', '10')),
            'countkeysinslot' => attempt($c, fn() => $c->rawCommand($node, 'CLUSTER', 'COUNTKEYSINSLOT', '0')),
            'pubsub' => attempt($c, fn() => $c->rawCommand($node, 'PUBSUB', 'CHANNELS')),
            'tracking' => attempt($c, fn() => $c->rawCommand($node, 'CLIENT', 'TRACKING', 'on')),
            'cluster_failover' => attempt($c, fn() => $c->rawCommand($node, 'CLUSTER', 'FAILOVER')),
        ];
        break;
}
echo json_encode($out), "\n";
