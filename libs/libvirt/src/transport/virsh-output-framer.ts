/**
 * Splits the output of an interactive `virsh -q` session into per-command results.
 *
 * After each command the session is sent `echo --err <token>` with a fresh random token. virsh
 * runs commands strictly in order, so:
 *  - on stderr, everything before `error: <token>` belongs to the command;
 *  - on stdout, readline echoes each input line after the prompt, so the command's segment is
 *    `virsh # <echoed command>\n<output>` and it ends where `virsh # echo --err <token>\n`
 *    starts. Readline mangles the echo of long lines (horizontal scrolling with `\r`), but in a
 *    dumb terminal it never puts a newline inside it, so the output starts after the first `\n`.
 * Only this process knows the token, so no output (including user data) can fake a boundary.
 */
export const VIRSH_PROMPT = 'virsh # ';

export interface FramedOutput {
  stdout: string;
  stderr: string;
  /**
   * virsh reported its connection to libvirtd closed during this command (a disconnect notice
   * not followed by a reconnect): whatever error the command printed comes from that.
   */
  connectionLost?: true;
}

export class VirshFramingError extends Error {
  override readonly name = 'VirshFramingError';
}

// virsh reports connection drops and its automatic reconnects asynchronously on stderr; they
// describe the session, not whichever command happens to run next.
const DISCONNECTED = /^error: Disconnected from .* due to .*$/;
const RECONNECTED = /^error: Reconnected to the hypervisor$/;
const SESSION_NOTICES = [DISCONNECTED, RECONNECTED];

export class VirshOutputFramer {
  private stdout = '';
  private stderr = '';

  push(stream: 'stdout' | 'stderr', chunk: string): void {
    if (stream === 'stdout') this.stdout += chunk;
    else this.stderr += chunk;
  }

  /** Line to send after a command so its end can be found. */
  static endMarkerCommand(token: string): string {
    return `echo --err ${token}`;
  }

  /** The framed output of the command ended by `token`, or undefined while incomplete. */
  take(token: string): FramedOutput | undefined {
    const stdoutMarker = `${VIRSH_PROMPT}${VirshOutputFramer.endMarkerCommand(token)}\n`;
    const stderrMarker = `error: ${token}\n`;
    const outEnd = this.stdout.indexOf(stdoutMarker);
    const errEnd = this.stderr.indexOf(stderrMarker);
    if (outEnd < 0 || errEnd < 0) return undefined;

    const segment = this.stdout.slice(0, outEnd);
    this.stdout = this.stdout.slice(outEnd + stdoutMarker.length);
    const stderr = this.stderr.slice(0, errEnd);
    this.stderr = this.stderr.slice(errEnd + stderrMarker.length);

    const echoEnd = segment.indexOf('\n');
    if (!segment.startsWith(VIRSH_PROMPT) || echoEnd < 0) {
      throw new VirshFramingError(
        `unexpected virsh output before the command: ${JSON.stringify(segment.slice(0, 200))}`,
      );
    }
    return {
      stdout: segment.slice(echoEnd + 1),
      stderr: stripSessionNotices(stderr),
      ...(connectionLost(stderr) ? { connectionLost: true as const } : {}),
    };
  }

  /** Whatever arrived on stderr so far (used to explain why a session died). */
  pendingStderr(): string {
    return this.stderr;
  }
}

/** The last connection notice in a command's stderr is a disconnect. */
function connectionLost(stderr: string): boolean {
  let lost = false;
  for (const line of stderr.split('\n')) {
    if (DISCONNECTED.test(line)) lost = true;
    else if (RECONNECTED.test(line)) lost = false;
  }
  return lost;
}

function stripSessionNotices(stderr: string): string {
  if (stderr === '') return stderr;
  return stderr
    .split('\n')
    .filter((line) => !SESSION_NOTICES.some((notice) => notice.test(line)))
    .join('\n');
}

/** virsh marks failures with `error: ` lines on stderr; warnings alone do not fail a command. */
export function virshFailed(stderr: string): boolean {
  return /^error: /m.test(stderr);
}
