import { anything, bool, DecodeError, type Decoder, decodeJson, int, num, obj, oneOf, record, str, tagged } from '../../../shared/decode.js';
import type { EngineEvent } from '../../../shared/events.js';
import type { DatasetInput } from '../../../shared/history.js';
import { workerIdentity, type WorkerIdentity } from './remote-job.js';

/**
 * A run's story, as its workers tell it: one line per event in the BullMQ
 * job's log (`job.log`), which Redis keeps with the job. The submitter reads
 * the log from where it stopped, so nothing is missed while it is closed or
 * Redis restarts; `job.updateProgress` only says that there is more to read.
 *
 * Every line carries its attempt (BullMQ's `attemptsStarted`): a run taken
 * over by another worker starts a new attempt, and lines of an older attempt
 * that arrive later (a worker thought dead that was not) are ignored.
 */
export type RemoteLine =
  /** A worker took the run: who, where its folder is there (paths in its events start with it), and whether it resumed. */
  | { kind: 'attempt'; attempt: number; worker: WorkerIdentity; dir: string; resumed: boolean }
  | { kind: 'event'; attempt: number; event: EngineEvent }
  | { kind: 'dataset'; attempt: number; dataset: DatasetInput }
  /** The worker stopped (Ctrl-C) after a checkpoint and put the run back on the queue for another. */
  | { kind: 'handed-back'; attempt: number; worker: WorkerIdentity };

export function encodeLine(line: RemoteLine): string {
  return JSON.stringify(line);
}

const ENGINE_EVENT_TYPES = [
  'started',
  'step',
  'epoch',
  'checkpoint',
  'finished',
  'cancelled',
  'failed',
  'log',
  'search-started',
  'search-step',
  'search-epoch',
  'search-result',
] as const satisfies ReadonlyArray<EngineEvent['type']>;

/**
 * An engine event from another machine: its type and time are checked here;
 * the fields the submitter acts on (paths, outputs, configs) are decoded
 * where it uses them.
 */
const engineEvent: Decoder<EngineEvent> = (v, path) => {
  const e = obj({ type: oneOf(ENGINE_EVENT_TYPES), time: num })(v, path);
  return e as unknown as EngineEvent;
};

const datasetInput: Decoder<DatasetInput> = obj({ path: str, contentKey: str, name: str, summary: record(anything), split: record(anything) });

const remoteLine: Decoder<RemoteLine> = tagged('kind', {
  attempt: obj({ kind: oneOf(['attempt'] as const), attempt: int, worker: workerIdentity, dir: str, resumed: bool }),
  event: obj({ kind: oneOf(['event'] as const), attempt: int, event: engineEvent }),
  dataset: obj({ kind: oneOf(['dataset'] as const), attempt: int, dataset: datasetInput }),
  'handed-back': obj({ kind: oneOf(['handed-back'] as const), attempt: int, worker: workerIdentity }),
});

/** Decodes one log line; a line that is not one of ours throws a DecodeError naming the job and line. */
export function decodeLine(text: string, where: string): RemoteLine {
  const line = decodeJson(text, remoteLine, where);
  if (line.attempt < 1) throw new DecodeError(`${where}.attempt`, 'a positive attempt number', line.attempt);
  return line;
}
