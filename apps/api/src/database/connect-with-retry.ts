import { Logger } from '@nestjs/common';
import { DataSource, DataSourceOptions } from 'typeorm';

const logger = new Logger('Database');

/** Redacts the password of a connection URL before it reaches a log line. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<invalid url>';
  }
}

/**
 * Initializes a DataSource, retrying with exponential backoff (0.5 s doubling,
 * capped at 8 s) until `deadlineMs` has passed, so the api survives a database
 * that starts after it, and says clearly what it is waiting for.
 */
export async function connectWithRetry(options: DataSourceOptions, deadlineMs: number): Promise<DataSource> {
  const url = 'url' in options && options.url ? redactUrl(options.url) : 'the database';
  const giveUpAt = Date.now() + deadlineMs;
  let delay = 500;
  for (let attempt = 1; ; attempt++) {
    const dataSource = new DataSource(options);
    try {
      return await dataSource.initialize();
    } catch (error) {
      const reason = (error as Error).message;
      if (Date.now() + delay > giveUpAt) {
        throw new Error(`Cannot connect to ${url} after ${attempt} attempts: ${reason}`, { cause: error });
      }
      logger.warn(`Cannot connect to ${url} (attempt ${attempt}: ${reason}); retrying in ${delay} ms`);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 8000);
    }
  }
}
