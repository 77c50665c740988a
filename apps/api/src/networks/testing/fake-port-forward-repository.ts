import { randomUUID } from 'node:crypto';
import type { PortProtocol } from '@limen/libvirt';
import { Tx } from '../../database/transaction';
import { PortForward } from '../port-forward.entity';
import { PortForwardRepository } from '../port-forward.repository';

/** PortForwardRepository in memory, for unit specs: both unique keys, generated ids and timestamps. */
export class FakePortForwardRepository {
  readonly rows = new Map<string, PortForward>();

  constructor(...forwards: PortForward[]) {
    for (const forward of forwards) this.rows.set(forward.id, forward);
  }

  async ofVm(vmId: string, _tx?: Tx): Promise<PortForward[]> {
    return this.all().filter((f) => f.vmId === vmId);
  }

  async find(id: string, _tx?: Tx): Promise<PortForward | null> {
    return this.all().find((f) => f.id === id) ?? null;
  }

  async findOfVm(vmId: string, id: string, _tx?: Tx): Promise<PortForward | null> {
    return this.all().find((f) => f.id === id && f.vmId === vmId) ?? null;
  }

  async hostPortsInUse(_tx: Tx, protocol: PortProtocol, from: number, to: number): Promise<number[]> {
    return this.all()
      .filter((f) => f.protocol === protocol && f.hostPort >= from && f.hostPort <= to)
      .map((f) => f.hostPort)
      .sort((a, b) => a - b);
  }

  async guestPortTaken(_tx: Tx, nicId: string, protocol: PortProtocol, guestPort: number): Promise<boolean> {
    return this.all().some((f) => f.nicId === nicId && f.protocol === protocol && f.guestPort === guestPort);
  }

  async insertIfFree(_tx: Tx, forward: PortForward): Promise<boolean> {
    const clash = this.all().some(
      (f) =>
        f.protocol === forward.protocol &&
        (f.hostPort === forward.hostPort || (f.nicId === forward.nicId && f.guestPort === forward.guestPort)),
    );
    if (clash) return false;
    Object.assign(forward, { id: forward.id ?? randomUUID(), createdAt: new Date() });
    this.rows.set(forward.id, Object.assign(new PortForward(), forward));
    return true;
  }

  async delete(id: string, _tx?: Tx): Promise<void> {
    this.rows.delete(id);
  }

  /** Typed as the real one, for constructors. */
  get asRepository(): PortForwardRepository {
    return this as unknown as PortForwardRepository;
  }

  private all(): PortForward[] {
    return [...this.rows.values()].map((f) => Object.assign(new PortForward(), f));
  }
}
