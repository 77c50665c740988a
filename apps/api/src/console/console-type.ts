export const CONSOLE_TYPES = ['vnc', 'serial'] as const;
export type ConsoleType = (typeof CONSOLE_TYPES)[number];
