/**
 * Main's notification-engine stories that came after the PostgreSQL store, unchanged, through
 * servers whose store is PostgreSQL: storm digests on the real server (a loopback Slack), and a
 * real Prometheus Alertmanager (inhibition held while its source fires and released by its
 * resolve, repeat intervals, grouping) when it is installed; time intervals and config mutes on
 * a driven clock (held, and told once when their interval ends).
 */
import '../support/use-postgres.ts';
import './storm.test.ts';
import './alertmanager.test.ts';
import './config-mutes.test.ts';
