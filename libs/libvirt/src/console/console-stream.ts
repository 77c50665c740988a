import { closeSync, constants, open as openFd } from 'node:fs';
import { open } from 'node:fs/promises';
import { connect, Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { ReadStream } from 'node:tty';
import { promisify } from 'node:util';
import { HypervisorError } from '../errors/hypervisor-error';
import { ConsoleType, SerialConsoleInfo, VncEndpoint } from '../models';
import { domainNameFor } from '../naming/domain-name';

const CONNECT_TIMEOUT_MS = 5_000;
/** QEMU's pty chardev hands out a slave of the Unix98 pty multiplexer (what libuv reopens; see openSerialPty). */
const PTY_SLAVE = /^\/dev\/pts\/\d+$/;

/** What openConsoleStream needs of an adapter: where the running domain's consoles are. */
export interface ConsoleLocator {
  getVncEndpoint(vmId: string): Promise<VncEndpoint | null>;
  getSerialConsole(vmId: string): Promise<SerialConsoleInfo>;
}

/**
 * The console of a running domain as a byte stream, for both adapters (QEMU's pty and VNC socket
 * live on the hypervisor's own file system). INVALID_STATE when the domain has no such console now.
 */
export async function openConsoleStream(adapter: ConsoleLocator, vmId: string, type: ConsoleType): Promise<Duplex> {
  const name = domainNameFor(vmId);
  let connectTo: () => Promise<Duplex>;
  if (type === 'vnc') {
    const endpoint = await adapter.getVncEndpoint(vmId);
    if (!endpoint) throw new HypervisorError('INVALID_STATE', `domain ${name} has no VNC display now`);
    connectTo = () => connectVnc(endpoint.socketPath);
  } else {
    const { ptyPath } = await adapter.getSerialConsole(vmId);
    if (!ptyPath) throw new HypervisorError('INVALID_STATE', `domain ${name} has no serial console pty now`);
    connectTo = () => openSerialPty(ptyPath);
  }
  try {
    return await connectTo();
  } catch (error) {
    throw new HypervisorError(
      'OPERATION_FAILED',
      `cannot open the ${type} console of ${name}`,
      (error as Error).message,
    );
  }
}

/** A connection to the VM's VNC server, through the unix socket QEMU listens on (never a TCP port). */
export function connectVnc(socketPath: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path: socketPath });
    socket.setTimeout(CONNECT_TIMEOUT_MS, () => socket.destroy(new Error(`VNC connect to ${socketPath} timed out`)));
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.setTimeout(0);
      socket.off('error', reject);
      resolve(socket);
    });
  });
}

/**
 * The VM's serial port as a byte stream, through the pty QEMU holds the master of.
 *
 * Reads go through a tty.ReadStream: libuv polls it, so an idle console costs no
 * thread (a plain fs stream would park a libuv pool thread in read(2) per session).
 * Writes use a second, non-blocking descriptor: a guest that does not read its
 * serial input fills the pty, and then keystrokes are dropped rather than
 * blocking a pool thread.
 */
export async function openSerialPty(ptyPath: string): Promise<Duplex> {
  if (!PTY_SLAVE.test(ptyPath)) throw new Error(`${ptyPath} is not a pty`);
  const flags = constants.O_NOCTTY | constants.O_NONBLOCK;
  const writer = await open(ptyPath, constants.O_WRONLY | flags);
  let reader: ReadStream | undefined;
  let readFd: number | undefined;
  try {
    readFd = await promisify(openFd)(ptyPath, constants.O_RDONLY | flags);
    reader = new ReadStream(readFd);
    reader.setRawMode(true);
  } catch (error) {
    reader?.destroy();
    await writer.close();
    throw error;
  } finally {
    // libuv (uv_tty_init) reopens a pty slave by name for a file description of its own, dup2()s
    // that over the descriptor it was given and, on close, closes only its own. The one given
    // stayed open for good: a descriptor leaked per session, and QEMU, seeing its pty still
    // open, buffered the guest's output for a reader that never came until the guest stalled.
    if (readFd !== undefined) closeSync(readFd);
  }
  return ptyDuplex(reader, writer);
}

function ptyDuplex(reader: ReadStream, writer: Awaited<ReturnType<typeof open>>): Duplex {
  const stream = new Duplex({
    read() {
      reader.resume();
    },
    write(chunk: Buffer, _encoding, done) {
      writer.write(chunk).then(
        () => done(),
        (error: NodeJS.ErrnoException) => done(error.code === 'EAGAIN' ? null : error),
      );
    },
    destroy(error, done) {
      reader.destroy();
      writer.close().then(
        () => done(error),
        () => done(error),
      );
    },
  });
  reader.on('data', (chunk: Buffer) => {
    if (!stream.push(chunk)) reader.pause();
  });
  reader.on('end', () => stream.push(null));
  // EIO is how a pty reports that QEMU closed its end: the VM stopped.
  reader.on('error', (error: NodeJS.ErrnoException) =>
    error.code === 'EIO' ? stream.push(null) : stream.destroy(error),
  );
  return stream;
}
