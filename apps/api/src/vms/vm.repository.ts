import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { encodeCursor } from '../common/pagination';
import { TableRepository } from '../database/table-repository';
import { managerOf, Tx } from '../database/transaction';
import { CHARGED_MEMORY_MIB_SQL, CHARGED_VCPUS_SQL } from '../quotas/quota.repository';
import type { GuestAgentState, GuestOsInfo } from '@limen/libvirt';
import { Vm, VmAddress } from './vm.entity';
import { VmPageCache } from './vm-page-cache';
import { VmPageFilter, vmPageStatement } from './vm-page-statement';
import type { SweepCandidate } from './vm-autostart';
import { BootedSizes, DesiredState, DOMAIN_RUNNING_STATES, DOMAIN_SHUT_OFF_STATES, VmState } from './vm-state';

export interface VmStateChange {
  state: VmState;
  reason?: string | null;
  /** Leave the VM alone while it is in one of these (e.g. an operation owns it). */
  unlessIn?: readonly VmState[];
  /** What the running domain booted with, when the caller read it from the hypervisor. */
  booted?: BootedSizes;
  /** Write (and bump the version) even when the state and reason are already these. */
  always?: boolean;
}

/** What a VM shows of its guest: addresses, whether its agent answers, its OS (the address watcher writes it). */
export interface GuestView {
  addresses: VmAddress[];
  guestAgent: GuestAgentState;
  os: GuestOsInfo | null;
}

/** What the VMs on one host hold: vCPUs and memory as their owners' quotas charge them, and how many. */
export interface HostAllocation {
  vcpus: number;
  memoryMiB: number;
  vms: number;
}

/** `diskGiB`: the sum of the VM's disks, which the disks module keeps it at. */
export type VmColumnChanges = Partial<
  Pick<Vm, 'vcpus' | 'memoryMiB' | 'description' | 'bootOrder' | 'mediaImageId' | 'autostart' | 'diskGiB'>
>;

/**
 * The one owner of the `vms` table's SQL. State and version change only through VmStateWriter,
 * which calls `writeState`/`writeStateIn` and raises the event.
 */
@Injectable()
export class VmRepository extends TableRepository {
  constructor(
    @InjectDataSource() dataSource: DataSource,
    private readonly pages: VmPageCache,
  ) {
    super(dataSource);
  }

  find(id: string, tx?: Tx, options: { lock?: boolean } = {}): Promise<Vm | null> {
    return this.manager(tx).findOne(Vm, {
      where: { id },
      ...(options.lock ? { lock: { mode: 'pessimistic_write' as const } } : {}),
    });
  }

  /** Inserts a new VM; false when its owner already has a VM of that name (skipped, so `tx` stays usable). */
  insertIfNameFree(tx: Tx, vm: Vm): Promise<boolean> {
    return this.write(tx, () => this.insert(tx, vm, { ifNoConflict: true }));
  }

  /** Applies column changes and bumps the version in one statement. */
  update(id: string, changes: VmColumnChanges, tx?: Tx): Promise<Vm> {
    return this.write(tx, async () => {
      await this.manager(tx)
        .createQueryBuilder()
        .update(Vm)
        .set({ ...changes, version: () => 'version + 1' })
        .where('id = :id', { id })
        .execute();
      return this.manager(tx).findOneByOrFail(Vm, { id });
    });
  }

  /** What the VM should be, as its owner (or its guest, powering off) last said; its autostart record starts afresh. */
  writeDesiredState(id: string, desired: DesiredState, tx?: Tx): Promise<Vm | null> {
    return this.clearStartAttempts(id, desired, tx);
  }

  async delete(id: string): Promise<void> {
    await this.write(undefined, () => this.manager().delete(Vm, { id }));
  }

  /**
   * Writes what the VM shows of its guest when it differs from what the row has, bumping the
   * version; returns the changed row, or null when nothing changed (or the VM is gone or being
   * deleted). With `whileRunning`, only if the VM is running: a refresh that read a guest which has
   * stopped since must not put its addresses back after the stop cleared them.
   */
  async writeGuestView(id: string, view: GuestView, options: { whileRunning: boolean }): Promise<Vm | null> {
    const [rows] = await this.writeQuery(
      undefined,
      `UPDATE vms SET addresses = $2::jsonb, guest_agent = $3, os = $4::jsonb, version = version + 1, updated_at = now()
       WHERE id = $1 AND state <> 'deleting' AND (NOT $5 OR state = 'running')
         AND (addresses IS DISTINCT FROM $2::jsonb OR guest_agent IS DISTINCT FROM $3 OR os IS DISTINCT FROM $4::jsonb)
       RETURNING *`,
      [
        id,
        JSON.stringify(view.addresses),
        view.guestAgent,
        view.os ? JSON.stringify(view.os) : null,
        options.whileRunning,
      ],
    );
    return rows.length ? this.fromRow(Vm, rows[0]) : null;
  }

