import { buffer } from 'node:stream/consumers';
import yauzl from 'yauzl';

/** Every entry of a zip, name → bytes, read with yauzl (a reader of its own, not the writer under test). */
export async function unzip(zip: Buffer): Promise<Map<string, Buffer>> {
  const file = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.fromBuffer(zip, { lazyEntries: true }, (err, z) => (err ? reject(err) : resolve(z))),
  );
  const out = new Map<string, Buffer>();
  await new Promise<void>((resolve, reject) => {
    file.on('error', reject).on('end', () => resolve());
    file.on('entry', (entry: yauzl.Entry) =>
      file.openReadStream(entry, (err, stream) => {
        if (err) return reject(err);
        buffer(stream).then((bytes) => {
          out.set(entry.fileName, bytes);
          file.readEntry();
        }, reject);
      }),
    );
    file.readEntry();
  });
  return out;
}
