import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { LeaderElection } from './leader-election';

/**
 * Periodic jobs that one replica runs for all (sweeps, recovery, pruning): each runs only on the
 * elected leader, and never twice at once on it (a run still going when the next is due skips it).
 */
@Injectable()
export class LeaderJobs implements OnApplicationShutdown {
  private readonly logger = new Logger('LeaderJobs');
  private readonly running = new Set<string>();
  private readonly names: string[] = [];

  constructor(
    private readonly scheduler: SchedulerRegistry,
    private readonly leader: LeaderElection,
  ) {}

  /** Runs `work` now and then every `seconds` (see `run`). */
  every(name: string, seconds: number, work: () => Promise<unknown>): void {
    this.scheduler.addInterval(
      name,
      setInterval(() => void this.run(name, work), seconds * 1000),
    );
    this.names.push(name);
    void this.run(name, work);
  }

  /** Runs `work` once; false when this replica does not lead, `name` is already running here, or it failed. */
  async run(name: string, work: () => Promise<unknown>): Promise<boolean> {
    if (this.running.has(name) || !this.leader.isLeader) return false;
    this.running.add(name);
    try {
      await work();
      return true;
    } catch (error) {
      this.logger.warn(`${name} failed: ${(error as Error).message}`);
      return false;
    } finally {
      this.running.delete(name);
    }
  }

  onApplicationShutdown(): void {
    for (const name of this.names) if (this.scheduler.doesExist('interval', name)) this.scheduler.deleteInterval(name);
  }
}
