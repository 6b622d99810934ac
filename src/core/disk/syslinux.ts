/**
 * SYSLINUX configuration, as Solo5's old `solo5-virtio-mkimage` writes it:
 *
 *     SERIAL 0 115200
 *     DEFAULT unikernel
 *     LABEL unikernel
 *       KERNEL mboot.c32
 *       APPEND -aout unikernel.bin <args>
 *
 * Facts from SYSLINUX's documentation: one directive per line, keywords in
 * any case, `#` comments; `DEFAULT` names the label booted without a prompt
 * (else the first label); `KERNEL`/`LINUX`/`COM32` name what a label runs and
 * `APPEND` its arguments. `mboot.c32` takes `[-solaris] [-aout] KERNEL ARGS
 * [--- MODULE ARGS]...` and passes "KERNEL ARGS" to the kernel as its
 * Multiboot command line (the file name first, like GRUB).
 */
import { fail } from '../errors';
import { utf8 } from '../bytes';
import { terminalSafe } from '../terminal';

/** Where SYSLINUX 4+ looks for its configuration, in order. */
export const SYSLINUX_CONFIGS = ['/boot/syslinux/syslinux.cfg', '/syslinux/syslinux.cfg', '/syslinux.cfg'] as const;
/** The file `syslinux --install` writes; its presence says SYSLINUX is installed on the volume. */
export const LDLINUX_SYS = 'ldlinux.sys';
/** The Multiboot module. */
export const MBOOT = 'mboot.c32';

/**
 * The longest command SYSLINUX runs for a label, in bytes: it joins the
 * label's KERNEL (or COM32/LINUX) value and its APPEND value with a space
 * (com32/elflink/ldlinux/readconfig.c), and `execute()` refuses a command of
 * MAX_CMDLINE_LEN = 2048 bytes or more, printing "cmdline too long" and
 * falling back to the `boot:` prompt (com32/elflink/ldlinux/execute.c;
 * MAX_CMDLINE_LEN in com32/include/menu.h; SYSLINUX 6.04).
 */
export const SYSLINUX_MAX_COMMAND = 2047;
/** mboot.c32 splits its arguments at every word that is exactly this (com32/mboot/mboot.c, module_separator). */
export const MBOOT_MODULE_SEPARATOR = '---';

/** Words as SYSLINUX's argv parser splits them: at every byte up to and including the space (com32/lib/sys/argv.c). */
export function syslinuxWords(s: string): string[] {
  // eslint-disable-next-line no-control-regex
  return s.split(/[\u0000-\u0020]+/).filter(Boolean);
}

/** The command SYSLINUX runs for the booted label: "RUNS APPEND" (RUNS as the config writes it). */
export function syslinuxCommand(text: string, boot: SyslinuxBoot): string {
  const lines = text.split(/\r?\n/);
  const runs = directive(lines[boot.runLine])?.value ?? boot.runs;
  const append = boot.appendLine !== null ? (directive(lines[boot.appendLine])?.value ?? '') : '';
  return append && append !== '-' ? `${runs} ${append}` : runs;
}

/**
 * What stops SYSLINUX from booting this config's label with its arguments,
 * as a sentence, or null: a command of SYSLINUX_MAX_COMMAND bytes or more,
 * or (mboot.c32) module files after `---` that the volume lacks.
 */
export function syslinuxBootProblem(text: string, boot: SyslinuxBoot, where: string): string | null {
  const command = syslinuxCommand(text, boot);
  const bytes = utf8(command).length;
  if (bytes > SYSLINUX_MAX_COMMAND) {
    return `${where}: the label "${terminalSafe(boot.label)}" runs a command of ${bytes} bytes ("${terminalSafe(boot.runs)}" and its APPEND), and SYSLINUX runs at most ${SYSLINUX_MAX_COMMAND}: it prints "cmdline too long" and stops at its boot: prompt.`;
  }
  return null;
}

export interface SyslinuxBoot {
  /** The label booted (DEFAULT's, else the first). */
  label: string;
  /** What the label runs (KERNEL/LINUX/COM32 value). */
  runs: string;
  /** The label runs mboot.c32: the kernel is the first APPEND word after mboot's options. */
  multiboot: boolean;
  /** mboot.c32 options before the kernel (-aout, -solaris). */
  options: string[];
  /** The kernel file as written in the config (mboot's first word, or `runs`). */
  kernel: string | null;
  /** The command line the kernel receives. */
  cmdline: string;
  /** Line indexes of the label's run directive and APPEND (null: none). */
  runLine: number;
  appendLine: number | null;
  /** Whatever follows the kernel's own arguments (mboot modules: " --- mod args"). */
  modules: string;
}

