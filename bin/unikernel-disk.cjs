#!/usr/bin/env node
// The image tool is one bundled CommonJS file (dist-cli/disk.bundle.cjs, run with its V8 code
// cache by the loader dist-cli/disk.cjs; all built by `npm install` through the "prepare"
// script, or `npm run build:cli`) so that it starts fast.
'use strict';
const { join } = require('node:path');
const bundle = join(__dirname, '..', 'dist-cli', 'disk.cjs');
try {
  require.resolve(bundle);
} catch {
  process.stderr.write(
    'unikernel-disk: dist-cli/disk.cjs is missing; run `npm install` (or `npm run build:cli`) in the project first.\n',
  );
  process.exit(1);
}
require(bundle);
