import { HostImage } from '../host-image.entity';
import { HostImageRepository } from '../host-image.repository';
import { Image } from '../image.entity';

/**
 * HostImageRepository in memory, for unit specs, with its own clock (`now`) standing in for the
 * database's, and the image rows it joins (`images`).
 */
export class FakeHostImageRepository {
  readonly rows = new Map<string, HostImage>();
  readonly images = new Map<string, Image>();
  now = Date.now();

  private key(hostId: string, imageId: string): string {
    return `${hostId}/${imageId}`;
  }

  async find(hostId: string, imageId: string): Promise<HostImage | null> {
    const row = this.rows.get(this.key(hostId, imageId));
    return row ? Object.assign(new HostImage(), row) : null;
  }

  async claim(row: Pick<HostImage, 'hostId' | 'imageId' | 'volume' | 'sha256' | 'sizeBytes'>): Promise<boolean> {
    const key = this.key(row.hostId, row.imageId);
    if (this.rows.has(key)) return false;
    const at = new Date(this.now);
    this.rows.set(key, Object.assign(new HostImage(), row, { state: 'uploading', createdAt: at, heartbeatAt: at }));
    return true;
  }

  async heartbeat(hostId: string, imageId: string): Promise<void> {
    const row = this.rows.get(this.key(hostId, imageId));
    if (row?.state === 'uploading') row.heartbeatAt = new Date(this.now);
  }

  async markReady(hostId: string, imageId: string): Promise<void> {
    const row = this.rows.get(this.key(hostId, imageId));
    if (row) Object.assign(row, { state: 'ready', heartbeatAt: new Date(this.now) });
  }

  async delete(hostId: string, imageId: string): Promise<void> {
    this.rows.delete(this.key(hostId, imageId));
  }

  async removeIfAbandoned(hostId: string, imageId: string, seconds: number): Promise<HostImage | null> {
    const row = this.rows.get(this.key(hostId, imageId));
    if (!row || row.state !== 'uploading' || row.heartbeatAt.getTime() >= this.now - seconds * 1000) return null;
    this.rows.delete(this.key(hostId, imageId));
    return row;
  }

  async readySibling(hostId: string, imageId: string, volume: string): Promise<HostImage | null> {
    return (
      [...this.rows.values()].find(
        (r) => r.hostId === hostId && r.imageId !== imageId && r.volume === volume && r.state === 'ready',
      ) ?? null
    );
  }

  async volumeSharedOnHost(hostId: string, imageId: string, volume: string): Promise<boolean> {
    return [...this.rows.values()].some((r) => r.hostId === hostId && r.imageId !== imageId && r.volume === volume);
  }

  async ofGoneImages(): Promise<HostImage[]> {
    return [...this.rows.values()].filter((r) => !this.images.get(r.imageId)?.available);
  }

  async abandonedUploads(seconds: number): Promise<HostImage[]> {
    return [...this.rows.values()].filter(
      (r) => r.state === 'uploading' && r.heartbeatAt.getTime() < this.now - seconds * 1000,
    );
  }

  /** Typed as the real one, for constructors. */
  get asRepository(): HostImageRepository {
    return this as unknown as HostImageRepository;
  }
}
