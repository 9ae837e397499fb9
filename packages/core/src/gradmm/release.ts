/** Target releases, without the ML stack (the CLI checks flags against them before loading it). */

/**
 * What a class target releases (issue 13). 'full': the whole head gradient, V x d numbers
 * (49,152 x 576 on SmolLM2). 'label-rows': only the rows of the task's label tokens, K x d: on a
 * small model about 95% of a class target's squared norm lies in its own label row, and Gaussian
 * noise of the same sigma on K d instead of V d entries is sqrt(V / K) times smaller in norm.
 * Clipping and sensitivity apply to what is released (the norm of the restricted gradient).
 */
export type TargetRelease = 'full' | 'label-rows';
export const TARGET_RELEASES: readonly TargetRelease[] = ['full', 'label-rows'];
/** What a target releases when nobody says (see README, "Privacy that keeps its utility"). */
export const DEFAULT_RELEASE: TargetRelease = 'label-rows';
