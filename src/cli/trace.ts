/**
 * `unikernel-disk trace IMAGE [--memory MIB] [--json]`: boot an image in
 * the emulator and run our loader to the kernel's entry (core/disk/trace.ts),
 * then print the steps passed, the instruction count, the console and the
 * final machine state. Exit 0 when the kernel's entry is reached in the
 * Multiboot state, 1 otherwise with the reason. disk.ts parses the command
 * line and opens the image; this module reads the rest of the options and
 * prints.
 */
import { MBI, MMAP_ENTRY } from '../core/boot/mbi';
import type { OpenedImage } from '../core/disk/open-image';
import { TRACE_MEMORY, traceImage, type TraceResult } from '../core/disk/trace';
import { TRACE_MAX_INSTRUCTIONS } from '../core/x86/stepper';
import { decodeFlags, REGISTER_NAMES } from '../core/x86/state';
import { EXIT_FAIL, EXIT_OK, UsageError, type Job } from './tool';

export const TRACE_USAGE = 'trace IMAGE [--memory MIB] [--json]';

/** disk.ts's entry for the command (its Command shape). */
export const TRACE_COMMAND = {
  usage: TRACE_USAGE,
  summary: "run the boot loader in the x86 emulator to the kernel's entry; exit 1 if not reached",
  help: `Boot IMAGE (any format this tool reads, detected by its content) in this project's x86
emulator, a model of QEMU's PC with SeaBIOS, and run its boot loader to the
kernel's first instruction. Print the walkthrough's steps as the loader
reaches them, the instructions run, what the loader printed on its console,
and the machine's state at the end: the registers and, at the kernel's entry,
the Multiboot hand-over (specification 3.2) and the Multiboot information.

Exits 0 when the kernel's entry is reached in the Multiboot state (EAX =
2BADB002h, EBX pointing at the information), else 1 with the reason; a
damaged image stops with the loader's own message, as the loader prints it.
Only this project's loader is emulated: for a SYSLINUX or GRUB image, one
sentence says so. A run stops after ${TRACE_MAX_INSTRUCTIONS.toLocaleString('en')} instructions.

Options (before or after IMAGE):
      --memory MIB     RAM of the model PC in MiB, as QEMU's -m (default ${TRACE_MEMORY.default},
                       ${TRACE_MEMORY.min} to ${TRACE_MEMORY.max})
      --json           print the result as JSON: reached, instructions, console,
                       registers (numbers), multiboot (info and mmap as hex, cmdline),
                       steps, stop, handoff`,
  args: [1, Infinity] as [number, number],
  valued: ['--memory'],
  flags: ['--json'],
};

export interface TraceCliOptions {
  memoryMiB: number;
  json: boolean;
}

/** The options disk.ts read before IMAGE, and the words after it (options are allowed there too). */
export function traceOptions(before: Map<string, string | true>, after: string[]): TraceCliOptions {
  const o = new Map(before);
  for (let i = 0; i < after.length; i++) {
    const a = after[i];
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    if (name === '--memory') {
      if (eq > 0) o.set(name, a.slice(eq + 1));
      else if (i + 1 < after.length) o.set(name, after[++i]);
      else throw new UsageError('option --memory needs a value', `unikernel-disk ${TRACE_USAGE}`);
    } else if (a === '--json') o.set(a, true);
    else if (a.startsWith('-')) throw new UsageError(`unknown option ${a} for trace`, `unikernel-disk ${TRACE_USAGE}`);
    else throw new UsageError(`too many arguments: ${after.slice(i).join(' ')}`, `unikernel-disk ${TRACE_USAGE}`);
  }
  const m = o.get('--memory');
  let memoryMiB: number = TRACE_MEMORY.default;
  if (m !== undefined) {
    const text = String(m);
    memoryMiB = /^\d{1,6}$/.test(text) ? Number(text) : NaN;
    if (!(memoryMiB >= TRACE_MEMORY.min && memoryMiB <= TRACE_MEMORY.max))
      throw new UsageError(
        `--memory ${JSON.stringify(text)} is not a whole number of MiB from ${TRACE_MEMORY.min} to ${TRACE_MEMORY.max}; give the RAM as QEMU's -m takes it, such as 128`,
        `unikernel-disk ${TRACE_USAGE}`,
      );
  }
  return { memoryMiB, json: o.has('--json') };
}

/** What the run could follow of the loader, after the first line. */
const KNOWN: Record<TraceResult['known'], string> = {
  all: '',
  stage1: " (stage 2 is damaged or not this tool version's: only stage 1's steps are followed)",
  none: " (a loader not of this tool's version: its steps cannot be followed)",
};

const hex8 = (n: number) => (n >>> 0).toString(16).toUpperCase().padStart(8, '0');
const hex4 = (n: number) => (n >>> 0).toString(16).toUpperCase().padStart(4, '0');
const hexBytes = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');

/** Console text for a terminal: control characters (but line ends) as \xNN, each line indented. */
export function escapeConsole(text: string): string {
  if (text === '') return '  (nothing)\n';
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return (
    lines
      .map(
        (l) =>
          '  ' +
          l.replace(
            /[\u0000-\u001f\u007f-\u009f]/g,
            (c) => `\\x${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`,
          ),
      )
      .join('\n') + '\n'
  );
}

