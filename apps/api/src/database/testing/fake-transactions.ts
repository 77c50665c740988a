import { Transactions, Tx } from '../transaction';

/**
 * Transactions for unit specs: runs the work at once and, if it throws, puts back the given
 * in-memory tables as they were (fake repositories replace rows rather than mutate them, so a
 * shallow copy is the snapshot).
 */
export class FakeTransactions {
  private readonly tables: Map<unknown, unknown>[];

  constructor(...tables: Map<unknown, unknown>[]) {
    this.tables = tables;
  }

  /** Also restores `tables` on a rollback. */
  track(...tables: Map<unknown, unknown>[]): void {
    this.tables.push(...tables);
  }

  async run<T>(work: (tx: Tx) => Promise<T>): Promise<T> {
    const before = this.tables.map((table) => new Map(table));
    try {
      return await work({} as Tx);
    } catch (error) {
      this.tables.forEach((table, i) => {
        table.clear();
        for (const [key, row] of before[i]) table.set(key, row);
      });
      throw error;
    }
  }

  /** Typed as the real one, for constructors. */
  get asTransactions(): Transactions {
    return this as unknown as Transactions;
  }
}
