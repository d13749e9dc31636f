import { CONFIG_OPTION, defineCommand } from './command.ts';

export const routesTestCommand = defineCommand({
  name: 'routes test',
  summary: 'where an event would go: the normalized event, matching routes, what holds it, what each destination gets',
  synopsis: '--source NAME --event FILE [--config FILE] [--json]',
  details: `Nothing is verified (no signature needed) and nothing is sent or stored. Active mutes live in the
running server and are not known offline. Like amtool's "config routes test".`,
  options: {
    source: { type: 'string', short: 's', value: 'NAME', description: 'the source the event comes from (a source of the config, or a preset)' },
    event: { type: 'string', short: 'e', value: 'FILE', description: "the sender's payload (JSON), as the sender would post it" },
    config: CONFIG_OPTION,
    json: { type: 'boolean', description: 'print the result as JSON' },
  },
  async run({ values }) {
    const { runRoutesTest } = await import('./route-preview.ts');
    return runRoutesTest(values);
  },
});
