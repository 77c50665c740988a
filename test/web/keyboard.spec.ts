import type { Page } from '@playwright/test';
import { ADMIN, expect, test } from './api';

/** What Tab reaches, in order, from the top of the page: each focused element's accessible text. */
async function tabStops(page: Page, max: number): Promise<string[]> {
  const stops: string[] = [];
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    // A string evaluated in the page: this file is type-checked without the DOM library.
    stops.push(
      await page.evaluate<string>(
        `(() => { const e = document.activeElement; const label = e.labels && e.labels[0]; return (e.getAttribute('aria-label') || (label && label.textContent) || e.textContent || e.tagName).trim(); })()`,
      ),
    );
  }
  return stops;
}

/** Issue 18: every main action is reachable by keyboard (no mouse anywhere in this test). */
test('sign-in and the main actions are reachable with the keyboard alone', async ({ page }) => {
  await page.goto('/signin');
  // The username field has focus on arrival, once the app has rendered (typing before that lost
  // keystrokes on a loaded machine).
  await expect(page.getByLabel('Username')).toBeFocused();
  await page.keyboard.type(ADMIN.username);
  await page.keyboard.press('Tab');
  await expect(page.getByLabel('Password')).toBeFocused();
  await page.keyboard.type(ADMIN.password);
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { name: 'Virtual machines' })).toBeVisible();

  const shell = await tabStops(page, 14);
  expect(shell[0]).toBe('Skip to content');
  for (const action of [
    'Language',
    'Sign out',
    'Virtual machines',
    'Create VM',
    'Account',
    'Users',
    'Alerts',
    'Hosts',
    'Networks',
    'Images',
    'Audit log',
  ]) {
    expect(
      shell.some((stop) => stop.startsWith(action)),
      `${action} in ${JSON.stringify(shell)}`,
    ).toBe(true);
  }
  // Following a link by keyboard: focus Account, then Enter.
  await page.getByRole('link', { name: 'Account' }).focus();
  await page.keyboard.press('Enter');
  await expect(page.getByRole('heading', { name: 'Account', level: 1 })).toBeVisible();
  const account = await tabStops(page, 40);
  for (const action of ['Change password', 'Set up a second factor', 'Add key', 'Create token']) {
    expect(
      account.some((stop) => stop.startsWith(action)),
      `${action} in ${JSON.stringify(account)}`,
    ).toBe(true);
  }
});
