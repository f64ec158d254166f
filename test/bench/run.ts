import { archArg } from './bench-model.js';
import { convKernels } from './conv-kernels.js';
import { cpuTrain } from './cpu-train.js';
import { searchCost } from './search-cost.js';
import { exportBench } from './export.js';
import { importBench } from './import.js';
import { queueBench } from './queue.js';
import { stepCost } from './step-cost.js';
import type { BenchArgs } from './measure.js';

type Bench = (args: BenchArgs) => Promise<Record<string, unknown>>;

const BENCHES: Record<string, Bench> = {
  'step-cost': stepCost,
  export: exportBench,
  'search-cost': searchCost,
  import: importBench,
  'cpu-train': cpuTrain,
  'conv-kernels': convKernels,
  queue: queueBench,
};

/** `npm run bench -- <name>… [--json] [--rounds N] [--arch NAME] [--backend NAME]`; no name runs them all. */
export async function runBenchmarks(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const valueOf = (flag: string): string | undefined => {
    const at = argv.indexOf(flag);
    return at >= 0 ? argv[at + 1] : undefined;
  };
  const roundsText = valueOf('--rounds');
  const rounds = roundsText === undefined ? undefined : Number(roundsText);
  let arch: BenchArgs['arch'];
  try {
    arch = archArg(valueOf('--arch'));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  // The backend a benchmark runs on, as ADJOIN_BACKEND would force it (default: the engine's own choice).
  const backend = valueOf('--backend');
  const names = argv.filter((a, i) => !a.startsWith('--') && !['--rounds', '--arch', '--backend'].includes(argv[i - 1] ?? ''));
  const unknown = names.filter((n) => !(n in BENCHES));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark ${unknown.join(', ')} (available: ${Object.keys(BENCHES).join(', ')})\n`);
    return 2;
  }
  for (const name of names.length > 0 ? names : Object.keys(BENCHES)) {
    const result = await BENCHES[name]!({
      ...(rounds !== undefined ? { rounds } : {}),
      ...(arch !== undefined ? { arch } : {}),
      ...(backend !== undefined ? { backend } : {}),
    });
    process.stdout.write(json ? `${JSON.stringify(result)}\n` : `${name}\n${JSON.stringify(result, null, 2)}\n`);
  }
  return 0;
}
