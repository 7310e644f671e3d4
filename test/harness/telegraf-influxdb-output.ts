/**
 * Stands in for Telegraf's `outputs.influxdb` (v1.39), which cannot run here: metrics are buffered and
 * POSTed to `/write?db=<database>` in batches of `metric_batch_size` (default 1000), one line each,
 * gzip-compressed (`content_encoding = "gzip"`), with no precision parameter, so InfluxDB reads the
 * timestamps as nanoseconds. Batches go out one at a time, in order.
 */
import { gzipSync } from 'node:zlib';

export class InfluxOutput {
  private batch: string[] = [];
  private sending: Promise<void> = Promise.resolve();
  private failure: Error | undefined;
  batchesSent = 0;

  constructor(
    private readonly url: string,
    private readonly database: string,
    private readonly batchSize = 1000,
  ) {}

  /** One metric line (with or without its '\n'). */
  add(line: string): void {
    this.batch.push(line.endsWith('\n') ? line : `${line}\n`);
    if (this.batch.length >= this.batchSize) this.send();
  }

  /** Sends what is buffered and waits for every batch; throws the first write error. */
  async flush(): Promise<void> {
    this.send();
    await this.sending;
    if (this.failure) throw this.failure;
  }

  private send(): void {
    if (this.batch.length === 0) return;
    const body = gzipSync(this.batch.join(''));
    this.batch = [];
    this.sending = this.sending.then(async () => {
      const res = await fetch(`${this.url}/write?${new URLSearchParams({ db: this.database })}`, {
        method: 'POST',
        headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Encoding': 'gzip' },
        body,
      });
      if (res.status !== 204) this.failure ??= new Error(`InfluxDB /write answered ${res.status}: ${await res.text()}`);
      this.batchesSent++;
    });
  }
}
