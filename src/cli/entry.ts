/** Entry point of the bundled CLI (dist-cli/cli.bundle.cjs, run by its loader dist-cli/cli.cjs). */
import { main, say } from './main';

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    say(2, `solo5-virtio-mkimage: internal error (please report it): ${(e as Error)?.stack ?? e}\n`);
    process.exitCode = 1;
  },
);
