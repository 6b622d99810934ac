/**
 * What to do with a file once it is written: the commands a format's
 * descriptor hands to the page and the CLI. Pure text; no format ids here.
 */
import { shellQuote } from '../shell';

/** What the page and the CLI show after a build. */
export interface NextSteps {
  /** One line before the commands: "Run it:", "Upload it ...:". */
  intro: string;
  commands: string[];
  /** A sentence worth knowing; `backquoted` text is a command. */
  note: string;
}

export { shellQuote };

/** A GCE image name: lower case letters, digits and dashes, starting with a letter, at most 63. */
export function gceImageName(fileName: string): string {
  let s = fileName
    .replace(/\.tar\.gz$/i, '')
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  if (!/^[a-z]/.test(s)) s = 'unikernel-' + s;
  return s.slice(0, 63).replace(/-+$/, '');
}

const VIRTIO_BLK_NOTE =
  'This attaches the disk as IDE. Attached as virtio-blk (if=virtio) the boot disk also becomes Solo5’s block device, so only a unikernel that declares a block device in its manifest will start.';

/** Boot the file in QEMU with the given block driver (QEMU's name: raw, qcow2, vpc, vmdk, vdi). */
export function qemuSteps(fileName: string, qemuDriver: string): NextSteps {
  return {
    intro: 'Run it:',
    commands: [
      `qemu-system-x86_64 -m 512 -display none -serial stdio -drive file=${shellQuote(fileName)},format=${qemuDriver}`,
    ],
    note: VIRTIO_BLK_NOTE,
  };
}

/** Upload a GCE tar.gz to Cloud Storage, make an image, start an instance. */
export function gceSteps(fileName: string): NextSteps {
  const image = gceImageName(fileName);
  const file = shellQuote(fileName);
  return {
    intro: 'Upload it to a Cloud Storage bucket and create an image:',
    commands: [
      `gcloud storage cp ${file} gs://YOUR_BUCKET/${file}`,
      `gcloud compute images create ${image} --source-uri gs://YOUR_BUCKET/${file}`,
      `gcloud compute instances create ${image} --image ${image} --metadata serial-port-enable=true`,
    ],
    note: 'Compute Engine disks are virtio-scsi: Solo5 boots from them but gets no block device there. Read the console with `gcloud compute instances get-serial-port-output`.',
  };
}
