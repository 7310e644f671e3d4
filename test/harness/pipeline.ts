/** The processor's pipeline in-process, for property tests that need thousands of runs. */
import { parseKeyFile } from '../../core/keyfile';
import { loadVerifier, type SignatureVerifier } from '../../core/node/verifier';
import { MetricSplitter } from '../../core/lineprotocol/split';
import { createLogger } from '../../processor/log';
import { LastAccepted } from '../../processor/last-accepted';
import { OutputBuffer } from '../../processor/output';
import { Pipeline } from '../../processor/pipeline';
import { ReadingExtractor } from '../../processor/reading';
import { Stats } from '../../processor/stats';

const defaultCrypto = loadVerifier();

export interface InProcess {
  /** Each metric the splitter found in `input`, with exactly what the pipeline wrote for it. */
  run(input: Uint8Array, chunk?: number): { pairs: { input: Buffer; output: Buffer }[]; log: string[] };
}

/** `crypto` may be wrapped, e.g. to count verifications. */
export function inProcessPipeline(keys: Record<string, string>, crypto: SignatureVerifier = defaultCrypto): InProcess {
  const registry = parseKeyFile(JSON.stringify(keys));
  return {
    run(input, chunk = input.length || 1) {
      const log: string[] = [];
      const parts: Buffer[] = [];
      const out = new OutputBuffer((c) => (parts.push(Buffer.from(c)), true)); // copied: the buffer is reused
      const pipeline = new Pipeline({
        extractor: new ReadingExtractor(),
        keys: { keysFor: (d) => registry.devices.get(d) },
        memory: new LastAccepted(),
        crypto,
        log: createLogger((l) => log.push(l)),
        out,
        stats: new Stats(),
        expandPayload: true,
      });
      const splitter = new MetricSplitter();
      const pairs: { input: Buffer; output: Buffer }[] = [];
      const take = (l: { buf: Buffer; start: number; end: number }) => {
        const input = Buffer.from(l.buf.subarray(l.start, l.end));
        pipeline.line(l.buf, l.start, l.end);
        pipeline.endChunk();
        out.flush();
        pairs.push({ input, output: Buffer.concat(parts.splice(0)) });
      };
      for (let i = 0; i < input.length; i += chunk) {
        splitter.push(Buffer.from(input.subarray(i, i + chunk)));
        for (let l = splitter.next(); l; l = splitter.next()) take(l);
      }
      const rest = splitter.finish();
      if (rest) take(rest);
      return { pairs, log };
    },
  };
}
