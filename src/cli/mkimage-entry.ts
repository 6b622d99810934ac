/** Entry point of the bundled solo5-virtio-mkimage (dist-cli/cli.bundle.cjs, run by its loader dist-cli/cli.cjs). */
import { mkimage } from './mkimage';
import { startTool } from './tool';

startTool(mkimage);