function describe(r: TraceResult, path: string): string {
  const out: string[] = [];
  if (!r.ran) return `${path}: ${r.reason}\n`;
  out.push(`${path}: this project's boot loader, run in the emulator with ${r.memoryMiB} MiB of RAM${KNOWN[r.known]}`);
  if (r.steps.length) {
    out.push('Steps:');
    const w = Math.max(...r.steps.map((s) => s.step.length));
    const lw = Math.max(...r.steps.map((s) => s.label.length));
    for (const s of r.steps)
      out.push(
        `  ${s.step.padEnd(w)}  ${s.label.padEnd(lw)}  at ${hex8(s.address)}  after ${s.instruction.toLocaleString('en')} instructions`,
      );
  }
  const n = `${r.instructions.toLocaleString('en')} instructions`;
  out.push(
    r.stop?.kind === 'kernel'
      ? `Reached the kernel's first instruction at ${hex8(r.stop.entry)} after ${n}.`
      : `Stopped after ${n}: ${r.stop?.message}.`,
  );
  out.push('Console:');
  out.push(escapeConsole(r.console).replace(/\n$/, ''));
  const g = r.registers;
  if (g) {
    out.push(`Registers, in ${r.mode ? r.mode.text[0].toLowerCase() + r.mode.text.slice(1) : 'an unknown mode'}:`);
    const set = decodeFlags(g.eflags)
      .filter((f) => f.set)
      .map((f) => f.name);
    out.push(`  EAX ${hex8(g.eax)}  EBX ${hex8(g.ebx)}  ECX ${hex8(g.ecx)}  EDX ${hex8(g.edx)}`);
    out.push(`  ESP ${hex8(g.esp)}  EBP ${hex8(g.ebp)}  ESI ${hex8(g.esi)}  EDI ${hex8(g.edi)}`);
    out.push(
      `  EIP ${hex8(g.eip)}  EFLAGS ${hex8(g.eflags)}${set.length ? ` (${set.join(' ')})` : ''}  CR0 ${hex8(g.cr0)}`,
    );
    out.push(
      `  CS ${hex4(g.cs)}  DS ${hex4(g.ds)}  ES ${hex4(g.es)}  SS ${hex4(g.ss)}  FS ${hex4(g.fs)}  GS ${hex4(g.gs)}`,
    );
  }
  if (r.handoff) {
    out.push('Multiboot machine state (specification 3.2; --: left undefined by it):');
    const w = Math.max(...r.handoff.map((h) => h.what.length));
    for (const h of r.handoff)
      out.push(
        `  ${h.ok === null ? '--' : h.ok ? 'ok' : 'NO'}  ${h.what.padEnd(w)}  ${h.value}${h.ok === false ? `; required: ${h.required}` : ''}`,
      );
  }
  const mb = r.multiboot;
  if (mb) {
    const flags = new DataView(mb.info.buffer, mb.info.byteOffset).getUint32(MBI.flags, true);
    const entries = Math.floor(mb.mmap.length / MMAP_ENTRY.stride);
    out.push(
      `Multiboot information at ${hex8(mb.address)}: flags ${hex8(flags)}; memory map at ${hex8(mb.mmapAddress)}, ${mb.mmap.length} bytes (${entries} entries); command line at ${hex8(mb.cmdlineAddress)}: ${JSON.stringify(mb.cmdline)}`,
    );
  }
  return out.join('\n') + '\n';
}

function asJson(r: TraceResult, path: string): string {
  const regs = r.registers && Object.fromEntries(REGISTER_NAMES.map((k) => [k, r.registers![k]]));
  const mb = r.multiboot;
  return (
    JSON.stringify(
      {
        image: path,
        loader: r.loader,
        emulated: r.ran,
        memoryMiB: r.memoryMiB,
        reached: r.reached,
        reason: r.reason,
        instructions: r.instructions,
        console: r.console,
        loaderError: r.loaderError,
        stop: r.stop,
        steps: r.steps,
        mode: r.mode?.id ?? null,
        registers: regs,
        multiboot: mb && {
          address: mb.address,
          info: hexBytes(mb.info),
          mmapAddress: mb.mmapAddress,
          mmap: hexBytes(mb.mmap),
          cmdlineAddress: mb.cmdlineAddress,
          cmdline: mb.cmdline,
        },
        handoff: r.handoff,
      },
      null,
      2,
    ) + '\n'
  );
}

/** Run `trace` on the opened image with the options `traceOptions` read. */
export async function runTrace(img: OpenedImage, path: string, o: TraceCliOptions, job: Job): Promise<number> {
  const r = await traceImage(img, { memoryMiB: o.memoryMiB, signal: job.signal });
  job.print(o.json ? asJson(r, path) : describe(r, path));
  if (r.reached) return EXIT_OK;
  job.note(`${path}: ${r.ran ? `the kernel's entry was not reached: ${r.reason}` : r.reason}`);
  return EXIT_FAIL;
}
