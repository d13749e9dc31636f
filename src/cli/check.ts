import { CONFIG_OPTION, defineCommand } from './command.ts';

export const checkCommand = defineCommand({
  name: 'check',
  summary: 'validate the config, its templates and routes: every problem at once, with its path',
  synopsis: '[--config FILE]',
  details: 'Problems go to stderr, one per line (exit 2); warnings are prefixed "warning:" and do not fail the check.',
  options: { config: CONFIG_OPTION },
  async run({ values }) {
    const { runCheck } = await import('./check-config.ts');
    return runCheck(values.config);
  },
});
