import { describe, expect, it } from 'vitest';
import { statusLine } from '../../cli/status-line';
import { deviceClock, parseStart, zonedNow } from '../../sim/clock';
import { buildSimulatedFleet, fleetSpecs, parseFleetOptions } from '../../sim/options';

describe('simulate fleet options', () => {
  it('has usable defaults: six registered single-phase plugs at EnergyRes 3, no faults', () => {
    const o = parseFleetOptions({});
    const { registered, unregistered } = fleetSpecs(o);
    expect(registered.map((s) => s.name)).toEqual(['plug-01', 'plug-02', 'plug-03', 'plug-04', 'plug-05', 'plug-06']);
    expect(unregistered).toEqual([]);
    expect(registered.every((s) => s.energyRes === 3 && s.phases === 1 && s.zone === '')).toBe(true);
    expect(Object.values(o.faults).every((x) => x === 0)).toBe(true);
  });

  it('cycles EnergyRes, spreads three-phase plugs evenly and leaves the unknown share unregistered', () => {
    const o = parseFleetOptions({ devices: '8', 'energy-res': '0,5', phases: '0.25', unknown: '0.25', zone: '-05:30' });
    const { registered, unregistered } = fleetSpecs(o);
    const all = [...registered, ...unregistered];
    expect(all.map((s) => s.energyRes)).toEqual([0, 5, 0, 5, 0, 5, 0, 5]);
    expect(all.filter((s) => s.phases === 3)).toHaveLength(2);
    expect(unregistered.map((s) => s.name)).toEqual(['plug-07', 'plug-08']);
    expect(all.every((s) => s.zone === '-05:30')).toBe(true);
  });

  it('keeps at least one plug unknown when a share is asked for, and at least one registered', () => {
    expect(fleetSpecs(parseFleetOptions({ devices: '3', unknown: '0.01' })).unregistered).toHaveLength(1);
    expect(fleetSpecs(parseFleetOptions({ devices: '3', unknown: '1' })).registered).toHaveLength(1);
    expect(() => parseFleetOptions({ devices: '1', unknown: '0.5' })).toThrow(/at least 2/);
  });

  it('derives keys from the seed: same seed, same registry; another seed, other keys', () => {
    const keys = (seed: string) => buildSimulatedFleet(parseFleetOptions({ devices: '4', seed })).publicKeys();
    expect(keys('a')).toEqual(keys('a'));
    const [a, b] = [keys('a'), keys('b')];
    expect(Object.keys(a)).toEqual(Object.keys(b));
    for (const name of Object.keys(a)) expect(a[name]).not.toBe(b[name]);
  });

  it('publishes only registered plugs in the registry', () => {
    const fleet = buildSimulatedFleet(parseFleetOptions({ devices: '5', unknown: '0.4' }));
    expect(Object.keys(fleet.publicKeys())).toEqual(['plug-01', 'plug-02', 'plug-03']);
    expect(fleet.unregistered.map((p) => p.name)).toEqual(['plug-04', 'plug-05']);
  });

  it.each([
    [{ devices: '0' }, /--devices/],
    [{ devices: '2.5' }, /--devices/],
    [{ 'energy-res': '6' }, /--energy-res/],
    [{ phases: '2' }, /--phases/],
    [{ zone: '+1' }, /--zone/],
    [{ tampered: '1.5' }, /--tampered/],
    [{ replayed: 'lots' }, /--replayed/],
    [{ tampered: '0.6', unsigned: '0.6' }, /add up to/],
  ])('rejects %o', (text, message) => {
    expect(() => parseFleetOptions(text)).toThrow(message);
  });
});

describe('simulated plug clock', () => {
  it('advances at least one whole second per round, so genuine readings are never replays', () => {
    const start = parseStart('2024-03-01T12:00:00');
    expect(deviceClock(start, 50).at(3).toISOString()).toBe('2024-03-01T12:00:03.000Z');
    expect(deviceClock(start, 2500).at(2).toISOString()).toBe('2024-03-01T12:00:06.000Z');
  });

  it('reads --start as a device-local time and refuses anything else', () => {
    expect(parseStart('2024-02-29T23:59:59').toISOString()).toBe('2024-02-29T23:59:59.000Z');
    for (const bad of ['2023-02-29T00:00:00', '2024-03-01 12:00:00', '2024-03-01T12:00:00Z', 'now']) {
      expect(() => parseStart(bad)).toThrow(/--start/);
    }
  });

  it("shows the zone's local time", () => {
    const now = new Date('2024-03-01T12:00:00Z');
    expect(zonedNow('+01:00', now).toISOString()).toBe('2024-03-01T13:00:00.000Z');
    expect(zonedNow('-05:30', now).toISOString()).toBe('2024-03-01T06:30:00.000Z');
    expect(zonedNow('', now).toISOString()).toBe('2024-03-01T12:00:00.000Z');
  });
});

describe('status line', () => {
  const terminal = (isTTY: boolean) => {
    const written: string[] = [];
    return { isTTY, columns: 40, write: (s: string) => written.push(s) > 0, written };
  };

  it('rewrites one line on a terminal, throttled, and ends it with a newline', () => {
    let t = 0;
    const tty = terminal(true);
    const line = statusLine(tty, 100, () => t);
    line.update('sent 1');
    line.update('sent 2'); // within 100 ms: skipped
    t = 150;
    line.update('sent 3');
    line.update('sent 4', true);
    line.done();
    expect(tty.written).toEqual(['\r\x1b[2Ksent 1', '\r\x1b[2Ksent 3', '\r\x1b[2Ksent 4', '\n']);
  });

  it('cuts text to the terminal width', () => {
    const tty = terminal(true);
    statusLine(tty).update('x'.repeat(100));
    expect(tty.written[0]).toBe(`\r\x1b[2K${'x'.repeat(38)}…`);
  });

  it('writes nothing when the stream is not a terminal', () => {
    const pipe = terminal(false);
    const line = statusLine(pipe);
    line.update('sent 1', true);
    line.done();
    expect(pipe.written).toEqual([]);
  });
});
