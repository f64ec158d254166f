import { InputError } from '../../shared/errors.js';
import { startServices } from '../api/services.js';
import { rendererDir } from '../package-root.js';
import { startServer } from '../server/server.js';
import { intArg, optionalIntArg, parse } from './args.js';
import type { Command, CommandIo } from './command.js';
import { dbFile } from './store-args.js';

const SERVE_USAGE = `adjoin serve [--port N] [--host 127.0.0.1] [--db FILE] [--concurrency N] [--json]
  The browser shell: the app's UI and API on loopback, for machines without Electron. Prints the URL (with this
  launch's token) to open; Ctrl-C checkpoints running jobs and stops.`;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export async function serveCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parse(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    db: { type: 'string' },
    concurrency: { type: 'string' },
    json: { type: 'boolean' },
  });
  const port = intArg(values.port, 'port', 0);
  if (port < 0 || port > 65535) throw new InputError(`--port must be from 0 to 65535, got ${port}`, 'port');
  const host = values.host ?? '127.0.0.1';
  const concurrency = optionalIntArg(values.concurrency, 'concurrency');
  const services = startServices({ database: dbFile(values.db), shell: 'browser', native: null, ...(concurrency === null ? {} : { concurrency }) });
  let server;
  try {
    server = await startServer({
      handlers: services.handlers,
      subscribe: (l) => services.manager.subscribe(l),
      rendererDir: rendererDir(),
      host,
      port,
    });
  } catch (e) {
    await services.close();
    const code = (e as { code?: string }).code;
    if (code === 'EADDRINUSE') throw new InputError(`port ${port} on ${host} is in use; pick another with --port`, 'port');
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new InputError(`cannot listen on host ${host}`, 'host');
    throw e;
  }
  if (values.json === true) io.out(JSON.stringify({ url: server.url, port: server.port, token: server.token, database: services.store.file }));
  else {
    io.out(`Adjoin is ready at ${server.url}`);
    io.out(`history: ${services.store.file}`);
  }
  if (!LOOPBACK.has(host)) io.err(`adjoin: warning: listening on ${host}, reachable from other machines; the token still guards the API\n`);

  await new Promise<void>((resolve) => {
    io.onInterrupt(() => resolve());
    process.once('SIGTERM', () => resolve());
  });
  io.err('stopping: checkpointing running jobs…\n');
  await server.close();
  await services.close();
  return 0;
}

export const serveCmd: Command = { name: 'serve', usage: SERVE_USAGE, run: serveCommand };
