/** A client for the standard grpc.health.v1 service: what probes and `synthgrad coordinator health` call. */
import { makeClientConstructor, type ChannelCredentials, type Client, type ServiceError } from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';

export type ServingStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

type HealthClient = Client & {
  check(req: { service: string }, opts: { deadline: Date }, cb: (e: ServiceError | null, r?: { status: ServingStatus }) => void): void;
};

const HealthClient = makeClientConstructor(healthService as never, 'grpc.health.v1.Health') as unknown as new (address: string, creds: ChannelCredentials) => HealthClient;

export async function checkHealth(address: string, creds: ChannelCredentials, service = '', timeoutMs = 5000): Promise<ServingStatus> {
  const client = new HealthClient(address, creds);
  try {
    return await new Promise<ServingStatus>((resolve, reject) =>
      client.check({ service }, { deadline: new Date(Date.now() + timeoutMs) }, (e, r) => (e ? reject(e) : resolve(r!.status))),
    );
  } finally {
    client.close();
  }
}
