import { HttpStatus, Injectable } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { AppException, ErrorCode } from '../common/problem';
import { UserSlots } from '../common/user-slots';

/**
 * How many image uploads run at once on this replica, in all and per user. Each may hold a
 * connection and a temporary file for hours, so beyond the caps a new one is refused at once
 * (429 UPLOAD_LIMIT) instead of queueing.
 */
@Injectable()
export class UploadSlots {
  private readonly slots = new UserSlots();

  constructor(private readonly config: AppConfig) {}

  /** Takes a slot for the user, or throws 429; the returned function gives it back (once). */
  acquire(userId: string): () => void {
    const { maxConcurrent, maxConcurrentPerUser } = this.config.imageUploads;
    const mine = this.slots.heldBy(userId);
    if (mine >= maxConcurrentPerUser)
      throw this.refused(`You already have ${mine} upload(s) running; at most ${maxConcurrentPerUser} at once`);
    if (this.slots.total >= maxConcurrent)
      throw this.refused(`${this.slots.total} uploads are running; at most ${maxConcurrent} at once`);
    return this.slots.take(userId);
  }

  private refused(detail: string): AppException {
    return new AppException(HttpStatus.TOO_MANY_REQUESTS, ErrorCode.UPLOAD_LIMIT, detail, {}, { Connection: 'close' });
  }
}
