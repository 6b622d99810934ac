/**
 * The Node file sink: the image is written to a temporary file next to the
 * target and renamed over it only when every byte is in place, so a failed
 * or interrupted run leaves no partial file. Holes are skipped (a sparse
 * file). Used by the CLI, the bench and the tests, through `writeImage`.
 *
 * What the target may be (`resolveOutput`): a new name, or an existing
 * regular file we may write (replaced with its permission bits, and its owner
 * where we may set it). A symbolic link is followed, as `cp` and `dd` do: the
 * file it points to gets the image and the link stays a link. Anything else
 * (a directory, a block or character device, a FIFO, a socket) is refused:
 * renaming a file over a device node would delete the node and write nothing
 * to the disk. A failed system call becomes the coded sentence of
 * `outputError` (tool.ts) that names the file and the fix.
 */
import {
  accessSync,
  closeSync,
  constants,
  fchmodSync,
  fchownSync,
  fstatSync,
  fsyncSync,
  ftruncateSync,
  lstatSync,
  openSync,
  readlinkSync,
  realpathSync,
  renameSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { ImageError } from '../core/errors';
import type { Sink } from '../core/sink';
import { kindOf, outputError } from './tool';

export interface FileSink extends Sink<void> {
  /** The temporary file while writing. */
  readonly tempPath: string;
}

/** Where the image goes: the real file (symbolic links followed) and what is there now. */
export interface OutputTarget {
  /** The name as the user gave it, for messages. */
  name: string;
  /** The file that gets the image: `name` with every symbolic link followed. */
  path: string;
  /** The regular file that will be replaced, if there is one. */
  existing?: Stats;
}

/** Longest file name (one path component) on Linux, macOS and the BSDs, in bytes. */
export const NAME_MAX = 255;
/** Symbolic links followed before giving up, as Linux does (ELOOP). */
const MAX_LINKS = 40;

function writeAll(fd: number, bytes: Uint8Array, pos: number): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done, pos + done);
}

/**
 * Follow `name` to the file that gets the image and check that we may
 * replace it. Throws OUTPUT_NOT_A_FILE for devices, FIFOs and sockets,
 * OUTPUT_UNWRITABLE for directories, loops and files we may not write.
 */
export function resolveOutput(name: string): OutputTarget {
  if (name === '') {
    throw new ImageError('OUTPUT_UNWRITABLE', 'IMAGE is empty; give a file name (or - for standard output).');
  }
  let st: Stats | undefined;
  try {
    st = statSync(name, { throwIfNoEntry: false }); // follows symbolic links
  } catch (e) {
    throw outputError(e, { name, dir: dirname(resolve(name)) });
  }
  if (st) {
    let path = name;
    try {
      path = realpathSync(name);
    } catch {
      /* shown as given */
    }
    if (st.isDirectory()) {
      throw new ImageError(
        'OUTPUT_UNWRITABLE',
        `The output ${name} is a directory; give a file name, e.g. ${join(name, 'disk.img')}.`,
      );
    }
    if (!st.isFile()) {
      const dev = st.isBlockDevice() ? name : '/dev/sdX';
      throw new ImageError(
        'OUTPUT_NOT_A_FILE',
        `The output ${name}${path !== name && path !== resolve(name) && lstatSync(path, { throwIfNoEntry: false }) ? ` (${path})` : ''} is ${kindOf(st)}, not a file; this tool writes image files and never replaces such a node. Write a file, then copy it: \`solo5-virtio-mkimage disk.img UNIKERNEL && dd if=disk.img of=${dev} bs=4M conv=fsync\` (or give - to write the image to standard output).`,
      );
    }
    try {
      accessSync(path, constants.W_OK);
    } catch {
      throw new ImageError(
        'OUTPUT_UNWRITABLE',
        `The output ${name} is a read-only file (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}); make it writable (chmod u+w ${name}) or remove it first, if it is really to be replaced.`,
      );
    }
    return { name, path, existing: st };
  }
  // Nothing there: a new file, possibly at the end of dangling symbolic links.
  if (name.endsWith('/')) {
    throw new ImageError(
      'OUTPUT_UNWRITABLE',
      `The output ${name} ends with /, so it names a directory, and there is none; give a file name, e.g. ${join(name, 'disk.img')}.`,
    );
  }
  let path = name;
  for (let hops = 0; ; hops++) {
    const l = lstatSync(path, { throwIfNoEntry: false });
    if (!l?.isSymbolicLink()) return { name, path };
    if (hops === MAX_LINKS) {
      throw new ImageError(
        'OUTPUT_UNWRITABLE',
        `Cannot write ${name}: more than ${MAX_LINKS} symbolic links in a row (a loop?); give the file's real path.`,
      );
    }
    path = resolve(dirname(path), readlinkSync(path));
  }
}

/**
 * `.NAME.PID.N.tmp` in the target's directory, with NAME cut (at a character
 * boundary) so that the whole stays within NAME_MAX bytes.
 */
export function tempName(target: string, n = 0): string {
  const suffix = `.${process.pid}.${n}.tmp`;
  let base = basename(target);
  const room = NAME_MAX - 1 - Buffer.byteLength(suffix);
  if (Buffer.byteLength(base) > room) {
    const chars = Array.from(base);
    while (Buffer.byteLength(chars.join('')) > room) chars.pop();
    base = chars.join('');
  }
  return join(dirname(target), `.${base}${suffix}`);
}

/**
 * Open a temporary file next to the target; `close` renames it over the
 * target (with the replaced file's permission bits and owner), `abort`
 * removes it.
 */
export function openFileSink(output: string | OutputTarget): FileSink {
  const target = typeof output === 'string' ? resolveOutput(output) : output;
  const dir = dirname(resolve(target.path));
  let fd = -1;
  let tempPath = '';
  for (let n = 0; fd < 0; n++) {
    tempPath = tempName(resolve(target.path), n);
    try {
      fd = openSync(tempPath, 'wx', 0o666);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST' && n < 100) continue;
      throw outputError(e, { name: target.name, dir });
    }
  }
  const old = target.existing;
  if (old) {
    try {
      // Owner first (chown clears set-id bits), then the permission bits.
      if (old.uid !== process.getuid?.() || old.gid !== process.getgid?.()) fchownSync(fd, old.uid, old.gid);
    } catch {
      /* not ours to give away: the new file keeps our owner */
    }
    try {
      fchmodSync(fd, old.mode & 0o7777);
    } catch {
      /* a file system without modes */
    }
  }
  // A failed write, truncate, sync or rename: the coded sentence (the writer then aborts, so the target stays as it was).
  const failed = (e: unknown) =>
    outputError(e, {
      name: target.name,
      dir,
      outcome: old ? `The file ${target.name} was left as it was.` : 'Nothing was left behind.',
    });
  let open = true;
  const closeFd = () => {
    if (open) {
      open = false;
      closeSync(fd);
    }
  };
  return {
    tempPath,
    seekable: true,
    write(position, bytes) {
      try {
        writeAll(fd, bytes, position);
      } catch (e) {
        throw failed(e);
      }
    },
    close(length) {
      try {
        // Holes at the end: extend the file without writing (sparse).
        if (fstatSync(fd).size !== length) ftruncateSync(fd, length);
        fsyncSync(fd);
        closeFd();
        renameSync(tempPath, target.path);
      } catch (e) {
        throw failed(e);
      }
    },
    abort() {
      try {
        closeFd();
      } catch {
        /* already closed */
      }
      try {
        unlinkSync(tempPath);
      } catch {
        /* nothing to remove */
      }
    },
  };
}
