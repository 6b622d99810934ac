/** The parts of the streamsaver package (node_modules/streamsaver/StreamSaver.js) the page uses. */
declare module 'streamsaver' {
  interface CreateWriteStreamOptions {
    /** Sent as Content-Length. */
    size?: number;
    pathname?: string;
    writableStrategy?: QueuingStrategy<Uint8Array>;
    readableStrategy?: QueuingStrategy<Uint8Array>;
  }
  interface StreamSaver {
    createWriteStream(filename: string, options?: CreateWriteStreamOptions): WritableStream<Uint8Array>;
    /** URL of the man-in-the-middle page; the package's default is on another origin. */
    mitm: string;
    supported: boolean;
    version: { full: string };
  }
  const streamSaver: StreamSaver;
  export default streamSaver;
}
