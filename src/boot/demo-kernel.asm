; demo-kernel.asm: the project's own demo unikernel. It follows the Solo5
; "virtio" boot contract (see docs/boot-loader.md):
;   - ELF64 x86-64 executable whose e_entry is 64-bit code (as in Solo5, so a
;     loader that ignores the a.out kludge and jumps to e_entry crashes);
;   - a Multiboot 1 header, flags 0x00010003 (page align, memory info, a.out
;     kludge) with load_addr 0x100000, load_end_addr, bss_end_addr, entry_addr;
;   - a 32-bit entry that checks EAX = 0x2BADB002, checks that the whole bss
;     is zero (it zeroes nothing itself), builds page tables and enters long mode;
;   - on COM1 (115200 8N1): a banner, the command line with its first token
;     skipped, the memory map (walked like Solo5: from mmap_addr, stride
;     size + 4, flag bit 6 not checked), and the checks; then
;     outw(0x501, 41): QEMU's isa-debug-exit makes that exit status 83.
;     A failed check prints "demo: FAILURE ..." and writes 1 (status 3).
;
; Build-time knobs (nasm -D...), used by the tests to make variants:
;   LOAD_OFFSET  file offset of the loaded slice (default 0x1000, like Solo5;
;                0 loads the ELF headers too, for a 4 KiB kernel)
;   PAD_TO       pad the loaded data so the file is this many bytes (0 = none)
;   BSS_EXTRA    extra bss bytes (default 0)
;   TRAILER      bytes of non-zero data after load_end in the file, which a
;                loader must not copy (they would land in the bss)
;   P_ALIGN      ELF p_align (default 0x1000)
;   SPLIT        no a.out kludge (flags 0x3, e_entry = the 32-bit entry) and a
;                second PT_LOAD segment at 0x400000 from an unaligned file
;                offset, with its own bss: tests loaders that use the ELF
;                program headers (QEMU -kernel refuses this ELF64 variant)
;   MFT_BLOCKS   block devices its Solo5 manifest declares (default 0): one is
;                named `storage` (as Solo5's test_blk), more are storage0, 1, ...
;   MFT_NETS     net devices it declares (default 0): service0, service1, ...
;   MFT_ALTERNATE  declare them alternately, a net device first (service0,
;                storage0, service1, ...), rather than blocks then nets
;                (at most 63 devices in all: entry 0 is reserved)
;   BIND_DEVICES bind the virtio devices on PCI bus 0 to the manifest as Solo5's
;                virtio target does (slot order, kinds must match, every
;                declared device attached) and fail the run otherwise
;   SOLO5_END    end after the checks as a Solo5 kernel does: N >= 0 prints
;                "Solo5: solo5_exit(N) called", -1 "Solo5: solo5_abort() called",
;                -2 a fatal trap's two lines; then outw(0x501, 41) (status 83)
;   ACPI_POWEROFF  end a successful run with an ACPI S5 power-off as Solo5's
;                virtio target does (RSDP found only by scanning 0xE0000-0xFFFFF,
;                RSDT/XSDT -> FADT -> PM1a control block, SLP_TYPa from the
;                DSDT's \_S5 package) instead of isa-debug-exit; QEMU then
;                exits with status 0 by itself. A failure prints why and halts.
;   HANG         halt forever after the checks (for interrupting a run)
;   TRIPLE_FAULT ud2 after the checks, with no IDT: the CPU resets (no console line)
;   REBOOT_TEST  on the first boot, fill the bss with 0xA5, leave a mark in
;                RAM above the kernel and reset the machine (keyboard
;                controller); the second boot then proves that the loader
;                zeroed the bss (QEMU's RAM is zero on a fresh start, so
;                without this a loader that forgets the bss goes unnoticed)

%ifndef LOAD_OFFSET
  %define LOAD_OFFSET 0x1000
%endif
%ifndef PAD_TO
  %define PAD_TO 0
%endif
%ifndef BSS_EXTRA
  %define BSS_EXTRA 0
%endif
%ifndef TRAILER
  %define TRAILER 0
%endif
%ifndef P_ALIGN
  %define P_ALIGN 0x1000
%endif
%ifndef MFT_BLOCKS
  %define MFT_BLOCKS 0
%endif
%ifndef MFT_NETS
  %define MFT_NETS 0
%endif
%if MFT_BLOCKS + MFT_NETS > 63
  %error "at most 63 devices: the manifest holds 64 entries and entry 0 is reserved"
%endif

LOAD_ADDR   equ 0x100000
MB_MAGIC    equ 0x1BADB002
%ifdef SPLIT
MB_FLAGS    equ 0x00000003
SEG2_ADDR   equ 0x400000
SEG2_SIZE   equ 3000        ; a multiple of 4, not of 512
SEG2_BSS    equ 0x3000
%else
MB_FLAGS    equ 0x00010003
%endif
COM1        equ 0x3F8
EXIT_PORT   equ 0x501

bits 32
; vstart rather than org: NASM's bin format would pad the file's start to
; align an org that LOAD_OFFSET leaves unaligned.
%assign VSTART 0x100000 - LOAD_OFFSET
section .text vstart=VSTART align=1

file_start:
elf_header:
    db 0x7F, "ELF", 2, 1, 1, 0  ; ELF64, little endian, version 1, SysV
    times 8 db 0
    dw 2                        ; ET_EXEC
    dw 0x3E                     ; EM_X86_64
    dd 1
%ifdef SPLIT
    dq start32
%else
    dq start64                  ; e_entry: 64-bit code, like Solo5's _start
%endif
    dq program_header - file_start
    dq 0                        ; no section headers
    dd 0
%ifdef SPLIT
    dw 64, 56, 3, 64, 0, 0
%else
    dw 64, 56, 2, 64, 0, 0      ; ehsize, phentsize, phnum, shentsize, shnum, shstrndx
%endif
program_header:
    dd 1                        ; PT_LOAD
    dd 7                        ; RWX
    dq LOAD_OFFSET
    dq LOAD_ADDR                ; p_vaddr
    dq LOAD_ADDR                ; p_paddr
    dq load_end - LOAD_ADDR     ; p_filesz
    dq bss_end - LOAD_ADDR      ; p_memsz
    dq P_ALIGN
%ifdef SPLIT
    dd 1, 6                     ; PT_LOAD, RW
    dq (load_end - file_start) + TRAILER
    dq SEG2_ADDR, SEG2_ADDR
    dq SEG2_SIZE, SEG2_SIZE + SEG2_BSS
    dq 1
%endif
    dd 4, 4                     ; PT_NOTE, R: the Solo5 manifest (inside the loaded slice)
    dq MFT_NOTE_OFF
    dq mft_note, mft_note       ; p_vaddr, p_paddr
    dq mft_note_end - mft_note, mft_note_end - mft_note
    dq 4                        ; p_align 4: the descriptor starts 20 bytes in (readelf -n agrees)
%if LOAD_OFFSET > 0
    times LOAD_OFFSET - ($ - file_start) db 0
%endif

load_start:                     ; = LOAD_ADDR
    align 4, db 0
multiboot_header:
    dd MB_MAGIC
    dd MB_FLAGS
    dd -(MB_MAGIC + MB_FLAGS)
    dd multiboot_header         ; header_addr
    dd LOAD_ADDR                ; load_addr
    dd load_end                 ; load_end_addr
    dd bss_end                  ; bss_end_addr
    dd start32                  ; entry_addr

; ---- 32-bit entry: EAX = magic, EBX = Multiboot info ----
start32:
    cld
    cmp eax, 0x2BADB002
    jne bad_magic
    mov [mbi], ebx
    mov edi, BSS_CHECK_START    ; the whole bss must be zero: we zero nothing
    mov ecx, (bss_end - BSS_CHECK_START) / 4
    xor eax, eax
    repe scasd
    je .bss_clean
    sub edi, 4
    mov [bss_dirty_at], edi
.bss_clean:
%ifdef SPLIT
    mov edi, SEG2_ADDR + SEG2_SIZE
    mov ecx, SEG2_BSS / 4
    repe scasd
    je .seg2_clean
    sub edi, 4
    mov [bss_dirty_at], edi
.seg2_clean:
%endif
%ifdef REBOOT_TEST
    cmp dword [REBOOT_MARK], REBOOT_MAGIC
    je .second_boot
    mov dword [REBOOT_MARK], REBOOT_MAGIC
    mov edi, BSS_CHECK_START
    mov ecx, (bss_end - BSS_CHECK_START) / 4
    mov eax, 0xA5A5A5A5
    rep stosd
    mov esi, msg_dirtied
    call puts32
    mov al, 0xFE                ; keyboard controller: pulse reset
    out 0x64, al
.wait_reset:
    hlt
    jmp .wait_reset
.second_boot:
    mov dword [REBOOT_MARK], 0
    mov esi, msg_second
    call puts32
%endif
    ; identity-map 4 GiB with 2 MiB pages (every table entry written in
    ; full: the second boot of REBOOT_TEST must survive a dirty bss)
    mov edi, pml4
    mov ecx, (4096 + 4096) / 4  ; PML4 and PDPT
    xor eax, eax
    rep stosd
    mov edi, page_dirs
    mov eax, 0x83               ; present, writable, 2 MiB
    xor edx, edx
    mov ecx, 2048
.pde:
    mov [edi], eax
    mov [edi + 4], edx
    add eax, 0x200000
    adc edx, 0
    add edi, 8
    loop .pde
    mov edi, pdpt
    mov eax, page_dirs + 3
    mov ecx, 4
.pdpte:
    mov [edi], eax
    add eax, 4096
    add edi, 8
    loop .pdpte
    mov dword [pml4], pdpt + 3

    mov esp, stack_top
    lgdt [gdt64_ptr]
    mov eax, cr4
    or eax, 1 << 5              ; PAE
    mov cr4, eax
    mov eax, pml4
    mov cr3, eax
    mov ecx, 0xC0000080         ; EFER
    rdmsr
    or eax, 1 << 8              ; LME
    wrmsr
    mov eax, cr0
    or eax, 0x80000001          ; PG, PE
    mov cr0, eax
    jmp 0x08:start64

; puts32: ESI -> NUL-terminated; raw bytes to COM1 (no init: the loader did it).
puts32:
    lodsb
    test al, al
    jz .done
    mov dx, COM1
    out dx, al
    jmp puts32
.done:
    ret

bad_magic:
    mov esi, msg_bad_magic
    call puts32
    mov dx, EXIT_PORT
    mov ax, 2
    out dx, ax
.halt:
    cli
    hlt
    jmp .halt

; ---- 64-bit ----
bits 64
start64:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov rsp, stack_top
    call serial_init

    lea rsi, [rel msg_banner]
    call puts

    mov ebx, [rel mbi]          ; RBX = Multiboot info (identity mapped)
    lea rsi, [rel msg_flags]
    call puts
    mov eax, [rbx]
    call put_hex32
    call newline

    test dword [rbx], 1 << 1    ; boot device
    jz .no_bootdev
    lea rsi, [rel msg_bootdev]
    call puts
    mov eax, [rbx + 12]
    call put_hex32
    call newline
.no_bootdev:
    test dword [rbx], 1 << 9    ; boot loader name
    jz .no_name
    lea rsi, [rel msg_loader]
    call puts
    mov esi, [rbx + 64]
    call puts
    mov al, "'"
    call putc
    call newline
.no_name:

    ; command line, first token (the kernel's name) skipped, like Solo5
    lea rsi, [rel msg_cmdline]
    call puts
    test dword [rbx], 1 << 2
    jz .cmd_done
    mov esi, [rbx + 16]
.skip:
    mov al, [rsi]
    test al, al
    jz .args
    inc rsi
    cmp al, ' '
    jne .skip
.args:
    call puts
.cmd_done:
    mov al, "'"
    call putc
    call newline

    ; memory map: from mmap_addr, stride size + 4, no flag check (like Solo5)
    lea rsi, [rel msg_mmap]
    call puts
    mov eax, [rbx + 44]
    call put_hex32
    call newline
    mov r12d, [rbx + 48]        ; cursor
    mov r13d, r12d
    add r13d, [rbx + 44]        ; end
.entry:
    cmp r12, r13
    jae .mmap_done
    lea rsi, [rel msg_mm_line]
    call puts
    mov rax, [r12 + 4]          ; addr
    call put_hex64
    mov al, '-'
    call putc
    mov rax, [r12 + 4]
    add rax, [r12 + 12]         ; + len
    dec rax
    call put_hex64
    lea rsi, [rel msg_mm_type]
    call puts
    mov eax, [r12 + 20]
    call put_hex32
    cmp dword [r12 + 20], 1
    jne .not_ram
    lea rsi, [rel msg_available]
    call puts
    cmp qword [r12 + 4], LOAD_ADDR
    jne .not_ram
    mov byte [rel ram_at_1m], 1
.not_ram:
    call newline
    mov eax, [r12]
    lea r12, [r12 + rax + 4]
    jmp .entry
.mmap_done:

    ; the checks
    xor r14d, r14d              ; failures
    lea rsi, [rel msg_chk_ram]
    call puts
    cmp byte [rel ram_at_1m], 1
    call ok_or_fail
    lea rsi, [rel msg_chk_bss]
    call puts
    mov eax, bss_end - BSS_CHECK_START
    call put_hex32
    lea rsi, [rel msg_chk_bss2]
    call puts
    cmp dword [rel bss_dirty_at], 0
    call ok_or_fail
    lea rsi, [rel msg_chk_tail]
    call puts
    mov rax, [rel tail_marker]
    cmp rax, [rel tail_expected]
    call ok_or_fail
%ifdef SPLIT
    lea rsi, [rel msg_chk_seg2]
    call puts
    mov rax, "SEG2HEAD"
    cmp rax, [SEG2_ADDR]
    jne .seg2_bad
    mov rax, "SEG2TAIL"
    cmp rax, [SEG2_ADDR + SEG2_SIZE - 8]
.seg2_bad:
    call ok_or_fail
%endif
%ifdef BIND_DEVICES
    call bind_devices
%endif
%ifdef SOLO5_END
    ; test variant: end as a Solo5 kernel does, with its console line(s) and
    ; outw(0x501, 41) whatever the outcome (QEMU's status 83 then tells nothing)
    lea rsi, [rel msg_solo5_end]
    call puts
    mov dx, EXIT_PORT
    mov ax, 41
    out dx, ax
    jmp halt64
%endif
%ifdef HANG
.hang:
    hlt                         ; test variant: never exits (interrupts are off)
    jmp .hang
%endif
%ifdef TRIPLE_FAULT
    ud2                         ; test variant: no IDT, so a triple fault (QEMU -no-reboot: exit 0)
%endif

    test r14d, r14d
    jnz .failed
%ifdef ACPI_POWEROFF
    lea rsi, [rel msg_success_acpi]
    call puts
    call acpi_poweroff          ; returns only when it failed: RSI = why
    push rsi
    lea rsi, [rel msg_acpi_failed]
    call puts
    pop rsi
    call puts
    call newline
    jmp halt64
%endif
    lea rsi, [rel msg_success]
    call puts
    mov dx, EXIT_PORT
    mov ax, 41                  ; QEMU isa-debug-exit: status 83, like Solo5
    out dx, ax
    jmp halt64
.failed:
    lea rsi, [rel msg_failure]
    call puts
    mov dx, EXIT_PORT
    mov ax, 1                   ; status 3
    out dx, ax
halt64:
    cli
    hlt
    jmp halt64

%ifdef BIND_DEVICES
; bind_devices: give the virtio devices on PCI bus 0 to the manifest entries
; the way Solo5's virtio target does (slot order, function 0; each virtio-net
; or virtio-blk to the next entry, whose type must match; other virtio
; devices skipped; every declared device must end up attached), printing one
; line per device. Each mismatch or missing device counts as a failure.
; IN: R14D = failures so far.  OUT: R14D updated.  clobbers: RAX, RCX, RDX,
; RSI, RBX, R8-R13, R15
PCI_ADDR        equ 0xCF8
PCI_DATA        equ 0xCFC
VIRTIO_VENDOR   equ 0x1AF4
bind_devices:
    lea rsi, [rel msg_bind]
    call puts
    mov r15d, [rel mft_desc + 8]        ; entries, the reserved one included
    mov r13d, 1                         ; next manifest entry
    xor r12d, r12d                      ; PCI slot
.slot:
    mov eax, r12d
    shl eax, 11
    or eax, 0x80000000                  ; enable, bus 0, slot, function 0, register 0
    mov r8d, eax
    mov dx, PCI_ADDR
    out dx, eax
    mov dx, PCI_DATA
    in eax, dx
    cmp ax, VIRTIO_VENDOR
    jne .next
    mov eax, r8d
    or eax, 0x2C                        ; subsystem vendor/id
    mov dx, PCI_ADDR
    out dx, eax
    mov dx, PCI_DATA
    in eax, dx
    shr eax, 16                         ; subsystem id: 1 net, 2 block
    mov r9d, MFT_TYPE_NET
    lea r10, [rel msg_kind_net]
    cmp eax, 1
    je .known
    mov r9d, MFT_TYPE_BLOCK
    lea r10, [rel msg_kind_blk]
    cmp eax, 2
    je .known
    jmp .next                           ; another virtio device: skipped
.known:
    lea rsi, [rel msg_dev]              ; "demo: virtio-xxx at PCI slot 0x..: "
    call puts
    mov rsi, r10
    call puts
    lea rsi, [rel msg_at_slot]
    call puts
    mov eax, r12d
    call put_hex32
    lea rsi, [rel msg_colon]
    call puts
    cmp r13d, r15d
    jb .entry
    lea rsi, [rel msg_not_in_mft]
    call puts
    inc r14d
    jmp .next
.entry:
    imul ebx, r13d, MFT_ENTRY_SIZE
    lea rax, [rel mft_desc + 12]
    add rbx, rax                        ; RBX = the entry
    cmp [rbx + MFT_NAME_SIZE], r9d
    je .match
    lea rsi, [rel msg_kinds_differ]
    call puts
    mov rsi, rbx
    call puts
    lea rsi, [rel msg_tick_nl]
    call puts
    inc r14d
    inc r13d                            ; Solo5 would stop here; we go on to report the rest
    jmp .next
.match:
    lea rsi, [rel msg_attached]
    call puts
    mov rsi, rbx
    call puts
    lea rsi, [rel msg_tick_nl]
    call puts
    inc r13d
.next:
    inc r12d
    cmp r12d, 32
    jb .slot
.missing:                               ; declared devices left without one
    cmp r13d, r15d
    jae .done
    imul ebx, r13d, MFT_ENTRY_SIZE
    lea rax, [rel mft_desc + 12]
    add rbx, rax
    lea rsi, [rel msg_missing]
    call puts
    mov rsi, rbx
    call puts
    lea rsi, [rel msg_missing2]
    call puts
    inc r14d
    inc r13d
    jmp .missing
.done:
    lea rsi, [rel msg_bound]
    call puts
    ret
%endif

%ifdef ACPI_POWEROFF
%include "demo-acpi.inc"
%endif

; ok_or_fail: flags from a cmp; ZF=1 prints "ok", else "FAILED" and counts it.
ok_or_fail:
    lea rsi, [rel msg_ok]
    je .print
    inc r14d
    lea rsi, [rel msg_failed]
.print:
    jmp puts

serial_init:
    mov dx, COM1 + 1
    xor al, al
    out dx, al
    mov dx, COM1 + 3
    mov al, 0x80
    out dx, al
    mov dx, COM1
    mov al, 1
    out dx, al
    mov dx, COM1 + 1
    xor al, al
    out dx, al
    mov dx, COM1 + 3
    mov al, 3
    out dx, al
    ret

; putc: AL; "\n" goes out as "\r\n".  clobbers: nothing
putc:
    push rdx
    push rax
    cmp al, 10
    jne .raw
    mov al, 13
    call .raw_out
    mov al, 10
.raw:
    call .raw_out
    pop rax
    pop rdx
    ret
.raw_out:
    push rax
    mov dx, COM1 + 5
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    pop rax
    mov dx, COM1
    out dx, al
    ret

newline:
    mov al, 10
    jmp putc

; puts: RSI -> NUL-terminated.  clobbers: RSI, AL
puts:
    lodsb
    test al, al
    jz .done
    call putc
    jmp puts
.done:
    ret

put_hex64:                      ; RAX, "0x" + 16 digits.  clobbers: RAX, RCX
    mov ecx, 16
    jmp put_hex
put_hex32:                      ; EAX, "0x" + 8 digits
    shl rax, 32
    mov ecx, 8
put_hex:
    push rax
    mov al, '0'
    call putc
    mov al, 'x'
    call putc
    pop rax
.digit:
    rol rax, 4
    push rax
    and al, 0x0F
    add al, '0'
    cmp al, '9'
    jbe .out
    add al, 'a' - '0' - 10
.out:
    call putc
    pop rax
    loop .digit
    ret

%ifdef REBOOT_TEST
msg_dirtied:    db "demo: first boot: bss filled with 0xA5, resetting to see the loader zero it", 13, 10, 0
msg_second:     db "demo: second boot after the reset", 13, 10, 0
%endif
msg_bad_magic:  db "demo: not started by a Multiboot loader (EAX != 0x2BADB002)", 13, 10, 0
msg_banner:     db "demo: hello from the unikernel-disk demo kernel (Solo5 virtio contract, long mode)", 10, 0
msg_flags:      db "demo: multiboot info flags ", 0
msg_bootdev:    db "demo: boot device ", 0
msg_loader:     db "demo: boot loader '", 0
msg_cmdline:    db "demo: command line '", 0
msg_mmap:       db "demo: memory map, mmap_length ", 0
msg_mm_line:    db "demo:   ", 0
msg_mm_type:    db " type ", 0
msg_available:  db " available", 0
msg_chk_ram:    db "demo: check available memory at 0x100000: ", 0
msg_chk_bss:    db "demo: check bss zero (", 0
msg_chk_bss2:   db " bytes): ", 0
%ifdef SPLIT
msg_chk_seg2:   db "demo: check second segment at 0x400000: ", 0
%endif
msg_chk_tail:   db "demo: check end of loaded image: ", 0
msg_ok:         db "ok", 10, 0
msg_failed:     db "FAILED", 10, 0
msg_success:    db "demo: SUCCESS, exiting through isa-debug-exit (status 83)", 10, 0
msg_failure:    db "demo: FAILURE", 10, 0
%ifdef SOLO5_END
; Solo5's exact wording (bindings/exit.c, abort.c, cpu_x86_64.c)
  %if SOLO5_END >= 0
    %defstr SOLO5_END_STR SOLO5_END
msg_solo5_end:  db "Solo5: solo5_exit(", SOLO5_END_STR, ") called", 10, 0
  %elif SOLO5_END = -1
msg_solo5_end:  db "Solo5: solo5_abort() called", 10, 0
  %else
msg_solo5_end:  db "Solo5: trap: type=#UD ec=0x0 rip=0x100abc rsp=0x1fffff0 rflags=0x2", 10
                db "Solo5: ABORT: cpu_x86_64.c:181: Fatal trap", 10, 0
  %endif
%endif
%ifdef BIND_DEVICES
msg_bind:         db "demo: binding virtio devices to the manifest, as Solo5 does", 10, 0
msg_dev:          db "demo: ", 0
msg_kind_net:     db "virtio-net", 0
msg_kind_blk:     db "virtio-blk", 0
msg_at_slot:      db " at PCI slot ", 0
msg_colon:        db ": ", 0
msg_not_in_mft:   db "not in manifest", 10, 0
msg_kinds_differ: db "FAILED: kinds differ from manifest entry `", 0
msg_attached:     db "attached as `", 0
msg_tick_nl:      db "`", 10, 0
msg_missing:      db "demo: FAILED: declared device `", 0
msg_missing2:     db "` is not attached", 10, 0
msg_bound:        db "demo: binding done", 10, 0
%endif

    align 8, db 0
gdt64:
    dq 0
    dq 0x00AF9A000000FFFF       ; 0x08 code64
    dq 0x00CF92000000FFFF       ; 0x10 data
gdt64_ptr:
    dw gdt64_ptr - gdt64 - 1
    dd gdt64

mbi:            dd 0
bss_dirty_at:   dd 0
ram_at_1m:      db 0

; ---- Solo5 manifest note (.note.solo5.manifest), inside the load slice as in Solo5's builds ----
; Layout (public Solo5 ABI, mft_abi.h): note header {namesz 6, descsz, type
; "MFT1"}, name "Solo5" padded to 8; the descriptor starts with 4 bytes of
; padding (struct mft is 8-byte aligned), then u32 version 1, u32 entries,
; then 104-byte entries {char name[68]; u32 type; 32 bytes the tender fills}.
MFT_TYPE_BLOCK    equ 1
MFT_TYPE_NET      equ 2
MFT_TYPE_RESERVED equ 1 << 30
MFT_ENTRY_SIZE    equ 104
MFT_NAME_SIZE     equ 68

; mft_dev TYPE, "prefix", NUM: one manifest entry named prefix + NUM in
; decimal (no number when NUM is -1).
%macro mft_dev 3
%%start:
  %ifnempty %2
    db %2
  %endif
  %if %3 >= 10
    db '0' + %3 / 10
  %endif
  %if %3 >= 0
    db '0' + %3 % 10
  %endif
    times MFT_NAME_SIZE - ($ - %%start) db 0
    dd %1
    times MFT_ENTRY_SIZE - ($ - %%start) db 0
%endmacro

%macro mft_note_block 0
mft_note:
    dd 6                        ; namesz: "Solo5\0"
    dd mft_desc_end - mft_desc  ; descsz (counts the padding, as Solo5's does)
    dd 0x3154464D               ; type "MFT1"
    db "Solo5", 0, 0, 0
mft_desc:
    dd 0                        ; padding
    dd 1                        ; version
    dd 1 + MFT_BLOCKS + MFT_NETS ; entries, the reserved one included
    mft_dev MFT_TYPE_RESERVED, , -1
%assign mft_b 0
%assign mft_n 0
%rep MFT_BLOCKS + MFT_NETS
  %ifdef MFT_ALTERNATE
    %if mft_n < MFT_NETS && (mft_n <= mft_b || mft_b >= MFT_BLOCKS)
      %assign mft_net 1
    %else
      %assign mft_net 0
    %endif
  %else
    %assign mft_net mft_b >= MFT_BLOCKS
  %endif
  %if mft_net
    mft_dev MFT_TYPE_NET, "service", mft_n
    %assign mft_n mft_n + 1
  %elif MFT_BLOCKS == 1
    mft_dev MFT_TYPE_BLOCK, "storage", -1
    %assign mft_b mft_b + 1
  %else
    mft_dev MFT_TYPE_BLOCK, "storage", mft_b
    %assign mft_b mft_b + 1
  %endif
%endrep
mft_desc_end:
mft_note_end:
%endmacro

    align 8, db 0               ; a file offset: the section starts at file offset 0
    mft_note_block
MFT_NOTE_OFF equ mft_note - file_start

    align 8, db 0
tail_expected:  db "TAILMARK"

%if PAD_TO > 0
    times (PAD_TO - 8 - ($ - file_start)) / 8 dq 0xA5A5A5A5A5A5A5A5  ; 8 at a time: fast
    times PAD_TO - 8 - ($ - file_start) db 0xA5
%endif
tail_marker:    db "TAILMARK"     ; last 8 bytes of the loaded slice
load_end:
BSS_CHECK_START equ file_start + ((load_end - file_start + 3) & ~3)

%if TRAILER > 0
    times TRAILER db 0x5A         ; in the file, not in the load slice
%endif


%ifdef SPLIT
section seg2 follows=.text vstart=SEG2_ADDR align=1
    db "SEG2HEAD"
    times SEG2_SIZE - 16 db 0x3C
    db "SEG2TAIL"
%endif

; ---- bss (not in the file) ----
; Addresses are computed from LOAD_ADDR (file_start + LOAD_OFFSET), not with
; alignb: NASM aligns relative to the section start (the org), which is not
; page aligned when LOAD_OFFSET is not.
BSS_BASE equ file_start + LOAD_OFFSET + ((load_end - file_start - LOAD_OFFSET + 4095) & ~4095)
    absolute BSS_BASE
bss_start:
pml4:           resb 4096
pdpt:           resb 4096
page_dirs:      resb 4 * 4096
stack:          resb 16384
stack_top:
                resb BSS_EXTRA
                resb (4096 - (BSS_EXTRA % 4096)) % 4096
bss_end:
REBOOT_MARK     equ bss_end + 0x1000    ; outside the kernel: survives the reset
REBOOT_MAGIC    equ 0x52424F4F
