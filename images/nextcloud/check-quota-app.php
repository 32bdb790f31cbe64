<?php
// Checks of the framaspace_quota app without a Nextcloud (none runs here): the interfaces it uses
// are stubbed with only what it calls, so its own logic runs as written.
//   php check-quota-app.php unit           the arithmetic, the caching, which storages are wrapped
//   php check-quota-app.php pgsql DSN USER  its usage query on a real PostgreSQL (a scratch
//                                           database with filecache's columns of Nextcloud;
//                                           the password from PGPASSWORD)
declare(strict_types=1);

namespace OCP {
	interface IDBConnection { public function executeQuery(string $sql, array $params = [], $types = []); }
	interface ICache { public function get($key); public function set($key, $value, $ttl = 0); public function remove($key); }
	interface ICacheFactory { public function createDistributed(string $prefix = ''): ICache; }
	interface IConfig { public function getSystemValueInt(string $key, int $default = 0): int; }
}
namespace OCP {
	// Nextcloud's rounds to one decimal with units B, KB, MB, GB (OCP\Util::humanFileSize()).
	class Util {
		public static function humanFileSize(int|float $bytes): string {
			foreach (['GB' => 1 << 30, 'MB' => 1 << 20, 'KB' => 1 << 10] as $unit => $size) {
				if ($bytes >= $size) {
					return round($bytes / $size, 1) . ' ' . $unit;
				}
			}
			return $bytes . ' B';
		}
	}
}
namespace {
	// Nextcloud's template helper (lib/private/Template/functions.php): escaped output.
	function p($string): void { print(htmlspecialchars((string)$string, ENT_QUOTES)); }
}
namespace OCP\AppFramework { class App { public function __construct(string $appName) {} } }
namespace OCP\AppFramework\Bootstrap { interface IBootstrap {} interface IRegistrationContext {} interface IBootContext {} }
namespace OCP\Settings { interface ISettings { public function getForm(); public function getSection(): ?string; public function getPriority(): int; } }
namespace OCP\AppFramework\Http {
	class TemplateResponse {
		public function __construct(public string $appName, public string $templateName, public array $params = [], public string $renderAs = 'user') {}
	}
}
namespace OCP\DB {
	interface IResult { public function fetchOne(); public function closeCursor(): bool; }
}
namespace OCP\EventDispatcher {
	class Event {}
	interface IEventListener { public function handle(Event $event): void; }
}
namespace OCP\Files { interface IHomeStorage {} }
namespace OCP\Files\Mount { interface IMountPoint {} }
namespace OCP\Files\Storage { interface IStorage { public function instanceOfStorage(string $class): bool; } }
namespace OC\Files {
	class Filesystem {
		public static array $wrappers = [];
		public static function addStorageWrapper(string $name, callable $wrapper, int $priority = 50): void {
			self::$wrappers[$name] ??= $wrapper;
		}
	}
}
namespace OC\Files\Storage\Wrapper {
	// Only what SpaceQuotaStorage reads of Nextcloud's Quota wrapper: the parameters and getSize()
	// (Nextcloud's is a storage too: Wrapper implements Storage, an IStorage).
	class Quota implements \OCP\Files\Storage\IStorage {
		protected $storage;
		protected string $sizeRoot;
		public function __construct($parameters) {
			$this->storage = $parameters['storage'];
			$this->sizeRoot = $parameters['root'] ?? '';
		}
		protected function getSize($path, $storage = null) { return $this->storage->sizes[$path] ?? -1; }
		public function instanceOfStorage(string $class): bool { return is_a($this, $class) || $this->storage->instanceOfStorage($class); }
	}
}

namespace FramaspaceQuotaCheck {
	use OCA\FramaspaceQuota\Limit;
	use OCA\FramaspaceQuota\Listener\ForgetUsage;
	use OCA\FramaspaceQuota\Listener\WrapHomeStorages;
	use OCA\FramaspaceQuota\SpaceQuotaStorage;
	use OCA\FramaspaceQuota\Settings\SpaceQuotaSection;
	use OCA\FramaspaceQuota\SpaceUsage;

