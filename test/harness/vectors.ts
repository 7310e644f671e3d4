/** Reads the test corpora written by others from test/vectors (provenance and licences in its README). */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export const VECTORS = join(__dirname, '..', 'vectors');

/** `path` as listed in test/vectors/README.md; a `.gz` file is read un-gzipped. */
export function readVector(path: string): string {
  const bytes = readFileSync(join(VECTORS, path));
  return (path.endsWith('.gz') ? gunzipSync(bytes) : bytes).toString('utf8');
}
export const readVectorJson = <T>(path: string): T => JSON.parse(readVector(path)) as T;
