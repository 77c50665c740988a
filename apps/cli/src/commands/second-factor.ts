import { type components, type LimenClient, type Problem, unwrap } from '@limen/sdk';
import { CliError, EXIT } from '../exit-codes';
import { note, type Output } from '../output';
import { ask } from '../prompt';

type SignedIn = components['schemas']['SecondFactorLoginDto'];

export interface SecondFactorFlags {
  totp?: string;
  recoveryCode?: string;
}

/** The members a 401 SECOND_FACTOR_REQUIRED carries beside the problem's own. */
type SecondFactorProblem = Problem & { challenge?: string; enrolment?: boolean };

/**
 * The second step of a sign-in the api answered with SECOND_FACTOR_REQUIRED: a code from
 * --totp, --recovery-code or the terminal. An enrolment that REQUIRE_2FA demands shows the new
 * secret first; without a terminal the command stops there (exit 3, the otpauth URI in the
 * problem), and `limen login --totp CODE` run next confirms it: the pending secret is kept.
 */
export async function completeSecondFactor(
  anonymous: LimenClient,
  output: Output,
  problem: SecondFactorProblem,
  flags: SecondFactorFlags,
): Promise<SignedIn> {
  const challenge = problem.challenge;
  if (!challenge)
    throw new CliError('CLI_ERROR', 'the api asked for a second factor without a challenge', EXIT.GENERIC);
  let proof: { code: string } | { recoveryCode: string } | undefined = flags.recoveryCode
    ? { recoveryCode: flags.recoveryCode }
    : flags.totp
      ? { code: flags.totp }
      : undefined;
  if (problem.enrolment && !proof) {
    const enrolment = await unwrap(anonymous.POST('/api/v1/auth/login/totp-enrolment', { body: { challenge } }));
    if (!process.stdin.isTTY)
      throw new CliError(
        'SECOND_FACTOR_ENROLMENT_REQUIRED',
        `this account must set up a second factor: add ${enrolment.otpauthUri} to your authenticator app ` +
          '(or enrol in the dashboard), then run `limen login --totp CODE` with a code it shows',
        EXIT.AUTH,
        { otpauthUri: enrolment.otpauthUri, secret: enrolment.secret },
      );
    process.stderr.write(
      'This account must set up a second factor. Add this to your authenticator app:\n' +
        `  ${enrolment.otpauthUri}\n  (or type the secret ${enrolment.secret})\n`,
    );
  }
  proof ??= await askProof(problem.enrolment === true);
  const signedIn = await unwrap(anonymous.POST('/api/v1/auth/login/second-factor', { body: { challenge, ...proof } }));
  if (signedIn.recoveryCodes?.length)
    note(
      output,
      'Your recovery codes (each works once instead of a code; shown only now, store them safely):\n  ' +
        signedIn.recoveryCodes.join('\n  '),
    );
  return signedIn;
}

async function askProof(enrolment: boolean): Promise<{ code: string } | { recoveryCode: string }> {
  const typed = (
    await ask(
      enrolment ? 'Code from the app: ' : 'Code from your authenticator app (or a recovery code): ',
      false,
      '--totp CODE or --recovery-code CODE',
    )
  ).trim();
  if (/^\d{6}$/.test(typed)) return { code: typed };
  if (!typed) throw new CliError('USAGE', 'no code given', EXIT.USAGE);
  return { recoveryCode: typed };
}
