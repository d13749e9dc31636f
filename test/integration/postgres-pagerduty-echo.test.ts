/** PagerDuty's acknowledgements and resolutions back into Slack, unchanged, through servers whose store is PostgreSQL. */
import '../support/use-postgres.ts';
import './pagerduty-echo.test.ts';
