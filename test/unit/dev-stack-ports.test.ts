import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { describe, test } from 'node:test';
import { freePort } from '../../dev-tools/stack/ports';

/** The TCP sockets on local port `port` in TIME_WAIT (Linux's /proc/net/tcp: state 06). */
async function timeWaitOn(port: number): Promise<number> {
  const table = await readFile('/proc/net/tcp', 'utf8');
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  return table
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter(([, local, , state]) => local?.endsWith(`:${hex}`) && state === '06').length;
}

describe("the dev stack's free ports", () => {
  test('a free port is left in TIME_WAIT, out of the next bind(0)s, and a server still binds it by number', async () => {
    const port = await freePort();
    assert.ok(port > 0);
    // What keeps the kernel from handing it to the Temporal dev server's own port picks meanwhile.
    assert.equal(await timeWaitOn(port), 1, `port ${port} in TIME_WAIT on its own end`);
    const server = net.createServer();
    server.listen(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      server.once('listening', resolve);
      server.once('error', reject);
    });
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
});
