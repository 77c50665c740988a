import { type Operation, wait } from '@limen/sdk';
import type { Command } from 'commander';
import { CliError, EXIT } from './exit-codes';
import { note } from './output';
import type { Session } from './session';
import { parseInteger } from './resolve';

export interface WaitFlags {
  wait: boolean;
  timeout: number;
}

/** --no-wait and --timeout, on every command that starts an operation. */
export function waitOptions(command: Command): Command {
  return command
    .option('--no-wait', 'return once the api accepted the request, without waiting for the operation')
    .option(
      '--timeout <seconds>',
      'give up waiting after this many seconds (exit 7)',
      parseInteger('--timeout', 1, 86_400),
      600,
    );
}

/**
 * Waits for an accepted request's operation (unless --no-wait), noting its progress on stderr.
 * A failed or cancelled operation ends the command with exit code 6 and the operation in the problem.
 */
export async function settle(session: Session, operation: Operation, flags: WaitFlags): Promise<Operation> {
  if (!flags.wait) return operation;
  const final = await wait(session.client, operation.id, {
    timeoutMs: flags.timeout * 1000,
    onProgress: (op) => note(session.output, `${op.kind}: ${op.status}`),
  });
  if (final.status !== 'succeeded') {
    const reason = final.error ? `${final.error.code}: ${final.error.detail}` : final.status;
    throw new CliError('OPERATION_FAILED', `${final.kind} ${final.status} (${reason})`, EXIT.OPERATION_FAILED, {
      operation: final,
    });
  }
  return final;
}
