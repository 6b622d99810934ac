// node scripts/code-cache.cjs LOADER TRAINING_JSON
// Makes the V8 code cache next to a CLI bundle (see scripts/cli-loader.cjs): loads the
// bundle through its loader, runs it once per argument list of TRAINING_JSON (a JSON array
// of argument lists), so
// that the functions a run needs are compiled, then writes LOADER's NAME.cache: a header,
// the bundle's bytes and V8's data twice (the layout is described in scripts/cli-loader.cjs). Run by scripts/build-cli.mjs in a process of its own.
'use strict';
const { renameSync, rmSync, writeFileSync, unlinkSync } = require('node:fs');
const v8 = require('node:v8');

const [loader, training] = process.argv.slice(2);
const runs = JSON.parse(training);
const cacheFile = `${loader.slice(0, -'.cjs'.length)}.cache`;
rmSync(cacheFile, { force: true }); // compile from the source, not from an older cache
const tag = v8.cachedDataVersionTag(); // V8's version and flags, as a cache records them
const argv0 = process.argv.slice(0, 1);

let loaded;
async function train() {
  for (const args of runs) {
    process.argv = [...argv0, 'bundle', ...args];
    process.exitCode = undefined;
    if (!loaded) loaded = require(loader);
    else loaded.script.runInThisContext()({}, require, { exports: {} }, loaded.bundle, loaded.dir);
    // The entry point sets process.exitCode when its main() settles.
    for (let waited = 0; process.exitCode === undefined; waited++) {
      if (waited > 3000) throw new Error(`training run ${args.join(' ')} did not finish`);
      await new Promise((r) => setTimeout(r, 10));
    }
    if (process.exitCode !== 0) throw new Error(`training run ${args.join(' ')} failed (${process.exitCode})`);
  }
}

train()
  .then(() => {
    // The deflating formats turn --no-concurrent-osr on (src/cli/fflate-lazy.ts), which
    // would mark the cache as made under other flags, and V8 would refuse it: back to the default.
    v8.setFlagsFromString('--concurrent-osr');
    if (v8.cachedDataVersionTag() !== tag) {
      throw new Error('a training run changed V8 flags that scripts/code-cache.cjs does not restore');
    }
    const { script, source, MAGIC } = loaded;
    const data = script.createCachedData();
    const head = Buffer.alloc(MAGIC.length + 8);
    head.write(MAGIC, 'latin1');
    head.writeUInt32LE(source.length, MAGIC.length);
    head.writeUInt32LE(data.length, MAGIC.length + 4);
    const part = `${cacheFile}.${process.pid}.tmp`;
    writeFileSync(part, Buffer.concat([head, source, data, data]));
    renameSync(part, cacheFile);
  })
  .catch((e) => {
    process.stderr.write(`code-cache: ${e.stack ?? e}\n`);
    try {
      unlinkSync(cacheFile);
    } catch {
      /* none written */
    }
    process.exitCode = 1;
  });