function directive(line: string): { key: string; value: string; indent: string; keyword: string } | null {
  const m = /^(\s*)([A-Za-z0-9_]+)(?:\s+(.*?))?\s*$/.exec(line);
  if (!m || line.trimStart().startsWith('#')) return null;
  return { indent: m[1], keyword: m[2], key: m[2].toUpperCase(), value: m[3] ?? '' };
}

/** Find the label that boots and what it runs. Refuses (coded) a config with no label that runs anything. */
export function parseSyslinuxCfg(text: string, where = 'syslinux.cfg'): SyslinuxBoot {
  const lines = text.split(/\r?\n/);
  let def: string | null = null;
  const labels: { name: string; runLine: number; runs: string; appendLine: number | null }[] = [];
  let current: (typeof labels)[number] | null = null;
  let globalAppend: number | null = null;
  lines.forEach((line, i) => {
    const d = directive(line);
    if (!d) return;
    switch (d.key) {
      case 'DEFAULT':
        def = d.value.split(/\s+/)[0] || null;
        break;
      case 'LABEL':
        current = { name: d.value, runLine: -1, runs: '', appendLine: null };
        labels.push(current);
        break;
      case 'KERNEL':
      case 'LINUX':
      case 'COM32':
        if (current) {
          current.runLine = i;
          current.runs = d.value;
        }
        break;
      case 'APPEND':
        if (current) current.appendLine = i;
        else globalAppend = i;
        break;
    }
  });
  const runnable = labels.filter((l) => l.runLine >= 0 && l.runs);
  const chosen = (def !== null ? runnable.find((l) => l.name === def) : undefined) ?? runnable[0];
  if (!chosen) {
    fail(
      'SYSLINUX_NO_LABEL',
      `${where} has no LABEL with a KERNEL line${def ? ` (DEFAULT is "${def}")` : ''}, so SYSLINUX boots nothing from it; add "LABEL unikernel", "KERNEL mboot.c32" and "APPEND -aout unikernel.bin ARGS".`,
    );
  }
  const appendLine = chosen.appendLine ?? globalAppend;
  const append = appendLine !== null ? directive(lines[appendLine])!.value : '';
  const runsBase = chosen.runs.split(/\s+/)[0];
  const multiboot = runsBase.split('/').pop()!.toLowerCase() === MBOOT;
  if (!multiboot) {
    return {
      label: chosen.name,
      runs: runsBase,
      multiboot,
      options: [],
      kernel: runsBase,
      cmdline: append,
      runLine: chosen.runLine,
      appendLine,
      modules: '',
    };
  }
  const sep = append.search(/(^|\s)---(\s|$)/);
  const own = sep >= 0 ? append.slice(0, sep) : append;
  const modules = sep >= 0 ? append.slice(sep) : '';
  const words = own.split(/\s+/).filter(Boolean);
  const options: string[] = [];
  while (words.length && words[0].startsWith('-')) options.push(words.shift()!);
  const kernel = words.length ? words[0] : null;
  return {
    label: chosen.name,
    runs: runsBase,
    multiboot,
    options,
    kernel,
    cmdline: words.join(' '),
    runLine: chosen.runLine,
    appendLine,
    modules,
  };
}

/**
 * The config with the booted label's arguments replaced: mboot's options,
 * the kernel name and any modules are kept. `args` are the kernel's own
 * arguments (after its name). Line endings stay as they were.
 */
export function rewriteSyslinuxArgs(text: string, boot: SyslinuxBoot, args: string): string {
  const eol = text.includes('\r\n') ? '\r\n' : '\n';
  const lines = text.split(/\r?\n/);
  const value = boot.multiboot
    ? [...boot.options, boot.kernel ?? 'unikernel.bin', args].filter(Boolean).join(' ') + boot.modules
    : args;
  const indentOf = (i: number) => directive(lines[i])?.indent ?? '';
  if (boot.appendLine !== null) {
    const d = directive(lines[boot.appendLine])!;
    // A global APPEND (before any LABEL) is left alone; the label gets its own.
    const global =
      boot.appendLine < boot.runLine &&
      lines.slice(boot.appendLine, boot.runLine).some((l) => directive(l)?.key === 'LABEL');
    if (!global) {
      lines[boot.appendLine] = `${d.indent}${d.keyword} ${value}`.trimEnd();
      return lines.join(eol);
    }
  }
  lines.splice(boot.runLine + 1, 0, `${indentOf(boot.runLine)}APPEND ${value}`.trimEnd());
  return lines.join(eol);
}
