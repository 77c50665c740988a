import { HttpStatus, Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { AppException, ErrorCode } from '../common/problem';

/**
 * How many image uploads run at once on this replica, in all and per user. Each may hold a
 * connection and a temporary file for hours, so beyond the caps a new one is refused at once
 * (429 UPLOAD_LIMIT) instead of queueing.
 */
@Injectable()
export class UploadSlots {
  private total = 0;
  private readonly perUser = new Map<string, number>();

  constructor(private readonly config: AppConfig) {}

  /** Takes a slot for the user, or throws 429; the returned function gives it back (once). */
  acquire(userId: string): () => void {
    const { maxConcurrent, maxConcurrentPerUser } = this.config.imageUploads;
    const mine = this.perUser.get(userId) ?? 0;
    if (mine >= maxConcurrentPerUser) throw this.refused(`You already have ${mine} upload(s) running; at most ${maxConcurrentPerUser} at once`);
    if (this.total >= maxConcurrent) throw this.refused(`${this.total} uploads are running; at most ${maxConcurrent} at once`);
    this.total++;
    this.perUser.set(userId, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.perUser.get(userId) ?? 1) - 1;
      if (left > 0) this.perUser.set(userId, left);
      else this.perUser.delete(userId);
    };
  }

  private refused(detail: string): AppException {
    return new AppException(HttpStatus.TOO_MANY_REQUESTS, ErrorCode.UPLOAD_LIMIT, detail, {}, { Connection: 'close' });
  }
}
