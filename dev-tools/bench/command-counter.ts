import type { CommandSucceededEvent, MongoClient } from 'mongodb';

/**
 * What a process asked of MongoDB, counted through the driver's command monitoring (the client
 * must be created with `monitorCommands: true`). These counts do not depend on the machine or
 * the engine, so they carry over to a real MongoDB where timings do not.
 */
export interface CommandCounts {
  /** Commands sent (find, getMore, insert, update, delete, …). */
  commands: number;
  /** Documents inserted, modified, upserted or deleted, as the server answered. */
  written: number;
  /** Documents the server returned in cursor batches. */
  returned: number;
}

export const NO_COMMANDS: CommandCounts = { commands: 0, written: 0, returned: 0 };

interface Reply {
  n?: number;
  nModified?: number;
  upserted?: unknown[];
  cursor?: { firstBatch?: unknown[]; nextBatch?: unknown[] };
  /** findAndModify: whether a document was written, and the document it answers with. */
  lastErrorObject?: { n?: number };
  value?: unknown;
}

/** Starts counting the client's commands; `snapshot()` gives the totals so far. */
export function countCommands(client: MongoClient): { snapshot(): CommandCounts } {
  const counts: CommandCounts = { ...NO_COMMANDS };
  client.on('commandSucceeded', (event: CommandSucceededEvent) => {
    counts.commands += 1;
    const reply = event.reply as Reply;
    switch (event.commandName) {
      case 'insert':
      case 'delete':
        counts.written += reply.n ?? 0;
        break;
      case 'update':
        counts.written += (reply.nModified ?? 0) + (reply.upserted?.length ?? 0);
        break;
      case 'findAndModify':
        counts.written += reply.lastErrorObject?.n ?? 0;
        counts.returned += reply.value ? 1 : 0;
        break;
      default:
        counts.returned += reply.cursor?.firstBatch?.length ?? reply.cursor?.nextBatch?.length ?? 0;
    }
  });
  return { snapshot: () => ({ ...counts }) };
}

export const minusCounts = (a: CommandCounts, b: CommandCounts): CommandCounts => ({
  commands: a.commands - b.commands,
  written: a.written - b.written,
  returned: a.returned - b.returned,
});
