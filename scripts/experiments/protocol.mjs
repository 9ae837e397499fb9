// The quality protocol's fixed parts for the probe scripts (issue 10): the command line
// `SCRIPT TRAIN.jsonl TEST.jsonl GEN.json [GEN.json ...]`, the model, the built-in task, the task
// data, the protocol's test split (500 texts, seed 0, as `bench quality` draws it) and one shared
// feature cache.
import * as core from '@synthgrad/core';
import * as ev from '@synthgrad/eval';

export const pct = (x) => +(x * 100).toFixed(1);
export const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;

export async function openProtocol(script, argv) {
  const [trainFile, testFile, ...genFiles] = argv;
  if (!trainFile || !testFile || genFiles.length === 0) {
    console.error(`usage: ${script} TRAIN.jsonl TEST.jsonl GEN.json [GEN.json ...]`);
    process.exit(2);
  }
  await core.initBackend();
  const rt = await core.loadModel(core.resolveModelPath());
  const task = core.SENTIMENT_TASK;
  const all = core.readExamples(trainFile, task);
  const test = core.Rng.derive(0, 'quality-test').shuffle(core.readExamples(testFile, task)).slice(0, 500);
  return { rt, task, all, test, genFiles, cache: new ev.FeatureCache(rt, task) };
}
