import { ADMIN, expect, expectAccessible, signIn, test } from './api';

test('hosts: capacity bars and maintenance on and off; the audit log filters by action', async ({ page }) => {
  await signIn(page, ADMIN.username, ADMIN.password);
  await page.getByRole('link', { name: 'Hosts' }).click();
  const row = page.locator('tr[data-host]').first();
  await expect(row.locator('meter').first()).toBeVisible();
  await expectAccessible(page, 'hosts');
  await row.getByRole('button', { name: /Start maintenance/ }).click();
  await expect(row).toContainText('(maintenance)');
  await row.getByRole('button', { name: /End maintenance/ }).click();
  await expect(row).not.toContainText('(maintenance)');

  await page.getByRole('link', { name: 'Audit log' }).click();
  await expect(page.locator('tr[data-action]').first()).toBeVisible();
  await expectAccessible(page, 'audit log');
  const action = (await page.locator('tr[data-action]').first().getAttribute('data-action'))!;
  await page.getByLabel('Action').fill(action);
  await expect(page.locator(`tr[data-action]:not([data-action="${action}"])`)).toHaveCount(0);
  await expect(page.locator(`tr[data-action="${action}"]`).first()).toBeVisible();
});
