/**
 * Sessions (refresh-token families) that ended, each kept for `keepMs` after it ended: no access
 * token is issued for a session once it has ended, so after that long every token it issued has
 * expired and the entry refuses nothing. Revocation is permanent, so entries are only ever added
 * (a later end time wins) and pruned by age, never evicted early.
 */
export class RevokedSessionSet {
  private readonly endedAt = new Map<string, number>();

  constructor(private readonly keepMs: number) {}

  add(sessionId: string, endedAtMs: number): void {
    const known = this.endedAt.get(sessionId);
    if (known === undefined || known < endedAtMs) this.endedAt.set(sessionId, endedAtMs);
  }

  has(sessionId: string): boolean {
    return this.endedAt.has(sessionId);
  }

  /** Forgets the sessions that ended `keepMs` or longer before `nowMs`. */
  prune(nowMs: number): void {
    for (const [sessionId, endedAt] of this.endedAt) if (endedAt + this.keepMs <= nowMs) this.endedAt.delete(sessionId);
  }

  get size(): number {
    return this.endedAt.size;
  }
}
