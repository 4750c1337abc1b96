import net from 'node:net';
import { BSON, type Document } from 'mongodb';

/**
 * A TCP relay in front of MongoDB (or FerretDB) that reads the wire protocol, so a test can slow
 * every round trip, or stop one chosen command — before the store gets it, or once the store has
 * done it and before its answer reaches the worker — check that the run is there, strike (kill a
 * process, cut the connection) and let it go. Workers reach the store through `uri`; the test's
 * own client goes straight to the store, so it sees what the store holds while a command is held.
 *
 * Messages keep their order on each connection: a held one holds those behind it (the driver
 * sends one command at a time on a connection; its other connections go on).
 */
export class StoreRelay {
  /** Added to every message, both ways. */
  latencyMs = 0;
  private readonly connections = new Set<RelayedConnection>();
  private armed: CommandHold[] = [];
  /** While set, the store is out of reach: every connection is cut as it comes. */
  private cut = false;

  private constructor(
    private readonly target: URL,
    private readonly server: net.Server,
  ) {}

  static async open(uri: string): Promise<StoreRelay> {
    const target = new URL(uri);
    if (target.protocol !== 'mongodb:' || target.host.includes(',')) {
      throw new Error(`The store relay needs a mongodb:// URI with one host, got ${target.protocol}//…`);
    }
    const server = net.createServer();
    const relay = new StoreRelay(target, server);
    server.on('connection', (client) => relay.accept(client));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return relay;
  }

  /** The store's URI through the relay (one server: no discovery of the hosts past it). */
  get uri(): string {
    const through = new URL(this.target);
    through.host = `127.0.0.1:${(this.server.address() as net.AddressInfo).port}`;
    through.searchParams.set('directConnection', 'true');
    return through.toString();
  }

  /**
   * Holds the next command that matches, at its request (the store has not seen it) or at its
   * reply (the store has done it; the worker does not know yet), until the hold is released or
   * dropped. One command per hold.
   */
  hold(match: CommandMatch, opts: { at?: 'request' | 'reply' } = {}): CommandHold {
    const hold = new CommandHold(match, opts.at ?? 'request', (h) => {
      this.armed = this.armed.filter((a) => a !== h);
    });
    this.armed.push(hold);
    return hold;
  }

  /**
   * Takes the store out of the workers' reach for `ms`: every open connection is cut and every new
   * one closed as it comes, as a network partition (or a store host gone) would. Returns when the
   * cut began and ended (epoch ms).
   */
  async cutOff(ms: number): Promise<{ from: number; to: number }> {
    this.cut = true;
    const from = Date.now();
    for (const connection of this.connections) connection.destroy();
    await new Promise((resolve) => setTimeout(resolve, ms));
    this.cut = false;
    return { from, to: Date.now() };
  }

  async close(): Promise<void> {
    this.cut = false;
    for (const hold of this.armed) hold.release();
    for (const connection of this.connections) connection.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** The armed hold this request matches, if any (it is then spent). */
  private claim(request: Buffer): CommandHold | undefined {
    if (this.armed.length === 0) return undefined;
    const named = commandOf(request);
    if (!named) return undefined;
    const hold = this.armed.find((h) => h.wants(named, request));
    if (hold) this.armed = this.armed.filter((h) => h !== hold);
    return hold;
  }

  private accept(client: net.Socket): void {
    if (this.cut) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(this.target.port || 27017), this.target.hostname);
    const connection = new RelayedConnection(client, upstream, {
      latencyMs: () => this.latencyMs,
      claim: (request) => this.claim(request),
      closed: () => this.connections.delete(connection),
    });
    this.connections.add(connection);
  }
}

/** A command of the wire protocol, as a hold matches it. */
export interface CommandMatch {
  /** The command's name (`insert`, `update`, `delete`, `find`…), or any of several. */
  command: string | readonly string[];
  /** Its collection (`syncChanges`, `syncPlan.<runId>`), or a pattern of it. */
  collection: string | RegExp;
  /** The whole command, its document sequences included, for a finer choice (one run, one page). */
  where?: (command: Document) => boolean;
}

/**
 * One command stopped by the relay. `heldAt` to `endedAt` is the window a fault must land in to
 * strike that command mid-step; `outcome` says whether it was let through or lost with its
 * connection (the store or the worker went away, or the test dropped it).
 */
