export { Operations } from './operations.ts';
export type { Acknowledgement, BulkReplay, DestinationStatus, NewMuteRequest, OperationsOptions, StatusReport, WorkScheduler } from './operations.ts';
export { generateSecret } from './secrets.ts';
