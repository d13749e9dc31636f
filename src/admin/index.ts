export { adminPages, SESSION_COOKIE } from './admin-pages.ts';
export type { AdminPagesOptions } from './admin-pages.ts';
