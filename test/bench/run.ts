import { convKernels } from './conv-kernels.js';
import { cpuTrain } from './cpu-train.js';
import { searchCost } from './search-cost.js';
import { exportBench } from './export.js';
import { importBench } from './import.js';
import { queueBench } from './queue.js';
import { stepCost } from './step-cost.js';

type Bench = (args: { rounds?: number }) => Promise<Record<string, unknown>>;

const BENCHES: Record<string, Bench> = {
  'step-cost': stepCost,
  export: exportBench,
  'search-cost': searchCost,
  import: importBench,
  'cpu-train': cpuTrain,
  'conv-kernels': convKernels,
  queue: queueBench,
};

/** `npm run bench -- <name>… [--json] [--rounds N]`; no name runs them all. */
export async function runBenchmarks(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const roundsAt = argv.indexOf('--rounds');
  const rounds = roundsAt >= 0 ? Number(argv[roundsAt + 1]) : undefined;
  const names = argv.filter((a, i) => !a.startsWith('--') && argv[i - 1] !== '--rounds');
  const unknown = names.filter((n) => !(n in BENCHES));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark ${unknown.join(', ')} (available: ${Object.keys(BENCHES).join(', ')})\n`);
    return 2;
  }
  for (const name of names.length > 0 ? names : Object.keys(BENCHES)) {
    const result = await BENCHES[name]!({ ...(rounds !== undefined ? { rounds } : {}) });
    process.stdout.write(json ? `${JSON.stringify(result)}\n` : `${name}\n${JSON.stringify(result, null, 2)}\n`);
  }
  return 0;
}
