/**
 * solo5-virtio-run's QEMU child: the console passed through (stdout as it
 * comes, QEMU's stderr too), watched for the unikernel's exit line, our boot
 * loader's error and QEMU stopping the guest for good; the exit status is
 * the unikernel's own (src/core/run/console.ts). A signal to us ends QEMU
 * and the status is 128 + the signal's number; QEMU is started under a
 * parent-death signal where the host has one (`launcher`), so that even a
 * SIGKILL to us, which we cannot catch, ends it.
 */
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import {
  ConsoleWatcher,
  endedThroughExitPort,
  exitStatus,
  hypervisorStop,
  LineWatcher,
  type HypervisorEnd,
} from '../core/run/console';
import type { Job } from './tool';

/** After our boot loader printed its error (it then halts for ever), how long QEMU may go on before it is stopped. */
const BOOT_ERROR_GRACE_MS = 5000;
/** How long QEMU may go on printing (its register dump) after saying it stopped the guest. */
const STOP_GRACE_MS = 500;
/** QEMU's stderr held back at most while the guest is silent (beyond this it is shown). */
const HOLD_MAX = 64 * 1024;

function signalNumber(sig: string | null): number | undefined {
  if (!sig) return undefined;
  return (osConstants.signals as Record<string, number>)[sig];
}

export interface QemuOptions {
  /** The guest boots through a boot loader (a disk image): its `Boot error:` line counts. */
  bootLoader: boolean;
  /** Hold QEMU's stderr back until the guest prints something (the caller decides what a failure at start shows). */
  holdStderr: boolean;
  /** Run QEMU through this (setpriv with a parent-death signal), argv first; none: QEMU directly. */
  launcher?: readonly string[];
}

export interface QemuResult {
  /** The status to exit with, and the sentence that explains it when it is not the console's. */
  status: number;
  note?: string;
  /**
   * QEMU ended before the guest printed a byte, neither through the exit
   * port nor because we ended it: how (`killed by SIGABRT`, `ended with
   * status 1`), whether a signal ended it, and QEMU's last line on stderr.
   */
  failedAtStart?: { how: string; crashed: boolean; lastLine?: string };
  /** QEMU's stderr held back (holdStderr) and not shown yet. */
  held: string;
}

/** Run QEMU (`argv`) with the console passed through; resolve with the unikernel's status. */
export function runQemu(argv: readonly string[], job: Job, opts: QemuOptions): Promise<QemuResult> {
  return new Promise((resolve) => {
    const watcher = new ConsoleWatcher({ bootLoader: opts.bootLoader });
    const stops = new LineWatcher(hypervisorStop);
    const [program, ...args] = [...(opts.launcher ?? []), ...argv];
    // From here a second signal (which ends us at once) says what it interrupted.
    job.catchSignals((sig) => `Interrupted by ${sig} before the unikernel exited.`);
    const child = spawn(program, args, { stdio: ['inherit', 'pipe', 'pipe'] });
    let interrupted: HypervisorEnd['interrupted'];
    let grace: NodeJS.Timeout | undefined;
    let stopped: string | undefined;
    let spoke = false;
    let held = opts.holdStderr ? '' : undefined;
    let stderrTail = '';
    const endSoon = (ms: number) => {
      if (grace) return;
      grace = setTimeout(() => child.kill('SIGTERM'), ms);
      grace.unref();
    };
    const offInterrupt = job.onInterrupt((sig) => {
      interrupted = { signal: sig, number: signalNumber(sig) ?? 0 };
      // From a terminal QEMU got the signal too; from `kill` only we did. QEMU ends on SIGHUP and SIGTERM.
      child.kill(sig === 'SIGHUP' ? sig : 'SIGTERM');
    });
    // A second signal ends us at once: QEMU must not outlive us.
    const offExit = job.atExit(() => child.kill('SIGKILL'));
    // A reader that went away (`| head`) must not end the run: the status still comes from the console.
    job.tolerate('SIGPIPE');
    const ignore = () => {};
    process.stdout.on('error', ignore);
    process.stderr.on('error', ignore);
    const showHeld = () => {
      if (held && process.stderr.writable) process.stderr.write(held);
      held = undefined;
    };
    child.stdout.on('data', (b: Buffer) => {
      if (!spoke) {
        spoke = true;
        showHeld();
      }
      if (process.stdout.writable) process.stdout.write(b);
      // Our boot loader halts after its error: end QEMU (a kernel's exit ends QEMU itself, through the exit port).
      if (watcher.feed(b.toString('latin1'))) endSoon(BOOT_ERROR_GRACE_MS);
    });
    child.stderr.on('data', (b: Buffer) => {
      const text = b.toString('latin1');
      stderrTail = (stderrTail + text).slice(-4096);
      // Once we end QEMU ourselves, its "terminating on signal" line is ours to explain, not its.
      const shown = !(stopped && /terminating on signal/.test(text));
      if (held !== undefined && held.length + text.length <= HOLD_MAX) held += text;
      else {
        showHeld();
        if (shown && process.stderr.writable) process.stderr.write(b);
      }
      const line = stops.feed(text);
      if (line && !stopped && !interrupted) {
        // KVM gave up and QEMU paused the VM, waiting for a monitor nobody opens: end it.
        stopped = line;
        endSoon(STOP_GRACE_MS);
      }
    });
    let finished = false;
    const finish = (end: HypervisorEnd) => {
      if (finished) return;
      finished = true;
      if (grace) clearTimeout(grace);
      offInterrupt();
      offExit();
      process.stdout.off('error', ignore);
      process.stderr.off('error', ignore);
      const { status, note } = exitStatus(watcher.end(), end);
      const failed =
        !spoke && !end.interrupted && !endedThroughExitPort(end) && (end.status !== 0 || end.stopped !== undefined);
      resolve({
        status,
        note,
        held: held ?? '',
        failedAtStart: failed
          ? {
              how: end.stopped
                ? `stopped the guest ("${end.stopped}")`
                : end.status === null
                  ? `was killed by ${end.signal ?? 'a signal'}`
                  : `ended with status ${end.status}`,
              crashed: end.status === null,
              lastLine: lastLine(stderrTail),
            }
          : undefined,
      });
    };
    child.on('error', (e) => {
      job.note(`error: ${program} could not be started: ${e.message}.`);
      finish({ status: 127 });
    });
    child.on('close', (code, signal) => {
      finish({ status: code, signal, signalNumber: signalNumber(signal), interrupted, stopped });
    });
  });
}

/** The last line QEMU printed that says something (without its `qemu-system-x86_64: ` prefix). */
function lastLine(text: string): string | undefined {
  const lines = text
    .split('\n')
    .map((l) => l.replace(/\r$/, '').trim())
    .filter((l) => l !== '');
  return lines.at(-1)?.replace(/^qemu-system-\w+: /, '');
}
