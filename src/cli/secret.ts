import { newStandardSecret } from '../util/standard-webhooks.ts';
import { defineCommand } from './command.ts';

export const secretCommand = defineCommand({
  name: 'secret',
  summary: 'print a new whsec_ secret (32 random bytes, Standard Webhooks form)',
  synopsis: '',
  options: {},
  async run() {
    console.log(newStandardSecret());
    return 0;
  },
});
