/**
 * Instruction tests for the emulator, measured on QEMU: a Multiboot program
 * (NASM, a.out kludge at 1 MiB) that runs each case (registers and EFLAGS
 * set, one instruction or a short snippet, then every register and EFLAGS
 * printed in hex on COM1) and exits through isa-debug-exit. QEMU (TCG) runs
 * it with -kernel; the emulator runs the same bytes; the two consoles must
 * be equal line by line. The expectations are what QEMU printed, never typed.
 */

const V8 = [0, 1, 0x0f, 0x7f, 0x80, 0x81, 0xfe, 0xff];
const V16 = [0, 1, 0x7f, 0x80, 0x7fff, 0x8000, 0xfffe, 0xffff];
const V32 = [0, 1, 0x7f, 0x8000, 0x7fffffff, 0x80000000, 0x80000001, 0xfffffffe, 0xffffffff];
const VALUES: Record<number, number[]> = { 1: V8, 2: V16, 4: V32 };
/** EFLAGS before each case: arithmetic flags all clear, all set. */
const FLAGS_IN = [0x002, 0x8d7];
const R: Record<number, [string, string, string, string]> = {
  1: ['al', 'bl', 'cl', 'dl'],
  2: ['ax', 'bx', 'cx', 'dx'],
  4: ['eax', 'ebx', 'ecx', 'edx'],
};
const h = (n: number) => '0x' + (n >>> 0).toString(16);

export interface Case {
  /** Shown in failures. */
  name: string;
  /** Setup: eax, ebx, ecx, edx, esi, edi; flags. */
  regs: [number, number, number, number, number, number];
  flags: number;
  /** The instructions under test. */
  body: string[];
}

function pairs(size: number): [number, number][] {
  const v = VALUES[size];
  const out: [number, number][] = [];
  for (const a of v) for (const b of v) out.push([a, b]);
  return out;
}

