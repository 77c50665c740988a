import { Duplex } from 'node:stream';
import { ConsoleType } from '../models';

interface OpenConsole {
  vmId: string;
  type: ConsoleType;
  /** The guest's side: what the client writes comes out here, and what is written here reaches the client. */
  guest: Duplex;
  client: Duplex;
}

/** Two connected in-memory streams: what one side writes, the other side reads. */
function duplexPair(): [Duplex, Duplex] {
  const sides: Duplex[] = [];
  const side = (other: () => Duplex) =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, done) {
        if (!other().destroyed) other().push(chunk);
        done();
      },
      final(done) {
        if (!other().destroyed) other().push(null);
        done();
      },
      destroy(error, done) {
        // Closing one end is the console going away for the other end too.
        if (!other().destroyed && !other().readableEnded) other().push(null);
        done(error);
      },
    });
  sides.push(
    side(() => sides[1]),
    side(() => sides[0]),
  );
  return [sides[0], sides[1]];
}

/** The consoles the fake has handed out, so tests can play the guest on the other end. */
export class FakeConsoles {
  private readonly open: OpenConsole[] = [];

  connect(vmId: string, type: ConsoleType): Duplex {
    const [client, guest] = duplexPair();
    const entry: OpenConsole = { vmId, type, guest, client };
    this.open.push(entry);
    client.once('close', () => this.open.splice(this.open.indexOf(entry), 1));
    return client;
  }

  /** The guest's side of the most recently opened, still open console of that kind. */
  guestSide(vmId: string, type: ConsoleType): Duplex | undefined {
    return this.open.filter((entry) => entry.vmId === vmId && entry.type === type).at(-1)?.guest;
  }

  /** Guest output reaches every open serial console of the VM. */
  output(vmId: string, text: string): void {
    for (const entry of this.open) if (entry.vmId === vmId && entry.type === 'serial') entry.guest.write(text);
  }

  /** The VM stopped: its consoles end, as a pty reports EIO and QEMU closes the VNC socket. */
  endAll(vmId: string): void {
    for (const entry of this.open.filter((e) => e.vmId === vmId)) entry.guest.end();
  }
}
