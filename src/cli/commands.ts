import type { Command } from './command.ts';
import { checkCommand } from './check.ts';
import { migrateCommand } from './migrate.ts';
import { muteAddCommand, muteExpireCommand, muteListCommand } from './mute-commands.ts';
import { deliveriesCommand, eventsCommand, replayCommand, sendTestCommand } from './server-commands.ts';
import { renderCommand } from './render.ts';
import { routesTestCommand } from './routes-test.ts';
import { sampleCommand } from './sample.ts';
import { secretCommand } from './secret.ts';
import { serveCommand } from './serve.ts';
import { signCommand } from './sign.ts';
import { workCommand } from './work.ts';

/** Every command, in the order `hookrelay help` lists them. A new command is one entry here. */
export const COMMANDS: readonly Command[] = [
  serveCommand,
  workCommand,
  migrateCommand,
  checkCommand,
  renderCommand,
  routesTestCommand,
  signCommand,
  sampleCommand,
  secretCommand,
  deliveriesCommand,
  eventsCommand,
  replayCommand,
  sendTestCommand,
  muteAddCommand,
  muteListCommand,
  muteExpireCommand,
];
