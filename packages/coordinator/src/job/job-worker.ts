/**
 * The synthesis job, in a worker thread (off the coordinator's event loop): sum every client's
 * contribution per class into a target, run GRADMM with a checkpoint after each batch (so a
 * restarted coordinator resumes where it stopped, with the same output), write the results.
 */
import { createHash } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { admmProgress, synthesisLayout, bestMatching, Checkpoint, degeneracy, configHash, initBackend, loadModel, overgenerated, releaseRows, resolvePreset, select, synthesize, taskTokens, type ClassPlan, type SyntheticExample } from '@synthgrad/core';
import { SessionStore } from '../sessions/session-store.js';
import { releaseName, secAggNoisePlan, taskFromSpec } from '@synthgrad/protocol';
import { readAggregate } from '../sessions/secure-aggregation.js';

export interface JobInput {
  sessionsDir: string;
  sessionId: string;
  modelPath: string;
  backend?: string;
}

export type JobMessage = { type: 'progress'; fraction: number; message: string } | { type: 'done'; examples: number } | { type: 'error'; message: string };

const post = (m: JobMessage) => parentPort?.postMessage(m);

async function run(input: JobInput): Promise<void> {
  const store = new SessionStore(input.sessionsDir);
  const rec = store.get(input.sessionId)!;
  const s = rec.session;
  const task = taskFromSpec(s.task!);
  // Classes in worker threads of their share of the cores each, as `synthgrad generate` lays
  // them out (synthesisLayout: on 2 cores, two workers of one thread; one thread of two was
  // slower). The runner shares the process environment with this thread, so the thread count
  // reaches the native library; it reads it once, when the process's first job loads it.
  const workerLayout = synthesisLayout(task.labels.length);
  await initBackend({ backend: input.backend, threads: workerLayout.threads });
  const rt = await loadModel(input.modelPath);
  const uploads = store.uploads(s.id);
  const { vocabSize: V, dModel: d } = rt.config;
  // The rows every client released (validate-header checked the shape): all, or the label tokens'.
  const rows = releaseRows(releaseName(s.privacy?.release), taskTokens(task, rt.tokenizer).labelTokens);
  const secure = s.secureAggregation?.enabled ? { sum: readAggregate(store.sessionDir(s.id), s.secureAggregation.vectorLength), sigma: secAggNoisePlan(s).sigma } : undefined;
  const plans: ClassPlan[] = task.labels.map((_, c) => {
    const block = (rows?.length ?? V) * d;
    if (secure) {
      // Class c's block of the decoded secure sum; its noise is the central Skellam of the plan.
      const sum = secure.sum.slice(c * block, (c + 1) * block);
      return { target: { label: c, vocabSize: V, dModel: d, rows, sum, count: 1, noiseStd: secure.sigma, clip: s.privacy?.clip ?? null }, textLength: s.textLength };
    }
    const sum = new Float32Array(block);
    let variance = 0;
    for (const client of rec.joined) {
      const id = rec.contributions[client]?.[c];
      if (!id) continue;
      const part = uploads.read(id);
      for (let i = 0; i < sum.length; i++) sum[i] += part[i];
      variance += (uploads.committed(id).header.noiseStd ?? 0) ** 2;
    }
    // Counts are never sent; the cosine matching loss does not need them.
    return { target: { label: c, vocabSize: V, dModel: d, rows, sum, count: 1, noiseStd: Math.sqrt(variance), clip: s.privacy?.clip ?? null }, textLength: s.textLength };
  });
  const preset = resolvePreset(s.preset);
  // The preset's overgeneration (else the measured protocol's) in equal batches no larger than the
  // preset's, then exactly the requested count per class: the best-matching distinct texts
  // (selection/select.ts).
  const layout = overgenerated(s.syntheticPerClass, preset.settings.batchSize, preset.overgenerate);
  const settings = { ...preset.settings, batchSize: layout.batchSize };
  const perClass = layout.perClass;
  const opts = { settings, method: preset.method, perClass, seed: s.seed, distance: 'cosine' as const };
  const dir = store.sessionDir(s.id);
  const checkpoint = Checkpoint.open<SyntheticExample>(join(dir, 'checkpoint.json'), configHash({ opts, session: s.id, clients: rec.joined }), true);
  const nClasses = task.labels.length;
  const t0 = performance.now();
  // The worker count is not part of the checkpoint's hash: the output is the same whatever it is.
  const res = await synthesize(rt, task, plans, { ...opts, workers: workerLayout.workers }, {
    checkpoint,
    onProgress: (p) => {
      if (p.phase !== 'admm') return;
      const a = admmProgress(p, nClasses);
      const fraction = a.done / a.total;
      post({ type: 'progress', fraction, message: `class ${p.classIndex + 1}/${nClasses} batch ${p.batch + 1}/${p.batches}` });
    },
  });
  const selected = select(res.examples, nClasses, bestMatching(s.syntheticPerClass, preset.method.targetFilter, preset.method.targetFilterMargin, preset.method.dropDegenerate));
  // Class by class, best first; a class short of distinct texts is topped up with its next best rather than left short.
  // Degenerate texts last, when the method drops them: the top-up takes them only if nothing else is left.
  const degenerate = new Set(preset.method.dropDegenerate ? res.examples.filter((e) => degeneracy(e.text, e.ids) !== null) : []);
  const last = (e: SyntheticExample) => (degenerate.has(e) ? 1 : 0);
  const kept = task.labels.flatMap((_, c) => {
    const mine = selected.kept.filter((e) => e.labelIndex === c);
    const rest = res.examples.filter((e) => e.labelIndex === c && !mine.includes(e)).sort((a, b) => last(a) - last(b) || a.matching_loss - b.matching_loss);
    return [...mine, ...rest].slice(0, s.syntheticPerClass);
  });
  const filterNote = preset.method.targetFilter === 'off' ? '' : ` (target filter ${preset.method.targetFilter}: ${selected.report.passedTargetFilter} of ${res.examples.length} placed in their own class)`;
  const jsonl = kept.map((e) => JSON.stringify({ text: e.text, label: e.label, matching_loss: e.matching_loss, perplexity: e.perplexity })).join('\n') + '\n';
  const meta = {
    session: s.id,
    task,
    preset: s.preset,
    settings,
    selection: { generated: res.examples.length, kept: kept.length, rule: `per class, the ${s.syntheticPerClass} best-matching distinct texts of ${perClass} generated${filterNote}` },
    model: { sha256: await rt.sha256(), name: rt.name },
    participants: rec.joined.length,
    privacy: {
      ...s.privacy,
      mechanism: secure
        ? `secure aggregation (SecAgg+) of ${rec.aggregated?.length ?? rec.joined.length} participants, distributed Skellam noise calibrated to a quorum of ${s.secureAggregation!.threshold}`
        : 'analytic-gaussian, added by each client to its per-class sums',
      total_noise_std_per_class: plans.map((p) => p.target.noiseStd),
    },
    timings: { ...res.timings, total_s: (performance.now() - t0) / 1000 },
    // A task that names no domain: the genre its summed targets chose (core's domain search).
    ...(res.domain ? { domain: res.domain } : {}),
    // The topics each class's summed target chose (core's topic search), when the method asks for them.
    ...(res.topics ? { topics: res.topics } : {}),
    // The words each class's summed target points at (core's target words), when the method asks for them.
    ...(res.targetWords ? { target_words: res.targetWords } : {}),
    jsonl_sha256: createHash('sha256').update(jsonl).digest('hex'),
  };
  for (const [name, content] of [['synthetic.jsonl', jsonl], ['meta.json', JSON.stringify(meta, null, 2) + '\n']] as const) {
    writeFileSync(join(dir, `${name}.tmp`), content);
    renameSync(join(dir, `${name}.tmp`), join(dir, name));
  }
  rt.dispose();
  post({ type: 'done', examples: kept.length });
}

if (parentPort) {
  run(workerData as JobInput).catch((e: Error) => post({ type: 'error', message: e.message }));
}
