import { UserSlots } from './user-slots';

describe('UserSlots', () => {
  it('counts per user and in total, and a release frees its slot once however often it is called', () => {
    const slots = new UserSlots();
    const aliceFirst = slots.take('alice');
    slots.take('alice');
    const bob = slots.take('bob');
    expect({ total: slots.total, alice: slots.heldBy('alice'), bob: slots.heldBy('bob') }).toEqual({
      total: 3,
      alice: 2,
      bob: 1,
    });
    aliceFirst();
    aliceFirst();
    bob();
    expect({ total: slots.total, alice: slots.heldBy('alice'), bob: slots.heldBy('bob') }).toEqual({
      total: 1,
      alice: 1,
      bob: 0,
    });
  });
});
