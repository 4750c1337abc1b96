import { once } from 'node:events';
import net from 'node:net';

/**
 * A local port nothing listens on right now, kept from the kernel's next picks for a while.
 *
 * Bound to port 0 and released, a port is free, but Linux hands out ephemeral ports at random and
 * may give the same one to the next `bind(0)` or outgoing connection before the server it was
 * chosen for binds it: the Temporal dev server picks its own internal ports that way right after
 * it starts. So the port is also connected to and closed from the listening side first, as the
 * Temporal CLI does for its own: the closed connection stays in TIME_WAIT on the port (60 s on
 * Linux), where no `bind(0)` takes it, while a server that binds it by number with SO_REUSEADDR
 * (Go's and Node's listeners, PostgreSQL) still can.
 */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  server.unref();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  try {
    const accepted = once(server, 'connection') as Promise<[net.Socket]>;
    const client = net.connect(port, '127.0.0.1');
    client.on('error', () => undefined); // a reset still leaves the port free, only unguarded
    const clientClosed = once(client, 'close');
    const [socket] = await accepted;
    // The listening side closes first: the TIME_WAIT is on its end, the port's.
    socket.destroy();
    await clientClosed;
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return port;
}
