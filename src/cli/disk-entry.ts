/** Entry point of the bundled unikernel-disk (dist-cli/disk.bundle.cjs, run by its loader dist-cli/disk.cjs). */
import { disk } from './disk';
import { startTool } from './tool';

startTool(disk);
