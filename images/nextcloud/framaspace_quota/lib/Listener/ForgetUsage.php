<?php

declare(strict_types=1);

namespace OCA\FramaspaceQuota\Listener;

use OCA\FramaspaceQuota\SpaceUsage;
use OCP\EventDispatcher\Event;
use OCP\EventDispatcher\IEventListener;

/**
 * A file written or deleted changes what the space holds: the next free-space reading, in this
 * request or another pod's, sums it again instead of waiting out the cached one.
 *
 * @template-implements IEventListener<Event>
 */
class ForgetUsage implements IEventListener {
	public function __construct(
		private SpaceUsage $usage,
	) {
	}

	public function handle(Event $event): void {
		$this->usage->forget();
	}
}
