/** The synthgrad.v1 wire format: messages and the Coordinator service, generated from proto/. */
export * from './gen/synthgrad/v1/synthgrad.js';
export { taskFromSpec, specFromTask } from './task-spec.js';
export { channelCredentials, serverCredentials, type ChannelTlsOptions, type ServerTlsOptions } from './transport.js';
export { Backoff, retry, isTransient, isUnavailable, TRANSIENT_CODES, type BackoffOptions, type RetryOptions } from './retry.js';
export { releaseName, releaseToWire, releasedRows, type ReleaseName } from './release.js';
export {
  DEFAULT_ROUND_TIMEOUT_MS,
  secAggBlockLength,
  secAggParams,
  secAggNoisePlan,
  keysToWire,
  keysFromWire,
  sealedToWire,
  sealedFromWire,
  revealedToWire,
  revealedFromWire,
  wordsToBytes,
  wordsFromBytes,
} from './secure-aggregation.js';
