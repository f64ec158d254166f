import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// No test ever reads or writes the user's real history or dataset cache. Training runs on one
// engine unless a test asks for more (the data-parallel tests do).
const home = mkdtempSync(join(tmpdir(), 'adjoin-test-home-'));
process.env['ADJOIN_HOME'] ??= home;
process.env['ADJOIN_CACHE_DIR'] ??= join(home, 'cache');
process.env['ADJOIN_BACKEND'] ??= 'wasm';
process.env['ADJOIN_TRAIN_WORKERS'] ??= '1';
