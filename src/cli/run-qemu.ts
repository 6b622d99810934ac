/**
 * solo5-virtio-run's QEMU child: the console passed through (stdout as it
 * comes, QEMU's stderr too), watched for the unikernel's exit line and for
 * QEMU stopping the guest for good; the exit status is the unikernel's own
 * (src/core/run/console.ts). A signal to us ends QEMU and the status is
 * 128 + the signal's number.
 */
import { spawn } from 'node:child_process';
import { constants as osConstants } from 'node:os';
import { ConsoleWatcher, exitStatus, hypervisorStop, LineWatcher, type HypervisorEnd } from '../core/run/console';
import type { Job } from './tool';

/** After the console announced the end, how long QEMU may take to exit before it is stopped. */
const EXIT_GRACE_MS = 5000;
/** How long QEMU may go on printing (its register dump) after saying it stopped the guest. */
const STOP_GRACE_MS = 500;

function signalNumber(sig: string | null): number | undefined {
  if (!sig) return undefined;
  return (osConstants.signals as Record<string, number>)[sig];
}

/** Run QEMU (`argv`) with the console passed through; resolve with the unikernel's status. */
export function runQemu(argv: string[], job: Job): Promise<number> {
  return new Promise((resolve) => {
    const watcher = new ConsoleWatcher();
    const stops = new LineWatcher(hypervisorStop);
    const child = spawn(argv[0], argv.slice(1), { stdio: ['inherit', 'pipe', 'pipe'] });
    let interrupted: HypervisorEnd['interrupted'];
    let grace: NodeJS.Timeout | undefined;
    let stopped: string | undefined;
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
    child.stdout.on('data', (b: Buffer) => {
      if (process.stdout.writable) process.stdout.write(b);
      if (watcher.feed(b.toString('latin1')) && !grace) {
        grace = setTimeout(() => child.kill('SIGTERM'), EXIT_GRACE_MS);
        grace.unref();
      }
    });
    child.stderr.on('data', (b: Buffer) => {
      const text = b.toString('latin1');
      // Once we end QEMU ourselves, its "terminating on signal" line is ours to explain, not its.
      if (process.stderr.writable && !(stopped && /terminating on signal/.test(text))) process.stderr.write(b);
      const line = stops.feed(text);
      if (line && !stopped && !interrupted) {
        // KVM gave up and QEMU paused the VM, waiting for a monitor nobody opens: end it.
        stopped = line;
        if (!grace) {
          grace = setTimeout(() => child.kill('SIGTERM'), STOP_GRACE_MS);
          grace.unref();
        }
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
      if (note) job.note(note);
      resolve(status);
    };
    child.on('error', (e) => {
      job.note(`error: ${argv[0]} could not be started: ${e.message}.`);
      finish({ status: 127 });
    });
    child.on('close', (code, signal) => {
      finish({ status: code, signal, signalNumber: signalNumber(signal), interrupted, stopped });
    });
  });
}