export function cases(): Case[] {
  const out: Case[] = [];
  const add = (name: string, regs: number[], body: string[], flagsIn = FLAGS_IN) => {
    for (const flags of flagsIn) {
      const r = [...regs, 0, 0, 0, 0, 0, 0].slice(0, 6) as Case['regs'];
      out.push({ name: `${name} [flags ${h(flags)}]`, regs: r, flags, body });
    }
  };
  for (const size of [1, 2, 4]) {
    const [a, b, c] = R[size];
    for (const op of ['add', 'or', 'adc', 'sbb', 'and', 'sub', 'xor', 'cmp', 'test'])
      for (const [x, y] of pairs(size)) add(`${op} ${a},${b} (${h(x)}, ${h(y)})`, [x, y], [`${op} ${a}, ${b}`]);
    // other encodings: r/m destination in memory, immediates (incl. sign-extended imm8), the accumulator forms
    for (const op of ['add', 'adc', 'sub', 'sbb', 'and', 'or', 'xor', 'cmp', 'test'])
      for (const [x, y] of pairs(size).filter((_, i) => i % 7 === 0)) {
        const sz = size === 1 ? 'byte' : size === 2 ? 'word' : 'dword';
        add(
          `${op} [mem],${b}`,
          [0, y],
          [
            `mov [scratch], ${R[size][0]}`,
            `mov ${a}, ${h(x)}`,
            `mov [scratch], ${a}`,
            `${op} ${sz} [scratch], ${b}`,
            `mov ${a}, [scratch]`,
          ],
        );
        add(`${op} ${b},[mem]`, [y, x], [`mov [scratch], ${a}`, `${op} ${b}, ${sz} [scratch]`]);
        add(`${op} ${a},imm`, [x], [`${op} ${a}, ${h(y)}`]);
        add(
          `${op} ${sz} [mem],imm`,
          [x],
          [`mov [scratch], ${a}`, `${op} ${sz} [scratch], strict ${sz} ${h(y)}`, `mov ${a}, [scratch]`],
        );
        if (size > 1 && op !== 'test') {
          const s8 = (y & 0xff) >= 0x80 ? -(0x100 - (y & 0xff)) : y & 0xff;
          add(`${op} ${b},imm8`, [0, x], [`${op} ${b}, strict byte ${s8}`]);
        }
        add(`${op} ${b},imm (modrm)`, [0, x], [`${op} ${b}, strict ${sz} ${h(y)}`]);
      }
    for (const op of ['inc', 'dec', 'neg', 'not'])
      for (const x of VALUES[size]) {
        add(`${op} ${a} (${h(x)})`, [x], [`${op} ${a}`]);
        if (op === 'inc' || op === 'dec')
          add(
            `${op} mem (${h(x)})`,
            [x],
            [
              `mov [scratch], ${a}`,
              `${op} ${size === 1 ? 'byte' : size === 2 ? 'word' : 'dword'} [scratch]`,
              `mov ${a}, [scratch]`,
            ],
          );
      }
    const counts = [0, 1, 2, 7, 8, 9, 16, 17, 31, 33];
    for (const op of ['rol', 'ror', 'rcl', 'rcr', 'shl', 'shr', 'sar'])
      for (const x of VALUES[size].filter((_, i) => i % 2 === 1 || i === 0))
        for (const n of counts) {
          add(`${op} ${a},cl (${h(x)}, ${n})`, [x, 0, n], [`${op} ${a}, cl`]);
          if (n === 1) add(`${op} ${a},1 (${h(x)})`, [x], [`${op} ${a}, 1`]);
          if (n > 1 && n < 32) add(`${op} ${a},imm (${h(x)}, ${n})`, [x], [`${op} ${a}, ${n}`]);
        }
    for (const op of ['mul', 'imul'])
      for (const [x, y] of pairs(size)) add(`${op} ${b} (${h(x)}, ${h(y)})`, [x, y, 0, 0x5555aaaa], [`${op} ${b}`]);
    // division: dividend EDX:EAX (DX:AX, AX), divisor in EBX; only cases that do not fault
    for (const op of ['div', 'idiv'])
      for (const [x, y] of pairs(size)) {
        if (y === 0) continue;
        const hi =
          size === 1
            ? 0
            : op === 'idiv' && x & (size === 2 ? 0x8000 : 0x80000000)
              ? size === 2
                ? 0xffff
                : 0xffffffff
              : 0;
        const dividendOk = (() => {
          const bits = BigInt(size * 8);
          const m = (1n << bits) - 1n;
          if (op === 'div') return size === 1 ? BigInt(x) / BigInt(y) <= 0xffn : BigInt(x) / BigInt(y) <= m;
          const sx = (v: number, s: number) => BigInt.asIntN(s * 8, BigInt(v));
          const q = sx(x, size) / sx(y, size);
          return q >= -(1n << (bits - 1n)) && q < 1n << (bits - 1n);
        })();
        if (!dividendOk) continue;
        const setup = size === 1 ? [op === 'idiv' ? 'cbw' : 'movzx ax, al'] : [];
        add(`${op} ${b} (${h(x)}, ${h(y)})`, [x, y, 0, hi], [...setup, `${op} ${b}`]);
      }
    if (size > 1) {
      for (const [x, y] of pairs(size)) {
        add(`imul ${a},${b} (${h(x)}, ${h(y)})`, [x, y], [`imul ${a}, ${b}`]);
        add(`imul ${a},${b},imm (${h(x)}, ${h(y)})`, [0, x], [`imul ${a}, ${b}, ${h(y)}`]);
      }
      for (const x of VALUES[size])
        for (const k of [-128, -1, 0, 3, 24, 127])
          add(`imul ${a},${b},imm8 ${k}`, [0, x], [`imul ${a}, ${b}, strict byte ${k}`]);
      for (const x of VALUES[size])
        for (const n of [0, 1, 7, 15, 31, 32 + 3]) {
          add(`bt ${a},${c} (${h(x)}, ${n})`, [x, 0, n], [`bt ${a}, ${c}`]);
          add(`bt ${a},imm (${h(x)}, ${n})`, [x], [`bt ${a}, ${n}`]);
        }
      add(
        `bt [mem],reg`,
        [0xf0f0f0f0, 0, 37],
        ['mov [scratch], eax', 'mov [scratch + 4], eax', `bt ${size === 2 ? 'word' : 'dword'} [scratch], ${c}`],
      );
    }
  }
  // flags instructions
  for (const op of ['clc', 'stc', 'cmc', 'cld', 'std', 'sahf', 'lahf', 'cli'])
    // sti: a timer interrupt would arrive (covered by the loader)

    for (const x of [0, 0xd5, 0xff, 0x2a]) add(`${op} (ah ${h(x)})`, [x << 8], [op, 'cld', 'cli']);
  add('pushfd/popfd', [0], ['push dword 0x00000cd5', 'popfd', 'pushfd', 'pop eax']);
  add('pushf/popf (16-bit)', [0], ['push word 0x0cd5', 'popfw', 'pushfw', 'pop bx']);
  add(
    'lgdt/lidt',
    [0],
    [
      'lgdt [gdt_ptr]',
      'mov dword [scratch], 0x03ff',
      'mov dword [scratch+4], 0',
      'lidt [scratch]',
      'mov eax, [scratch]',
    ],
  );
  // conditional jumps: every condition over every flag combination that matters
  const jcc = ['jo', 'jno', 'jc', 'jnc', 'jz', 'jnz', 'jna', 'ja', 'js', 'jns', 'jpe', 'jpo', 'jl', 'jnl', 'jng', 'jg'];
  for (const f of [0x002, 0x003, 0x006, 0x042, 0x082, 0x802, 0x882, 0x0c2, 0x843, 0x8d7]) {
    jcc.forEach((j, i) =>
      out.push({
        name: `${j} short [flags ${h(f)}]`,
        regs: [0, 0, 0, 0, 0, 0],
        flags: f,
        body: [`${j} .t${i}`, 'mov eax, 1', `.t${i}:`],
      }),
    );
    jcc.forEach((j, i) =>
      out.push({
        name: `${j} near [flags ${h(f)}]`,
        regs: [0, 0, 0, 0, 0, 0],
        flags: f,
        body: [`${j} near .n${i}`, 'mov eax, 1', `.n${i}:`],
      }),
    );
  }
  // loops and jcxz
  for (const n of [0, 1, 2, 5])
    for (const f of [0x002, 0x042]) {
      if (n > 0)
        out.push({ name: `loop ecx=${n}`, regs: [0, 0, n, 0, 0, 0], flags: f, body: ['.l:', 'inc eax', 'loop .l'] });
      if (n > 0)
        out.push({ name: `loope ecx=${n}`, regs: [0, 0, n, 0, 0, 0], flags: f, body: ['.l:', 'inc eax', 'loope .l'] });
      if (n > 0)
        out.push({
          name: `loopne ecx=${n}`,
          regs: [0, 0, n, 0, 0, 0],
          flags: f,
          body: ['.l:', 'inc eax', 'loopne .l'],
        });
      out.push({ name: `jecxz ecx=${n}`, regs: [0, 0, n, 0, 0, 0], flags: f, body: ['jecxz .j', 'inc eax', '.j:'] });
      if (n > 0)
        out.push({
          name: `loop cx (a16) cx=${n}`,
          regs: [0, 0, 0x10000 + n, 0, 0, 0],
          flags: f,
          body: ['.l:', 'inc eax', 'a16 loop .l'],
        });
    }
  // data movement
  const movs: [string, string[]][] = [
    [
      'mov r/m forms',
      [
        'mov ebx, eax',
        'mov cl, ah',
        'mov dx, ax',
        'mov [scratch], eax',
        'mov esi, [scratch]',
        'mov byte [scratch], 0x5a',
        'mov edi, [scratch]',
        'mov word [scratch+2], 0x1234',
        'mov edx, [scratch]',
      ],
    ],
    [
      'mov moffs',
      [
        'mov [scratch], eax',
        'mov ebx, 0',
        'mov al, [scratch+1]',
        'mov [scratch+4], al',
        'mov ax, [scratch]',
        'mov [scratch+6], ax',
        'mov eax, [scratch+4]',
      ],
    ],
    [
      'mov imm',
      [
        'mov al, 0x12',
        'mov ch, 0x34',
        'mov dx, 0x5678',
        'mov esi, 0x9abcdef0',
        'mov dword [scratch], 0x11223344',
        'mov edi, [scratch]',
      ],
    ],
    [
      'movzx/movsx',
      [
        'mov eax, 0x80ff7f81',
        'movzx ebx, al',
        'movsx ecx, al',
        'movzx edx, ax',
        'movsx esi, ax',
        'mov [scratch], eax',
        'movzx edi, byte [scratch+1]',
        'movsx ax, byte [scratch]',
        'movzx bx, byte [scratch+3]',
      ],
    ],
    ['lea', ['lea ebx, [eax+ecx*4+0x10]', 'lea edx, [eax-1]', 'lea si, [bx+0x7fff]', 'lea edi, [ecx*8]']],
    ['xchg', ['xchg eax, ebx', 'xchg cl, dh', 'xchg [scratch], esi', 'xchg eax, ecx', 'xchg edx, [scratch]', 'nop']],
    [
      'push/pop',
      [
        'push eax',
        'push word 0x1234',
        'push dword 0x89abcdef',
        'push byte -2',
        'pop ebx',
        'pop ecx',
        'pop dx',
        'pop esi',
        'push dword [scratch]',
        'pop dword [scratch+4]',
        'mov edi, [scratch+4]',
      ],
    ],
    [
      'push/pop segment registers',
      [
        'push ds',
        'push es',
        'push fs',
        'push gs',
        'push ss',
        'push cs',
        'pop eax',
        'pop ebx',
        'pop ecx',
        'pop edx',
        'pop esi',
        'pop edi',
        'push ds',
        'pop es',
        'push ds',
        'pop fs',
        'push ds',
        'pop gs',
        'push ss',
        'pop ss',
        'push ds',
        'pop ds',
        'mov ax, ds',
        'mov bx, es',
        'mov es, bx',
        'mov ds, ax',
        'mov cx, ss',
        'mov ss, cx',
      ],
    ],
    ['pusha/popa', ['pushad', 'mov eax, 0', 'mov ebx, 0', 'popad', 'pushaw', 'xor edx, edx', 'popaw']],
    ['cbw/cwde/cwd/cdq', ['cbw', 'mov ebx, eax', 'cwde', 'mov ecx, eax', 'cwd', 'cdq']],
    [
      'call/ret',
      [
        'call .f',
        'jmp .e',
        '.f:',
        'inc eax',
        'ret',
        '.e:',
        'call .g',
        'jmp .h',
        '.g:',
        'inc eax',
        'ret 0',
        '.h:',
        'mov ebx, .f',
        'call ebx',
        'mov [scratch], ebx',
        'call [scratch]',
        'push dword .k',
        'ret',
        '.k:',
        'push dword 7',
        'call .r',
        'jmp .s',
        '.r:',
        'ret 4',
        '.s:',
      ],
    ],
    [
      'jmp forms',
      [
        'jmp short .a',
        'inc eax',
        '.a:',
        'jmp near .b',
        'inc eax',
        '.b:',
        'mov ecx, .c',
        'jmp ecx',
        'inc eax',
        '.c:',
        'mov dword [scratch], .d',
        'jmp [scratch]',
        'inc eax',
        '.d:',
      ],
    ],
    [
      'string ops',
      [
        'mov esi, src',
        'mov edi, scratch',
        'mov ecx, 5',
        'rep movsb',
        'mov ecx, 2',
        'rep movsd',
        'movsw',
        'movsb',
        'movsd',
        'lodsb',
        'lodsw',
        'lodsd',
        'mov al, 0x5a',
        'stosb',
        'stosw',
        'stosd',
        'mov ecx, 3',
        'rep stosd',
        'mov ebx, [scratch]',
        'mov edx, [scratch+12]',
        'std',
        'lodsd',
        'stosb',
        'cld',
      ],
    ],
  ];
  for (const [name, body] of movs) add(name, [0x8a7b6c5d, 0x01020304, 0x3, 0x80000000, 0, 0], body, [0x002]);
  add('cpuid leaf 0 (vendor)', [0], ['cpuid', 'mov eax, 0'], [0x002]);
  return out;
}

