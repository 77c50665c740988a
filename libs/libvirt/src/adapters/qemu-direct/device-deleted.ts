import { filter, firstValueFrom, map, merge, Observable, take, timer } from 'rxjs';
import { QmpEvent } from '../../qmp/qmp-client';

/**
 * Resolves true when QEMU reports the device `alias` gone (DEVICE_DELETED: the guest let go of
 * it), false after `timeoutMs`. Subscribe before sending device_del, so the event cannot be missed.
 */
export function deviceDeleted(
  events$: Observable<Pick<QmpEvent, 'event' | 'data'>>,
  alias: string,
  timeoutMs: number,
): Promise<boolean> {
  return firstValueFrom(
    merge(
      events$.pipe(
        filter((event) => event.event === 'DEVICE_DELETED' && event.data?.device === alias),
        map(() => true),
      ),
      timer(timeoutMs).pipe(map(() => false)),
    ).pipe(take(1)),
    { defaultValue: false },
  );
}
