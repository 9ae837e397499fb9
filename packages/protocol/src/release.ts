/**
 * The wire form of a target release (PrivacyParams.release) and the library's name for it. An
 * unset field is the whole head gradient, as before the field existed.
 */
import type { TargetRelease as ReleaseName } from '@synthgrad/core';
import { TargetRelease } from './gen/synthgrad/v1/synthgrad.js';

/** The library's release names (core's TargetRelease; the wire enum here shares that name). */
export type { ReleaseName };

export function releaseName(r: TargetRelease | undefined): ReleaseName {
  if (r === undefined || r === TargetRelease.TARGET_RELEASE_UNSPECIFIED || r === TargetRelease.TARGET_RELEASE_FULL) return 'full';
  if (r === TargetRelease.TARGET_RELEASE_LABEL_ROWS) return 'label-rows';
  throw new RangeError(`unknown target release ${String(r)}`);
}

export function releaseToWire(name: ReleaseName | undefined): TargetRelease {
  return name === 'label-rows' ? TargetRelease.TARGET_RELEASE_LABEL_ROWS : TargetRelease.TARGET_RELEASE_FULL;
}

/** Rows of a class contribution under a release: the model's vocabulary, or the task's labels. */
export function releasedRows(r: TargetRelease | undefined, vocabSize: number, labels: number): number {
  return releaseName(r) === 'label-rows' ? labels : vocabSize;
}
