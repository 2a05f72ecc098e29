/**
 * Confined, bounded file reads for the file-system loader (Node only).
 *
 * A file is read only when its real path (symlinks resolved) lies inside the
 * model directory's real path, it is a regular file (not a FIFO, a device or
 * a directory), and it is no larger than the caller allows. Files are opened
 * non-blocking, so opening a FIFO cannot hang, and checked on the open
 * descriptor, so a file swapped after the check is not read either.
 */
import { AttentionError } from '../errors';

type Fs = typeof import('node:fs/promises');
type Path = typeof import('node:path');
type FileHandle = Awaited<ReturnType<Fs['open']>>;

/** node:fs/promises, node:fs constants and node:path, loaded on first use so browser bundles never need them. */
export async function nodeModules(): Promise<{ fs: Fs; path: Path; constants: typeof import('node:fs').constants }> {
  const names = ['node:fs/promises', 'node:path', 'node:fs'];
  const [fs, path, fsSync] = await Promise.all(
    names.map((n) => import(/* @vite-ignore */ /* webpackIgnore: true */ n)),
  );
  return { fs: fs as Fs, path: path as Path, constants: (fsSync as typeof import('node:fs')).constants };
}

/** A file opened for reading after the confinement and type checks. */
export interface OpenedFile {
  /** The path as the manifest (or caller) named it, for messages. */
  name: string;
  /** Its real path. */
  real: string;
  size: number;
  handle: FileHandle;
}

/**
 * Resolves `relative` against the real directory `realDir`, follows symlinks,
 * and opens the result if it is a regular file inside `realDir`.
 *
 * @param fn The caller, for messages.
 * @param what The file as messages name it. Default: `relative`.
 * @throws AttentionError naming the path when it leaves the directory, is not
 *   a regular file, or cannot be opened.
 */
async function resolveConfined(fn: string, realDir: string, relative: string, what: string): Promise<string> {
  const { fs, path } = await nodeModules();
  if (path.isAbsolute(relative)) {
    throw new AttentionError(`${fn}: expected ${what} to be a path inside the model directory ${realDir}, but got an absolute path.`);
  }
  const joined = path.resolve(realDir, relative);
  let real: string;
  try {
    real = await fs.realpath(joined);
  } catch (e) {
    throw new AttentionError(`${fn}: ${what} could not be read: ${(e as Error).message}`, { cause: e });
  }
  const rel = path.relative(realDir, real);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new AttentionError(`${fn}: expected ${what} to stay inside the model directory ${realDir}, but it resolves to ${real}.`);
  }
  return real;
}

function checkRegular(fn: string, what: string, real: string, st: import('node:fs').Stats): void {
  if (!st.isFile()) {
    throw new AttentionError(`${fn}: expected ${what} to be a regular file, but ${real} is ${kindOf(st)}.`);
  }
}

/**
 * Resolves `relative` against the real directory `realDir` (symlinks
 * followed) and returns its real path and size, if it is a regular file
 * inside `realDir`. Opens nothing, so many files can be checked at once.
 *
 * @throws AttentionError as {@link openConfined}.
 */
export async function statConfined(fn: string, realDir: string, relative: string, what: string = relative): Promise<{ real: string; size: number }> {
  const { fs } = await nodeModules();
  const real = await resolveConfined(fn, realDir, relative, what);
  let st: import('node:fs').Stats;
  try {
    st = await fs.stat(real);
  } catch (e) {
    throw new AttentionError(`${fn}: ${what} could not be read: ${(e as Error).message}`, { cause: e });
  }
  checkRegular(fn, what, real, st);
  return { real, size: st.size };
}

/**
 * Resolves `relative` against the real directory `realDir`, follows symlinks,
 * and opens the result if it is a regular file inside `realDir`.
 *
 * @param fn The caller, for messages.
 * @param what The file as messages name it. Default: `relative`.
 * @throws AttentionError naming the path when it leaves the directory, is not
 *   a regular file, or cannot be opened.
 */
export async function openConfined(fn: string, realDir: string, relative: string, what: string = relative): Promise<OpenedFile> {
  const { fs, constants } = await nodeModules();
  const real = await resolveConfined(fn, realDir, relative, what);
  let handle: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO returns at once instead of waiting for a writer.
    // O_NOFOLLOW: a file swapped for a symlink since realpath is refused, not followed.
    handle = await fs.open(real, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0) | (constants.O_NOFOLLOW ?? 0));
  } catch (e) {
    throw new AttentionError(`${fn}: ${what} could not be read: ${(e as Error).message}`, { cause: e });
  }
  try {
    const st = await handle.stat();
    checkRegular(fn, what, real, st);
    return { name: what, real, size: st.size, handle };
  } catch (e) {
    await handle.close();
    throw e;
  }
}

function kindOf(st: import('node:fs').Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Reads exactly `size` bytes from an opened file, never more: a file that
 * grew or shrank since it was checked is an error.
 */
export async function readExactly(fn: string, file: OpenedFile, size: number): Promise<Uint8Array> {
  const out = new Uint8Array(size);
  let at = 0;
  while (at < size) {
    const { bytesRead } = await file.handle.read(out, at, size - at, at);
    if (bytesRead === 0) break;
    at += bytesRead;
  }
  const extra = new Uint8Array(1);
  const { bytesRead: more } = await file.handle.read(extra, 0, 1, at);
  if (at !== size || more !== 0) {
    throw new AttentionError(`${fn}: expected ${file.name} to hold ${size} bytes, but it changed size while being read.`);
  }
  return out;
}
