import { UsersAndTokens1764140000000 } from './1764140000000-users-and-tokens';

/** Every migration, in order. Listed explicitly so the webpack bundle carries them. */
export const MIGRATIONS = [UsersAndTokens1764140000000];
