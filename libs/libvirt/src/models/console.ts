/**
 * The VM's VNC server: a unix socket, never a TCP port. A port on the host's loopback is open to
 * every local user, and to guests wherever their network reaches that loopback.
 */
export interface VncEndpoint {
  socketPath: string;
}

export interface SerialConsoleInfo {
  /** Host pty connected to the guest's first serial port, while the domain runs. */
  ptyPath?: string;
  /** File that records all serial output. */
  logPath?: string;
}

export interface SetResourceResult {
  /** Applied to the persistent definition (takes effect at next boot). */
  config: boolean;
  /** Applied to the running guest now. */
  live: boolean;
}

/** A VM's consoles: its first serial port, or its display through VNC (RFB). */
export type ConsoleType = 'serial' | 'vnc';
