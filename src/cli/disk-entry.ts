/** Entry point of the bundled unikernel-disk CLI (dist-cli/disk.bundle.cjs, run by its loader dist-cli/disk.cjs). */
import { diskMain } from './disk';

diskMain(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    process.stderr.write(`unikernel-disk: internal error (please report it): ${(e as Error)?.stack ?? e}\n`);
    process.exitCode = 1;
  },
);
