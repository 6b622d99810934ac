/**
 * Issue 17's classes of hostile input, each with inputs crafted here: text
 * from an image that would attack a terminal, costs that follow what a file
 * claims instead of its bytes, loaders that verify called sound, and
 * SYSLINUX arguments that cannot boot. The case list: docs/hostile-input.md.
 */
import { describe, expect, it } from 'vitest';
import { ImageError } from '../src/core/errors';
import { terminalSafe } from '../src/core/terminal';
import { openDisk } from '../src/core/formats/open';
import { requireFormat } from '../src/core/formats/index';
import { QCOW2 } from '../src/core/formats/qcow2';
import { makePlan } from '../src/core/plan';
import { collect } from '../src/core/sink';
import { memorySource } from './helpers/disk-memory';
import { OPTS } from './helpers/containers';

const MiB = 1 << 20;

async function errorOf(p: Promise<unknown>): Promise<ImageError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ImageError);
    return e as ImageError;
  }
  throw new Error('expected an ImageError');
}

/** No character that starts or is part of a terminal control sequence. */
function expectTerminalSafe(s: string): void {
  // eslint-disable-next-line no-control-regex
  expect(s).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
}

describe('text from an image cannot attack the terminal', () => {
  it('terminalSafe escapes C0, DEL, C1, bidi overrides and lone surrogates, and keeps the rest', () => {
    const hostile = 'a\x1b]0;pwned\x07b\x9b31mc\x7fd\r\n\t\u202ee\ud800f';
    const safe = terminalSafe(hostile);
    expectTerminalSafe(safe);
    expect(safe).toBe('a\\e]0;pwned\\x07b\\x9b31mc\\x7fd\\r\\n\\t\\u{202e}e\\u{d800}f');
    expect(terminalSafe('ünïcødé 😀 /unikernel.bin --ipv4=10.0.0.2/24')).toBe(
      'ünïcødé 😀 /unikernel.bin --ipv4=10.0.0.2/24',
    );
  });

  it('a qcow2 backing file name with escape sequences is escaped in the error', async () => {
    const file = await collect(requireFormat('qcow2'), makePlan(4 * MiB, []), OPTS);
    const name = new TextEncoder().encode('base\x1b[2J\x1b]0;owned\x07.qcow2');
    const h = new DataView(file.buffer, file.byteOffset);
    const at = 512; // inside the header cluster, after the header
    file.set(name, at);
    h.setBigUint64(QCOW2.OFF.backingFileOffset, BigInt(at));
    h.setUint32(QCOW2.OFF.backingFileSize, name.length);
    const e = await errorOf(openDisk(memorySource(file)));
    expect(e.code).toBe('IMAGE_BACKING_FILE');
    expectTerminalSafe(e.message);
    expect(e.message).toContain('base\\e[2J\\e]0;owned\\x07.qcow2');
  });

  it('a VHD parent name and a VMDK parent hint with escape sequences are escaped', async () => {
    // VHD: a dynamic disk turned differencing, with a parent name in UTF-16BE.
    const vhd = await collect(requireFormat('vhd-dynamic'), makePlan(4 * MiB, []), OPTS);
    const footerAt = 0;
    const dv = new DataView(vhd.buffer, vhd.byteOffset);
    const fix = (at: number, len: number, sumAt: number) => {
      dv.setUint32(at + sumAt, 0);
      let sum = 0;
      for (let i = 0; i < len; i++) sum += vhd[at + i];
      dv.setUint32(at + sumAt, ~sum >>> 0);
    };
    dv.setUint32(footerAt + 60, 4); // disk type: differencing
    fix(footerAt, 512, 64);
    vhd.set(vhd.subarray(0, 512), vhd.length - 512);
    const parent = 'p\x1b[31mred\x9b';
    for (let i = 0; i < parent.length; i++) dv.setUint16(512 + 64 + i * 2, parent.charCodeAt(i));
    fix(512, 1024, 36);
    const e1 = await errorOf(openDisk(memorySource(vhd)));
    expect(e1.code).toBe('IMAGE_BACKING_FILE');
    expectTerminalSafe(e1.message);
    expect(e1.message).toContain('p\\e[31mred\\x9b');

    // VMDK: a monolithicSparse descriptor with a parent hint.
    const vmdk = await collect(requireFormat('vmdk-sparse'), makePlan(4 * MiB, []), OPTS);
    const text = new TextDecoder('latin1').decode(vmdk.subarray(512, 512 + 4096));
    const hinted = text.replace('parentCID=ffffffff', 'parentCID=ffffffff\nparentFileNameHint="x\x1b[8mhidden"');
    vmdk.set(new TextEncoder().encode(hinted).subarray(0, 4096), 512);
    const e2 = await errorOf(openDisk(memorySource(vmdk)));
    expect(e2.code).toBe('IMAGE_BACKING_FILE');
    expectTerminalSafe(e2.message);
    expect(e2.message).toContain('x\\e[8mhidden');
  });
});
