/**
 * The emulator's speed for `npm run bench` (bundled and run by
 * scripts/bench.mjs in a fresh Node process, so the first run is a cold
 * one, as in a CLI): "run to the kernel" over an image of KERNEL_PATH,
 * once cold and then warm, wall and CPU time (the CPU time tells a busy
 * machine from a slow emulator). Prints one JSON line.
 *
 *   node bench-emu.mjs KERNEL_PATH REPEAT
 */
import { readFileSync } from 'node:fs';
import { planImage } from '../src/core/image';
import { readPlan } from '../src/core/plan';
import { Machine } from '../src/core/x86/machine';

const [kernelPath, repeatText] = process.argv.slice(2);
const kernel = new Uint8Array(readFileSync(kernelPath));
const plan = planImage(kernel, { args: 'bench', size: 64 << 20 }).plan;
const disk = {
  size: plan.size,
  async read(offset: number, length: number) {
    const b = new Uint8Array(length);
    readPlan(plan, offset, b);
    return b;
  },
};

async function once() {
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const m = await Machine.boot(disk);
  const stop = await m.run();
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  if (stop.kind !== 'kernel') throw new Error(`the emulator did not reach the kernel: ${stop.message}`);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000, instructions: m.instructions };
}

const first = await once();
const warm: { ms: number; cpuMs: number }[] = [];
for (let i = 0; i < Number(repeatText || 5); i++) warm.push(await once());
warm.sort((a, b) => a.ms - b.ms);
const { ms: warmMs, cpuMs: warmCpuMs } = warm[Math.floor(warm.length / 2)];
process.stdout.write(
  JSON.stringify({
    kernelBytes: kernel.length,
    instructions: first.instructions,
    firstMs: first.ms,
    firstCpuMs: first.cpuMs,
    warmMs,
    warmCpuMs,
    firstIps: first.instructions / (first.ms / 1000),
    warmIps: first.instructions / (warmMs / 1000),
  }) + '\n',
);