	$lib = __DIR__ . '/framaspace_quota/lib';
	foreach (['AppInfo/Application', 'Limit', 'SpaceUsage', 'SpaceQuotaStorage', 'Listener/WrapHomeStorages', 'Listener/ForgetUsage', 'Settings/SpaceQuotaSection'] as $f) {
		require $lib . "/$f.php";
	}

	$failures = 0;
	function check(string $what, bool $ok): void {
		global $failures;
		echo ($ok ? '  ok   ' : '  FAIL ') . $what . "\n";
		$failures += $ok ? 0 : 1;
	}

	final class Result implements \OCP\DB\IResult {
		public function __construct(private $value) {}
		public function fetchOne() { return $this->value; }
		public function closeCursor(): bool { return true; }
	}
	final class Db implements \OCP\IDBConnection {
		public int $queries = 0;
		public function __construct(public $sum = '0', private ?\PDO $pdo = null) {}
		public function executeQuery(string $sql, array $params = [], $types = []) {
			$this->queries++;
			if ($this->pdo === null) {
				return new Result($this->sum);
			}
			// Nextcloud's connection replaces *PREFIX* with dbtableprefix ('oc_' in every space).
			return new Result($this->pdo->query(str_replace('*PREFIX*', 'oc_', $sql))->fetchColumn());
		}
	}
	final class Cache implements \OCP\ICache {
		public array $values = [];
		public function get($key) { return $this->values[$key] ?? null; }
		public function set($key, $value, $ttl = 0) { $this->values[$key] = $value; return true; }
		public function remove($key) { unset($this->values[$key]); return true; }
	}
	final class Caches implements \OCP\ICacheFactory {
		public function __construct(public Cache $cache) {}
		public function createDistributed(string $prefix = ''): \OCP\ICache { return $this->cache; }
	}
	final class Config implements \OCP\IConfig {
		public function __construct(private int $quota) {}
		public function getSystemValueInt(string $key, int $default = 0): int { return $key === 'framaspace.quota' ? $this->quota : $default; }
	}
	class Storage implements \OCP\Files\Storage\IStorage {
		public function __construct(public array $sizes = [], private bool $home = true) {}
		public function instanceOfStorage(string $class): bool { return $this->home && $class === \OCP\Files\IHomeStorage::class; }
	}

	$mode = $argv[1] ?? 'unit';
	if ($mode === 'pgsql') {
		$password = getenv('PGPASSWORD');
		$pdo = new \PDO($argv[2], $argv[3] ?? null, $password === false ? null : $password, [\PDO::ATTR_ERRMODE => \PDO::ERRMODE_EXCEPTION]);
		// Two accounts and the root storage, as Nextcloud's filecache holds them: each storage's
		// root (parent -1) above its top folders, a file inside one, an unscanned folder (-1).
		$pdo->exec('DROP TABLE IF EXISTS oc_filecache');
		$pdo->exec('CREATE TABLE oc_filecache (fileid BIGSERIAL PRIMARY KEY, storage BIGINT NOT NULL, path VARCHAR(4000), path_hash VARCHAR(32) NOT NULL, parent BIGINT NOT NULL, name VARCHAR(250), size BIGINT NOT NULL DEFAULT 0)');
		$pdo->exec('CREATE INDEX fs_parent ON oc_filecache (parent)');
		$add = function (int $storage, string $path, int $parent, int $size) use ($pdo): int {
			$q = $pdo->prepare('INSERT INTO oc_filecache (storage, path, path_hash, parent, name, size) VALUES (?, ?, md5(?), ?, ?, ?) RETURNING fileid');
			$q->execute([$storage, $path, $path, $parent, basename($path), $size]);
			return (int)$q->fetchColumn();
		};
		$alice = $add(1, '', -1, 1700);
		$files = $add(1, 'files', $alice, 1500);
		$add(1, 'files/report.odt', $files, 1500);
		$add(1, 'files_trashbin', $alice, 200);
		$bob = $add(2, '', -1, 300);
		$add(2, 'files', $bob, 300);
		$add(2, 'cache', $bob, -1);
		$root = $add(3, '', -1, 50);
		$add(3, 'appdata_oc1234', $root, 50);
		$usage = new SpaceUsage(new Db('0', $pdo), new Caches(new Cache()));
		check('the usage query runs on PostgreSQL and sums each storage\'s top folders once: 1500 + 200 + 300 + 50', $usage->used() === 2050);
		$pdo->exec('DROP TABLE oc_filecache');
		exit($failures === 0 ? 0 : 1);
	}

