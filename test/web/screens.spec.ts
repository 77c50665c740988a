import { ADMIN, expect, expectAccessible, signIn, test } from './api';

test.describe('serving the dashboard', () => {
  test('hashed assets are cached for a year, index.html revalidated, client routes fall back, api paths never', async ({
    request,
  }) => {
    const index = await request.get('/vms/some-client-route');
    expect(index.status()).toBe(200);
    expect(index.headers()['cache-control']).toBe('no-cache');
    const csp = index.headers()['content-security-policy'];
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain("unsafe-inline';script"); // no inline scripts allowed ...
    expect(csp).not.toContain('upgrade-insecure-requests'); // ... and plain HTTP keeps working
    const html = await index.text();
    expect(html).not.toMatch(/<script(?![^>]*\ssrc=)[^>]*>/); // ... and the page has none
    const asset = html.match(/src="(\/assets\/[^"]+\.js)"/)![1];
    const script = await request.get(asset);
    expect(script.headers()['cache-control']).toBe('public, max-age=31536000, immutable');
    for (const path of ['/api/v1/nope', '/health/nope', '/console/nope', '/metrics/nope', '/agent/nope', '/x.js']) {
      const res = await request.get(path);
      expect(res.status(), path).toBeGreaterThanOrEqual(400); // the api's own answer (404, or 400 for a bad id)
      expect(res.status(), path).toBeLessThan(500);
      expect(res.headers()['content-type'], path).toContain('application/problem+json');
    }
  });
});

test('a stylesheet cut off in flight is fetched again, so the dashboard is never left unstyled', async ({ page }) => {
  // What Chromium does to requests in flight when the host's interfaces change (ERR_NETWORK_CHANGED,
  // seen in CI while libvirt made bridges): the first request for the stylesheet fails.
  let cut = 0;
  await page.route('**/assets/*.css*', (route) =>
    cut++ === 0 ? route.abort('internetdisconnected') : route.continue(),
  );
  await page.goto('/signin');
  await expect(page.getByLabel('Username')).toBeVisible();
  await expect.poll(() => cut).toBe(2);
  // styles.css sets the body's margin to 0 (the browser's own is 8px).
  await expect.poll(() => page.evaluate('getComputedStyle(document.body).marginTop')).toBe('0px');
});

test.describe('at a phone’s size (390×844), in English and Korean', () => {
  test.use({ viewport: { width: 390, height: 844 } });

  for (const language of ['en', 'ko'] as const) {
    test(`every screen fits and passes axe (${language})`, async ({ page }) => {
      await signIn(page, ADMIN.username, ADMIN.password);
      if (language === 'ko') {
        await page.getByLabel('Language').selectOption('ko');
        await expect(page.getByRole('heading', { name: '가상 머신' })).toBeVisible();
        await expect(page.locator('html')).toHaveAttribute('lang', 'ko');
      }
      const screens: Array<[string, string]> = [
        ['/vms', 'VM list'],
        ['/vms/new', 'create VM'],
        ['/account', 'account'],
        ['/admin/users', 'users'],
        ['/admin/alerts', 'alerts'],
        ['/admin/alerts/rules', 'alert rules'],
        ['/admin/alerts/channels', 'alert channels'],
        ['/admin/hosts', 'hosts'],
        ['/admin/networks', 'networks'],
        ['/admin/images', 'images'],
        ['/admin/audit', 'audit log'],
      ];
      for (const [path, name] of screens) {
        // Client-side navigation, as a person clicks through the menu.
        await page.getByRole('navigation').locator(`a[href="${path}"]`).click();
        await expect(page).toHaveURL(path);
        await expect(page.locator('main h1')).toBeVisible();
        await expectAccessible(page, `${name} (${language}, phone)`);
        const overflow = await page.evaluate('document.documentElement.scrollWidth - window.innerWidth');
        expect(overflow, `${name} scrolls sideways`).toBeLessThanOrEqual(0);
      }
    });
  }
});
