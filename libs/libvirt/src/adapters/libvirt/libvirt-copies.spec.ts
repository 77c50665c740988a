import { parseJobStats } from './libvirt-copies';

/** `virsh domjobinfo --rawstats` as libvirt 9.0 prints it (measured on Debian 12). */
describe('parseJobStats', () => {
  it('reads a running backup job', () => {
    expect(parseJobStats('Job type: 2\n\noperation: 9\ntime_elapsed: 996\n\n')).toEqual({ type: 2, operation: 9 });
  });

  it("reads a completed and a cancelled backup, with libvirt's reason", () => {
    const completed = 'Job type: 3\n\noperation: 9\ntime_elapsed: 2227\ndisk_total: 536870912\nsuccess: 1\n';
    expect(parseJobStats(completed)).toEqual({ type: 3, operation: 9 });
    const cancelled = 'Job type: 5\n\noperation: 9\ntime_elapsed: 560\nsuccess: 0\nerrmsg: Operation canceled\n';
    expect(parseJobStats(cancelled)).toEqual({ type: 5, operation: 9, errmsg: 'Operation canceled' });
  });

  it('reads no job', () => {
    expect(parseJobStats('Job type: 0\n\n')).toEqual({ type: 0 });
    expect(parseJobStats('')).toEqual({ type: 0 });
  });
});
