/**
 * solo5-virtio-run's command line: Solo5's script's options (getopt style
 * before UNIKERNEL; everything after it goes to the unikernel) and ours
 * (--dry-run, -H). Nothing here looks at files or the host.
 */
import { ImageError } from '../core/errors';
import { HYPERVISORS } from '../core/run/command';
import { UsageError, versionLine } from './tool';

export const PROG = 'solo5-virtio-run';
export const USAGE = '[OPTIONS] UNIKERNEL [--] [ARGUMENTS ...]';
/** Solo5's script default. */
const DEFAULT_MEM_MIB = 128;

export interface RunOptions {
  disks: string[];
  netifs: string[];
  mem?: string;
  quiet: boolean;
  hv?: string;
  dryRun: boolean;
  /** --gdb (1234) or --gdb-port=N: QEMU starts stopped, its gdb server on localhost:N. */
  gdbPort?: number;
  unikernel: string;
  args: string[];
}

function help(): string {
  return `Usage: ${PROG} ${USAGE}

Run the Solo5 virtio unikernel UNIKERNEL, or a disk image built from one
(raw, qcow2, VHD, VMDK, VDI or GCE tar.gz, recognised by its content), with
the devices its manifest declares. The console goes to stdout; the exit status
is the unikernel's own (solo5_exit(N) gives N, an abort or a fatal trap 255).

Options:
  -d DISK     attach the disk file DISK as the next declared block device (repeatable)
  -n NETIF    attach the tap interface NETIF as the next declared network device (repeatable)
  -m MEM      guest memory in MiB (default ${DEFAULT_MEM_MIB}; 512M and 1G are read too)
  -H HV       hypervisor: kvm (QEMU with KVM), qemu (QEMU with TCG, no KVM),
              bhyve (print the commands, run nothing); default: kvm where
              /dev/kvm can be opened (qemu again if QEMU with KVM fails
              before the unikernel prints anything), qemu otherwise
  -q          quiet: do not print the hypervisor command and the devices
      --dry-run  print the checks and the command, run nothing
      --gdb      start QEMU stopped, waiting for gdb on localhost:${DEFAULT_GDB_PORT}, and print
                 the gdb command (breakpoints at the kernel's entry, and at the
                 boot sector for a disk image)
      --gdb-port=N  the same on port N
  -h, --help     show this help
  -V, --version  show the version
  --demo      in place of UNIKERNEL: the built-in demo kernel

Devices go to the manifest's entries by kind and order: the n-th declared
block device gets the n-th -d, the n-th network device the n-th -n, and they
sit at consecutive PCI slots in manifest order. A declared device without a
-d/-n, or a -d/-n with no declared device left, stops before anything starts
(Solo5 would abort). A disk image boots from IDE, so it takes no manifest
entry; its arguments are the ones built into it.

Examples:
  ${PROG} app.virtio --ipv4=10.0.0.2/24
  ${PROG} -d data.img -n tap0 app.virtio
  ${PROG} -n tap0 disk.qcow2            # the image you are about to upload
  ${PROG} --dry-run -H bhyve -d data.img app.virtio
`;
}

/** Parse argv (without node and script). Returns null when --help/--version was handled. */
export function parseRunArgs(argv: string[], out: (s: string) => void): RunOptions | null {
  const o: RunOptions = { disks: [], netifs: [], quiet: false, dryRun: false, unikernel: '', args: [] };
  let i = 0;
  const value = (name: string, attached: string): string => {
    if (attached !== '') return attached;
    if (i + 1 >= argv.length) throw new UsageError(`option ${name} needs a value`);
    return argv[++i];
  };
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-' || a === '--demo') break;
    if (a === '-h' || a === '--help') {
      out(help());
      return null;
    }
    if (a === '-V' || a === '--version') {
      out(versionLine(PROG));
      return null;
    }
    if (a === '--dry-run') {
      o.dryRun = true;
      continue;
    }
    if (a === '--gdb') {
      o.gdbPort ??= DEFAULT_GDB_PORT;
      continue;
    }
    if (a === '--gdb-port' || a.startsWith('--gdb-port=')) {
      o.gdbPort = parsePort(a === '--gdb-port' ? value(a, '') : a.slice('--gdb-port='.length));
      continue;
    }
    if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
    // getopt style: -q, -d DISK, -dDISK
    const name = a.slice(0, 2);
    const attached = a.slice(2);
    switch (name) {
      case '-d':
        o.disks.push(value(name, attached));
        break;
      case '-n':
        o.netifs.push(value(name, attached));
        break;
      case '-m':
        o.mem = value(name, attached);
        break;
      case '-H':
        o.hv = value(name, attached);
        break;
      case '-q':
        if (attached !== '') throw new UsageError(`unknown option ${a}`);
        o.quiet = true;
        break;
      default:
        throw new UsageError(`unknown option ${a}`);
    }
  }
  if (i >= argv.length) throw new UsageError('UNIKERNEL is missing');
  o.unikernel = argv[i];
  const rest = argv.slice(i + 1);
  o.args = rest[0] === '--' ? rest.slice(1) : rest;
  if (o.hv !== undefined && !(HYPERVISORS as readonly string[]).includes(o.hv)) {
    throw new UsageError(`unknown hypervisor -H ${o.hv}; choose one of: ${HYPERVISORS.join(', ')}`);
  }
  if (o.gdbPort !== undefined && o.hv === 'bhyve') {
    throw new UsageError('--gdb starts QEMU under gdb; with -H bhyve nothing is run (bhyve has its own -G)');
  }
  return o;
}

/** The port of --gdb, as Solo5's hvt tender's --gdb. */
export const DEFAULT_GDB_PORT = 1234;

function parsePort(text: string): number {
  const n = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new UsageError(`--gdb-port ${text} is not a TCP port (1 to 65535)`);
  return n;
}

/** "-m 256", "256M", "1G" → MiB. */
export function parseMem(text: string | undefined): number {
  if (text === undefined) return DEFAULT_MEM_MIB;
  const m = /^(\d+)\s*(M|MB|MiB|G|GB|GiB)?$/i.exec(text.trim());
  const mib = m ? Number(m[1]) * (m[2] && m[2][0].toUpperCase() === 'G' ? 1024 : 1) : NaN;
  if (!Number.isSafeInteger(mib) || mib < 2 || mib > 1024 * 1024) {
    throw new ImageError(
      'RUN_MEM_MALFORMED',
      `-m ${text} is not a memory size from 2 MiB to 1 TiB; give MiB as a number (e.g. -m 128, as Solo5's script) or with M or G (-m 512M, -m 1G).`,
    );
  }
  return mib;
}
