import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EVENT_DATA_SCHEMAS } from './event-stream-response';

/** Every logged event type of the catalogue (EventPayloads), as the spec's schema map holds them. */
const EVENT_TYPES = Object.keys(EVENT_DATA_SCHEMAS).sort();
const ROOT = join(__dirname, '../../../..');

describe('the event catalogue and the docs', () => {
  it('docs/openapi.json declares one SSE event per type (npm run openapi after changing the catalogue)', () => {
    const spec = JSON.parse(readFileSync(join(ROOT, 'docs/openapi.json'), 'utf8'));
    const get = spec.paths['/api/v1/events'].get;
    const schema = get.responses['200'].content['text/event-stream'].schema;
    const titles = (schema.oneOf as Array<{ title: string }>).map((s) => s.title).sort();
    expect(titles).toEqual([...EVENT_TYPES, 'heartbeat'].sort());
    // The route's summary names each type, or its family as `vm.*`.
    const named = (type: string) => get.summary.includes(type) || get.summary.includes(`${type.split('.')[0]}.*`);
    expect(EVENT_TYPES.filter((type) => !named(type))).toEqual([]);
  });

  it("docs/api-guide.md's Events table lists every type, and no other", () => {
    const guide = readFileSync(join(ROOT, 'docs/api-guide.md'), 'utf8');
    const section = guide.slice(guide.indexOf('## Events'), guide.indexOf('\n## ', guide.indexOf('## Events') + 1));
    const rows = section.split('\n').filter((line) => line.startsWith('| `'));
    const listed = rows.flatMap((row) => [...row.split('|')[1].matchAll(/`([a-z.]+)`/g)].map((m) => m[1]));
    expect(listed.sort()).toEqual([...EVENT_TYPES, 'heartbeat'].sort());
  });
});
