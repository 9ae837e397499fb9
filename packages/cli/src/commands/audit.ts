/**
 * `synthgrad audit`: the data owner's privacy audit of a synthetic set against its own real data
 * (core/src/audit): nearest real example of every synthetic text by n-gram overlap and by the
 * model's embedding, exact copies and near-duplicates. Runs where the real data is; prints a
 * summary and writes the full report as JSON.
 */
import { writeFileSync } from 'node:fs';
import { intFlag, parse } from '../args.js';
import { startRuntime } from '../runtime.js';

export const AUDIT_HELP = `synthgrad audit --synthetic FILE --data FILE [--task sentiment|T.json] [--out REPORT.json]
                [--n 3] [--near-run 8] [--no-embedding] [--model FILE] [--json]

For every synthetic text, the nearest real example of --data: by word n-gram overlap (with the
longest run of words the two share) and by cosine of the model's last hidden state (skip with
--no-embedding: no model is loaded). Counts exact copies and near-duplicates (a shared run of
--near-run words or more). The report is for the data owner: it names real examples.`;

const OPTIONS = {
  synthetic: { type: 'string' },
  data: { type: 'string' },
  task: { type: 'string' },
  out: { type: 'string' },
  n: { type: 'string' },
  'near-run': { type: 'string' },
  'no-embedding': { type: 'boolean', default: false },
  model: { type: 'string' },
  backend: { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

export async function auditCommand(argv: string[]): Promise<void> {
  const { values } = parse(argv, OPTIONS, AUDIT_HELP, 'audit');
  const core = await import('@synthgrad/core');
  if (!values.synthetic || !values.data) throw new core.SynthgradError(`audit needs --synthetic and --data\n\n${AUDIT_HELP}`, 'E_USAGE');
  const task = core.resolveTask(values.task ?? 'sentiment');
  const synthetic = core.readExamples(values.synthetic, task).map((e) => e.text);
  const real = core.readExamples(values.data, task).map((e) => e.text);
  const n = intFlag(values.n, 'n', 3);
  const nearDuplicateRun = intFlag(values['near-run'], 'near-run', 8);
  let report: import('@synthgrad/core').AuditReport;
  if (values['no-embedding']) {
    report = core.auditSynthetic(synthetic, real, { n, nearDuplicateRun });
  } else {
    const rt = await startRuntime({ model: values.model, backend: values.backend, verbose: !values.json });
    try {
      report = core.auditSynthetic(synthetic, real, { n, nearDuplicateRun, embed: core.modelEmbedding(rt.model, core.taskTokens(task, rt.tokenizer).promptIds) });
    } finally {
      rt.dispose();
    }
  }
  const withTexts = { ...report, items: report.items.map((i) => ({ ...i, text: synthetic[i.synthetic], nearest_real_text: i.real >= 0 ? real[i.real] : null })) };
  if (values.out) writeFileSync(values.out, `${JSON.stringify(withTexts, null, 2)}\n`);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(withTexts)}\n`);
    return;
  }
  const worst = [...withTexts.items].sort((a, b) => b.longestRun - a.longestRun).slice(0, 3);
  const lines = [
    `audited ${report.synthetic} synthetic texts against ${report.real} real ones (${n}-gram overlap${report.maxCosine !== undefined ? ', model embedding' : ''})`,
    `exact copies: ${report.exactCopies}; near-duplicates (a shared run of >= ${nearDuplicateRun} words): ${report.nearDuplicates}`,
    `longest shared run: ${report.longestRun} words; mean ${n}-gram overlap with the nearest real text: ${(100 * report.meanOverlap).toFixed(1)}%${report.maxCosine !== undefined ? `; highest embedding cosine: ${report.maxCosine.toFixed(3)}` : ''}`,
    ...worst.filter((w) => w.longestRun > 0).map((w) => `  ${w.longestRun} words shared: "${w.text}"  ~  "${w.nearest_real_text}"`),
    ...(values.out ? [`full report: ${values.out}`] : []),
  ];
  process.stderr.write(`${lines.join('\n')}\n`);
}
