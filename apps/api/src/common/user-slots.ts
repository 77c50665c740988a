/**
 * Counts long-lived things on this replica (uploads, console sessions, event streams), per user
 * and in total. Callers check their own limits first, then take a slot; nothing here refuses.
 */
export class UserSlots {
  private readonly perUser = new Map<string, number>();
  private count = 0;

  get total(): number {
    return this.count;
  }

  heldBy(userId: string): number {
    return this.perUser.get(userId) ?? 0;
  }

  /** Takes a slot for the user; the returned release gives it back, once however often it is called. */
  take(userId: string): () => void {
    this.perUser.set(userId, this.heldBy(userId) + 1);
    this.count++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.count--;
      const left = this.heldBy(userId) - 1;
      if (left > 0) this.perUser.set(userId, left);
      else this.perUser.delete(userId);
    };
  }
}
