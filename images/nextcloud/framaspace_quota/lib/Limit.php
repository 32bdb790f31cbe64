<?php

declare(strict_types=1);

namespace OCA\FramaspaceQuota;

/** The arithmetic of a quota shared by every account of the space (no I/O). */
final class Limit {
	/** What the space has left: never below zero, even when a bucket filled past the quota. */
	public static function spaceFree(int|float $spaceQuota, int|float $spaceUsed): int|float {
		return max($spaceQuota - max($spaceUsed, 0), 0);
	}

	/**
	 * The quota an account is held to: what it holds plus what the space has left. Nextcloud's
	 * Quota wrapper gives `quota - own use` as the free space (`Wrapper\Quota::free_space()`), so
	 * every account sees, and may fill, exactly what the space has left.
	 */
	public static function accountQuota(int|float $spaceQuota, int|float $spaceUsed, int|float $own): int|float {
		return max($own, 0) + self::spaceFree($spaceQuota, $spaceUsed);
	}
}
