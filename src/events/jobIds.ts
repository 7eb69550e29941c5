/** Job ids: readable (name and UTC time) and unique enough to be chosen by any submitter. */
import crypto from 'node:crypto';

function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9_.-]+/g, '-').replace(/^[-.]+|-+$/g, '').slice(0, 32) || 'job';
}

/** `<name>-<yyyymmdd-hhmmss>-<4 hex>`, e.g. `build-20261206-231500-9f2c`. */
export function generateJobId(name: string | undefined): string {
  const d = new Date();
  const p = (n: number) => String(n).padStart(2, '0');
  const stamp = `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
  return `${slug(name ?? 'job')}-${stamp}-${crypto.randomBytes(2).toString('hex')}`;
}
