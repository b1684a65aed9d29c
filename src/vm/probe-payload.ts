/**
 * Tiny guest programs for the accelerator probe, generated as bytes so the
 * probe needs nothing installed but QEMU:
 *
 *   multibootProbe()  a flat multiboot (a.out kludge) image for `-kernel`:
 *                     32-bit code that writes the marker to COM1 (port
 *                     0x3f8) and halts.
 *   initProbe()       a static x86-64 ELF for /init in an initramfs: opens
 *                     /dev/console, writes the marker, powers the VM off.
 *
 * Both are hand-assembled; the comments give the instructions.
 */

/** What the probe payloads print. */
export const PROBE_MARKER = 'INGOT-ACCEL-PROBE-OK';

const MULTIBOOT_BASE = 0x100000;

/** A multiboot v1 image QEMU boots with `-kernel` (machine pc). */
export function multibootProbe(): Buffer {
  const message = Buffer.from(`${PROBE_MARKER}\n\0`, 'latin1');
  const code = Buffer.from([
    0xbe,
    0,
    0,
    0,
    0, //          mov esi, message
    0x66,
    0xba,
    0xf8,
    0x03, //    mov dx, 0x3f8
    0xac, //                loop: lodsb
    0x84,
    0xc0, //                test al, al
    0x74,
    0x03, //                jz done
    0xee, //                      out dx, al
    0xeb,
    0xf8, //                jmp loop
    0xfa, //                done: cli
    0xf4, //                      hlt
    0xeb,
    0xfd, //                jmp hlt
  ]);
  const header = Buffer.alloc(32);
  const magic = 0x1badb002;
  const flags = 0x0001_0000; // bit 16: the address fields below are valid (not ELF)
  header.writeUInt32LE(magic, 0);
  header.writeUInt32LE(flags, 4);
  header.writeUInt32LE(-(magic + flags) >>> 0, 8);
  header.writeUInt32LE(MULTIBOOT_BASE, 12); // header_addr
  header.writeUInt32LE(MULTIBOOT_BASE, 16); // load_addr
  header.writeUInt32LE(0, 20); // load_end_addr: the whole file
  header.writeUInt32LE(0, 24); // bss_end_addr: none
  header.writeUInt32LE(MULTIBOOT_BASE + header.length, 28); // entry_addr
  code.writeUInt32LE(MULTIBOOT_BASE + header.length + code.length, 1);
  return Buffer.concat([header, code, message]);
}

const ELF_BASE = 0x400000;
const ELF_HEADERS = 64 + 56;

/** A static x86-64 Linux executable: print the marker on /dev/console, then reboot(POWER_OFF). */
export function initProbe(): Buffer {
  const console = Buffer.from('/dev/console\0', 'latin1');
  const message = Buffer.from(`${PROBE_MARKER}\n`, 'latin1');
  const code = Buffer.from([
    0x48,
    0x8d,
    0x3d,
    0,
    0,
    0,
    0, //  lea rdi, [rip+console]      (patched)
    0xbe,
    0x01,
    0,
    0,
    0, //           mov esi, O_WRONLY
    0x31,
    0xd2, //                    xor edx, edx
    0xb8,
    0x02,
    0,
    0,
    0, //           mov eax, SYS_open
    0x0f,
    0x05, //                    syscall
    0x89,
    0xc7, //                    mov edi, eax
    0xb8,
    0x01,
    0,
    0,
    0, //           mov eax, SYS_write
    0x48,
    0x8d,
    0x35,
    0,
    0,
    0,
    0, //  lea rsi, [rip+message]      (patched)
    0xba,
    0,
    0,
    0,
    0, //              mov edx, message.length     (patched)
    0x0f,
    0x05, //                    syscall
    0xb8,
    0xa9,
    0,
    0,
    0, //           mov eax, SYS_reboot
    0xbf,
    0xad,
    0xde,
    0xe1,
    0xfe, //  mov edi, LINUX_REBOOT_MAGIC1
    0xbe,
    0x69,
    0x19,
    0x12,
    0x28, //  mov esi, LINUX_REBOOT_MAGIC2
    0xba,
    0xdc,
    0xfe,
    0x21,
    0x43, //  mov edx, LINUX_REBOOT_CMD_POWER_OFF
    0x0f,
    0x05, //                    syscall
    0xeb,
    0xfe, //                    jmp $
  ]);
  const consoleAt = code.length;
  const messageAt = consoleAt + console.length;
  code.writeInt32LE(consoleAt - 7, 3); // rip-relative: from the end of the lea (offset 7)
  code.writeInt32LE(messageAt - 35, 31); // second lea ends at offset 35
  code.writeUInt32LE(message.length, 36);
  const body = Buffer.concat([code, console, message]);
  const total = ELF_HEADERS + body.length;

  const elf = Buffer.alloc(ELF_HEADERS);
  elf.set([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0], 0); // ELF, 64-bit, little-endian, version 1, SysV
  elf.writeUInt16LE(2, 16); // ET_EXEC
  elf.writeUInt16LE(0x3e, 18); // x86-64
  elf.writeUInt32LE(1, 20);
  elf.writeBigUInt64LE(BigInt(ELF_BASE + ELF_HEADERS), 24); // entry
  elf.writeBigUInt64LE(64n, 32); // program headers right after this header
  elf.writeUInt16LE(64, 52);
  elf.writeUInt16LE(56, 54);
  elf.writeUInt16LE(1, 56);
  // One PT_LOAD segment, R+X, mapping the whole file at ELF_BASE.
  elf.writeUInt32LE(1, 64);
  elf.writeUInt32LE(5, 68);
  elf.writeBigUInt64LE(0n, 72);
  elf.writeBigUInt64LE(BigInt(ELF_BASE), 80);
  elf.writeBigUInt64LE(BigInt(ELF_BASE), 88);
  elf.writeBigUInt64LE(BigInt(total), 96);
  elf.writeBigUInt64LE(BigInt(total), 104);
  elf.writeBigUInt64LE(0x1000n, 112);
  return Buffer.concat([elf, body]);
}
