/** Step 3: the arguments, with an example and a byte counter against the boot loader's limit. */
import type { Model } from './model';
import { MAX_CMDLINE } from './model';
import { TextField } from './ui';
import { KERNEL_NAME } from '../core/image';

/**
 * "13 / 8,191 bytes with the name (unikernel.bin)": the count is the whole command line
 * the loader passes, the kernel's name first, so an empty field counts the name's bytes.
 */
export function countText(n: number): string {
  return `${n.toLocaleString('en')} / ${MAX_CMDLINE.toLocaleString('en')} bytes with the name (${KERNEL_NAME})`;
}

export function ArgsStep({ model }: { model: Model }) {
  const n = model.cmdlineBytes.value;
  const over = n > MAX_CMDLINE;
  return (
    <section class="step">
      <h2 id="args-h">
        <span class="num" aria-hidden="true">
          3
        </span>{' '}
        Arguments
      </h2>
      <TextField
        id="args"
        label="Arguments"
        labelHidden
        wide
        placeholder="e.g. --ipv4=10.0.0.2/24 Hello_Solo5"
        value={model.args.value}
        disabled={model.busy.value}
        onInput={(v) => void model.setArgs(v)}
        hint="Passed on the unikernel’s command line, after its name. The demo kernel prints them."
        count={{ text: countText(n), over }}
      />
    </section>
  );
}
