import net from 'node:net';
import { BSON, type Document } from 'mongodb';

/** MongoDB's wire protocol: every message starts with its length, and OP_MSG carries a command. */
const HEADER_BYTES = 16;
const OP_MSG = 2013;

/** The command a client message carries (its first section's document), or null for another kind of message. */
function commandOf(message: Buffer): Document | null {
  if (message.readInt32LE(12) !== OP_MSG) return null;
  // flagBits (4 bytes), then sections; kind 0 is the command document itself.
  let at = HEADER_BYTES + 4;
  while (at < message.length) {
    const kind = message[at]!;
    const size = message.readInt32LE(at + 1);
    if (kind === 0) return BSON.deserialize(message.subarray(at + 1, at + 1 + size));
    at += 1 + size;
  }
  return null;
}

/** Whether a command is `name` on `collection` (e.g. `delete` on `profiles`). */
export const command =
  (name: string, collection: string) =>
  (cmd: Document): boolean =>
    cmd[name] === collection;

/** A command the gate holds: it is reached when the command (or its reply) arrives, and goes on when released. */
export interface Held {
  /** The command held. */
  reached: Promise<Document>;
  release(): void;
}

interface Hold {
  match: (cmd: Document) => boolean;
  /** Hold the reply (the command ran; the worker does not know yet) instead of the command. */
  reply: boolean;
  reached: (cmd: Document) => void;
  released: Promise<void>;
}

/** One direction of a relayed connection: whole messages, in order, held while `paused` is pending. */
class Pipe {
  private buffer = Buffer.alloc(0);
  private paused: Promise<void> | null = null;
  private readonly queue: Buffer[] = [];

  constructor(
    private readonly to: net.Socket,
    /** Looks at each whole message before it goes on: a promise holds it (and what follows) until it settles. */
    private readonly inspect: (message: Buffer) => Promise<void> | null,
  ) {}

  push(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    while (this.buffer.length >= 4) {
      const length = this.buffer.readInt32LE(0);
      if (this.buffer.length < length) break;
      this.queue.push(this.buffer.subarray(0, length));
      this.buffer = this.buffer.subarray(length);
    }
    this.drain();
  }

  private drain(): void {
    while (!this.paused && this.queue.length > 0) {
      const message = this.queue.shift()!;
      const held = this.inspect(message);
      if (held) {
        this.paused = held.then(() => {
          this.paused = null;
          this.to.write(message);
          this.drain();
        });
        return;
      }
      this.to.write(message);
    }
  }
}

/**
 * A TCP relay in front of MongoDB that holds the command a test names, or its reply: the test
 * stops a worker at an exact point of its work — after the plan and before the apply, between a
 * rewrite's read and its delete, after a write ran but before the worker heard of it — does what
 * the platform (or a crash) would do there, then lets it go on. Nothing is timed: the test waits
 * for the command to arrive.
 */
export class StoreGate {
  private readonly holds: Hold[] = [];
  private readonly sockets = new Set<net.Socket>();
  private server!: net.Server;

  static async open(uri: string): Promise<StoreGate> {
    const target = new URL(uri);
    if (target.protocol !== 'mongodb:') throw new Error('the gate needs a mongodb:// URI with one host');
    const gate = new StoreGate();
    gate.server = net.createServer((client) => {
      const upstream = net.connect(Number(target.port || 27017), target.hostname);
      for (const socket of [client, upstream]) {
        gate.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => {
          gate.sockets.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      // Requests whose reply is to be held, by request id.
      const replies = new Map<number, Hold>();
      const toStore = new Pipe(upstream, (message) => {
        const cmd = commandOf(message);
        const hold = cmd && gate.take(cmd);
        if (!hold || !cmd) return null;
        hold.reached(cmd);
        if (!hold.reply) return hold.released;
        replies.set(message.readInt32LE(4), hold);
        return null;
      });
      const toClient = new Pipe(client, (message) => {
        const hold = replies.get(message.readInt32LE(8));
        if (!hold) return null;
        replies.delete(message.readInt32LE(8));
        return hold.released;
      });
      client.on('data', (chunk: Buffer) => toStore.push(chunk));
      upstream.on('data', (chunk: Buffer) => toClient.push(chunk));
    });
    await new Promise<void>((resolve) => gate.server.listen(0, '127.0.0.1', resolve));
    return gate;
  }

  /** The MongoDB URI through the gate (one server, no discovery past it). */
  uri(base: string): string {
    const through = new URL(base);
    through.host = `127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
    through.searchParams.set('directConnection', 'true');
    return through.toString();
  }

  /** Holds the next command `match` accepts, on any connection through the gate (or, with `reply`, its answer). */
  hold(match: (cmd: Document) => boolean, opts: { reply?: boolean } = {}): Held {
    let reached!: (cmd: Document) => void;
    let release!: () => void;
    const reachedP = new Promise<Document>((resolve) => (reached = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    this.holds.push({ match, reply: opts.reply ?? false, reached, released });
    return { reached: reachedP, release };
  }

  /** The first hold a command meets, removed: each hold stops one command. */
  private take(cmd: Document): Hold | undefined {
    const at = this.holds.findIndex((h) => h.match(cmd));
    return at < 0 ? undefined : this.holds.splice(at, 1)[0];
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
