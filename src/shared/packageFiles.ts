/**
 * Files of the package itself (package.json, the protocol's schemas, the dashboard's web
 * files, the worker threads' compiled modules), found from the running module. Every place
 * this module's code can run from sits two folders below the package root: src/<folder>/
 * (vitest), dist/<folder>/ (the tsc build) and dist/bundle/ (the bundled CLI, where this code
 * is inlined and import.meta.url is the bundle's) — so one relative path serves all three.
 */
const PACKAGE_ROOT = new URL('../../', import.meta.url);

/** A file or folder of the package, by its path from the package root ('dist/events/x.js'). */
export function packageUrl(relativePath: string): URL {
  return new URL(relativePath, PACKAGE_ROOT);
}
