import { HttpStatus } from '@nestjs/common';
import { AppException, ErrorCode } from '../common/problem';
import type { UsersService } from '../users/users.service';
import { AuthService } from './auth.service';

describe('AuthService.me', () => {
  function serviceWhoseUserLookupThrows(error: unknown): AuthService {
    const users = { get: () => Promise.reject(error) } as unknown as UsersService;
    const unused = undefined as never;
    return new AuthService(unused, users, unused, unused, unused, unused, unused, unused, unused);
  }

  it('answers 401 UNAUTHENTICATED, not 404, when the token outlived its user (deleted on another replica)', async () => {
    const me = serviceWhoseUserLookupThrows(AppException.notFound('User')).me('0b7a7f3e-0000-4000-8000-000000000000');
    await expect(me).rejects.toMatchObject({ code: ErrorCode.UNAUTHENTICATED });
    await expect(me).rejects.toHaveProperty('status', HttpStatus.UNAUTHORIZED);
  });

  it('passes any other failure through unchanged', async () => {
    const failure = new Error('database down');
    await expect(serviceWhoseUserLookupThrows(failure).me('0b7a7f3e-0000-4000-8000-000000000000')).rejects.toBe(
      failure,
    );
  });
});
