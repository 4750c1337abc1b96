import type { Collection, Db } from 'mongodb';
import type { AlertEvent, AlertMessage } from '../domain/alerts';
import { isDuplicateKeyOnly } from './errors';
import { createQueryIndex } from './store-capabilities';

/** One alert: the message every target of the company gets, as it was raised. No personal data. */
export interface AlertDocument {
  /** `<companyId>:<runId>` for a run's alert (one per run, whatever retries), `<companyId>:test-<id>` for a test. */
  _id: string;
  companyId: string;
  runId: string | null;
  event: AlertEvent;
  /** The targets it goes to (their ids), as they were when it was raised. */
  targetIds: string[];
  message: AlertMessage;
  createdAt: Date;
}

export type DeliveryStatus = 'sending' | 'delivered' | 'failed' | 'dropped';

/** One alert's delivery to one target: what the console and the CLI show. */
export interface AlertDeliveryDocument {
  /** `<alertId>#<targetId>`. */
  _id: string;
  alertId: string;
  companyId: string;
  targetId: string;
  kind: 'webhook' | 'email';
  event: AlertEvent;
  runId: string | null;
  status: DeliveryStatus;
  attempts: number;
  /** The receiver's last answer: an HTTP status, or the SMTP server's reply code. */
  lastResponse: number | null;
  /** Why the last attempt failed: a status or an error code, never the target's address. */
  lastError: string | null;
  createdAt: Date;
  lastAttemptAt: Date | null;
  deliveredAt: Date | null;
}

/** A company's alert state: the problem it was last alerted about (null: all is well), and by which run. */
export interface AlertStateDocument {
  _id: string;
  problem: string | null;
  runId: string;
  alertId: string;
  at: Date;
}

/**
 * Alerts, their deliveries and each company's alert state, in three collections read and written
 * by `_id` (the one filter FerretDB 1.x evaluates in SQL), each delivery its own document so that
 * the deliveries of one alert, running at once, never write the same document.
 */
export class AlertsRepository {
  static readonly alertsCollection = 'alerts';
  static readonly deliveriesCollection = 'alertDeliveries';
  static readonly statesCollection = 'alertStates';
  private readonly alerts: Collection<AlertDocument>;
  private readonly deliveries: Collection<AlertDeliveryDocument>;
  private readonly states: Collection<AlertStateDocument>;

  constructor(private readonly db: Db) {
    this.alerts = db.collection<AlertDocument>(AlertsRepository.alertsCollection);
    this.deliveries = db.collection<AlertDeliveryDocument>(AlertsRepository.deliveriesCollection);
    this.states = db.collection<AlertStateDocument>(AlertsRepository.statesCollection);
  }

  async ensureIndexes(): Promise<void> {
    // The console lists a company's latest deliveries (a scan on FerretDB, a small collection).
    await createQueryIndex(this.db, this.deliveries, { companyId: 1, createdAt: -1 });
  }

  getState(companyId: string): Promise<AlertStateDocument | null> {
    return this.states.findOne({ _id: companyId });
  }

  /**
   * Records the company's alert state as of `runId`, unless a later run's is already recorded (run
   * ids sort by start time, and runs of a company run one at a time): the alerts of two runs
   * finishing close together never wind the state back.
   */
  async setState(state: AlertStateDocument): Promise<boolean> {
    const current = await this.getState(state._id);
    if (current && current.runId > state.runId) return false;
    await this.states.replaceOne({ _id: state._id }, state, { upsert: true });
    return true;
  }

  getAlert(alertId: string): Promise<AlertDocument | null> {
    return this.alerts.findOne({ _id: alertId });
  }

  /** Inserts the alert and a pending delivery per target; an alert already raised (a retried activity) is kept as it was. */
  async raise(alert: AlertDocument, targets: { id: string; kind: 'webhook' | 'email' }[]): Promise<AlertDocument> {
    try {
      await this.alerts.insertOne(alert);
    } catch (err) {
      if (!isDuplicateKeyOnly(err)) throw err;
      return (await this.getAlert(alert._id))!;
    }
    if (targets.length > 0) {
      await this.deliveries
        .insertMany(
          targets.map((t) => ({
            _id: `${alert._id}#${t.id}`,
            alertId: alert._id,
            companyId: alert.companyId,
            targetId: t.id,
            kind: t.kind,
            event: alert.event,
            runId: alert.runId,
            status: 'sending' as const,
            attempts: 0,
            lastResponse: null,
            lastError: null,
            createdAt: alert.createdAt,
            lastAttemptAt: null,
            deliveredAt: null,
          })),
          { ordered: false },
        )
        .catch((err: unknown) => {
          if (!isDuplicateKeyOnly(err)) throw err;
        });
    }
    return alert;
  }

  /** Records one attempt of a delivery: its number (Temporal's attempt), the answer, and the status it leaves. */
  async recordAttempt(
    deliveryId: string,
    attempt: { attempts: number; status: DeliveryStatus; response: number | null; error: string | null; at: Date },
  ): Promise<void> {
    await this.deliveries.updateOne(
      { _id: deliveryId },
      {
        $set: {
          attempts: attempt.attempts,
          status: attempt.status,
          lastResponse: attempt.response,
          lastError: attempt.error,
          lastAttemptAt: attempt.at,
          ...(attempt.status === 'delivered' ? { deliveredAt: attempt.at } : {}),
        },
      },
    );
  }

  async setDeliveryStatus(deliveryId: string, status: DeliveryStatus): Promise<void> {
    await this.deliveries.updateOne({ _id: deliveryId }, { $set: { status } });
  }

  getDelivery(deliveryId: string): Promise<AlertDeliveryDocument | null> {
    return this.deliveries.findOne({ _id: deliveryId });
  }

  /** A company's latest deliveries, newest first. */
  listDeliveries(companyId: string, limit: number): Promise<AlertDeliveryDocument[]> {
    return this.deliveries.find({ companyId }).sort({ createdAt: -1, _id: 1 }).limit(limit).toArray();
  }
}
