import { stateWriteChanges } from './vm-state-writer';
import { TRANSITIONAL_STATES } from './vm-state';

const row = { state: 'running' as const, stateReason: null, runningVcpus: 2, runningMemoryMiB: 1024 };

describe('stateWriteChanges (the sweep skips a VM whose domain says what its row says)', () => {
  it('is false when the state, reason and booted sizes are what the row holds', () => {
    expect(stateWriteChanges(row, { state: 'running', booted: { vcpus: 2, memoryMiB: 1024 } })).toBe(false);
    expect(stateWriteChanges({ ...row, state: 'stopped', runningVcpus: null }, { state: 'stopped' })).toBe(false);
  });

  it('is true when the state, the reason or a booted size differs', () => {
    expect(stateWriteChanges(row, { state: 'stopped' })).toBe(true);
    expect(stateWriteChanges(row, { state: 'running', reason: 'why' })).toBe(true);
    expect(stateWriteChanges(row, { state: 'running', booted: { vcpus: 4, memoryMiB: 1024 } })).toBe(true);
    expect(stateWriteChanges(row, { state: 'running', booted: { vcpus: 2, memoryMiB: 2048 } })).toBe(true);
    expect(
      stateWriteChanges({ ...row, runningVcpus: null }, { state: 'running', booted: { vcpus: 2, memoryMiB: 1024 } }),
    ).toBe(true);
  });

  it('is true with `always`, and false while the row is in a state the change must leave alone', () => {
    expect(stateWriteChanges(row, { state: 'running', always: true })).toBe(true);
    expect(stateWriteChanges({ ...row, state: 'deleting' }, { state: 'missing', unlessIn: TRANSITIONAL_STATES })).toBe(
      false,
    );
  });
});
