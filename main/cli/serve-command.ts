import { spawn } from 'node:child_process';
import { InputError } from '../../shared/errors.js';
import { startServices } from '../api/services.js';
import { rendererDir } from '../package-root.js';
import { startServer } from '../server/server.js';
import { intArg, optionalIntArg, parse } from './args.js';
import type { Command, CommandIo } from './command.js';
import { writeLaunchPage, type LaunchPage } from './launch-page.js';
import { dbFile } from './store-args.js';

const SERVE_USAGE = `adjoin serve [--port N] [--host 127.0.0.1|localhost|::1] [--db FILE] [--concurrency N] [--open] [--json]
  The browser shell: the app's UI and API on loopback, for machines without Electron. Prints the URL to open (its
  token admits one browser tab; the next link is printed when it is used), or opens it in the system browser (--open);
  Ctrl-C checkpoints running jobs and stops.`;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1']);

export async function serveCommand(argv: string[], io: CommandIo): Promise<number> {
  const { values } = parse(argv, {
    port: { type: 'string' },
    host: { type: 'string' },
    db: { type: 'string' },
    concurrency: { type: 'string' },
    json: { type: 'boolean' },
    open: { type: 'boolean' },
  });
  const port = intArg(values.port, 'port', 0);
  if (port < 0 || port > 65535) throw new InputError(`--port must be from 0 to 65535, got ${port}`, 'port');
  const host = values.host ?? '127.0.0.1';
  // The API trains and deletes runs and writes files: it is never offered beyond this machine.
  if (!LOOPBACK.has(host)) throw new InputError(`--host must be a loopback address (127.0.0.1, localhost or ::1), got ${host}`, 'host');
  const concurrency = optionalIntArg(values.concurrency, 'concurrency');
  const services = startServices({ database: dbFile(values.db), shell: 'browser', native: null, ...(concurrency === null ? {} : { concurrency }) });
  const json = values.json === true;
  let launchPage: LaunchPage | null = null;
  let server;
  try {
    server = await startServer({
      handlers: services.handlers,
      subscribe: (l) => services.manager.subscribe(l),
      rendererDir: rendererDir(),
      host,
      port,
      onLinkUsed: (next) => {
        launchPage?.remove();
        launchPage = null;
        if (json) io.out(JSON.stringify(next));
        else io.out(`A browser tab used the link (each admits one tab). For another tab, or after a reload, open ${next.url}`);
      },
    });
  } catch (e) {
    await services.close();
    const code = (e as { code?: string }).code;
    if (code === 'EADDRINUSE') throw new InputError(`port ${port} on ${host} is in use; pick another with --port`, 'port');
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new InputError(`cannot listen on host ${host}`, 'host');
    throw e;
  }
  if (json) io.out(JSON.stringify({ url: server.url, port: server.port, token: server.token, database: services.store.file }));
  else {
    io.out(`Adjoin is ready at ${server.url}`);
    io.out(`history: ${services.store.file}`);
  }
  if (values.open === true) launchPage = openInBrowser(server.url, io);

  await new Promise<void>((resolve) => {
    io.onInterrupt(() => resolve());
    process.once('SIGTERM', () => resolve());
  });
  io.err('stopping: checkpointing running jobs…\n');
  launchPage?.remove();
  await server.close();
  await services.close();
  return 0;
}

/**
 * Hands the address to the system's browser by way of a private page that
 * forwards to it (the token stays off the command line); if there is no
 * browser, the printed address is still there.
 */
function openInBrowser(url: string, io: CommandIo): LaunchPage {
  const page = writeLaunchPage(url);
  const [command, args] =
    process.platform === 'darwin' ? ['open', [page.file]] : process.platform === 'win32' ? ['cmd', ['/c', 'start', '', page.file]] : ['xdg-open', [page.file]];
  const child = spawn(command, args as string[], { stdio: 'ignore', detached: true });
  child.on('error', () => {
    page.remove();
    io.err(`could not open a browser (${command}); open the address above\n`);
  });
  child.unref();
  return page;
}

export const serveCmd: Command = { name: 'serve', usage: SERVE_USAGE, run: serveCommand };
