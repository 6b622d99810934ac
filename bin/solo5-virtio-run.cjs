#!/usr/bin/env node
// solo5-virtio-run is one bundled CommonJS file (dist-cli/run.bundle.cjs, run with its V8 code
// cache by the loader dist-cli/run.cjs; all built by `npm install` through the "prepare"
// script, or `npm run build:cli`) so that it starts fast.
'use strict';
const { join } = require('node:path');
const bundle = join(__dirname, '..', 'dist-cli', 'run.cjs');
try {
  require.resolve(bundle);
} catch {
  process.stderr.write(
    'solo5-virtio-run: dist-cli/run.cjs is missing; run `npm install` (or `npm run build:cli`) in the project first.\n',
  );
  process.exit(1);
}
require(bundle);
