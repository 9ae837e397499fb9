export { UploadError } from './uploads/upload-error.js';
export { validateHeader, chunkLength, bytesPerElement, DEFAULT_LIMITS, type UploadLimits, type UploadTarget } from './uploads/validate-header.js';
export { UploadStore, decode, type UploadProgress } from './uploads/upload-store.js';
export { Credentials, type Principal, type Role } from './auth/credentials.js';
export { SessionStore, type SessionRecord } from './sessions/session-store.js';
export { JobRunner } from './job/job-runner.js';
export { Coordinator, startCoordinator, credentialsFile, toServiceError, type CoordinatorOptions, type RunningCoordinator } from './server/coordinator.js';
