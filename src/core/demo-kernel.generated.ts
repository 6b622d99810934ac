// PLACEHOLDER: replaced by `npm run build:boot` (issue 3) with the assembled demo kernel.
export const DEMO_KERNEL: Uint8Array = new Uint8Array(0);
