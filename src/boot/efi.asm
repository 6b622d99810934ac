; efi.asm: the UEFI loader, \EFI\BOOT\BOOTX64.EFI in every image's FAT
; partition (the removable-media path, UEFI 3.5.1.1). It boots the same
; kernel with the same command line as the BIOS loader, from the same
; parameter block (see docs/boot-loader.md, "The UEFI loader").
;
; Entry (from the firmware, UEFI 4.1): RCX = image handle, RDX = system
; table, long mode, identity-mapped memory, boot services on.
; Exit (to the kernel, Multiboot 0.6.96 3.2): 32-bit protected mode, paging
; off, flat segments, IF = 0, EAX = 0x2BADB002, EBX = the Multiboot
; information, at the parameter block's entry.
;
; Flow: find the disk -> read and check stage 1's fields, stage 2 and its
; block -> list the ACPI tables -> pages for the Multiboot information ->
; does the kernel fit (a dry run of the Multiboot map) -> reserve the kernel's
; memory -> read the kernel and check its CRC -> the dry run again ->
; ExitBootServices (map key retry) -> Multiboot map and information from the
; final map -> the trampoline: out of long mode, copy, RSDP copy, jump.
; Failures print "Boot error: ..." (ConOut, or COM1 once boot services are
; gone) and halt, as the BIOS path does.
;
; The file is a PE32+ image written out by hand below (Microsoft PE/COFF
; specification, revision 11): a DOS header whose e_lfanew points at the PE header,
; one .text section (code and read-only data, RIP-relative throughout so it
; runs wherever the firmware loads it) and one .bss section (no file bytes).
; A relocation directory with one empty block is present, so firmware that
; looks for one finds it; there is nothing to relocate.
;
; Assembled by scripts/build-boot.mjs with -DSTAGE2_CMDLINE_OFF=<bytes of
; stage 2's code>: where the command line starts in stage 2. Test knob:
; -DEFI_SHOW_MAP prints the final UEFI memory map on COM1 after
; ExitBootServices: "efi-map descriptors: N", then one "efi-map: type start
; pages attribute" line per descriptor, so a test can hold the Multiboot map
; against it.

%define CRC_NO_REAL_MODE
%include "layout.inc"
%include "efi-uefi.inc"
%include "crc32.inc"

%define P(field) (stage2_buf + PARAMS_OFF + field)

%ifndef STAGE2_CMDLINE_OFF
  %error "assemble with -DSTAGE2_CMDLINE_OFF=<stage 2 code size> (scripts/build-boot.mjs does)"
%endif

