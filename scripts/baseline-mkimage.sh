#!/usr/bin/env bash
# The standard Linux pipeline that Solo5's solo5-virtio-mkimage runs, written
# here from its documented steps (not its code) so that `npm run bench` can
# time it next to ours. No syslinux: the boot loader install is left out,
# which only makes the baseline faster.
#
#   baseline-mkimage.sh MODE FORMAT SIZE IMAGE KERNEL [ARGS...]
#   MODE   old  : like the old tool: format a separate partition file, then dd it into the disk
#          lean : the fastest form of the same tools: mkfs.fat --offset and mcopy straight into the disk
#   FORMAT raw | tar
set -euo pipefail
mode=$1 format=$2 size=$3 image=$4 kernel=$5
shift 5
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
disk=$work/disk.raw
truncate -s "$size" "$disk"
echo 'start=2048, type=c, bootable' | sfdisk -q "$disk" >/dev/null
sectors=$(( $(stat -c %s "$disk") / 512 - 2048 ))
printf 'cmdline unikernel.bin %s\n' "$*" >"$work/boot.cfg"
if [ "$mode" = old ]; then
  part=$work/part.img
  truncate -s $((sectors * 512)) "$part"
  mkfs.fat -F 32 -h 2048 "$part" >/dev/null
  mcopy -i "$part" "$kernel" ::unikernel.bin
  mcopy -i "$part" "$work/boot.cfg" ::boot.cfg
  dd if="$part" of="$disk" bs=1M seek=1 conv=notrunc status=none
else
  mkfs.fat -F 32 --offset 2048 -h 2048 "$disk" $((sectors / 2)) >/dev/null
  mcopy -i "$disk@@1M" "$kernel" ::unikernel.bin
  mcopy -i "$disk@@1M" "$work/boot.cfg" ::boot.cfg
fi
if [ "$format" = tar ]; then
  tar -C "$work" -Sczf "$image" disk.raw
else
  mv "$disk" "$image"
fi
