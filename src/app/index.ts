export { Operations } from './operations.ts';
export type { Acknowledgement, BulkReplay, DestinationStatus, EventTrail, NewMuteRequest, OperationsOptions, StatusReport, WorkScheduler } from './operations.ts';
export { generateSecret } from './secrets.ts';
