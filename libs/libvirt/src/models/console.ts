export interface VncEndpoint {
  host: string;
  port: number;
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
