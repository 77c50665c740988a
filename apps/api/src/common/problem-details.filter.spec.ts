import { ArgumentsHost, BadRequestException, HttpException, NotFoundException } from '@nestjs/common';
import { HypervisorError } from '@limen/libvirt';
import { AppException, ErrorCode } from './problem';
import { isDatabaseUnavailable, ProblemDetailsFilter } from './problem-details.filter';

function fakeHost() {
  const res = {
    headersSent: false,
    statusCode: 0,
    headers: {} as Record<string, string>,
    body: '',
    contentType: '',
    status(code: number) {
      this.statusCode = code;
      return this;
    },
    type(value: string) {
      this.contentType = value;
      return this;
    },
    setHeader(name: string, value: string) {
      this.headers[name] = value;
    },
    send(body: string) {
      this.body = body;
    },
    end() {},
  };
  const req = { id: 'req-1', method: 'GET', originalUrl: '/api/v1/things?x=1' };
  const host = { switchToHttp: () => ({ getRequest: () => req, getResponse: () => res }) } as unknown as ArgumentsHost;
  return { host, res, parsed: () => JSON.parse(res.body) };
}

describe('ProblemDetailsFilter', () => {
  const filter = new ProblemDetailsFilter();

  it('renders an AppException with its code, extra members and headers', () => {
    const { host, res, parsed } = fakeHost();
    filter.catch(
      new AppException(429, ErrorCode.RATE_LIMITED, 'slow down', { limit: 5 }, { 'Retry-After': '7' }),
      host,
    );
    expect(res.statusCode).toBe(429);
    expect(res.contentType).toBe('application/problem+json');
    expect(res.headers['Retry-After']).toBe('7');
    expect(parsed()).toEqual({
      type: 'https://limen.dev/problems/rate-limited',
      title: 'Too Many Requests',
      status: 429,
      detail: 'slow down',
      code: 'RATE_LIMITED',
      requestId: 'req-1',
      instance: '/api/v1/things',
      limit: 5,
    });
  });

  it('maps body-parser errors wrapped by Nest', () => {
    const tooLarge = new HttpException('request entity too large', 413, {
      cause: Object.assign(new Error('x'), { type: 'entity.too.large' }),
    });
    const { host, parsed } = fakeHost();
    filter.catch(tooLarge, host);
    expect(parsed().code).toBe('PAYLOAD_TOO_LARGE');
    const malformed = new BadRequestException('Unexpected token', {
      cause: Object.assign(new SyntaxError('x'), { type: 'entity.parse.failed' }),
    });
    const second = fakeHost();
    filter.catch(malformed, second.host);
    expect(second.parsed().code).toBe('MALFORMED_JSON');
  });

  it('turns an unknown route into ROUTE_NOT_FOUND', () => {
    const { host, parsed } = fakeHost();
    filter.catch(new NotFoundException(), host);
    expect(parsed()).toEqual(expect.objectContaining({ status: 404, code: 'ROUTE_NOT_FOUND' }));
  });

  it('answers 507 INSUFFICIENT_STORAGE for a full filesystem on the hypervisor side, without its path', () => {
    const { host, res, parsed } = fakeHost();
    filter.catch(
      new HypervisorError(
        'INSUFFICIENT_STORAGE',
        'virsh snapshot-create: No space left on device',
        '/var/lib/limen/vms/x/disk.qcow2',
      ),
      host,
    );
    expect(res.statusCode).toBe(507);
    expect(parsed()).toEqual(
      expect.objectContaining({ status: 507, title: 'Insufficient Storage', code: 'INSUFFICIENT_STORAGE' }),
    );
    expect(res.body).not.toContain('/var/lib/limen');
  });

  it.each([
    [
      'OPERATION_FAILED',
      502,
      'HYPERVISOR_ERROR',
      "virsh start: Cannot access backing file '/var/lib/limen/vms/5f0c/seed.iso' (as uid:64055, gid:64055): Permission denied",
    ],
    ['INVALID_STATE', 409, 'INVALID_STATE', 'volume /var/lib/limen/vms/5f0c/disk.qcow2 is in use by a running VM'],
    ['DOMAIN_NOT_FOUND', 409, 'INVALID_STATE', "virsh dominfo: failed to get domain 'limen-5f0c'"],
    [
      'STORAGE_CONFLICT',
      409,
      'STORAGE_CONFLICT',
      "virsh pool-define: operation failed: Storage source conflict with pool: 'limen-5f0c'",
    ],
    [
      'HYPERVISOR_UNAVAILABLE',
      503,
      'HYPERVISOR_UNAVAILABLE',
      "virsh list: Failed to connect socket to '/var/run/libvirt/libvirt-sock': No such file or directory",
    ],
  ] as const)(
    'security 11.15: a hypervisor %s keeps its status and code, and none of its own text (paths, uids)',
    (hvCode, status, code, message) => {
      const { host, res, parsed } = fakeHost();
      const warn = jest
        .spyOn((filter as unknown as { logger: { warn: (text: string) => void } }).logger, 'warn')
        .mockImplementation(() => undefined);
      filter.catch(new HypervisorError(hvCode, message, `error: ${message}`), host);
      expect(res.statusCode).toBe(status);
      expect(parsed()).toEqual(expect.objectContaining({ status, code, detail: expect.any(String) }));
      expect(res.body).not.toMatch(/\/var\/|uid|gid|limen-5f0c|virsh/);
      // The operator still gets the hypervisor's words.
      expect(warn).toHaveBeenCalledWith(expect.stringContaining(message));
    },
  );

  it('hides the details of an unexpected error behind a 500', () => {
    const { host, res, parsed } = fakeHost();
    jest
      .spyOn((filter as unknown as { logger: { error: () => void } }).logger, 'error')
      .mockImplementation(() => undefined);
    filter.catch(new TypeError('secret internal detail at /srv/x.ts:12'), host);
    expect(res.statusCode).toBe(500);
    expect(res.body).not.toContain('secret');
    expect(parsed().code).toBe('INTERNAL_ERROR');
  });

  it('answers 503 when the database is unreachable', () => {
    expect(
      isDatabaseUnavailable(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })),
    ).toBe(true);
    expect(isDatabaseUnavailable(new Error('Connection terminated unexpectedly'))).toBe(true);
    // pg-pool, when every connection is busy (still trying to reach a database that went away).
    expect(isDatabaseUnavailable(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isDatabaseUnavailable(new Error('Connection terminated due to connection timeout'))).toBe(true);
    // BoundedClient: the database stopped answering a query.
    expect(isDatabaseUnavailable(new Error('Query read timeout'))).toBe(true);
    expect(isDatabaseUnavailable(new Error('duplicate key'))).toBe(false);
    const { host, res, parsed } = fakeHost();
    jest
      .spyOn((filter as unknown as { logger: { warn: () => void } }).logger, 'warn')
      .mockImplementation(() => undefined);
    filter.catch(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), host);
    expect(res.statusCode).toBe(503);
    expect(parsed().code).toBe('DATABASE_UNAVAILABLE');
  });
});
