import fs from 'node:fs';
import { packageUrl } from '../shared/packageFiles.js';

/** The package version, from its package.json. */
export const VERSION: string = (() => {
  try {
    const pkg = JSON.parse(fs.readFileSync(packageUrl('package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
})();