; ---- exported ----
EFI_VERSION_MAJOR   equ 1           ; the loader's version, also in its PE header (MajorImageVersion.MinorImageVersion)
EFI_VERSION_MINOR   equ 1
EFI_MAX             equ 8192        ; budget: bytes of BOOTX64.EFI
EFI_IDENT_OFF       equ 0x200       ; file offset of the identity block: the first bytes of .text
EFI_IDENT_MAGIC     equ 0x46454B55  ; "UKEF" little-endian
I_VERSION           equ 0x04        ; u16 major, u16 minor (= the PE header's image version)
I_CMDLINE_OFF       equ 0x08        ; u32 the stage 2 code size it was built for (CMDLINE_OFF)
I_PARAMS_VERSION    equ 0x0C        ; u32 the parameter block version it reads
EFI_IDENT_SIZE      equ 0x10
; ---- end exported ----

TEXT_RVA        equ 0x1000
FILE_ALIGN      equ 0x200
SECTION_ALIGN   equ 0x1000
IMAGE_BASE      equ 0               ; none preferred: the firmware picks the place
BOOT_DEVICE     equ 0x8000FFFF      ; drive 0x80, partition 0, as the BIOS path reports it
LIMIT_4G        equ 0xFFFFFFFF
LIMIT_1M        equ 0xFFFFF
KEPT_PAGES      equ 8               ; Multiboot information, name, command line, memory map
KEPT_NAME       equ 0x60
KEPT_CMDLINE    equ 0x80
KEPT_MMAP       equ (KEPT_CMDLINE + MAX_CMDLINE + 1 + 7) & ~7
KEPT_MMAP_MAX   equ (KEPT_PAGES * PAGE_SIZE - KEPT_MMAP) / MB_ENTRY
MAP_BUF_SIZE    equ 48 * 1024       ; the UEFI memory map, up to 1024 descriptors of 48 bytes
UCS2_CHARS      equ 63

bits 64
default rel

; ---- headers (file offset 0, RVA 0) ----
section .hdr start=0 vstart=0
dos_header:
    db 'MZ'
    times 0x3C - ($ - dos_header) db 0
    dd pe_header                    ; e_lfanew
pe_header:
    db 'PE', 0, 0
    dw 0x8664                       ; Machine: x86-64
    dw 2                            ; NumberOfSections
    dd 0, 0, 0                      ; TimeDateStamp (0: same bytes every build), symbols
    dw optional_end - optional      ; SizeOfOptionalHeader
    dw 0x0022                       ; EXECUTABLE_IMAGE | LARGE_ADDRESS_AWARE
optional:
    dw 0x20B                        ; PE32+
    db 0, 0                         ; linker version
    dd text_raw_size                ; SizeOfCode
    dd 0                            ; SizeOfInitializedData
    dd bss_size                     ; SizeOfUninitializedData
    dd efi_main                     ; AddressOfEntryPoint (an RVA)
    dd TEXT_RVA                     ; BaseOfCode
    dq IMAGE_BASE
    dd SECTION_ALIGN, FILE_ALIGN
    dw 0, 0                         ; OS version
    dw EFI_VERSION_MAJOR, EFI_VERSION_MINOR ; image version
    dw 0, 0                         ; subsystem version
    dd 0                            ; Win32VersionValue
    dd image_end                    ; SizeOfImage
    dd headers_size                 ; SizeOfHeaders
    dd 0                            ; CheckSum (UEFI does not check it)
    dw 10                           ; Subsystem: EFI application
    dw 0                            ; DllCharacteristics
    dq 0, 0, 0, 0                   ; stack and heap reserve/commit
    dd 0                            ; LoaderFlags
    dd 16                           ; NumberOfRvaAndSizes
    dq 0, 0, 0, 0, 0                ; export, import, resource, exception, certificate
    dd reloc_block, reloc_end - reloc_block ; base relocation table
    times 10 dq 0
optional_end:
    db '.text', 0, 0, 0
    dd text_size, TEXT_RVA, text_raw_size, headers_size
    dd 0, 0
    dw 0, 0
    dd 0x60000020                   ; CODE | EXECUTE | READ
    db '.bss', 0, 0, 0, 0
    dd bss_size, bss_start, 0, 0
    dd 0, 0
    dw 0, 0
    dd 0xC0000080                   ; UNINITIALIZED_DATA | READ | WRITE
    align FILE_ALIGN, db 0
headers_end:
headers_size equ headers_end - dos_header

; ---- code and read-only data ----
section .text start=headers_size vstart=TEXT_RVA
text_start:
efi_ident:                          ; for inspect and verify: what this loader is and reads
    dd EFI_IDENT_MAGIC
    dw EFI_VERSION_MAJOR, EFI_VERSION_MINOR
    dd STAGE2_CMDLINE_OFF
    dd PARAMS_VERSION
%if $ - efi_ident != EFI_IDENT_SIZE || headers_size != EFI_IDENT_OFF
  %error "the identity block is not where EFI_IDENT_OFF says"
%endif

efi_main:
    mov [rel image_handle], rcx
    mov [rel system_table], rdx
    mov rax, [rdx + ST_BOOT_SERVICES]
    mov [rel boot_services], rax
    and rsp, -16                    ; no return: the firmware's frame is not needed
    xor ecx, ecx                    ; no watchdog: a large kernel may take minutes to read
    xor edx, edx
    xor r8d, r8d
    xor r9d, r9d
    mov rax, [rax + BS_SET_WATCHDOG]
    call efi_call
    lea rsi, [rel msg_loading]
    call puts
    lea rdi, [rel crc_table]
    CRC_TABLE_INIT ecx

    call find_disk
    call read_params
    mov eax, [rel P(P_LOAD_START)]  ; the kernel's memory, whole pages
    and eax, ~(PAGE_SIZE - 1)
    mov [rel kernel_start], rax
    mov eax, [rel P(P_LOAD_END)]
    add rax, PAGE_SIZE - 1
    and rax, ~(PAGE_SIZE - 1)
    mov [rel kernel_end], rax
    call acpi_init
    call alloc_kept
    call dry_run                    ; does the kernel fit at all?
    call reserve_kernel
    call read_kernel
    call prepare_trampoline
    call dry_run                    ; and with everything allocated
    lea rsi, [rel msg_ok]
    call puts

    call exit_boot_services
%ifdef EFI_SHOW_MAP
    call show_map
%endif
    call build_mb_map               ; the final map
    call check_fit
    call build_mbi
    jmp enter_trampoline

; dry_run: the Multiboot map from the map as it is now, and the fit check,
; while failures still reach ConOut.  clobbers: as build_mb_map
dry_run:
    call get_map
    call build_mb_map
    jmp check_fit

; alloc_kept: pages for what the kernel is handed, below 1 MiB if the
; firmware has any there, else below 4 GiB; the command line and the loader
; name copied in.  clobbers: volatile, RSI, RDI
alloc_kept:
    mov eax, LIMIT_1M
    mov [rel kept], rax
    mov ecx, ALLOCATE_MAX_ADDRESS
    mov edx, OS_LOADER_KEPT
    mov r8d, KEPT_PAGES
    lea r9, [rel kept]
    mov rax, [rel boot_services]
    mov rax, [rax + BS_ALLOCATE_PAGES]
    call efi_call
    test rax, rax
    jz .copy
    mov eax, LIMIT_4G
    mov [rel kept], rax
    mov ecx, ALLOCATE_MAX_ADDRESS
    mov edx, OS_LOADER_KEPT
    mov r8d, KEPT_PAGES
    lea r9, [rel kept]
    call allocate_pages
.copy:
    mov rdi, [rel kept]
    add rdi, KEPT_CMDLINE
    lea rsi, [rel stage2_buf + STAGE2_CMDLINE_OFF]
    movzx ecx, word [rel P(P_CMDLINE_LEN)]
    rep movsb
    mov byte [rdi], 0
    mov rdi, [rel kept]
    add rdi, KEPT_NAME
    lea rsi, [rel loader_name]
    mov ecx, loader_name_end - loader_name
    rep movsb
    ret

%ifdef EFI_SHOW_MAP
show_map:
    lea rsi, [rel msg_map_count]
    call puts
    mov rax, [rel map_size]
    xor edx, edx
    div qword [rel desc_size]
    call put_hex64
    lea rsi, [rel msg_ok + 2]       ; CR LF
    call puts
    lea rbx, [rel map_buf]
.desc:
    cmp rbx, [rel map_end]
    jae .done
    lea rsi, [rel msg_map_line]
    call puts
    mov eax, [rbx + MD_TYPE]
    call put_hex64
    mov rax, [rbx + MD_START]
    call .field
    mov rax, [rbx + MD_PAGES]
    call .field
    mov rax, [rbx + MD_ATTRIBUTE]
    call .field
    lea rsi, [rel msg_ok + 2]       ; CR LF
    call puts
    add rbx, [rel desc_size]
    jmp .desc
.field:
    push rax
    lea rsi, [rel msg_space]
    call puts
    pop rax
    jmp put_hex64
.done:
    ret
msg_map_count: db "efi-map descriptors: ", 0
msg_map_line: db "efi-map: ", 0
msg_space: db " ", 0
%endif

; ---- failures: fatal (RSI = message) prints "Boot error: " and the
; message; fail_begin prints and returns, fail_end finishes: the halt line,
; then, if the block asks for it and CPUID reports a hypervisor, QEMU's
; isa-debug-exit status 255 (as stage 2), and a halt. ----
fatal:
    call fail_begin
fail_end:
    lea rsi, [rel msg_halted]
    call puts
    cmp byte [rel debug_exit], 0
    je .stop
    mov eax, 1
    cpuid
    bt ecx, 31
    jnc .stop
    mov dx, DEBUG_EXIT_PORT
    mov al, LOADER_FAIL_EXIT
    out dx, al
.stop:
    cli
    hlt
    jmp .stop
fail_begin:
    push rsi
    lea rsi, [rel msg_error]
    call puts
    pop rsi
    jmp puts

%include "efi-console.inc"
%include "efi-disk.inc"
%include "efi-acpi.inc"
%include "efi-memmap.inc"
%include "efi-handoff.inc"

guid_loaded_image:  GUID 0x5B1B31A1, 0x9562, 0x11D2, 0x8E, 0x3F, 0x00, 0xA0, 0xC9, 0x69, 0x72, 0x3B
guid_device_path:   GUID 0x09576E91, 0x6D3F, 0x11D2, 0x8E, 0x39, 0x00, 0xA0, 0xC9, 0x69, 0x72, 0x3B
guid_block_io:      GUID 0x964E5B21, 0x6459, 0x11D2, 0x8E, 0x39, 0x00, 0xA0, 0xC9, 0x69, 0x72, 0x3B
guid_disk_io:       GUID 0xCE345171, 0xBA0B, 0x11D2, 0x8E, 0x4F, 0x00, 0xA0, 0xC9, 0x69, 0x72, 0x3B
guid_acpi20:        GUID 0x8868E871, 0xE4F1, 0x11D3, 0xBC, 0x22, 0x00, 0x80, 0xC7, 0x3C, 0x88, 0x81
guid_acpi10:        GUID 0xEB9D2D30, 0x2D88, 0x11D3, 0x9A, 0x16, 0x00, 0x90, 0x27, 0x3F, 0xC1, 0x4D

msg_loading:    db "Loading unikernel.bin (UEFI)... ", 0
msg_ok:         db "ok", 13, 10, 0
msg_error:      db 13, 10, "Boot error: ", 0
msg_halted:     db 13, 10, "Boot stopped; the machine is halted.", 13, 10, 0
msg_no_disk:    db "cannot find the disk BOOTX64.EFI was started from", 0
msg_read:       db "disk read error, UEFI status ", 0
msg_read2:      db " at LBA ", 0
msg_stage2:     db "stage 2 damaged", 0
msg_bad_params: db "stage 2 or its parameter block damaged; rebuild the image", 0
msg_crc:        db "kernel checksum mismatch: unikernel.bin was changed after the image was built", 0
msg_no_memory:  db "out of memory (UEFI AllocatePages)", 0
msg_map:        db "cannot read the UEFI memory map", 0
msg_in_use:     db "the kernel's memory is in use by this loader's image", 0
msg_no_ram:     db "no usable RAM at 1 MiB in the UEFI memory map", 0
msg_too_big:    db "kernel too large for memory: it needs RAM up to ", 0
msg_too_big2:   db ", usable RAM at 1 MiB ends at ", 0
msg_exit:       db "ExitBootServices failed", 0
loader_name:    db "unikernel-disk", 0
loader_name_end:

    align 4, db 0
reloc_block:                        ; one block, two ABSOLUTE (padding) entries
    dd TEXT_RVA, reloc_end - reloc_block
    dw 0, 0
reloc_end:

text_end:
text_size equ text_end - text_start
    align FILE_ALIGN, db 0
text_raw_end:
text_raw_size equ text_raw_end - text_start

; ---- uninitialised data (no file bytes; the firmware zeroes it) ----
section .bss nobits vfollows=.text valign=SECTION_ALIGN
bss_start:
image_handle:       resq 1
system_table:       resq 1
boot_services:      resq 1
loaded_image:       resq 1
device_path:        resq 1
dp_cursor:          resq 1
disk_handle:        resq 1
disk_io:            resq 1
block_io:           resq 1
kernel_buf:         resq 1
kernel_start:       resq 1
kernel_end:         resq 1
alloc_addr:         resq 1
kept:               resq 1
trampoline:         resq 1
rsdp:               resq 1
map_size:           resq 1
map_key:            resq 1
desc_size:          resq 1
desc_version:       resq 1
map_end:            resq 1
ram_end:            resq 1
low_end:            resq 1
media_id:           resd 1
stage2_sectors:     resd 1
rsdp_len:           resd 1
acpi_count:         resd 1
mb_length:          resd 1
debug_exit:         resb 1
boot_services_gone: resb 1
acpi_unknown:       resb 1
hex_buf:            resb 24
ucs2_buf:           resw UCS2_CHARS + 1
acpi_list:          resb ACPI_LIST_MAX * 16
crc_table:          resd 256
dp_copy:            resb DP_MAX
stage2_buf:         resb STAGE2_MAX_SECTORS * 512
map_buf:            resb MAP_BUF_SIZE
bss_end:
                    resb (SECTION_ALIGN - (bss_end - bss_start) % SECTION_ALIGN) % SECTION_ALIGN
image_end:                          ; SizeOfImage: the RVA of the end, whole pages
bss_size equ bss_end - bss_start

%if text_raw_end - text_start + headers_size > EFI_MAX
  %error "BOOTX64.EFI is over its budget (EFI_MAX bytes)"
%endif
