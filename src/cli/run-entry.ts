/** Entry point of the bundled solo5-virtio-run (dist-cli/run.bundle.cjs, run by its loader dist-cli/run.cjs). */
import { runMain } from './run';

runMain(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`solo5-virtio-run: internal error (please report it): ${(e as Error)?.stack ?? e}\n`);
    process.exitCode = 1;
  },
);