export class CommandHold {
  /** When the command (at `request`) or its answer (at `reply`) reached the relay and was stopped. */
  heldAt: number | null = null;
  /** When it was let go or lost; for a hold never reached, when it was disarmed. */
  endedAt: number | null = null;
  outcome: 'released' | 'dropped' | null = null;
  /** Settles once the command (or its answer) is stopped here: what a test waits for before it acts. */
  readonly reached: Promise<void>;
  #reached!: () => void;
  #resume: (() => void) | null = null;
  #cut: (() => void) | null = null;

  constructor(
    readonly match: CommandMatch,
    readonly at: 'request' | 'reply',
    private readonly disarm: (hold: CommandHold) => void,
  ) {
    this.reached = new Promise((resolve) => (this.#reached = resolve));
  }

  /** Waits for the command (or its answer) to be stopped here, failing after `withinMs`, naming it. */
  async reach(withinMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const { command, collection } = this.match;
        const at = this.at === 'request' ? 'before the store' : 'at its answer';
        reject(new Error(`${String(command)} on ${String(collection)} was not held ${at} within ${withinMs / 1000} s`));
      }, withinMs);
    });
    try {
      await Promise.race([this.reached, late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A command (or its answer) is stopped here right now. */
  get holding(): boolean {
    return this.heldAt !== null && this.endedAt === null;
  }

  /** Lets the held message go on, or disarms the hold if nothing matched yet. Idempotent. */
  release(): void {
    this.end('released');
    this.#resume?.();
  }

  /** Cuts the held message's connection: the store never gets the command, or the worker never gets its answer. */
  drop(): void {
    this.end('dropped');
    this.#cut?.();
  }

  wants(named: { command: string; collection: string | null }, request: Buffer): boolean {
    const { command, collection, where } = this.match;
    const names: readonly string[] = typeof command === 'string' ? [command] : command;
    if (this.endedAt !== null || !names.includes(named.command) || named.collection === null) return false;
    const sameCollection =
      typeof collection === 'string' ? named.collection === collection : collection.test(named.collection);
    return sameCollection && (!where || where(fullCommand(request)));
  }

  /** The relay's side: the message is stopped now; `resume` sends it on, `cut` closes its connection. */
  stop(resume: () => void, cut: () => void): void {
    this.heldAt = Date.now();
    this.#resume = resume;
    this.#cut = cut;
    this.#reached();
  }

  /** The relay's side: the connection closed under the message. */
  lost(): void {
    this.end('dropped');
  }

  private end(outcome: 'released' | 'dropped'): void {
    if (this.endedAt !== null) return;
    this.endedAt = Date.now();
    this.outcome = outcome;
    this.disarm(this);
  }
}

interface Queued {
  at: number;
  message: Buffer;
  hold?: CommandHold;
}

/** One client connection and its upstream twin, each way a queue of whole messages. */
class RelayedConnection {
  private readonly toStore: Queued[] = [];
  private readonly toClient: Queued[] = [];
  /** Holds waiting for the answer to a request of this connection, by request id. */
  private readonly replyHolds = new Map<number, CommandHold>();
  private readonly holds = new Set<CommandHold>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(
    private readonly client: net.Socket,
    private readonly upstream: net.Socket,
    private readonly relay: {
      latencyMs: () => number;
      claim: (request: Buffer) => CommandHold | undefined;
      closed: () => void;
    },
  ) {
    for (const socket of [client, upstream]) {
      socket.on('error', () => undefined);
      socket.on('close', () => this.destroy());
    }
    const requests = new MessageFramer();
    client.on('data', (chunk: Buffer) => {
      for (const message of requests.push(chunk)) this.fromClient(message);
    });
    const replies = new MessageFramer();
    upstream.on('data', (chunk: Buffer) => {
      for (const message of replies.push(chunk)) this.fromStore(message);
    });
  }

  destroy(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.destroy();
    this.upstream.destroy();
    for (const timer of this.timers) clearTimeout(timer);
    for (const hold of [...this.holds, ...this.replyHolds.values()]) hold.lost();
    this.relay.closed();
  }

  private fromClient(message: Buffer): void {
    const hold = this.relay.claim(message);
    if (hold?.at === 'reply') this.replyHolds.set(message.readInt32LE(4), hold);
    this.enqueue(this.toStore, this.upstream, message, hold?.at === 'request' ? hold : undefined);
  }

  private fromStore(message: Buffer): void {
    const responseTo = message.readInt32LE(8);
    const hold = this.replyHolds.get(responseTo);
    this.replyHolds.delete(responseTo);
    this.enqueue(this.toClient, this.client, message, hold);
  }

  private enqueue(queue: Queued[], to: net.Socket, message: Buffer, hold: CommandHold | undefined): void {
    if (hold && hold.endedAt === null) {
      this.holds.add(hold);
      hold.stop(
        () => this.pump(queue, to),
        () => this.destroy(),
      );
    }
    queue.push({ at: Date.now() + this.relay.latencyMs(), message, ...(hold ? { hold } : {}) });
    if (queue.length === 1) this.pump(queue, to);
  }

  private pump(queue: Queued[], to: net.Socket): void {
    while (!this.closed && queue.length > 0) {
      const head = queue[0]!;
      if (head.hold?.holding) return;
      const waitMs = head.at - Date.now();
      if (waitMs > 0) {
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          this.pump(queue, to);
        }, waitMs);
        this.timers.add(timer);
        return;
      }
      queue.shift();
      if (head.hold) this.holds.delete(head.hold);
      to.write(head.message);
    }
  }
}

