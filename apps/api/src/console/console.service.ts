import { HttpStatus, Injectable } from '@nestjs/common';
import { HypervisorError } from '@limen/libvirt';
import { Duplex } from 'node:stream';
import { AccessTokenInfo, AuthUser } from '../auth/decorators';
import { SessionRevocations } from '../auth/session-revocations';
import { AppException, ErrorCode } from '../common/problem';
import { Host } from '../hosts/host.entity';
import { HostPorts } from '../hosts/host-ports';
import { HostRepository } from '../hosts/host.repository';
import { UserAccessCache } from '../users/user-access-cache';
import { Vm } from '../vms/vm.entity';
import { VmAccess } from '../vms/vm-access';
import { ConsoleSessions } from './console-sessions';
import { ConsoleTickets } from './console-tickets';
import { ConsoleType } from './console-type';
import { ConsoleTicketDto } from './dto/console.dto';

/** The WebSocket path for a VM's console; nginx and the k8s Ingress upgrade everything under /api/v1/console/ws/. */
export const CONSOLE_SOCKET_PREFIX = '/api/v1/console/ws/';

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/** qemu-direct runs QEMU beside the api; libvirt does when its URI names no other machine. */
function runsOnThisMachine(host: Host): boolean {
  if (host.adapter === 'qemu-direct' || !host.libvirtUri) return true;
  const { hostname } = new URL(host.libvirtUri);
  return hostname === '' || LOOPBACK_NAMES.has(hostname);
}

/** A connected console: the byte stream to the VM, and who holds it. */
export interface ConsoleConnection {
  user: AuthUser;
  vmId: string;
  type: ConsoleType;
  target: Duplex;
  /** The access token the ticket was requested with: the session ends when it would be refused. */
  accessToken: AccessTokenInfo;
  /** Frees the user's session slot; idempotent. */
  release: () => void;
}

/**
 * Console access in two steps. `open` (an authenticated REST call) checks the
 * rules and issues a ticket; `connect` (the WebSocket upgrade, which carries no
 * bearer token) spends the ticket, checks the rules again, since they may have
 * changed in between, and opens the stream to the VM.
 */
@Injectable()
export class ConsoleService {
  constructor(
    private readonly store: VmAccess,
    private readonly tickets: ConsoleTickets,
    private readonly sessions: ConsoleSessions,
    private readonly hosts: HostPorts,
    private readonly users: UserAccessCache,
    private readonly hostRows: HostRepository,
    private readonly revocations: SessionRevocations,
  ) {}

  async open(user: AuthUser, accessToken: AccessTokenInfo, vmId: string, type: ConsoleType): Promise<ConsoleTicketDto> {
    const vm = await this.store.visible(user, vmId);
    this.assertRunning(vm);
    if (!(await this.sessions.hasRoom(user.id))) throw this.sessionLimit();
    const { ticket, expiresAt } = await this.tickets.issue(user.id, accessToken, vm.id, type);
    return { ticket, url: `${CONSOLE_SOCKET_PREFIX}${vm.id}?ticket=${ticket}`, expiresAt, type };
  }

  async connect(ticket: string, vmId: string): Promise<ConsoleConnection> {
    const redeemed = await this.tickets.redeem(ticket);
    if (!redeemed)
      throw new AppException(
        HttpStatus.UNAUTHORIZED,
        ErrorCode.CONSOLE_TICKET_INVALID,
        'The console ticket is unknown, already used or expired',
      );
    // The ticket is spent either way: a ticket presented for the wrong VM is not a ticket to retry with.
    if (redeemed.vmId !== vmId)
      throw new AppException(
        HttpStatus.FORBIDDEN,
        ErrorCode.CONSOLE_TICKET_INVALID,
        'The console ticket was issued for another VM',
      );
    const account = await this.users.get(redeemed.userId);
    if (!account || account.status !== 'active')
      throw new AppException(
        HttpStatus.UNAUTHORIZED,
        ErrorCode.CONSOLE_TICKET_INVALID,
        'The account of the console ticket is no longer active',
      );
    const { sessionId } = redeemed.accessToken;
    if (
      account.tokenVersion !== redeemed.accessToken.version ||
      redeemed.accessToken.expiresAt.getTime() <= Date.now() ||
      (sessionId !== undefined && (await this.revocations.isRevoked(sessionId)))
    ) {
      throw new AppException(
        HttpStatus.UNAUTHORIZED,
        ErrorCode.CONSOLE_TICKET_INVALID,
        'The access token the console ticket was requested with has expired or been revoked',
      );
    }
    const user: AuthUser = { id: account.id, username: account.username, role: account.role };
    const vm = await this.store.visible(user, vmId);
    this.assertRunning(vm);
    const release = await this.sessions.acquire(user.id);
    if (!release) throw this.sessionLimit();
    try {
      return {
        user,
        vmId: vm.id,
        type: redeemed.type,
        target: await this.openTarget(vm, redeemed.type),
        accessToken: redeemed.accessToken,
        release,
      };
    } catch (error) {
      release();
      throw error;
    }
  }

  private async openTarget(vm: Vm, type: ConsoleType): Promise<Duplex> {
    // QEMU's VNC socket and pty live on the hypervisor's own file system.
    const host = vm.hostId ? await this.hostRows.find(vm.hostId) : null;
    if (host && !runsOnThisMachine(host))
      throw this.unavailable(
        `The VM runs on host ${host.name}, whose console this api process cannot reach: it relays consoles of hypervisors on its own machine only`,
      );
    try {
      return await this.hosts.forVm(vm).openConsole(vm.id, type);
    } catch (error) {
      // The domain has no such console now (no VNC display, or no pty: it stopped meanwhile).
      if (HypervisorError.is(error, 'INVALID_STATE'))
        throw this.unavailable(type === 'vnc' ? 'The VM has no VNC display' : 'The VM has no serial console pty');
      throw error;
    }
  }

  private assertRunning(vm: Vm): void {
    if (vm.state !== 'running')
      throw new AppException(HttpStatus.CONFLICT, ErrorCode.INVALID_STATE, `The VM is ${vm.state}, not running`, {
        state: vm.state,
      });
  }

  private sessionLimit(): AppException {
    const limit = this.sessions.limit;
    return new AppException(
      HttpStatus.TOO_MANY_REQUESTS,
      ErrorCode.CONSOLE_SESSION_LIMIT,
      `At most ${limit} console sessions per user; close one first`,
      { limit },
    );
  }

  private unavailable(detail: string): AppException {
    return new AppException(HttpStatus.CONFLICT, ErrorCode.CONSOLE_UNAVAILABLE, detail);
  }
}