/** The NASM source of the whole program (Multiboot header, cases, the printer, the exit). */
export function programSource(all: Case[]): string {
  const lines = [
    'bits 32',
    'org 0x100000',
    'hdr:',
    '    dd 0x1BADB002, 0x00010000, -(0x1BADB002 + 0x00010000)',
    '    dd hdr, hdr, data_end, bss_end, start',
    'start:',
    '    mov esp, 0x90000',
    '    lgdt [gdt_ptr]', // our own flat GDT (08h code, 10h data), so segment loads read the same descriptors
  ];
  all.forEach((c, i) => {
    lines.push(`case${i}:`, `    push dword ${h(c.flags)}`, '    popfd');
    ['eax', 'ebx', 'ecx', 'edx', 'esi', 'edi'].forEach((r, k) => lines.push(`    mov ${r}, ${h(c.regs[k])}`));
    for (const b of c.body) lines.push(b.endsWith(':') ? `${b}` : `    ${b}`);
    lines.push('    pushfd', '    pushad', '    call report', '    add esp, 36');
  });
  lines.push(
    // Wait until COM1 has sent its last byte (LSR bit 6, transmitter empty): QEMU keeps a byte it could
    // not write to a full pipe and would drop it at the exit (seen under load: the last line cut short).
    '    mov dx, 0x3fd',
    'drain:',
    '    in al, dx',
    '    test al, 0x40',
    '    jz drain',
    '    mov dx, 0x501',
    '    mov al, 0',
    '    out dx, al',
    '    cli',
    '    hlt',
    // report: [esp+4..] = pushad image (EDI ESI EBP ESP EBX EDX ECX EAX), then EFLAGS
    'report:',
    '    mov ebp, esp',
    '    mov eax, [ebp + 32]',
    '    call hex32',
    '    mov eax, [ebp + 20]',
    '    call hex32',
    '    mov eax, [ebp + 28]',
    '    call hex32',
    '    mov eax, [ebp + 24]',
    '    call hex32',
    '    mov eax, [ebp + 8]',
    '    call hex32',
    '    mov eax, [ebp + 4]',
    '    call hex32',
    '    mov eax, [ebp + 36]',
    '    call hex32',
    '    mov al, 10',
    '    call putc',
    '    ret',
    // putc: AL to COM1, waiting for the transmitter (QEMU drops characters otherwise)
    'putc:',
    '    push edx',
    '    push eax',
    '    mov dx, 0x3fd',
    '.w:',
    '    in al, dx',
    '    test al, 0x20',
    '    jz .w',
    '    pop eax',
    '    mov dx, 0x3f8',
    '    out dx, al',
    '    pop edx',
    '    ret',
    'hex32:',
    '    mov ecx, 8',
    '.d:',
    '    rol eax, 4',
    '    movzx ebx, al',
    '    and bl, 0x0f',
    '    push eax',
    '    mov al, [digits + ebx]',
    '    call putc',
    '    pop eax',
    '    loop .d',
    '    mov al, 32',
    '    call putc',
    '    ret',
    'digits: db "0123456789abcdef"',
    'src: db 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32',
    'align 8',
    'gdt: dq 0, 0x00CF9B000000FFFF, 0x00CF93000000FFFF',
    'gdt_ptr: dw 23',
    '    dd gdt',
    'align 4',
    'scratch: times 64 db 0',
    'data_end:',
    'bss_end:',
  );
  return lines.join('\n') + '\n';
}