  /** The running VMs on a host with their guest view (the address watcher's sweep). */
  async runningOnHost(hostId: string): Promise<Array<GuestView & { id: string; ownerId: string }>> {
    const rows = await this.query<GuestView & { id: string; owner_id: string; guest_agent: GuestAgentState }>(
      undefined,
      `SELECT id, owner_id, addresses, guest_agent, os FROM vms WHERE host_id = $1 AND state = 'running'`,
      [hostId],
    );
    return rows.map((r) => ({
      id: r.id,
      ownerId: r.owner_id,
      addresses: r.addresses,
      guestAgent: r.guest_agent,
      os: r.os,
    }));
  }

  /** VMs that are not running yet still show addresses or a connected agent (a stop went unseen). */
  async staleGuestViews(): Promise<Array<{ id: string; hostId: string | null }>> {
    const rows = await this.query<{ id: string; host_id: string | null }>(
      undefined,
      `SELECT id, host_id FROM vms
       WHERE state NOT IN ('running', 'deleting') AND (addresses <> '[]'::jsonb OR guest_agent = 'connected')`,
    );
    return rows.map((r) => ({ id: r.id, hostId: r.host_id }));
  }

  /**
   * Sets the state unless it already is that (or the VM is in one of `unlessIn`), bumping the
   * version; returns the changed row, or null when nothing changed. It also keeps what the running
   * domain booted with (see Vm.runningVcpus): `booted` when the caller read it from the hypervisor,
   * else what was recorded, else the definition's sizes (a domain that was not running boots with
   * those); forgotten once the domain is shut off.
   */
  async writeState(id: string, change: VmStateChange, tx?: Tx): Promise<Vm | null> {
    const { state, reason = null, unlessIn = [], booted, always = false } = change;
    const [rows] = await this.writeQuery(
      tx,
      `UPDATE vms SET state = $2, state_reason = $3, version = version + 1, updated_at = now(),
         running_vcpus = CASE WHEN $2 = ANY($7::text[]) THEN coalesce($5::int, running_vcpus, vcpus) WHEN $2 = ANY($8::text[]) THEN NULL ELSE running_vcpus END,
         running_memory_mib = CASE WHEN $2 = ANY($7::text[]) THEN coalesce($6::int, running_memory_mib, memory_mib) WHEN $2 = ANY($8::text[]) THEN NULL ELSE running_memory_mib END
       WHERE id = $1 AND NOT (state = ANY($4::text[]))
         AND ($9 OR state <> $2 OR state_reason IS DISTINCT FROM $3
              OR ($2 = ANY($7::text[]) AND (running_vcpus IS DISTINCT FROM coalesce($5::int, running_vcpus) OR running_memory_mib IS DISTINCT FROM coalesce($6::int, running_memory_mib))))
       RETURNING *`,
      [
        id,
        state,
        reason,
        unlessIn,
        booted?.vcpus ?? null,
        booted?.memoryMiB ?? null,
        DOMAIN_RUNNING_STATES,
        DOMAIN_SHUT_OFF_STATES,
        always,
      ],
    );
    return rows.length ? this.fromRow(Vm, rows[0]) : null;
  }

  /** Every VM on `hostId` not in `unlessIn` and not already `state` gets it; returns the changed rows. */
  async writeStateOnHost(hostId: string, change: Required<Pick<VmStateChange, 'state' | 'reason' | 'unlessIn'>>) {
    const [rows] = await this.writeQuery(
      undefined,
      `UPDATE vms SET state = $2, state_reason = $3, version = version + 1, updated_at = now()
       WHERE host_id = $1 AND state <> $2 AND NOT (state = ANY($4::text[])) RETURNING *`,
      [hostId, change.state, change.reason, change.unlessIn],
    );
    return (rows as Record<string, unknown>[]).map((row) => this.fromRow(Vm, row));
  }

  /**
   * One page of VMs, newest first, with the same keyset cursor as paginate(), as the response body
   * itself (rendered by PostgreSQL: see vmPageStatement). Pages are cached per replica until the
   * next change to `vms` (VmPageCache).
   */
  pageJson(filter: VmPageFilter): Promise<string> {
    const key = [filter.ownerId ?? '', filter.state ?? '', filter.name ?? '', filter.cursor ?? '', filter.limit].join(
      '\n',
    );
    return this.pages.page(key, () => this.renderPage(filter));
  }

