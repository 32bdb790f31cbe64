<?php

declare(strict_types=1);

namespace OCA\FramaspaceQuota;

use OC\Files\Storage\Wrapper\Quota;

/**
 * An account's home, held to the space's quota. Nextcloud's own Quota wrapper does the
 * enforcing (free_space for the web UI and WebDAV's QuotaPlugin, fopen/file_put_contents/copy/
 * mkdir refusals, `files/` only, part files and trash left alone); this only tells it the quota.
 * Nextcloud's StorageInfo (`OC_Helper::getStorageInfo()`) then shows the account its own use
 * out of its use plus what the space has left.
 */
class SpaceQuotaStorage extends Quota {
	private int|float $spaceQuota;
	private SpaceUsage $usage;

	/** @param array{storage: \OCP\Files\Storage\IStorage, root: string, spaceQuota: int|float, usage: SpaceUsage} $parameters */
	public function __construct($parameters) {
		parent::__construct($parameters);
		$this->spaceQuota = $parameters['spaceQuota'];
		$this->usage = $parameters['usage'];
	}

	public function getQuota(): int|float {
		return Limit::accountQuota($this->spaceQuota, $this->usage->used(), $this->getSize($this->sizeRoot));
	}
}
