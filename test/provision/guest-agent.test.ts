import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { GuestAgent } from '../../src/provision/launch/guest-agent.js';

/**
 * A fake qemu-guest-agent on a unix socket, speaking the wire protocol as the
 * real one does: the first sync is lost (the agent is not up yet), a stale
 * reply arrives before the right one, the sync reply is prefixed with 0xFF.
 */
function fakeAgent(socketPath: string, files: Record<string, string>): Promise<Server> {
  const server = createServer((socket: Socket) => {
    let buffer = '';
    let syncs = 0;
    let polls = 0;
    // The real agent prefixes a sync reply with the raw byte 0xFF (not valid UTF-8).
    const reply = (value: unknown, sync = false) =>
      socket.write(Buffer.concat([Buffer.from(sync ? [0xff] : []), Buffer.from(`${JSON.stringify({ return: value })}\n`)]));
    socket.on('data', (chunk) => {
      buffer += chunk.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const request = JSON.parse(buffer.slice(0, nl)) as { execute: string; arguments?: Record<string, unknown> };
        buffer = buffer.slice(nl + 1);
        const args = request.arguments ?? {};
        switch (request.execute) {
          case 'guest-sync-delimited':
            if (syncs++ === 0) break; // lost: the agent was not running yet
            reply(12345); // stale answer to some earlier client
            reply(args.id, true);
            break;
          case 'guest-exec':
            assert.deepEqual([args.path, args.arg], ['cloud-init', ['status', '--wait', '--long']]);
            reply({ pid: 42 });
            break;
          case 'guest-exec-status':
            reply(polls++ < 2 ? { exited: false } : { exited: true, exitcode: 1, 'out-data': Buffer.from('status: error\n').toString('base64') });
            break;
          case 'guest-file-open':
            if (!(String(args.path) in files))
              socket.write(`${JSON.stringify({ error: { class: 'GenericError', desc: `failed to open file '${String(args.path)}'` } })}\n`);
            else reply(7);
            break;
          case 'guest-file-read': {
            const content = Buffer.from(files['/etc/marker'] ?? '');
            reply({ count: content.length, 'buf-b64': content.toString('base64'), eof: true });
            break;
          }
          case 'guest-file-close':
          case 'guest-ping':
            reply({});
            break;
          case 'guest-info':
            setTimeout(() => reply({ version: 'late' }), 300); // answers after the client gave up
            break;
        }
      }
    });
  });
  return new Promise((resolve) => server.listen(socketPath, () => resolve(server)));
}

describe('guest agent client', () => {
  let dir: string;
  let server: Server;
  let socketPath: string;
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ingot-qga-'));
    socketPath = path.join(dir, 'qga.sock');
    server = await fakeAgent(socketPath, { '/etc/marker': 'hello ✓\n' });
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  test('syncs past lost and stale replies, execs, reads files, reports errors', async () => {
    const agent = await GuestAgent.connect(socketPath, { deadline: Date.now() + 20_000 });
    try {
      const r = await agent.exec(['cloud-init', 'status', '--wait', '--long']);
      assert.deepEqual(r, { exitCode: 1, stdout: 'status: error\n', stderr: '', timedOut: false });
      assert.equal((await agent.readFile('/etc/marker')).toString('utf8'), 'hello ✓\n');
      await assert.rejects(agent.readFile('/nope'), /guest-file-open failed: failed to open file '\/nope'/);
    } finally {
      agent.close();
    }
  });

  test('a reply that arrives after its timeout is not taken for the next command (regression)', async () => {
    const agent = await GuestAgent.connect(socketPath, { deadline: Date.now() + 20_000 });
    try {
      await assert.rejects(agent.command('guest-info', undefined, 100), /no reply to guest-info/);
      await new Promise((r) => setTimeout(r, 400)); // the late reply is in by now
      assert.deepEqual(await agent.command('guest-ping'), {});
    } finally {
      agent.close();
    }
  });

  test('gives up at the deadline when nothing listens', async () => {
    await assert.rejects(GuestAgent.connect(path.join(dir, 'absent.sock'), { deadline: Date.now() + 1500 }), /did not answer/);
  });
});