  private async renderPage(filter: VmPageFilter): Promise<string> {
    const { name, text, values } = vmPageStatement(filter);
    const [page] = await this.prepared<{
      items: string;
      more: boolean;
      last_created_at: string | null;
      last_id: string | null;
    }>(name, text, values);
    const nextCursor =
      page.more && page.last_created_at && page.last_id
        ? encodeCursor({ createdAt: page.last_created_at, id: page.last_id })
        : null;
    return `{"items":${page.items},"nextCursor":${JSON.stringify(nextCursor)}}`;
  }

  /** Every VM's id and state (the alert sampler's crashed-VM metric), in `tx`. */
  idsAndStates(tx: Tx): Promise<Array<{ id: string; state: VmState }>> {
    return this.query(tx, `SELECT id, state FROM vms`);
  }

  /** How many VMs there are in each state (states with none are absent). */
  countByState(): Promise<Array<{ state: VmState; count: number }>> {
    return this.query(undefined, `SELECT state, count(*)::int AS count FROM vms GROUP BY state`);
  }

  /** How many VMs boot from the image or have it inserted as media; with `hostId`, on that host only. */
  async countUsingImage(imageId: string, hostId?: string): Promise<number> {
    const [{ count }] = await this.query<{ count: number }>(
      undefined,
      `SELECT count(*)::int AS count FROM vms WHERE (image_id = $1 OR media_image_id = $1) AND ($2::uuid IS NULL OR host_id = $2)`,
      [imageId, hostId ?? null],
    );
    return count;
  }

  /** How many VMs `ownerId` owns (a user who owns any cannot be deleted). */
  async countOwnedBy(ownerId: string, tx?: Tx): Promise<number> {
    const [{ count }] = await this.query<{ count: number }>(
      tx,
      `SELECT count(*)::int AS count FROM vms WHERE owner_id = $1`,
      [ownerId],
    );
    return count;
  }

  /** VMs from before hosts existed (no host) are on the local host. */
  async assignUnplacedTo(hostId: string): Promise<void> {
    await this.writeQuery(undefined, `UPDATE vms SET host_id = $1 WHERE host_id IS NULL`, [hostId]);
  }

  /** How many VMs a host holds. */
  async countOnHost(hostId: string): Promise<number> {
    const [{ count }] = await this.query<{ count: number }>(
      undefined,
      `SELECT count(*)::int AS count FROM vms WHERE host_id = $1`,
      [hostId],
    );
    return count;
  }

  /** Per host id, what its VMs hold (hosts without VMs are absent), in `tx` when given. */
  async allocationsByHost(tx?: Tx): Promise<Map<string, HostAllocation>> {
    const rows = await this.query<{ host_id: string; vcpus: number; memory: number; vms: number }>(
      tx,
      `SELECT host_id, sum(${CHARGED_VCPUS_SQL})::int AS vcpus, sum(${CHARGED_MEMORY_MIB_SQL})::int AS memory, count(*)::int AS vms FROM vms WHERE host_id IS NOT NULL GROUP BY host_id`,
    );
    return new Map(rows.map((r) => [r.host_id, { vcpus: r.vcpus, memoryMiB: r.memory, vms: r.vms }]));
  }

  /** The database's clock, which stamps `updated_at` (the reconciler compares rows against it). */
  async clock(): Promise<Date> {
    const [{ now }] = await this.query<{ now: Date }>(undefined, `SELECT clock_timestamp() AS now`);
    return now;
  }

  /**
   * The reconciler's candidates on a host: VMs unchanged since `unchangedSince` and with no active
   * operation, with what their state reason depends on (see autostartGaveUpReason).
   */
  sweepCandidates(hostId: string, unchangedSince: Date): Promise<SweepCandidate[]> {
    return this.query(
      undefined,
      `SELECT v.id, v.state, v.state_reason AS "stateReason", v.running_vcpus AS "runningVcpus",
              v.running_memory_mib AS "runningMemoryMiB", v.autostart, v.desired_state AS "desiredState",
              v.start_attempts AS "startAttempts", v.last_start_error AS "lastStartError" FROM vms v
       WHERE v.host_id = $1 AND v.updated_at < $2
         AND NOT EXISTS (SELECT 1 FROM operations o WHERE o.vm_id = v.id AND o.status IN ('pending', 'running'))`,
      [hostId, unchangedSince],
    );
  }

