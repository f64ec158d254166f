import { lstat, realpath, stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { InputError } from '../../shared/errors.js';

/**
 * Checks a dataset folder path the renderer sends — dropped, chosen or typed
 * (docs/RELIABILITY.md row 7):
 * `webUtils.getPathForFile` gives '' for a File built by script; it must be
 * an absolute path to a real folder. A symbolic link is not followed: the
 * user drops the folder itself.
 */
export async function checkFolder(path: string): Promise<string> {
  if (path === '') throw new InputError('that was not a folder from disk (drop a folder, or choose one)', 'path');
  if (!isAbsolute(path)) throw new InputError(`not an absolute path: '${path}'`, 'path');
  const link = await lstat(path).catch(() => null);
  if (link === null) throw new InputError(`${path} does not exist`, 'path');
  if (link.isSymbolicLink()) throw new InputError(`${path} is a symbolic link; drop the folder it points to instead`, 'path');
  const info = await stat(path);
  if (!info.isDirectory()) throw new InputError(`${path} is a file; drop a folder of images (one subfolder per class)`, 'path');
  return realpath(path);
}
