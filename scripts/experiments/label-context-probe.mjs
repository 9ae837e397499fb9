// Which label context should a task that names only its labels get by default? For each template,
// the LM's own draws under it (core drawContextTexts: the cpu-select start without targets, top 40
// of the allowed tokens, cut where the LM most expects a sentence end), PER texts a class, seeded;
// what they teach (the protocol's student, 10 training seeds), their on-label rate by the judge and
// a few of them.
//   TEMPLATES='A|B' PER=50 node scripts/experiments/label-context-probe.mjs TRAIN.jsonl TEST.jsonl
// Templates use {label} (the label's name); the task is the built-in one less its demonstrations
// and domain (contextPrefix "The", as a task file that names only its labels gets).
import * as core from '@synthgrad/core';
import * as ev from '@synthgrad/eval';
import { judgeAndStudent, openProtocol, pct } from './protocol.mjs';

const protocol = await openProtocol('label-context-probe.mjs', process.argv.slice(2), { generations: false });
const { rt } = protocol;
const { judge, teach } = judgeAndStudent(protocol);
const PER = Number(process.env.PER ?? 50);
const LENGTH = Number(process.env.LENGTH ?? 24);
const TEMPLATES = (process.env.TEMPLATES ?? 'Here is a {label} example. The').split('|');
const base = core.validateTask({ labels: core.SENTIMENT_TASK.labels.map(({ value, name, verbalizer }) => ({ value, name, verbalizer })), suffix: ' It was', sentenceEnd: ' .' }, 'probe');
const allowed = new Set(core.allowedTokenIds(rt.tokenizer));
for (const template of TEMPLATES) {
  const task = { ...base, labelContext: template };
  const exs = task.labels.flatMap((_, c) =>
    core.drawContextTexts(rt, task, c, PER, { length: LENGTH, allowed, sentenceEndCut: 0.5 }, core.Rng.derive(0, `label-context-${c}`)).map((text) => ({ text: text.trim(), label: c, source: 'lm' })),
  ).map((e, i) => ({ ...e, line: i + 1 })); // class-major
  const order = core.Rng.derive(0, 'order').shuffle(exs.map((_, i) => i)).map((i) => exs[i]);
  const p = ev.predict(judge, order);
  const onLabel = p.filter((x, i) => x === order[i].label).length / order.length;
  console.log(JSON.stringify({ template, per: PER, on_label: pct(onLabel), accuracy: teach(order), examples: [order[0].text, order[1].text, order[2].text, order[3].text] }));
}
