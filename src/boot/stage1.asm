; stage1.asm: the MBR boot code (LBA 0, bytes 0..439).
;
; Entry (from the BIOS): CS:IP = 0000:7C00 or 07C0:0000, DL = boot drive.
; Job: normalise CS, set up segments and a stack, save DL, check INT 13h
; extensions, read stage 2 (s1_stage2_sectors sectors from s1_stage2_lba, the
; two patched fields below) to 0000:8000 in one extended read, check the
; parameter block magic, jump.
; Exit (to stage 2): CS=DS=ES=SS=0, SP below 0x7C00, DL = boot drive,
; COM1 initialised, interrupts on.
;
; Patched by params.ts (pinned at STAGE1_FIELDS_OFF): the stage 2 LBA (u32)
; and its length in sectors (u16). Bytes 0x03..0x59 stay zero: some BIOSes
; write a FAT BPB there, so no code may live in that range.

%include "layout.inc"

bits 16
org 0x7C00

s1_start:
    jmp short s1_main
    nop
    times STAGE1_FIELDS_OFF - ($ - $$) db 0
s1_stage2_lba:      dd 1
s1_stage2_sectors:  dw 0

s1_main:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, STACK_TOP
    jmp 0:.normalised
.normalised:
    sti
    cld
    test dl, 0x80               ; a hard disk number; odd firmware passes 0:
    jnz .drive_ok               ; take the first hard disk then
    mov dl, 0x80
.drive_ok:
    mov [VAR_BOOT_DRIVE], dl
    mov bp, dx                  ; BP keeps the drive for the calls below
    call serial_init

    mov ah, 0x41                ; INT 13h extensions present?
    mov bx, 0x55AA
    mov dx, bp                  ; AH=41h may clobber DL on some BIOSes
    int 0x13
    jc .no_ext
    cmp bx, 0xAA55
    jne .no_ext
    test cl, 1                  ; bit 0: AH=42h packet access
    jz .no_ext

    mov cx, [s1_stage2_sectors]
    jcxz .bad_stage2
    cmp cx, STAGE2_MAX_SECTORS
    ja .bad_stage2
    push dword 0                ; fresh disk address packet on the stack:
    push dword [s1_stage2_lba]  ;   LBA (u64)
    push ds                     ;   buffer segment 0
    push word STAGE2_ADDR       ;   buffer offset
    push cx                     ;   sector count
    push word 0x0010            ;   packet size
    mov si, sp
    mov ah, 0x42
    mov dx, bp
    int 0x13
    lea sp, [si + 16]           ; drop the packet, keep CF
    jc .read_error
    cmp dword [STAGE2_ADDR + PARAMS_OFF], PARAMS_MAGIC
    jne .bad_stage2
    mov dx, bp
    jmp 0:STAGE2_ADDR

.read_error:
    mov bl, ah
    mov si, msg_read
    call fail_msg
    mov al, bl
    call put_hex8
    jmp .halt
.no_ext:
    mov si, msg_no_ext
    jmp .fail
.bad_stage2:
    mov si, msg_stage2
.fail:
    call fail_msg
.halt:
    mov si, msg_halt
    call puts
.stop:                          ; no port writes here: stage 1 has no room to
                                ; check that it runs in a virtual machine
    cli
    hlt
    jmp .stop

; in: SI = message; prints "Boot error: " and the message
fail_msg:
    push si
    mov si, msg_error
    call puts
    pop si
    jmp puts

%include "console16.inc"

msg_error:  db 13, 10, "Boot error: ", 0
msg_no_ext: db "no INT 13h extensions", 0
msg_read:   db "disk read error 0x", 0
msg_stage2: db "stage 2 damaged", 0
msg_halt:   db 13, 10, "Halted.", 13, 10, 0

s1_end:
%if s1_end - s1_start > STAGE1_MAX
  %error "stage 1 is over its 440-byte budget"
%endif