  /** VMs on a host with autostart on and wanted running that no operation owns (VmAutostart's sweep). */
  async autostartCandidates(hostId: string): Promise<Vm[]> {
    const rows = await this.query<Record<string, unknown>>(
      undefined,
      `SELECT v.* FROM vms v
       WHERE v.host_id = $1 AND v.autostart AND v.desired_state = 'running' AND v.state NOT IN ('provisioning', 'deleting')
         AND NOT EXISTS (SELECT 1 FROM operations o WHERE o.vm_id = v.id AND o.status IN ('pending', 'running'))`,
      [hostId],
    );
    return rows.map((row) => this.fromRow(Vm, row));
  }

  /** Counts an autostart attempt and its error (null: it started); the next waits backoff · 2^(attempts - 1) s, ≤ 1 h. */
  async recordStartAttempt(id: string, attempt: { error: string | null; backoffSeconds: number }): Promise<Vm | null> {
    const [rows] = await this.writeQuery(
      undefined,
      `UPDATE vms SET start_attempts = start_attempts + 1,
         next_start_at = now() + make_interval(secs => least(3600, $3 * power(2, start_attempts))),
         last_start_error = $2, version = version + 1, updated_at = now()
       WHERE id = $1 RETURNING *`,
      [id, attempt.error, attempt.backoffSeconds],
    );
    return rows.length ? this.fromRow(Vm, rows[0]) : null;
  }

  /** The VM ran past its backoff: its attempt record starts afresh. Returns the changed row, or null. */
  resetStartAttempts(id: string): Promise<Vm | null> {
    return this.clearStartAttempts(id, null);
  }

  /** Forgets the autostart attempts, and sets the desired state unless null; null when nothing changed. */
  private async clearStartAttempts(id: string, desired: DesiredState | null, tx?: Tx): Promise<Vm | null> {
    const [rows] = await this.writeQuery(
      tx,
      `UPDATE vms SET desired_state = coalesce($2, desired_state), start_attempts = 0, next_start_at = NULL,
         last_start_error = NULL, version = version + 1, updated_at = now()
       WHERE id = $1 AND (desired_state <> coalesce($2, desired_state) OR start_attempts <> 0
                          OR next_start_at IS NOT NULL OR last_start_error IS NOT NULL)
       RETURNING *`,
      [id, desired],
    );
    return rows.length ? this.fromRow(Vm, rows[0]) : null;
  }

  /** Every VM's id. */
  async ids(): Promise<string[]> {
    return (await this.query<{ id: string }>(undefined, `SELECT id FROM vms`)).map((row) => row.id);
  }

  /**
   * VMs on a host left `deleting` with no active operation whose last failed delete is older than
   * `retrySeconds` doubled per failure (at most an hour), with how many deletes failed.
   */
  async stalledDeletes(
    hostId: string,
    retrySeconds: number,
  ): Promise<Array<{ id: string; ownerId: string; failures: number }>> {
    const rows = await this.query<{ id: string; owner_id: string; failures: number }>(
      undefined,
      `SELECT v.id, v.owner_id, d.failures FROM vms v
       CROSS JOIN LATERAL (SELECT count(*)::int AS failures, max(o.finished_at) AS last FROM operations o WHERE o.vm_id = v.id AND o.kind = 'vm.delete' AND o.status = 'failed') d
       WHERE v.host_id = $1 AND v.state = 'deleting'
         AND NOT EXISTS (SELECT 1 FROM operations o WHERE o.vm_id = v.id AND o.status IN ('pending', 'running'))
         AND (d.last IS NULL OR d.last < now() - make_interval(secs => least(3600, $2 * power(2, greatest(d.failures - 1, 0)))))`,
      [hostId, retrySeconds],
    );
    return rows.map((row) => ({ id: row.id, ownerId: row.owner_id, failures: row.failures }));
  }

  /** Runs a write to `vms`, dropping the cached list pages around it (VmPageCache). */
  private async write<T>(tx: Tx | undefined, run: () => Promise<T>): Promise<T> {
    this.pages.writing(tx ? managerOf(tx).queryRunner : undefined);
    try {
      return await run();
    } finally {
      this.pages.written();
    }
  }

  /** Raw SQL that writes `vms` (see `write`); for UPDATE … RETURNING, TypeORM's [rows, count]. */
  private writeQuery(
    tx: Tx | undefined,
    text: string,
    values: unknown[] = [],
  ): Promise<[Record<string, unknown>[], number]> {
    return this.write(tx, () => this.manager(tx).query(text, values));
  }
}
