/** `viewer` reads everything; `operator` also acts (sync, override, key, schedule, connect, offboard). */
export const CONSOLE_ROLES = ['viewer', 'operator'] as const;
export type ConsoleRole = (typeof CONSOLE_ROLES)[number];
export const isConsoleRole = (value: unknown): value is ConsoleRole => value === 'viewer' || value === 'operator';

/** Account names: lower-case letters, digits and `. _ @ -` (an email works), 2 to 64 characters. */
export const USERNAME_PATTERN = /^[a-z0-9][a-z0-9._@-]{1,63}$/;
export const normalizeUsername = (name: string) => name.trim().toLowerCase();