/** Cuts a byte stream into wire-protocol messages (each starts with its length, int32 LE). */
class MessageFramer {
  private chunks: Buffer[] = [];
  private size = 0;

  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.size += chunk.length;
    const messages: Buffer[] = [];
    while (this.size >= 4) {
      if (this.chunks[0]!.length < 4) this.chunks = [Buffer.concat(this.chunks, this.size)];
      const length = this.chunks[0]!.readInt32LE(0);
      if (this.size < length) break;
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
      messages.push(all.subarray(0, length));
      const rest = all.subarray(length);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.size = rest.length;
    }
    return messages;
  }
}

const OP_MSG = 2013;
const BSON_STRING = 0x02;

interface OpMsgSections {
  body: Buffer;
  sequences: { id: string; documents: Buffer[] }[];
}

/** An OP_MSG's body document and document sequences, undecoded; null for any other message. */
function sectionsOf(message: Buffer): OpMsgSections | null {
  if (message.length < 21 || message.readInt32LE(12) !== OP_MSG) return null;
  const checksumPresent = (message.readUInt32LE(16) & 1) === 1;
  const end = message.length - (checksumPresent ? 4 : 0);
  let body: Buffer | null = null;
  const sequences: OpMsgSections['sequences'] = [];
  for (let at = 20; at < end;) {
    const kind = message[at]!;
    at += 1;
    if (kind === 0) {
      const length = message.readInt32LE(at);
      body = message.subarray(at, at + length);
      at += length;
    } else if (kind === 1) {
      const sectionEnd = at + message.readInt32LE(at);
      const idEnd = message.indexOf(0, at + 4);
      const id = message.toString('utf8', at + 4, idEnd);
      const documents: Buffer[] = [];
      for (let p = idEnd + 1; p < sectionEnd; p += message.readInt32LE(p)) {
        documents.push(message.subarray(p, p + message.readInt32LE(p)));
      }
      sequences.push({ id, documents });
      at = sectionEnd;
    } else {
      return null;
    }
  }
  return body ? { body, sequences } : null;
}

/**
 * A command's name and collection, read from the first element of its body without decoding the
 * rest (a staged page is megabytes): `{ insert: "syncChanges", … }`.
 */
function commandOf(message: Buffer): { command: string; collection: string | null } | null {
  const sections = sectionsOf(message);
  if (!sections) return null;
  const { body } = sections;
  if (body.length < 6) return null;
  const type = body[4]!;
  const keyEnd = body.indexOf(0, 5);
  const command = body.toString('utf8', 5, keyEnd);
  if (type !== BSON_STRING) return { command, collection: null };
  const length = body.readInt32LE(keyEnd + 1);
  return { command, collection: body.toString('utf8', keyEnd + 5, keyEnd + 5 + length - 1) };
}

/** The command decoded whole, its document sequences put back under their names. */
function fullCommand(message: Buffer): Document {
  const { body, sequences } = sectionsOf(message)!;
  const command = BSON.deserialize(body);
  for (const { id, documents } of sequences) command[id] = documents.map((d) => BSON.deserialize(d));
  return command;
}
