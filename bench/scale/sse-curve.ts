/**
 * Event fan-out: N admin SSE streams on GET /api/v1/events (N in SIZES.subscribers), then
 * EVENTS events raised the way another replica raises them (the event row inserted and
 * NOTIFY limen_events sent, as EventRepository.append does), one every EVENT_GAP_MS. Delivery
 * latency runs from just before the INSERT to the moment this process reads the event on each
 * stream, so it includes the api's LISTEN, its read of the row, the fan-out and this
 * process's own reading of N sockets. Memory per subscriber is the api's RSS with the N streams
 * open minus its RSS before, over N. SSE_MAX_STREAMS(_PER_USER) are raised to allow them.
 * Target: p99 ≤ 250 ms at the largest N.
 */
import { Agent, IncomingMessage, request } from 'node:http';
import { rssMiB } from '../../test/support/processes';
import { printResult } from '../lib/report';
import { apiFleet, ADMIN_PASSWORD, login } from './api-fleet';
import { freshDatabase, log, percentile, SIZES, sleep, withClient } from './common';

const EVENTS = 20;
const EVENT_GAP_MS = 250;
const OPEN_BATCH = 50;
const TARGET_P99_MS = 250;

interface Stream {
  /** Per event sequence number, when this stream read it. */
  seen: Map<number, number>;
  close(): void;
}

function openStream(base: string, token: string, agent: Agent): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const seen = new Map<number, number>();
    const req = request(
      `${base}/api/v1/events`,
      { agent, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } },
      (res: IncomingMessage) => {
        if (res.statusCode !== 200) return reject(new Error(`GET /api/v1/events answered ${res.statusCode}`));
        let tail = '';
        res.setEncoding('utf8').on('data', (chunk: string) => {
          const at = performance.now();
          const text = tail + chunk;
          for (const match of text.matchAll(/scale-bench-(\d+)"/g)) seen.set(Number(match[1]), at);
          tail = text.slice(-40);
        });
        res.on('error', () => undefined);
        resolve({ seen, close: () => req.destroy() });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

export async function sseCurve(): Promise<void> {
  const most = Math.max(...SIZES.subscribers);
  const url = await freshDatabase();
  const api = await apiFleet(url, {
    SSE_MAX_STREAMS: String(most + 100),
    SSE_MAX_STREAMS_PER_USER: String(most + 100),
  }).start();
  const token = await login(api.base, 'admin', ADMIN_PASSWORD);
  const agent = new Agent({ keepAlive: false, maxSockets: Infinity });
  await withClient(url, async (db) => {
    const adminId = (await db.query(`SELECT id FROM users WHERE username = 'admin'`)).rows[0].id as string;
    let seq = 0;
    for (const subscribers of SIZES.subscribers) {
      await sleep(1000);
      const rssBefore = rssMiB(api.pid);
      const streams: Stream[] = [];
      try {
        while (streams.length < subscribers) {
          const batch = Math.min(OPEN_BATCH, subscribers - streams.length);
          streams.push(...(await Promise.all(Array.from({ length: batch }, () => openStream(api.base, token, agent)))));
        }
        await sleep(1000);
        const rssOpen = rssMiB(api.pid);
        const sentAt = new Map<number, number>();
        for (let i = 0; i < EVENTS; i++) {
          const n = ++seq;
          const payload = {
            vmId: '00000000-0000-4000-8000-000000000000',
            state: 'stopped',
            stateReason: `scale-bench-${n}`,
            version: n,
          };
          sentAt.set(n, performance.now());
          const { rows } = await db.query(
            `INSERT INTO events (type, owner_id, payload) VALUES ('vm.state', $1, $2) RETURNING id`,
            [adminId, payload],
          );
          await db.query(`SELECT pg_notify('limen_events', $1)`, [String(rows[0].id)]);
          await sleep(EVENT_GAP_MS);
        }
        await sleep(2000);
        const latencies: number[] = [];
        let missing = 0;
        for (const stream of streams)
          for (const [n, sent] of sentAt) {
            const at = stream.seen.get(n);
            if (at === undefined) missing++;
            else latencies.push(at - sent);
          }
        if (missing) throw new Error(`${missing} of ${streams.length * EVENTS} deliveries never arrived`);
        const p50 = percentile(latencies, 50);
        const p99 = percentile(latencies, 99);
        const perSubscriberKiB = ((rssOpen - rssBefore) * 1024) / subscribers;
        log(
          `sse ${subscribers} subscribers: p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, RSS ${rssBefore} → ${rssOpen} MiB`,
        );
        printResult(`scale-sse-p50-${subscribers}`, p50, 'ms', null, null);
        printResult(`scale-sse-p99-${subscribers}`, p99, 'ms', null, subscribers === most ? TARGET_P99_MS : null);
        printResult(`scale-sse-memory-per-subscriber-${subscribers}`, perSubscriberKiB, 'KiB', null, null);
      } finally {
        for (const stream of streams) stream.close();
      }
    }
  });
  agent.destroy();
  await api.kill();
}
