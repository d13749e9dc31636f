export { adminPages, SESSION_COOKIE } from './admin-pages.ts';
export type { AdminPagesOptions } from './admin-pages.ts';
export { adminOperations } from './operations.ts';
export type { AdminOperations } from './operations.ts';
