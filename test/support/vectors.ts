/** Reads the shared test corpora (written by others) from ../shared/vectors; never copied into the repo. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const VECTORS = join(__dirname, '..', '..', '..', 'shared', 'vectors');

export const readVector = (path: string): string => readFileSync(join(VECTORS, path), 'utf8');
export const readVectorJson = <T>(path: string): T => JSON.parse(readVector(path)) as T;
