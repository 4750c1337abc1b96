import type { MongoClient } from 'mongodb';

/**
 * The longest a heartbeat of the driver's server monitor can take and still be alive: a check on a
 * new connection takes at most `connectTimeoutMS` to connect and as long again for its hello, an
 * awaited hello on an open one at most `connectTimeoutMS` past `heartbeatFrequencyMS`; half as
 * much again on top. With the driver's defaults (30 s, 10 s): 110 s.
 */
export function monitorStuckAfterMs(client: MongoClient): number {
  const { connectTimeoutMS, heartbeatFrequencyMS } = client.options;
  return 3 * connectTimeoutMS + 2 * heartbeatFrequencyMS;
}

/**
 * Reconnects `client` when its server monitor has wedged for good. When the store goes away, a
 * heartbeat can start on the monitor's connection in the instant between its socket being closed
 * and the driver noticing; the hello is then written to a dead socket and the check waits for ever
 * for it to drain (mongodb 7.9: met by `npm run chaos`, and by about a third of the tries of the
 * driver alone behind a TCP relay, its store SIGKILLed and restarted while it wrote). No heartbeat
 * ends any more, the server stays Unknown, and every operation fails server selection until the
 * process restarts: a worker stops syncing anything. A heartbeat outstanding past `monitorStuckAfterMs` is that
 * wedge: the client is closed and connected again — the same MongoClient, so every Db and
 * Collection taken from it goes on working; operations in flight fail and their activities retry.
 */
export function watchMonitor(
  client: MongoClient,
  opts: { onReconnect?: (info: { stuckMs: number }) => void } = {},
): void {
  const stuckAfterMs = monitorStuckAfterMs(client);
  // One monitor per server: when each one's current heartbeat started.
  const started = new Map<string, number>();
  let reconnecting = false;
  const onStarted = (e: { connectionId: string }) => started.set(e.connectionId, Date.now());
  const onEnded = (e: { connectionId: string }) => started.delete(e.connectionId);
  const onClosed = () => {
    if (!reconnecting) stop();
  };
  client.on('serverHeartbeatStarted', onStarted);
  client.on('serverHeartbeatSucceeded', onEnded);
  client.on('serverHeartbeatFailed', onEnded);
  client.on('topologyClosed', onClosed);

  const look = () => {
    if (reconnecting) return;
    const oldest = Math.min(...started.values());
    const stuckMs = Date.now() - oldest;
    if (!(stuckMs > stuckAfterMs)) return;
    reconnecting = true;
    started.clear();
    opts.onReconnect?.({ stuckMs });
    void client
      .close()
      .then(() => client.connect())
      // A store still down: the next look finds the new monitor's heartbeats, failing but ending.
      .catch(() => undefined)
      .finally(() => {
        reconnecting = false;
      });
  };
  const timer = setInterval(look, Math.max(100, Math.min(stuckAfterMs / 4, 15_000)));
  timer.unref();

  // Closed by its owner: watched no more.
  function stop() {
    clearInterval(timer);
    client.off('serverHeartbeatStarted', onStarted);
    client.off('serverHeartbeatSucceeded', onEnded);
    client.off('serverHeartbeatFailed', onEnded);
    client.off('topologyClosed', onClosed);
  }
}
