/**
 * Reading images back. A `ByteSource` is random access over a file that may
 * be far larger than memory (a `File.slice` in the page, a file descriptor in
 * Node); a `DiskImage` is the virtual disk inside a container, read the same
 * way. Decoders read only the structures and the bytes asked for: a 100 GiB
 * image is never loaded.
 */

/** Random-access bytes: an image file as it is on disk. */
export interface ByteSource {
  /** Length in bytes. */
  readonly size: number;
  /** Bytes [offset, offset + length), clipped to the end of the source. */
  read(offset: number, length: number): Promise<Uint8Array>;
}

/** A run of the virtual disk: stored data, or a run that reads as zeros without being stored. */
export interface DiskExtent {
  offset: number;
  length: number;
  /** false: unallocated in the container (reads as zeros). */
  allocated: boolean;
}

/** The virtual disk inside an image file, whatever its container. */
export interface DiskImage {
  /** Our format id (`raw`, `tar`, `qcow2`, `vhd`, `vhd-dynamic`, `vmdk`, `vmdk-sparse`, `vdi`), as in FORMATS. */
  readonly formatId: string;
  /** Virtual disk size in bytes. */
  readonly size: number;
  /** Disk bytes [offset, offset + length), zeros where nothing is stored. */
  read(offset: number, length: number): Promise<Uint8Array>;
  /** Allocated and unallocated runs covering [0, size), in order. */
  extents(): AsyncIterable<DiskExtent>;
}
