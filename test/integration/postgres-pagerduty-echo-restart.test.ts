/** A PagerDuty report accepted by a process that stopped before applying it, applied by the next start: on PostgreSQL. */
import '../support/use-postgres.ts';
import './pagerduty-echo-restart.test.ts';
