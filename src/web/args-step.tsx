/** Step 3: the arguments, with an example and a byte counter against the boot loader's limit. */
import type { Model } from './model';
import { MAX_CMDLINE } from './model';

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
      <div class="field">
        <label for="args" class="visually-hidden">
          Arguments
        </label>
        <input
          id="args"
          type="text"
          class="wide"
          spellcheck={false}
          autocomplete="off"
          placeholder="e.g. --ipv4=10.0.0.2/24 Hello_Solo5"
          value={model.args.value}
          disabled={model.busy.value}
          aria-invalid={over}
          aria-describedby="args-hint args-count"
          onInput={(e) => void model.setArgs((e.currentTarget as HTMLInputElement).value)}
        />
        <div class="args-foot">
          <p id="args-hint" class="hint">
            Passed on the unikernel’s command line, after its name. The demo kernel prints them.
          </p>
          <p id="args-count" class={over ? 'hint count invalid' : 'hint count'}>
            {n.toLocaleString('en')} / {MAX_CMDLINE.toLocaleString('en')} bytes
          </p>
        </div>
      </div>
    </section>
  );
}
