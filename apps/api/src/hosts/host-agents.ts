import { Injectable } from '@nestjs/common';
import { AgentClient } from '../agent-proxy/agent-client';
import { Host } from './host.entity';
import { HostSecrets } from './host-secrets';

/**
 * Each host's metrics agent. The local host's is the configured one (AGENT_URL with AGENT_TOKEN
 * or the token file) unless an admin stored a token for it; any other host's is its agentUrl with
 * its stored token, which goes to that URL and nowhere else.
 */
@Injectable()
export class HostAgents {
  /** Memory each host's agent last reported available, in MiB, by host id. */
  private readonly availableMiB = new Map<string, number>();

  constructor(
    private readonly configured: AgentClient,
    private readonly secrets: HostSecrets,
  ) {}

  /** The host's agent, or undefined when it has none. */
  forHost(host: Host, localHostId: string | null): AgentClient | undefined {
    if (host.id === localHostId && !host.agentTokenEncrypted) return this.configured;
    const sealed = host.agentTokenEncrypted;
    if (!host.agentUrl || !sealed) return undefined;
    return new AgentClient({
      url: host.agentUrl,
      token: () => this.secrets.decrypt(sealed),
      tokenSource: `the agentToken of host ${host.name}`,
    });
  }

  /** Records what the host's agent reported available now; undefined (no agent, no answer) forgets it. */
  noteAvailableMiB(hostId: string, mib: number | undefined): void {
    if (mib === undefined) this.availableMiB.delete(hostId);
    else this.availableMiB.set(hostId, mib);
  }

  /** What the host's agent last reported available, if it answered its last reading. */
  lastAvailableMiB(hostId: string): number | undefined {
    return this.availableMiB.get(hostId);
  }
}
