<?php

declare(strict_types=1);

namespace OCA\FramaspaceQuota\AppInfo;

use OCA\FramaspaceQuota\Listener\ForgetUsage;
use OCA\FramaspaceQuota\Listener\WrapHomeStorages;
use OCA\FramaspaceQuota\SpaceUsage;
use OCP\AppFramework\App;
use OCP\AppFramework\Bootstrap\IBootContext;
use OCP\AppFramework\Bootstrap\IBootstrap;
use OCP\AppFramework\Bootstrap\IRegistrationContext;
use OCP\Files\Events\BeforeFileSystemSetupEvent;
use OCP\Files\Events\Node\NodeDeletedEvent;
use OCP\Files\Events\Node\NodeWrittenEvent;
use OCP\ICacheFactory;
use OCP\IDBConnection;
use Psr\Container\ContainerInterface;

class Application extends App implements IBootstrap {
	public const APP_ID = 'framaspace_quota';

	public function __construct() {
		parent::__construct(self::APP_ID);
	}

	public function register(IRegistrationContext $context): void {
		// One reading per request, shared by every wrapped home and forgotten by the write listener.
		$context->registerService(SpaceUsage::class, static fn (ContainerInterface $c): SpaceUsage => new SpaceUsage(
			$c->get(IDBConnection::class),
			$c->get(ICacheFactory::class),
		));
		// SetupManager::oneTimeUserSetup() dispatches this before it mounts the user's home, after
		// its built-in wrappers (oc_quota among them): a wrapper added here wraps every home mount.
		$context->registerEventListener(BeforeFileSystemSetupEvent::class, WrapHomeStorages::class);
		$context->registerEventListener(NodeWrittenEvent::class, ForgetUsage::class);
		$context->registerEventListener(NodeDeletedEvent::class, ForgetUsage::class);
	}

	public function boot(IBootContext $context): void {
	}
}
