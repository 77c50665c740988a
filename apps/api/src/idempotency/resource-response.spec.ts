import { CallHandler, ExecutionContext } from '@nestjs/common';
import { lastValueFrom, of, throwError } from 'rxjs';
import { IdempotentReplay, ResourceResponseInterceptor, responseOf } from './resource-response';

function respond(handler: CallHandler) {
  const headers: Record<string, string> = {};
  const res = {
    statusCode: 201,
    status(code: number) {
      this.statusCode = code;
      return this;
    },
    setHeader(name: string, value: string) {
      headers[name] = value;
    },
  };
  const context = { switchToHttp: () => ({ getResponse: () => res }) } as unknown as ExecutionContext;
  return {
    body: lastValueFrom(new ResourceResponseInterceptor().intercept(context, handler)),
    res,
    headers,
  };
}

const vm = { id: 'vm-1', version: 7 };

describe('ResourceResponse', () => {
  it('sends accepted work as 202 with Location naming the operation and the VM’s version as ETag', async () => {
    const body = { vm, operation: { id: 'op-1' } };
    const sent = respond({ handle: () => of(body) });
    expect(await sent.body).toBe(body);
    expect(sent.res.statusCode).toBe(202);
    expect(sent.headers).toEqual({ Location: '/api/v1/operations/op-1', ETag: '"7"' });
  });

  it('sends a VM without an operation as 200 with its ETag', async () => {
    const sent = respond({ handle: () => of(vm) });
    expect(await sent.body).toBe(vm);
    expect(sent.res.statusCode).toBe(200);
    expect(sent.headers).toEqual({ ETag: '"7"' });
  });

  it('gives accepted work on something other than a VM no ETag', async () => {
    const sent = respond({ handle: () => of({ snapshot: { id: 's-1' }, operation: { id: 'op-2' } }) });
    await sent.body;
    expect(sent.res.statusCode).toBe(202);
    expect(sent.headers).toEqual({ Location: '/api/v1/operations/op-2' });
  });

  it('sends an idempotent replay exactly as recorded: status, Location, ETag of its body, body', async () => {
    const recorded = responseOf({ vm: { ...vm, version: 3 }, operation: { id: 'op-9' } });
    const sent = respond({ handle: () => throwError(() => new IdempotentReplay(recorded)) });
    expect(await sent.body).toBe(recorded.body);
    expect(sent.res.statusCode).toBe(202);
    expect(sent.headers).toEqual({ Location: '/api/v1/operations/op-9', ETag: '"3"' });
  });

  it('lets any other error through to the exception filter, and sets nothing', async () => {
    const sent = respond({ handle: () => throwError(() => new Error('boom')) });
    await expect(sent.body).rejects.toThrow('boom');
    expect(sent.res.statusCode).toBe(201);
    expect(sent.headers).toEqual({});
  });
});
