<?php

declare(strict_types=1);

namespace OCA\FramaspaceQuota\Settings;

use OCA\FramaspaceQuota\AppInfo\Application;
use OCA\FramaspaceQuota\Limit;
use OCA\FramaspaceQuota\SpaceUsage;
use OCP\AppFramework\Http\TemplateResponse;
use OCP\IConfig;
use OCP\Settings\ISettings;
use OCP\Util;

/**
 * On every account's personal information page: the space's quota, what the space holds and what
 * is left, for all its accounts together (the Files app shows the account's own share of it).
 */
class SpaceQuotaSection implements ISettings {
	public function __construct(
		private IConfig $config,
		private SpaceUsage $usage,
	) {
	}

	/** @return array{quota: string, used: string, free: string, percent: int} */
	public function figures(): array {
		$quota = $this->config->getSystemValueInt('framaspace.quota', 0);
		$used = $this->usage->used();
		return [
			'quota' => Util::humanFileSize($quota),
			'used' => Util::humanFileSize($used),
			'free' => Util::humanFileSize(Limit::spaceFree($quota, $used)),
			'percent' => $quota > 0 ? (int)min(100, round(100 * $used / $quota)) : 0,
		];
	}

	public function getForm(): TemplateResponse {
		return new TemplateResponse(Application::APP_ID, 'personal', $this->figures(), '');
	}

	public function getSection(): ?string {
		// No quota known (a space not run by the operator): no section.
		return $this->config->getSystemValueInt('framaspace.quota', 0) > 0 ? 'personal-info' : null;
	}

	public function getPriority(): int {
		return 90;
	}
}