/**
 * A boot sector that switches A20 off and on through port 92h, the keyboard
 * controller's output port and INT 15h AX=2401h, and prints after each step
 * whether 0:0600 aliases FFFF:0610 (A: A20 off, N: on), port 92h and the
 * controller's status; then exits through isa-debug-exit.
 */
export const A20_PROGRAM = `bits 16
org 0x7c00
start:
    xor ax, ax
    mov ds, ax
    mov ss, ax
    mov sp, 0x7c00
    call report
    in al, 0x92
    and al, 0xfd
    out 0x92, al
    call report
    in al, 0x92
    or al, 2
    out 0x92, al
    call report
    call kbc_wait
    mov al, 0xd1
    out 0x64, al
    call kbc_wait
    mov al, 0xdd
    out 0x60, al
    call kbc_wait
    call report
    call kbc_wait
    mov al, 0xd1
    out 0x64, al
    call kbc_wait
    mov al, 0xdf
    out 0x60, al
    call kbc_wait
    call report
    in al, 0x92
    and al, 0xfd
    out 0x92, al
    call report
    mov ax, 0x2401
    int 0x15
    pushf
    mov al, ah
    call hex8
    pop ax
    call hex8
    call report
    mov dx, 0x3fd               ; COM1 has sent its last byte (LSR bit 6), or QEMU may drop it at the exit
drain:
    in al, dx
    test al, 0x40
    jz drain
    mov dx, 0x501
    mov al, 0
    out dx, al
    cli
    hlt
kbc_wait:
    in al, 0x64
    test al, 2
    jnz kbc_wait
    ret
report:                     ; 'A' if 0:0600 aliases FFFF:0610 (A20 off), else 'N'; port 92h; port 64h
    push es
    mov ax, 0xffff
    mov es, ax
    mov byte [0x600], 0x11
    mov byte [es:0x610], 0x22
    mov al, 'N'
    cmp byte [0x600], 0x22
    jne .n
    mov al, 'A'
.n:
    call putc
    in al, 0x92
    call hex8
    in al, 0x64
    call hex8
    mov al, 10
    call putc
    pop es
    ret
hex8:
    push ax
    shr al, 4
    call .nib
    pop ax
.nib:
    and al, 0x0f
    add al, '0'
    cmp al, '9'
    jbe .o
    add al, 7
.o:
    jmp putc
putc:
    push dx
    push ax
    mov dx, 0x3fd
.w:
    in al, dx
    test al, 0x20
    jz .w
    pop ax
    mov dx, 0x3f8
    out dx, al
    pop dx
    ret
    times 510 - ($ - $$) db 0
    dw 0xaa55
`;

