import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildOpenApiDocument } from '../apps/api/src/common/openapi';
import { startTestApp, TestApp } from './support/test-app';

const COMMITTED = join(__dirname, '..', 'docs', 'openapi.json');

/** The committed docs/openapi.json must equal what the code generates. Regenerate with `npm run openapi`. */
describe('OpenAPI spec (e2e)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp();
  });
  afterAll(() => t.close());

  it('docs/openapi.json is up to date', () => {
    const generated = JSON.stringify(buildOpenApiDocument(t.app), null, 2) + '\n';
    if (process.env.UPDATE_OPENAPI === '1') writeFileSync(COMMITTED, generated);
    expect(readFileSync(COMMITTED, 'utf8')).toBe(generated);
  });

  it('documents every operation with a summary, its responses and problem+json errors', () => {
    const spec = buildOpenApiDocument(t.app);
    for (const [path, item] of Object.entries(spec.paths)) {
      for (const [method, op] of Object.entries(item as Record<string, { summary?: string; description?: string; responses: Record<string, unknown> }>)) {
        const where = `${method.toUpperCase()} ${path}`;
        expect([where, Boolean(op.summary || op.description)]).toEqual([where, true]);
        expect([where, Object.keys(op.responses).some((s) => s.startsWith('2'))]).toEqual([where, true]);
        if (path.startsWith('/api/')) expect([where, Object.keys(op.responses).some((s) => s.startsWith('4'))]).toEqual([where, true]);
      }
    }
    expect(spec.components?.schemas?.ProblemDto).toBeDefined();
    const login = spec.paths['/api/v1/auth/login'].post!;
    expect(JSON.stringify(login.responses['401'])).toContain('application/problem+json');
    expect((spec.components!.schemas!.LoginDto as { properties: Record<string, unknown> }).properties.username).toEqual(expect.objectContaining({ example: 'alice' }));
  });
});
