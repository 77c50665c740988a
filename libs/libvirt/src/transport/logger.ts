/**
 * The subset of Nest's LoggerService the library uses. Optional everywhere: a library must not
 * write to the console on its own.
 */
export interface LibLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  debug?(message: string): void;
}

export const silentLogger: LibLogger = {
  log: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
