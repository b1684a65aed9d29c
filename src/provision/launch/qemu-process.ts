/**
 * QEMU processes of the qemu backend: whether the VM in a directory runs (its
 * pid file, checked against the process's command line so a recycled pid
 * is never taken for it), a clean power-off through the guest agent with a
 * forced stop after a timeout, and free ports for the SSH forward.
 */
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { GuestAgent } from './guest-agent.js';

/**
 * Powers a qemu VM off: guest-shutdown through the guest agent (a clean
 * systemd shutdown), then waits for QEMU to exit; after `timeoutMs` (default
 * 90 s), or with no agent answering, QEMU is killed.
 */
export async function powerOff(vmDir: string, pid: number, agent: GuestAgent | undefined, timeoutMs = 90_000): Promise<void> {
  if (isAlive(pid)) {
    try {
      agent ??= await GuestAgent.connect(path.join(vmDir, 'qga.sock'), { deadline: Date.now() + 10_000, isAlive: () => isAlive(pid) });
      await agent.shutdown();
      const end = Date.now() + timeoutMs;
      while (isAlive(pid) && Date.now() < end) await sleep(250);
    } catch {
      // No agent: the forced stop below.
    }
  }
  agent?.close();
  await kill(pid);
}

/** Kills a qemu process: SIGTERM, then SIGKILL after 5 s. */
export async function kill(pid: number): Promise<void> {
  if (!isAlive(pid)) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 50 && isAlive(pid); i++) await sleep(100);
  if (isAlive(pid)) process.kill(pid, 'SIGKILL');
}

/** The pid in `pidfile` when that process is alive and is the QEMU that wrote it. */
export async function runningPid(pidfile: string): Promise<number | undefined> {
  const pid = Number((await readFile(pidfile, 'utf8').catch(() => '')).trim());
  if (!(pid > 0) || !isAlive(pid)) return undefined;
  // A recycled pid belongs to another program: QEMU's command line names this pid file.
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes(pidfile) ? pid : undefined;
}

/** Whether process `pid` exists. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

/** Whether `port` on 127.0.0.1 can be bound now. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
