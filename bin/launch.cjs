// What each bin does: run its bundle's loader, dist-cli/NAME.cjs. The tools are bundled
// CommonJS files (dist-cli/NAME.bundle.cjs, run with their V8 code cache by that loader;
// all built by `npm install` through the "prepare" script, or `npm run build:cli`) so
// that they start fast.
'use strict';
const { join } = require('node:path');

module.exports = function launch(prog, name) {
  const loader = join(__dirname, '..', 'dist-cli', `${name}.cjs`);
  try {
    require.resolve(loader);
  } catch {
    process.stderr.write(
      `${prog}: dist-cli/${name}.cjs is missing; run \`npm install\` (or \`npm run build:cli\`) in the project first.\n`,
    );
    process.exit(1);
  }
  require(loader);
};
