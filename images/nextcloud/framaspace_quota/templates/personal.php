<?php
/** @var array{quota: string, used: string, free: string, percent: int} $_ */
/** @var \OCP\IL10N $l */
?>
<div id="framaspace-quota" class="section">
	<h2><?php p($l->t('Storage of the space')); ?></h2>
	<p><?php p($l->t('All accounts of this space share %1$s: %2$s used, %3$s left.', [$_['quota'], $_['used'], $_['free']])); ?></p>
	<progress max="100" value="<?php p((string)$_['percent']); ?>"><?php p($_['percent'] . ' %'); ?></progress>
</div>
