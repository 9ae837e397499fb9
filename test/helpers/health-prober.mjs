// Probes a coordinator's grpc.health.v1 service every 10 ms over one plaintext channel until
// SIGTERM, then prints {n, maxMs, p99Ms, p50Ms, failures} as JSON: what a load balancer's probe
// sees while the coordinator works. Usage: node health-prober.mjs HOST:PORT
import { credentials, makeClientConstructor } from '@grpc/grpc-js';
import { service } from 'grpc-health-check';

const Health = makeClientConstructor(service, 'grpc.health.v1.Health');
const client = new Health(process.argv[2], credentials.createInsecure());
const lat = [];
let failures = 0;
let stop = false;
process.on('SIGTERM', () => (stop = true));
process.stdout.write('probing\n');
while (!stop) {
  const t0 = performance.now();
  await new Promise((resolve) =>
    client.check({ service: '' }, { deadline: new Date(Date.now() + 5000) }, (e) => {
      if (e) failures++;
      else lat.push(performance.now() - t0);
      resolve();
    }),
  );
  await new Promise((r) => setTimeout(r, 10));
}
lat.sort((a, b) => a - b);
const q = (p) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] ?? NaN;
process.stdout.write(`${JSON.stringify({ n: lat.length, maxMs: lat.at(-1), p99Ms: q(0.99), p50Ms: q(0.5), failures })}\n`);
client.close();
process.exit(0);
