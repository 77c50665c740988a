import { open, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { type components, toProblemError } from '@limen/sdk';
import { SingleBar } from 'cli-progress';
import type { Command } from 'commander';
import type { Context } from '../context';
import { CliError, EXIT } from '../exit-codes';
import { allPages } from '../resolve';

type Image = components['schemas']['ImageDto'];

const IMAGE_COLUMNS = [
  { header: 'ID', value: (i: Image) => i.id },
  { header: 'NAME', value: (i: Image) => i.name },
  { header: 'KIND', value: (i: Image) => i.kind },
  { header: 'SIZE', value: (i: Image) => `${(i.sizeBytes / 2 ** 20).toFixed(1)} MiB` },
  { header: 'AVAILABLE', value: (i: Image) => i.available },
  { header: 'VISIBILITY', value: (i: Image) => i.visibility },
];

export function registerImage(program: Command, context: Context): void {
  const image = program.command('image').description('images to create VMs from');

  image
    .command('list')
    .description('the images you may use')
    .action(async () => {
      const { client, output } = context.session();
      output.list(
        await allPages((cursor) => client.GET('/api/v1/images', { params: { query: { limit: 500, cursor } } })),
        IMAGE_COLUMNS,
      );
    });

  image
    .command('upload <file>')
    .description('upload a disk image or ISO (admins), with a progress bar on a terminal')
    .option('--name <name>', 'its name in IMAGE_DIR (default: the file’s name; ends in .iso, .qcow2, .img or .raw)')
    .action((file: string, flags: { name?: string }) => upload(context, file, flags));
}

/** Streams the file as the request body, counting what was sent for the progress bar. */
async function upload(context: Context, file: string, flags: { name?: string }): Promise<void> {
  const session = context.session();
  const size = (await stat(file).catch(() => undefined))?.size;
  if (size === undefined) throw new CliError('USAGE', `cannot read ${file}`, EXIT.USAGE);
  const name = flags.name ?? basename(file);
  const bar =
    process.stderr.isTTY && !session.output.json
      ? new SingleBar({
          format: `${name} [{bar}] {percentage}% {value}/{total} MiB, {eta_formatted} left`,
          stream: process.stderr,
        })
      : undefined;
  bar?.start(Math.ceil(size / 2 ** 20), 0);
  const handle = await open(file);
  let sent = 0;
  const counted = Readable.from(
    (async function* () {
      for await (const chunk of handle.createReadStream({ highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
        sent += chunk.length;
        bar?.update(Math.floor(sent / 2 ** 20));
        yield chunk;
      }
    })(),
  );
  const url = new URL('/api/v1/images', session.api);
  url.searchParams.set('name', name);
  try {
    // Streamed with its length declared, so the api can refuse an oversized upload before it starts.
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        Authorization: `Bearer ${await session.bearer()}`,
        'Content-Type': 'application/octet-stream',
        'Content-Length': String(size),
      },
      body: Readable.toWeb(counted) as ReadableStream<Uint8Array>,
      duplex: 'half',
    } as RequestInit & { duplex: 'half' });
    const body: unknown = await response.json().catch(() => undefined);
    if (!response.ok) throw toProblemError(body, response);
    bar?.update(Math.ceil(size / 2 ** 20));
    bar?.stop();
    const uploaded = body as Image;
    session.output.object(uploaded as unknown as Record<string, unknown>, [
      'id',
      'name',
      'kind',
      'sizeBytes',
      'sha256',
    ]);
  } finally {
    bar?.stop();
    await handle.close();
  }
}