	check('what is left: quota minus use', Limit::spaceFree(1000, 300) === 700);
	check('nothing left once full, not a negative quota', Limit::spaceFree(1000, 1200) === 0);
	check('an account may fill what the space has left: its own use plus that', Limit::accountQuota(1000, 300, 100) === 800);
	check('an account\'s unknown size (-1) counts as nothing held', Limit::accountQuota(1000, 300, -1) === 700);

	$cache = new Cache();
	$db = new Db('123456789012');
	$usage = new SpaceUsage($db, new Caches($cache));
	check('PostgreSQL\'s numeric SUM (a string) is read as a number', $usage->used() === 123456789012);
	$usage->used();
	check('read once in a request', $db->queries === 1);
	$other = new SpaceUsage($db, new Caches($cache));
	$other->used();
	check('another pod reads the cached sum, not the database', $db->queries === 1);
	$db->sum = '5';
	(new ForgetUsage($other))->handle(new \OCP\EventDispatcher\Event());
	check('a write forgets it: the next reading sums again', $other->used() === 5 && $db->queries === 2);

	$usage = new SpaceUsage(new Db('300'), new Caches(new Cache()));
	$home = new SpaceQuotaStorage(['storage' => new Storage(['files' => 100]), 'root' => 'files', 'spaceQuota' => 1000, 'usage' => $usage]);
	check('the account\'s quota is its own files plus what the space has left', $home->getQuota() === 800);

	(new WrapHomeStorages(new Config(0), $usage))->handle(new \OCP\EventDispatcher\Event());
	check('no framaspace.quota: no wrapper', \OC\Files\Filesystem::$wrappers === []);
	$listener = new WrapHomeStorages(new Config(1000), $usage);
	$listener->handle(new \OCP\EventDispatcher\Event());
	$wrap = \OC\Files\Filesystem::$wrappers[WrapHomeStorages::WRAPPER] ?? null;
	check('framaspace.quota set: the wrapper is added', is_callable($wrap));
	$homeStorage = new Storage(['files' => 100]);
	$wrapped = $wrap('/alice/', $homeStorage);
	check('an account\'s home is held to the space\'s quota', $wrapped instanceof SpaceQuotaStorage && $wrapped->getQuota() === 800);
	$appdata = new Storage([], false);
	check('other storages (the root, with appdata) are left alone', $wrap('/', $appdata) === $appdata);

	$section = new SpaceQuotaSection(new Config(40 << 30), new SpaceUsage(new Db((string)(10 << 30)), new Caches(new Cache())));
	check('the settings section: the space\'s quota, what it holds, what is left', $section->figures() === ['quota' => '40 GB', 'used' => '10 GB', 'free' => '30 GB', 'percent' => 25]);
	check('shown on the personal information page', $section->getSection() === 'personal-info');
	check('no section without a quota', (new SpaceQuotaSection(new Config(0), $usage))->getSection() === null);
	$form = $section->getForm();
	$l = new class { public function t(string $text, array $parameters = []): string { return vsprintf($text, $parameters); } };
	$render = static function (array $_, object $l): string {
		ob_start();
		include __DIR__ . '/framaspace_quota/templates/personal.php';
		return (string)ob_get_clean();
	};
	$html = $render($form->params, $l);
	check('its template renders the figures', $form->templateName === 'personal' && str_contains($html, 'share 40 GB: 10 GB used, 30 GB left.') && str_contains($html, 'value="25"'));
	exit($failures === 0 ? 0 : 1);
}