/**
 * Random encodings of every opcode the decoder knows (deterministic): random
 * prefixes where they can matter (66h with a sized operand, 67h and segment
 * overrides with a memory operand; ndisasm's words for prefixes that change
 * nothing, `es a32 inc dx`, follow rules of its own that we match only in part),
 * random ModRM, SIB, displacement and immediate bytes; each cut to the length
 * our decoder gives it, all in one stream for ndisasm to walk.
 */
export function randomEncodings(
  known: { opcode: string; mnemonic: string; operands: string }[],
  decodeLength: (bytes: number[]) => { length: number; unknown: boolean; skip: boolean },
  perOpcode: number,
  seed: number,
): Uint8Array {
  let s = seed >>> 0;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) >>> 8) & 0xff;
  const out: number[] = [];
  for (const k of known) {
    for (let n = 0; n < perOpcode; n++) {
      const parts = k.opcode.split(' ');
      const bytes: number[] = [];
      const hasMem = /E|M|O/.test(k.operands);
      const sized =
        /v|Ib8|Ap/.test(k.operands) ||
        ['pusha', 'popa', 'pushf', 'popf', 'cbw', 'cwd', 'movs', 'stos', 'lods', 'ret', 'push', 'pop'].includes(
          k.mnemonic,
        );
      const r = rnd();
      if (r & 1 && sized) bytes.push(0x66);
      if (r & 2 && hasMem) bytes.push(0x67);
      if (r & 4 && hasMem) bytes.push([0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65][rnd() % 6]);
      let op = parts[0];
      let low = 0;
      if (op.endsWith('+r')) {
        op = op.slice(0, -2);
        low = rnd() & 7;
      }
      bytes.push(parseInt(op, 16) + low);
      let i = 1;
      if (op === '0F') {
        bytes.push(parseInt(parts[1], 16));
        i = 2;
      }
      const group = parts[i]?.startsWith('/') ? Number(parts[i].slice(1)) : -1;
      if (group >= 0 || /E|G|M|S|C|R/.test(k.operands)) {
        let m = rnd();
        if (group >= 0) m = (m & 0xc7) | (group << 3);
        if (op === 'C6' || op === 'C7') m &= 0xc7;
        bytes.push(m);
      }
      for (let e = 0; e < 12; e++) bytes.push(rnd());
      const d = decodeLength(bytes);
      if (d.unknown || d.skip) continue;
      out.push(...bytes.slice(0, d.length));
    }
  }
  return new Uint8Array(out);
}
