export { computeContributions, type ContributionPrivacy } from './contribution.js';
export { uploadContribution, encode, bearer, type UploadOptions } from './upload.js';
export { runClient, SessionEnded, type ClientRunOptions, type ClientRunResult } from './node.js';
export { loadOrCreateNoiseKey, defaultNoiseKeyPath, sessionNoiseKey } from './noise-key.js';
export { secureAggregate, defaultSecAggStateDir, type SecureAggregateOptions, type SecureAggregateResult } from './secure-aggregation.js';
