/** Entry point of the bundled solo5-virtio-run (dist-cli/run.bundle.cjs, run by its loader dist-cli/run.cjs). */
import { run } from './run';
import { startTool } from './tool';

startTool(run);
