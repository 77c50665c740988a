import { useSyncExternalStore } from 'react';
import { currentUser, subscribe, type User } from './session';

/** The signed-in user (undefined when signed out); re-renders on sign-in, refresh and sign-out. */
export function useUser(): User | undefined {
  return useSyncExternalStore(subscribe, currentUser);
}
