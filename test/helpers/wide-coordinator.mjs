// A coordinator process for a model head as wide as SmolLM2-135M's (49,152 x 576: 113 MB per
// contribution), without the model itself: only its shape matters to uploads. Plaintext on
// loopback. Usage: node wide-coordinator.mjs STATE_DIR
import { ServerCredentials } from '@grpc/grpc-js';
import { startCoordinator } from '@synthgrad/coordinator';

const running = await startCoordinator({
  stateDir: process.argv[2],
  modelPath: '/nonexistent.gguf', // no job ever starts in the sessions this serves
  model: { sha256: 'ab'.repeat(32), vocabSize: 49152, dModel: 576 },
  address: '127.0.0.1:0',
  credentials: ServerCredentials.createInsecure(),
});
process.stdout.write(`listening on port ${running.port}\n`);
process.on('SIGTERM', () => running.close().then(() => process.exit(0)));
