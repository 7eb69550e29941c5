// Resolve hook for moduleLog.mjs (runs on Node's loader thread).
import fs from 'node:fs';

let file;

export function initialize(data) {
  file = data.file;
}

export async function resolve(specifier, context, nextResolve) {
  const result = await nextResolve(specifier, context);
  if (file) fs.appendFileSync(file, `${result.url}\n`);
  return result;
}
