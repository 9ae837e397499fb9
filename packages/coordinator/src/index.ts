export { UploadError } from './uploads/upload-error.js';
export { validateHeader, chunkLength, bytesPerElement, DEFAULT_LIMITS, type UploadLimits, type UploadTarget } from './uploads/validate-header.js';
export { UploadStore, decode, type UploadProgress } from './uploads/upload-store.js';
