#!/usr/bin/env node
// The CLI is one bundled file (dist-cli/cli.mjs, built by `npm install` through
// the "prepare" script, or `npm run build:cli`) so that it starts fast.
try {
  await import('../dist-cli/cli.mjs');
} catch (e) {
  if (e && e.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes('cli.mjs')) {
    process.stderr.write('solo5-virtio-mkimage: dist-cli/cli.mjs is missing; run `npm install` (or `npm run build:cli`) in the project first.\n');
    process.exit(1);
  }
  throw e;
}
