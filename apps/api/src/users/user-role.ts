/** A leaf, so auth (the Roles decorator, the guards), users and audit need not import each other for it. */
export const USER_ROLES = ['admin', 'user'] as const;
export type UserRole = (typeof USER_ROLES)[number];
