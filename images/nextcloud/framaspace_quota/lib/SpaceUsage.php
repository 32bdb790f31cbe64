<?php

declare(strict_types=1);

namespace OCA\FramaspaceQuota;

use OCP\ICache;
use OCP\ICacheFactory;
use OCP\IDBConnection;

/**
 * What the space holds: the size of the top folders of every storage (each account's files,
 * files_trashbin, files_versions, uploads, and the root storage's appdata with the previews),
 * which is what its bucket holds. Folder sizes propagate up to them (`Cache\Propagator`); a
 * folder not scanned yet (size -1) counts for nothing until it is.
 */
class SpaceUsage {
	/** Roots have parent -1 (`Cache::insert()` of path ''); both lookups use filecache's parent index. */
	public const SQL = 'SELECT COALESCE(SUM(c.size), 0) FROM *PREFIX*filecache c'
		. ' INNER JOIN *PREFIX*filecache r ON c.parent = r.fileid'
		. ' WHERE r.parent = -1 AND c.size > 0';
	/** Seconds another pod's reading stays good; this pod's own writes forget it at once. */
	public const TTL = 60;
	private const KEY = 'used';

	private ICache $cache;
	private int|float|null $memo = null;

	public function __construct(
		private IDBConnection $db,
		ICacheFactory $caches,
	) {
		$this->cache = $caches->createDistributed('framaspace_quota');
	}

	public function used(): int|float {
		if ($this->memo !== null) {
			return $this->memo;
		}
		$cached = $this->cache->get(self::KEY);
		if (is_int($cached) || is_float($cached)) {
			return $this->memo = $cached;
		}
		$result = $this->db->executeQuery(self::SQL);
		$sum = $result->fetchOne();
		$result->closeCursor();
		// PostgreSQL's SUM of a bigint is a numeric, which PDO hands over as a string.
		$used = is_numeric($sum) ? 0 + $sum : 0;
		$this->cache->set(self::KEY, $used, self::TTL);
		return $this->memo = $used;
	}

	/** After a write or a delete: the next reading counts it. */
	public function forget(): void {
		$this->memo = null;
		$this->cache->remove(self::KEY);
	}
}
