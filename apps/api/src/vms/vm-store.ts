import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AuthUser } from '../auth/decorators';
import { decodeCursor, encodeCursor } from '../common/pagination';
import { preparedQuery } from '../database/prepared-query';
import { AppException } from '../common/problem';
import { EventsService } from '../events/events.service';
import { ListVmsQueryDto } from './dto/list-vms-query.dto';
import { VmDto } from './dto/vm.dto';
import { Vm } from './vm.entity';
import { BootedSizes, DOMAIN_RUNNING_STATES, DOMAIN_SHUT_OFF_STATES, VmState } from './vm-state';

/** A timestamptz(3) column as Date.toISOString() renders it: 2026-11-26T08:00:00.000Z. */
const ISO_MS = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** The one place that reads VMs for a caller and changes their state (bumping the version and raising vm.state). */
@Injectable()
export class VmStore {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly events: EventsService,
  ) {}

  /** Owner or admin; anyone else gets 404 so existence does not leak. */
  async visible(
    user: AuthUser,
    id: string,
    manager: EntityManager = this.dataSource.manager,
    lock = false,
  ): Promise<Vm> {
    const vm = await manager.findOne(Vm, {
      where: { id },
      ...(lock ? { lock: { mode: 'pessimistic_write' as const } } : {}),
    });
    if (!vm || (user.role !== 'admin' && vm.ownerId !== user.id)) throw AppException.notFound('VM');
    return vm;
  }

  /**
   * One page of the VMs `user` may see (admins: everyone's, or one owner's), newest first, with
   * the same keyset cursor as paginate(), as the response body itself. The read path of the
   * busiest route, so:
   * - one prepared statement per filter combination, no query builder, no entity hydration;
   * - PostgreSQL renders the body: each VM in VmDto's shape (the keys and order of VmDto.from,
   *   timestamps as toISOString() writes them; the columns hold milliseconds), the page as one
   *   compact JSON text (array_to_json: json_agg would put a line break between elements). It
   *   is never parsed or serialized here: in the read bench's profile
   *   JSON.parse and the re-stringify of a 50-VM page took about 9 % of the request;
   * - limit + 1 rows are read to know whether there is a next page; `n` numbers them.
   * Columns are qualified (`v.`): a bare `created_at` in ORDER BY would name the rendered text
   * column, and sorting every row by it (a sequential scan) instead of walking the index.
   */
  async pageJson(user: AuthUser, query: ListVmsQueryDto): Promise<string> {
    const where: string[] = [];
    const values: unknown[] = [];
    let name = 'vms_page_json';
    const owner = user.role !== 'admin' ? user.id : query.ownerId;
    if (owner) {
      values.push(owner);
      where.push(`v.owner_id = $${values.length}`);
      name += '_owner';
    }
    if (query.state) {
      values.push(query.state);
      where.push(`v.state = $${values.length}`);
      name += '_state';
    }
    if (query.name) {
      values.push(query.name);
      where.push(`v.name = $${values.length}`);
      name += '_name';
    }
    if (query.cursor) {
      const position = decodeCursor(query.cursor);
      values.push(position.createdAt, position.id);
      where.push(`(v.created_at, v.id) < ($${values.length - 1}::timestamptz, $${values.length}::uuid)`);
      name += '_after';
    }
    values.push(query.limit);
    const limit = `$${values.length}::int`;
    const [page] = await preparedQuery<{
      items: string;
      more: boolean;
      last_created_at: string | null;
      last_id: string | null;
    }>(
      this.dataSource,
      name,
      `SELECT coalesce(array_to_json(array_agg(vm ORDER BY w.n) FILTER (WHERE w.n <= ${limit})), '[]')::text AS items,
              count(*) > ${limit} AS more,
              max(vm."createdAt") FILTER (WHERE w.n = ${limit}) AS last_created_at,
              max(vm.id::text) FILTER (WHERE w.n = ${limit}) AS last_id
       FROM (SELECT p.*, row_number() OVER (ORDER BY p.created_at DESC, p.id DESC) AS n
             FROM (SELECT v.* FROM vms v ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                   ORDER BY v.created_at DESC, v.id DESC
                   LIMIT ${limit} + 1) p) w,
            LATERAL (SELECT w.id, w.name, w.description, w.owner_id AS "ownerId", w.host_id AS "hostId", w.vcpus, w.memory_mib AS "memoryMiB",
                            w.disk_gib AS "diskGiB", w.image_id AS "imageId", w.media_image_id AS "mediaImageId", w.boot_order AS "bootOrder",
                            w.state, w.state_reason AS "stateReason", w.version, ${ISO_MS('w.created_at')} AS "createdAt", ${ISO_MS('w.updated_at')} AS "updatedAt") vm`,
      values,
    );
    const nextCursor =
      page.more && page.last_created_at && page.last_id
        ? encodeCursor({ createdAt: page.last_created_at, id: page.last_id })
        : null;
    return `{"items":${page.items},"nextCursor":${JSON.stringify(nextCursor)}}`;
  }

  find(id: string): Promise<Vm | null> {
    return this.dataSource.manager.findOneBy(Vm, { id });
  }

  /**
   * Sets the state unless it already is that (or, with `unlessIn`, the VM is in
   * one of those states, e.g. an operation owns it), and announces the change.
   * It also keeps what the running domain booted with (see Vm.runningVcpus): `booted` when the
   * caller read it from the hypervisor, else what was recorded, else the definition's sizes (a
   * domain that was not running boots with those); forgotten once the domain is shut off.
   */
  async setState(
    id: string,
    state: VmState,
    reason: string | null = null,
    unlessIn: readonly VmState[] = [],
    booted?: BootedSizes,
  ): Promise<boolean> {
    const [rows] = await this.dataSource.query(
      `UPDATE vms SET state = $2, state_reason = $3, version = version + 1, updated_at = now(),
         running_vcpus = CASE WHEN $2 = ANY($7::text[]) THEN coalesce($5::int, running_vcpus, vcpus) WHEN $2 = ANY($8::text[]) THEN NULL ELSE running_vcpus END,
         running_memory_mib = CASE WHEN $2 = ANY($7::text[]) THEN coalesce($6::int, running_memory_mib, memory_mib) WHEN $2 = ANY($8::text[]) THEN NULL ELSE running_memory_mib END
       WHERE id = $1 AND NOT (state = ANY($4::text[]))
         AND (state <> $2 OR state_reason IS DISTINCT FROM $3
              OR ($2 = ANY($7::text[]) AND (running_vcpus IS DISTINCT FROM coalesce($5::int, running_vcpus) OR running_memory_mib IS DISTINCT FROM coalesce($6::int, running_memory_mib))))
       RETURNING id`,
      [
        id,
        state,
        reason,
        unlessIn,
        booted?.vcpus ?? null,
        booted?.memoryMiB ?? null,
        DOMAIN_RUNNING_STATES,
        DOMAIN_SHUT_OFF_STATES,
      ],
    );
    if (!rows.length) return false;
    const vm = await this.find(id);
    if (vm)
      await this.events.publish({
        type: 'vm.state',
        ownerId: vm.ownerId,
        vmId: vm.id,
        payload: { vmId: vm.id, state: vm.state, stateReason: vm.stateReason, version: vm.version },
      });
    return true;
  }

  /** Applies column changes and bumps the version in one statement. */
  async update(
    manager: EntityManager,
    id: string,
    changes: Partial<Pick<Vm, 'vcpus' | 'memoryMiB' | 'description' | 'bootOrder' | 'mediaImageId'>>,
  ): Promise<Vm> {
    await manager
      .createQueryBuilder()
      .update(Vm)
      .set({ ...changes, version: () => 'version + 1' })
      .where('id = :id', { id })
      .execute();
    return manager.findOneByOrFail(Vm, { id });
  }

  async remove(vm: Vm): Promise<void> {
    await this.dataSource.manager.delete(Vm, { id: vm.id });
    await this.events.publish({
      type: 'vm.deleted',
      ownerId: vm.ownerId,
      vmId: vm.id,
      payload: { vmId: vm.id, name: vm.name },
    });
  }

  dto(vm: Vm): VmDto {
    return VmDto.from(vm);
  }
}
