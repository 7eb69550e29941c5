// Preloaded with `node --import` (NODE_OPTIONS): records every module URL the process resolves
// into the file named by MZT_TEST_MODULE_LOG, so a test can say what a process never loaded.
import { register } from 'node:module';

register('./moduleLogHooks.mjs', import.meta.url, { data: { file: process.env.MZT_TEST_MODULE_LOG } });
