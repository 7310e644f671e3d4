/**
 * (c) The reference validator's loop (bc4p/SmartCryptometer-Validator), rewritten in a few lines:
 * json-parse the payload, format f"{Time},{Total}", PyNaCl verify. Single-threaded by design, so it
 * runs on the machine's fastest core: the comparison is against the reference at its best.
 */
import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { onCore, output } from './cores';

const PYTHON = '/usr/bin/python3';

const SCRIPT = `
import json, sys, time
from nacl.signing import VerifyKey
from nacl.exceptions import BadSignatureError
keys = {d: VerifyKey(bytes.fromhex(k)) for d, k in json.load(open(sys.argv[1])).items()}
rows = [json.loads(l) for l in open(sys.argv[2])]
ok = bad = 0
t = time.perf_counter()
for r in rows:
    p = json.loads(r["payload"])
    msg = f"{p['Time']},{p['ENERGY']['Total']}"
    try:
        keys[r["device"]].verify(msg.encode(), bytes.fromhex(p["Signature"])); ok += 1
    except BadSignatureError:
        bad += 1
print(json.dumps({"seconds": time.perf_counter() - t, "n": len(rows), "ok": ok}))
`;

export const referenceAvailable = (): boolean => existsSync(PYTHON) && spawnSync(PYTHON, ['-c', 'import nacl']).status === 0;

/** Readings per second, and the share of genuine readings it rejects. */
export async function referenceLoop(
  core: number,
  keysFile: string,
  payloadFile: string,
  genuine: number,
): Promise<{ rate: number; rejectedGenuine: number }> {
  const [cmd, args] = onCore(core, PYTHON, ['-c', SCRIPT, keysFile, payloadFile]);
  const r = JSON.parse(await output(cmd, args)) as { seconds: number; n: number; ok: number };
  return { rate: r.n / r.seconds, rejectedGenuine: 1 - r.ok / genuine };
}
