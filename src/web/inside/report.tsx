/**
 * The inspection in words: format and sizes, the partition table, the file
 * system and its files, the boot loader and its command line, the kernel
 * (path, size, SHA-256, what kernel inspection says), and what verify found.
 */
import { formatBytes, hex, plural, SECTOR } from '../../core/units';
import { findFormat } from '../../core/formats/index';
import { describeUefi, describeUefiFile, uefiPath } from '../../core/disk/describe-uefi';
import type { ImageReport } from '../protocol';
import { Prose } from '../ui';

const LOADER: Record<ImageReport['inspection']['bootloader']['kind'], string> = {
  'unikernel-disk': 'this project’s boot loader',
  syslinux: 'SYSLINUX (images from Solo5’s old solo5-virtio-mkimage)',
  grub: 'GRUB',
  none: 'none that this page knows',
};

export function Report({ report }: { report: ImageReport }) {
  const i = report.inspection;
  const fmt = findFormat(i.format);
  const b = i.bootloader;
  const k = i.kernel;
  const fs = i.filesystem;
  const errors = report.problems.filter((p) => p.severity === 'error');
  return (
    <div class="report">
      <dl>
        <dt>Format</dt>
        <dd id="inside-format">
          {fmt?.label ?? i.format} · {formatBytes(report.fileSize)} file holding a {formatBytes(i.size)} disk (
          {i.size.toLocaleString('en')} bytes)
        </dd>
        <dt>Partitions</dt>
        <dd>
          {i.partitionTable === 'none' ? (
            'No partition table'
          ) : (
            <>
              {i.partitionTable.toUpperCase()}, disk signature {hex(i.diskSignature ?? 0)}
              <ul class="plain">
                {i.partitions.map((p) => (
                  <li key={p.index}>
                    {p.index}: {p.typeName} ({hex(p.type)}){p.active ? ', active' : ''}, LBA {p.start} +{' '}
                    {p.sectors.toLocaleString('en')} sectors ({formatBytes(p.sectors * SECTOR)})
                  </li>
                ))}
              </ul>
            </>
          )}
        </dd>
        <dt>File system</dt>
        <dd>
          {fs ? (
            <>
              {fs.type}
              {fs.partition ? ` in partition ${fs.partition}` : ' at LBA 0'}
              {fs.label ? `, label “${fs.label}”` : ''}, {fs.clusters.toLocaleString('en')} clusters of{' '}
              {formatBytes(fs.clusterBytes)}
              <ul class="plain files">
                {fs.files.map((f) => (
                  <li key={f.path}>
                    <code>{f.dir ? `${f.path}/` : f.path}</code>
                    {f.dir ? '' : ` ${f.size.toLocaleString('en')} bytes`}
                  </li>
                ))}
              </ul>
            </>
          ) : (
            'None found'
          )}
        </dd>
        <dt>Boot loader</dt>
        <dd id="inside-loader">
          {LOADER[b.kind]}
          {b.version !== undefined ? `, parameter block version ${b.version}` : ''}
          {b.stage2 ? `, stage 2 at LBA ${b.stage2.lba} (${b.stage2.sectors} sectors)` : ''}
          {b.config ? (
            <>
              , <code>{b.config}</code>
            </>
          ) : null}
          {b.label ? `, label “${b.label}”` : ''}
        </dd>
        <dt>UEFI loader</dt>
        <dd id="inside-uefi">
          {i.uefi ? (
            <>
              <code>{uefiPath(i.uefi)}</code>, {i.uefi.size.toLocaleString('en')} bytes: {describeUefiFile(i.uefi)}
            </>
          ) : (
            describeUefi(null)
          )}
        </dd>
        <dt>Command line</dt>
        <dd>{b.cmdline === null ? 'unknown' : <code id="inside-cmdline">{b.cmdline}</code>}</dd>
        <dt>Kernel</dt>
        <dd id="inside-kernel">
          {k ? (
            <>
              <code>{k.path ?? '(no file name)'}</code>
              {k.lba !== null ? ` at LBA ${k.lba}` : ''}, {k.size.toLocaleString('en')} bytes
              <br />
              SHA-256 <code class="hash">{k.sha256}</code>
              <br />
              {k.inspection.ok ? (
                <>
                  {k.inspection.description}
                  {k.inspection.devices.length
                    ? `; devices: ${k.inspection.devices.map((d) => `${d.name} (${d.kind})`).join(', ')}`
                    : ''}
                </>
              ) : (
                <span class="invalid">
                  Not bootable: <Prose text={k.inspection.message} />
                </span>
              )}
            </>
          ) : (
            'None found'
          )}
        </dd>
        <dt>Checks</dt>
        <dd id="inside-verify">
          {report.problems.length === 0 ? (
            <span class="ok-text">
              <span aria-hidden="true">✓</span> Everything checked is sound (CRCs, FAT copies and chains, partition
              table, kernel).
            </span>
          ) : (
            <>
              {errors.length ? plural(errors.length, 'problem') : 'Only warnings'}:
              <ul class="plain problems">
                {report.problems.map((p, n) => (
                  <li key={n} class={p.severity === 'error' ? 'invalid' : ''}>
                    {p.severity === 'warning' ? 'Warning, ' : ''}
                    {p.area}: <Prose text={p.message} />
                  </li>
                ))}
              </ul>
            </>
          )}
        </dd>
      </dl>
      {i.notes.map((n, x) => (
        <p class="notes" key={x}>
          <Prose text={n} />
        </p>
      ))}
    </div>
  );
}
