import { Client, Connection } from '@temporalio/client';
import type { MongoClient } from 'mongodb';
import type { AppConfig } from '../config/env';
import { connectMongo, ensureIndexes, repositories, type Repositories } from '../db/mongo';

/**
 * What every operation needs, passed explicitly so the CLI, the demo, tests and the web console
 * call the same functions with their own connections.
 */
export interface OperationsDeps {
  repos: Repositories;
  client: Client;
  config: AppConfig;
  now?: () => Date;
}

export interface OperationsContext extends OperationsDeps {
  close(): Promise<void>;
}

/** Opens MongoDB and a Temporal client from the configuration (envconfig: Temporal Cloud works by environment). */
export async function openOperationsContext(config: AppConfig): Promise<OperationsContext> {
  const { client: mongo, db } = await connectMongo(config.MONGODB_URI, config.MONGODB_DB);
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...config.temporal.connectionOptions, connectTimeout: 10_000 });
  } catch (err) {
    await mongo.close().catch(() => undefined);
    throw new Error(
      `Cannot reach Temporal at ${config.temporal.connectionOptions.address ?? '127.0.0.1:7233'}: ${err instanceof Error ? err.message : String(err)}. Check TEMPORAL_ADDRESS, or start the dev stack with \`npm run dev:stack -- start\`.`,
    );
  }
  const repos = repositories(db);
  await ensureIndexes(repos);
  return {
    repos,
    client: new Client({ connection, namespace: config.temporal.namespace }),
    config,
    async close() {
      await closeQuietly(connection, mongo);
    },
  };
}

async function closeQuietly(connection: Connection, mongo: MongoClient): Promise<void> {
  await connection.close().catch(() => undefined);
  await mongo.close().catch(() => undefined);
}
