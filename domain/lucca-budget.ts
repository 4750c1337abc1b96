/**
 * A Lucca tenant's request slots as the store keeps them: the contract between the shared budget
 * (lucca/shared-budget.ts, which decides when a request may go) and its repository (db/).
 */
export interface BudgetSlot {
  n: number;
  /** When the slot may start (ms since the epoch). */
  at: number;
  /**
   * When its request left (later than `at` when the holder woke late), then when it was answered:
   * the request a window later counts from it.
   */
  sentAt: number | null;
}

/** What the shared budget (lucca/shared-budget.ts) needs of the store; `LuccaBudgetsRepository` is the real one. */
export interface LuccaBudgetStore {
  /** The tenant's last slot as far as the hint knows (it may lag), and the hold of a 429 (0 when none). */
  head(tenant: string): Promise<{ last: number; heldUntil: number }>;
  slot(tenant: string, n: number): Promise<BudgetSlot | null>;
  /** Inserts the slot; false when another holder claimed that number first. */
  claim(tenant: string, slot: { n: number; at: number }, holder: string): Promise<boolean>;
  /** After a claim: moves the hint to `n` and removes slot `forget`, which no window needs any more. */
  advance(tenant: string, n: number, forget: number): Promise<void>;
  /** The request left, or was answered: `sentAt` moves to this time. */
  markSent(tenant: string, n: number, sentAt: number): Promise<void>;
  /** Nobody sends before `until` (a later hold already there stays). */
  hold(tenant: string, until: number): Promise<void>;
  /** The read that goes first on the tenant (lucca/shared-budget.ts), or null. */
  lead(tenant: string): Promise<BudgetLead | null>;
  /**
   * Makes `holder` the lead until `until`, given the lead it `seen` last: taken when there was none,
   * extended when it was the holder's, taken over (an expired lead) while it is still that one;
   * false when another took it first.
   */
  takeLead(tenant: string, holder: string, until: number, seen: BudgetLead | null): Promise<boolean>;
}

/** Which read leads a tenant's budget, and until when unless it claims again. */
export interface BudgetLead {
  holder: string;
  until: number;
}
