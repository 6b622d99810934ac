/** Entry point of the bundled CLI (dist-cli/cli.cjs). */
import { setFlagsFromString } from 'node:v8';
import { main, say } from './main';

// A CLI run is one cold pass over the data: the deflate loop of the tar and
// VMDK formats runs long enough to be optimised on the stack (OSR), and V8's
// default compiles that in a background thread while the loop goes on
// interpreted. Compiling it at once, on the main thread, takes a third off
// the tar path's deflate time (measured: 134 → 92 ms of CPU for a 220 KiB
// kernel on a loaded 2-core machine), with the same bytes: only when code is
// compiled changes, not what it computes.
setFlagsFromString('--no-concurrent-osr');

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e) => {
    say(2, `solo5-virtio-mkimage: internal error (please report it): ${(e as Error)?.stack ?? e}\n`);
    process.exitCode = 1;
  },
);
