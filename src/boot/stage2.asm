; stage2.asm: the loader proper, at LBA 1.. (the gap before the partition).
;
; Entry (from stage 1): CS=DS=ES=SS=0, IP=STAGE2_ADDR, DL = boot drive,
; COM1 initialised, parameter block magic already checked.
; Exit (to the kernel): flat 32-bit protected mode, paging off, IF=0, A20 on,
; EAX = 0x2BADB002, EBX = MBI_ADDR, jump to the parameter block's entry.
;
; Layout of this file's bytes: a 3-byte jump, the parameter block at
; PARAMS_OFF (filled by src/core/boot/params.ts), the code, and at the very
; end `cmdline_area`, where params.ts appends the command line and its NUL.
;
; Flow: check the parameter block CRC -> A20 -> memory map (INT 12h, E820)
; -> does the kernel fit -> Multiboot info -> read the kernel in chunks to a
; low bounce buffer, each chunk checksummed and copied above 1 MiB in 32-bit
; protected mode -> kernel CRC -> zero the bss -> jump.
; Any failure prints "Boot error: ..." on COM1 and the screen and halts.

%include "layout.inc"

%define WANT_HEX32
%define P(field) (params + field)

bits 16
org STAGE2_ADDR

s2_start:
    jmp near s2_main
    times PARAMS_OFF - ($ - $$) db 0
params:
    dd PARAMS_MAGIC             ; the rest is filled in by params.ts
    times PARAMS_SIZE - ($ - params) db 0

s2_main:
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    movzx esp, sp               ; the 32-bit code uses ESP: clear its top half
    cld
    mov [VAR_BOOT_DRIVE], dl
    mov si, msg_loading
    call puts

    call crc_init
    call check_params
    call a20_enable
    call memory_map
    call check_fit
    call build_mbi
    call load_kernel
    mov si, msg_ok
    call puts
    jmp enter_kernel            ; no return

; ---- check_params: the block must be ours, this version, and intact;
; its CRC covers the rest of stage 2 too (code and command line) ----
; in: -   out: - (fails on error)   clobbers: EAX, ECX, EDX, ESI
check_params:
    cmp word [P(P_VERSION)], PARAMS_VERSION
    jne .bad
    cmp word [P(P_SIZE)], PARAMS_SIZE
    jne .bad
    cmp word [P(P_SEG_COUNT)], MAX_SEGMENTS
    ja .bad
    mov eax, 0xFFFFFFFF         ; one run from the flags through the code
    mov esi, params + P_FLAGS   ; to the command line's NUL: a damaged
    movzx ecx, word [P(P_CMDLINE_LEN)] ; stage 2 is caught as well
    add ecx, cmdline_area + 1 - (params + P_FLAGS)
    call crc_update
    not eax
    cmp eax, [P(P_CRC)]
    jne .bad
    ret
.bad:
    mov si, msg_bad_params
    jmp fatal

; ---- check_fit: [load_start, load_end) inside the usable RAM at 1 MiB ----
check_fit:
    mov eax, [VAR_RAM_END]
    test eax, eax
    jz .no_ram
    cmp eax, [P(P_LOAD_END)]
    jb .too_big
    ret
.no_ram:
    mov si, msg_no_ram
    jmp fatal
.too_big:
    mov si, msg_too_big
    call fail_begin
    mov eax, [P(P_LOAD_END)]
    call put_hex32
    mov si, msg_too_big2
    call puts
    mov eax, [VAR_RAM_END]
    call put_hex32
    jmp fail_end

; ---- failure reporting ----
; fatal: SI = message. fail_begin: prints the prefix and SI, returns.
; fail_end: prints the tail, signals QEMU's isa-debug-exit if enabled and
; CPUID says a hypervisor is present (on bare metal port 0x501 can be chipset
; GPIO registers, so nothing is written there), halts.
fatal:
    call fail_begin
fail_end:
    mov si, msg_halted
    call puts
    test byte [P(P_FLAGS)], FLAG_DEBUG_EXIT
    jz .stop
    mov eax, 1
    cpuid
    bt ecx, 31                  ; hypervisor present
    jnc .stop
    mov dx, DEBUG_EXIT_PORT
    mov al, LOADER_FAIL_EXIT
    out dx, al
.stop:
    cli
    hlt
    jmp .stop
fail_begin:
    push si
    mov si, msg_error
    call puts
    pop si
    jmp puts

%include "console16.inc"
%include "crc32.inc"
%include "a20.inc"
%include "memmap.inc"
%include "mbi.inc"
%include "disk.inc"
%include "pmode.inc"
%include "load.inc"

msg_loading:    db "Loading unikernel.bin... ", 0
msg_ok:         db "ok", 13, 10, 0
msg_error:      db 13, 10, "Boot error: ", 0
msg_halted:     db 13, 10, "Boot stopped; the machine is halted.", 13, 10, 0
msg_bad_params: db "stage 2 or its parameter block damaged; rebuild the image", 0
msg_no_ram:     db "no usable RAM at 1 MiB in the BIOS memory map (E820)", 0
msg_too_big:    db "kernel too large for memory: it needs RAM up to 0x", 0
msg_too_big2:   db ", usable RAM at 1 MiB ends at 0x", 0
loader_name:    db "unikernel-disk", 0

    align 16
cmdline_area:                   ; params.ts appends the command line here

; budget: the code plus the longest command line (8191 bytes and a NUL) must
; fit the STAGE2_MAX_SECTORS that stage 1 reads to 0x8000..0xFFFF
%if cmdline_area - s2_start > STAGE2_MAX_SECTORS * 512 - 8192
  %error "stage 2 code is over its 24 KiB budget"
%endif
