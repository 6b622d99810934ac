#!/usr/bin/env node
// The CLI is one bundled CommonJS file (dist-cli/cli.bundle.cjs, run with its V8 code
// cache by the loader dist-cli/cli.cjs; all built by `npm install` through the "prepare"
// script, or `npm run build:cli`) so that it starts fast.
'use strict';
const { join } = require('node:path');
const bundle = join(__dirname, '..', 'dist-cli', 'cli.cjs');
try {
  require.resolve(bundle);
} catch {
  process.stderr.write(
    'solo5-virtio-mkimage: dist-cli/cli.cjs is missing; run `npm install` (or `npm run build:cli`) in the project first.\n',
  );
  process.exit(1);
}
require(bundle);
