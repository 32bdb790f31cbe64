<?php

declare(strict_types=1);

namespace OCA\FramaspaceQuota\Listener;

use OC\Files\Filesystem;
use OCA\FramaspaceQuota\SpaceQuotaStorage;
use OCA\FramaspaceQuota\SpaceUsage;
use OCP\EventDispatcher\Event;
use OCP\EventDispatcher\IEventListener;
use OCP\Files\IHomeStorage;
use OCP\Files\Mount\IMountPoint;
use OCP\Files\Storage\IStorage;
use OCP\IConfig;

/** @template-implements IEventListener<Event> */
class WrapHomeStorages implements IEventListener {
	public const WRAPPER = 'framaspace_quota';

	public function __construct(
		private IConfig $config,
		private SpaceUsage $usage,
	) {
	}

	public function handle(Event $event): void {
		$quota = $this->config->getSystemValueInt('framaspace.quota', 0);
		if ($quota <= 0) {
			return;
		}
		// Called once per user set up in the request; the factory keeps the first wrapper of a
		// name and refuses the others (StorageFactory::addStorageWrapper()).
		Filesystem::addStorageWrapper(self::WRAPPER, $this->wrapper($quota));
	}

	/** The wrapper callback: every account's home, whoever's request mounts it (sharing too). */
	public function wrapper(int $quota): callable {
		$usage = $this->usage;
		return static function (string $mountPoint, IStorage $storage, ?IMountPoint $mount = null) use ($quota, $usage): IStorage {
			if (!$storage->instanceOfStorage(IHomeStorage::class)) {
				return $storage;
			}
			return new SpaceQuotaStorage(['storage' => $storage, 'root' => 'files', 'spaceQuota' => $quota, 'usage' => $usage]);
		};
	}
}
