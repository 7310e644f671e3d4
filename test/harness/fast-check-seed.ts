/**
 * One fixed fast-check seed for every property test, printed, so that a failure seen once (in CI or
 * here) runs again the same way: `FC_SEED=<n> npx vitest run …` tries another.
 */
import fc from 'fast-check';

const seed = Number(process.env.FC_SEED ?? 20261129);
fc.configureGlobal({ seed });
if (process.env.VITEST_WORKER_ID === '1' || process.env.FC_SEED) console.log(`fast-check seed ${seed} (set FC_SEED to change it)`);
