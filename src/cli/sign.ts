import { CONFIG_OPTION, defineCommand } from './command.ts';

export const signCommand = defineCommand({
  name: 'sign',
  summary: 'print the headers a sender would send with a body (stdin), or a curl command with --url',
  synopsis: '--source tapemetric --secret S [--url http://localhost:3000/hooks/tapemetric] [--config FILE] < body.json',
  options: {
    source: { type: 'string', short: 's', value: 'NAME', description: 'a source of the config, or a preset (tapemetric, statussentry, …)' },
    secret: { type: 'string', value: 'SECRET', description: "the secret (or token) to sign with; default: the configured source's" },
    url: { type: 'string', value: 'URL', description: 'print a complete curl command posting the body to this URL' },
    config: { ...CONFIG_OPTION, description: 'a config file whose source (and secret) to use; default: $HOOKRELAY_CONFIG or ./hookrelay.yaml when present' },
  },
  async run({ values }) {
    const { runSign } = await import('./sign-body.ts');
    return runSign(values);
  },
});
