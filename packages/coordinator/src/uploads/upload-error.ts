/** A refused upload: the gRPC status to answer with and a message naming what was wrong. */
import { status } from '@grpc/grpc-js';

export class UploadError extends Error {
  constructor(
    readonly code: status,
    message: string,
  ) {
    super(message);
    this.name = 'UploadError';
  }
}

export { status };
