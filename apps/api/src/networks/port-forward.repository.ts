import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { PortProtocol } from '@limen/libvirt';
import { TableRepository } from '../database/table-repository';
import { Tx } from '../database/transaction';
import { PortForward } from './port-forward.entity';

/**
 * The one owner of the `port_forwards` table's SQL. A host port is held by one forward per protocol
 * (UNIQUE (protocol, host_port)): that key, not a lock, keeps two requests from getting one port.
 * Rows go with their NIC and their VM (ON DELETE CASCADE).
 */
@Injectable()
export class PortForwardRepository extends TableRepository {
  constructor(@InjectDataSource() dataSource: DataSource) {
    super(dataSource);
  }

  /** A VM's forwards, oldest first. */
  ofVm(vmId: string, tx?: Tx): Promise<PortForward[]> {
    return this.manager(tx).find(PortForward, { where: { vmId }, order: { createdAt: 'ASC', id: 'ASC' } });
  }

  find(id: string, tx?: Tx): Promise<PortForward | null> {
    return this.manager(tx).findOneBy(PortForward, { id });
  }

  findOfVm(vmId: string, id: string, tx?: Tx): Promise<PortForward | null> {
    return this.manager(tx).findOneBy(PortForward, { id, vmId });
  }

  /** The host ports of `protocol` in [from, to] that forwards hold, ascending. */
  async hostPortsInUse(tx: Tx, protocol: PortProtocol, from: number, to: number): Promise<number[]> {
    const rows = await this.query<{ host_port: number }>(
      tx,
      `SELECT host_port FROM port_forwards WHERE protocol = $1 AND host_port BETWEEN $2 AND $3 ORDER BY host_port`,
      [protocol, from, to],
    );
    return rows.map((row) => row.host_port);
  }

  /** Whether the NIC already forwards a host port to `guestPort` over `protocol`. */
  async guestPortTaken(tx: Tx, nicId: string, protocol: PortProtocol, guestPort: number): Promise<boolean> {
    return (await this.manager(tx).countBy(PortForward, { nicId, protocol, guestPort })) > 0;
  }

  /**
   * Inserts a forward (id, timestamps filled in); false when its host port or its NIC's guest port
   * is taken, by a row committed meanwhile too (skipped, so `tx` stays usable).
   */
  insertIfFree(tx: Tx, forward: PortForward): Promise<boolean> {
    return this.insert(tx, forward, { ifNoConflict: true });
  }

  async delete(id: string, tx?: Tx): Promise<void> {
    await this.manager(tx).delete(PortForward, { id });
  }
}
