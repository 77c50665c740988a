import type { Route } from '@playwright/test';
import { KERNEL_IMAGE_NAME } from '../support/hypervisor';
import { ADMIN, adminToken, expect, signIn, test } from './api';

/**
 * The VM list shows its first page as soon as it arrives and appends the later pages behind it
 * (api/queries.ts useVms), rather than waiting for every page. Two VMs from the tiny guest, made
 * through the api; the page's list calls are narrowed to one VM per page and the second page is
 * held back until the first VM is on screen.
 */
test('the VM list shows the first page at once and appends the next when it arrives', async ({ page, request }) => {
  const headers = { Authorization: `Bearer ${await adminToken(request)}` };
  const images = (await (await request.get('/api/v1/images?limit=500', { headers })).json()) as {
    items: Array<{ id: string; name: string }>;
  };
  const image = images.items.find((i) => i.name === KERNEL_IMAGE_NAME)!;
  const stamp = Date.now() % 100000;
  const ids: string[] = [];
  try {
    for (const name of [`web-list-a-${stamp}`, `web-list-b-${stamp}`]) {
      const created = await request.post('/api/v1/vms', {
        headers,
        data: { name, imageId: image.id, vcpus: 1, memoryMiB: 128, diskGiB: 1 },
      });
      expect(created.status(), await created.text()).toBe(202);
      ids.push(((await created.json()) as { vm: { id: string } }).vm.id);
    }

    // Every VM the admin sees (other files' VMs too, when they share this api).
    const all = ((await (await request.get('/api/v1/vms?limit=500', { headers })).json()) as { items: unknown[] }).items
      .length;
    await signIn(page, ADMIN.username, ADMIN.password);
    await page.goto('/account');
    // Connecting the event stream refetches the list (api/live.ts); connected before the click, so
    // the only list requests are the ones this test counts.
    await expect(page.getByRole('status').filter({ hasText: 'Live updates on' })).toBeVisible();
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let held = 0;
    await page.route(/\/api\/v1\/vms\?/, async (route: Route) => {
      const url = new URL(route.request().url());
      url.searchParams.set('limit', '1');
      if (url.searchParams.has('cursor')) {
        held++;
        await released;
      }
      await route.continue({ url: url.toString() });
    });
    await page.getByRole('navigation').getByRole('link', { name: 'Virtual machines' }).click();

    const rows = page.locator('[role=row][data-vm]');
    await expect(rows).toHaveCount(1);
    await expect(page.getByText('1 VMs')).toBeVisible();
    // The second page is asked for behind the first and is still held back.
    await expect.poll(() => held).toBe(1);
    await expect(rows).toHaveCount(1);
    release();
    await expect(rows).toHaveCount(all);
    await expect(page.getByText(`${all} VMs`)).toBeVisible();
  } finally {
    for (const id of ids) await request.delete(`/api/v1/vms/${id}`, { headers });
  }
});
