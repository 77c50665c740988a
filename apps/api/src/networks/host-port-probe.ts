import { Injectable } from '@nestjs/common';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import type { PortProtocol } from '@limen/libvirt';

/**
 * Whether a host port is free on this machine, by binding it for a moment. Only LIMEN's own forwards
 * are in its database; this skips ports other processes (another LIMEN, sshd, a test) hold. An
 * address this machine does not have (the VM's host is another machine) proves nothing: free.
 */
@Injectable()
export class HostPortProbe {
  isFree(address: string, port: number, protocol: PortProtocol): Promise<boolean> {
    return new Promise((resolve) => {
      const settle = (error?: NodeJS.ErrnoException) => resolve(!error || error.code === 'EADDRNOTAVAIL');
      if (protocol === 'udp') {
        const socket = createSocket('udp4');
        socket.once('error', (error) => (socket.close(), settle(error)));
        socket.bind({ address, port, exclusive: true }, () => socket.close(() => settle()));
        return;
      }
      const server = createServer();
      server.once('error', (error: NodeJS.ErrnoException) => settle(error));
      server.listen({ host: address, port, exclusive: true }, () => server.close(() => settle()));
    });
  }
}
