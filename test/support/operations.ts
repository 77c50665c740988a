import request from 'supertest';
import { GUEST_MARKER } from './hypervisor';

/** A caller's authenticated requests (see the suites' `as(token)`). */
export interface Caller {
  get(path: string): request.Test;
  post(path: string): request.Test;
}

/**
 * What the e2e suites do with accepted work and the tiny guest, as `api()` (the caller at the time
 * of each call) sees it: wait for an operation, expect a 202 whose operation succeeds, create a VM
 * from `imageId()` and wait for its guest's marker on the serial console.
 */
export function operationHelpers(api: () => Caller, imageId: () => string = () => '') {
  async function settle(location: string) {
    for (;;) {
      const op = (await api().get(`${location}/wait?timeout=60`).expect(200)).body;
      if (op.status === 'succeeded' || op.status === 'failed') return op;
    }
  }

  async function succeeded(res: request.Response) {
    expect({ status: res.status, body: res.body }).toEqual({ status: 202, body: expect.anything() });
    const op = await settle(res.headers.location);
    expect(op).toMatchObject({ status: 'succeeded', error: null });
    return op;
  }

  async function createVm(name: string, start: boolean): Promise<string> {
    const res = await api()
      .post('/api/v1/vms')
      .send({ name, vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId: imageId(), start, disks: [{ sizeGiB: 1 }] });
    await succeeded(res);
    return res.body.vm.id;
  }

  async function booted(vmId: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const serial = await api().get(`/api/v1/vms/${vmId}/serial?bytes=65536`);
      if (serial.status === 200 && serial.text.includes(GUEST_MARKER)) return;
      if (Date.now() > deadline) throw new Error(`VM ${vmId} did not reach ${GUEST_MARKER}: ${serial.text}`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  return { settle, succeeded, createVm, booted };
}
