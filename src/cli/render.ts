import { CONFIG_OPTION, defineCommand } from './command.ts';

export const renderCommand = defineCommand({
  name: 'render',
  summary: "print what a template makes of a sender's payload, exactly as it would be sent",
  synopsis: '--template slack/default --source tapemetric (--event payload.json | --sample) [--config FILE]',
  options: {
    template: { type: 'string', short: 't', value: 'NAME', description: 'the template: slack/default, teams/default, discord/default, google_chat/default, email/default, pagerduty/default, http/envelope or your own' },
    source: { type: 'string', short: 's', value: 'NAME', description: 'a source of the config, or a preset, whose normalization to use' },
    event: { type: 'string', short: 'e', value: 'FILE', description: "the sender's payload (JSON)" },
    sample: { type: 'boolean', description: "a fresh sample payload of the source's preset instead of --event" },
    config: { ...CONFIG_OPTION, description: 'a config file (its sources and templates_dir); default: $HOOKRELAY_CONFIG or ./hookrelay.yaml when present' },
  },
  async run({ values }) {
    const { runRender } = await import('./render-preview.ts');
    return runRender(values);
  },
});
