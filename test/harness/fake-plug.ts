/**
 * A plug's web server as the BC4P fork of Tasmota 12.3.1 runs it (docs/design.md §10), for `meterproof
 * keys enroll` and `discover`: `GET /in` sends the Information table as one JavaScript string (rows split
 * by `}1`, cells by `}2`) with the fork's `Public Key` row after the Friendly Name rows; a WebPassword
 * asks for HTTP Basic auth as user admin (401 without); with the Referer check on (SetOption128 0) a
 * request whose Referer does not start with http://<hostname or IP> gets no answer at all: the firmware's
 * handler returns without sending, and the web server closes the connection after its 2 s close wait.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { freePort } from './ports';

export interface FakePlugOptions {
  /** MQTT Topic: the device name meterproof uses. */
  readonly topic: string;
  /** The fork's key pair's public half; undefined: unsigned firmware (no Public Key row). */
  readonly publicKeyHex?: string;
  /** WebPassword; requests then need Basic auth as admin. */
  readonly webPassword?: string;
  /** SetOption128 0: refuse requests whose Referer does not start with http://<hostname or IP>. */
  readonly refererCheck?: boolean;
  readonly hostname?: string;
  readonly friendlyName?: string;
  /** Discovery's `sw`, also the page's Program Version. */
  readonly version?: string;
  /** Listen here; default 127.0.0.1 on a free port. Port 80 is what `discover` reaches (http://<ip>/in). */
  readonly address?: string;
  readonly port?: number;
  /** How long a refused request waits before the connection closes (the ESP8266 web server's 2 s). */
  readonly refusedCloseMs?: number;
}

export interface FakePlug {
  /** http://<address>:<port> */
  readonly url: string;
  readonly address: string;
  readonly port: number;
  readonly mac: string;
  readonly hostname: string;
  readonly topic: string;
  /** A hard reset: the plug shows a new key (undefined: flashed with unsigned firmware). */
  setKey(hex: string | undefined): void;
  /** The headers of every request, in order. */
  readonly requests: { path: string; referer?: string; authorization?: string; answered: boolean }[];
  /** What the plug publishes, retained, on tasmota/discovery/<mac>/config. */
  discoveryConfig(): Record<string, unknown>;
  readonly discoveryTopic: string;
  stop(): Promise<void>;
}

let plugsMade = 0;

export async function startFakePlug(o: FakePlugOptions): Promise<FakePlug> {
  const address = o.address ?? '127.0.0.1';
  const port = o.port ?? (await freePort());
  const n = ++plugsMade;
  const mac = `A4CF12${((process.pid * 131 + n) & 0xffffff).toString(16).toUpperCase().padStart(6, '0')}`;
  const hostname = o.hostname ?? `${o.topic.replace(/[^A-Za-z0-9-]/g, '-')}-${mac.slice(-4)}`;
  const version = o.version ?? '28.3.1.6';
  const friendly = o.friendlyName ?? o.topic;
  let key = o.publicKeyHex;
  const requests: FakePlug['requests'] = [];

  const page = (): string[] => {
    const rows: [string, string][] = [
      ['Program Version', `${version}(tasmota)`],
      ['Build Date & Time', '2023-02-10T09:41:27'],
      ['Core/SDK Version', '2_7_4_9/2.2.2-dev(38a443e)'],
      ['Uptime', '0T02:13:05'],
      ['Flash write Count', '31 at 0xF4000'],
      ['Boot Count', '12'],
      ['Restart Reason', 'Power On'],
      ['Friendly Name 1', friendly],
      ...(key !== undefined ? [['Public Key', key] as [string, string]] : []),
      ['', '&nbsp;'],
      ['AP1 SSId (RSSI)', 'fleet-net (86%, -57 dBm)'],
      ['Hostname', hostname],
      ['IP Address', address],
      ['Gateway', '192.168.1.1'],
      ['Subnet Mask', '255.255.255.0'],
      ['DNS Server', '192.168.1.1'],
      ['MAC Address', mac.match(/../g)!.join(':')],
      ['', '&nbsp;'],
      ['MQTT Host', '192.168.1.2'],
      ['MQTT Port', '1883'],
      ['MQTT User', 'DVES_USER'],
      ['MQTT Client', `DVES_${mac.slice(-6)}`],
      ['MQTT Topic', o.topic],
      ['MQTT Group Topic 1', 'cmnd/tasmotas/'],
      ['MQTT Full Topic', `cmnd/${o.topic}/`],
      ['MQTT Fallback Topic', `cmnd/DVES_${mac.slice(-6)}_fb/`],
      ['MQTT No Retain', 'Disabled'],
      ['', '&nbsp;'],
      ['Emulation', 'None'],
      ['mDNS Discovery', 'Disabled'],
      ['', '&nbsp;'],
      ['ESP Chip Id', '1234567 (ESP8266EX)'],
      ['Flash Chip Id', '0x1640EF'],
      ['Flash Size', '4096 kB'],
      ['Program Flash Size', '1024 kB'],
      ['Program Size', '640 kB'],
      ['Free Program Space', '360 kB'],
      ['Free Memory', '24.8 kB'],
    ];
    // WSContentSend_P pieces: the head, the script's start, one row at a time, the script's end and the body.
    return [
      `<!DOCTYPE html><html lang="en" class=""><head><meta charset='utf-8'><meta name="viewport" content="width=device-width,initial-scale=1,user-scalable=no"/>` +
        `<title>${friendly} - Information</title><script>var x=null,lt,to,tp,pc='';function eb(s){return document.getElementById(s);}` +
        `function qs(s){return document.querySelector(s);}function sp(i){eb(i).type=(eb(i).type==='text'?'password':'text');}` +
        `function wl(f){window.addEventListener('load',f);}`,
      `function i(){var s,o="<table style='width:100%'><tr><th>`,
      ...rows.map(([h, v], i) => `${i ? '}1' : ''}${h}}2${v}`),
      `</td></tr></table>";s=o.replace(/}1/g,"</td></tr><tr><th>").replace(/}2/g,"</th><td>");eb('i').innerHTML=s;}wl(i);`,
      `</script><style>div,fieldset,input,select{padding:5px;font-size:1em;}td{padding:0px;}</style></head><body>` +
        `<div style='text-align:left;display:inline-block;color:#eaeaea;min-width:340px;'><div style='text-align:center;color:#eaeaea;'>` +
        `<noscript>To use Tasmota, please enable JavaScript<br></noscript><h3>Gosund SP111</h3><h2>${friendly}</h2></div>` +
        `<style>td{padding:0px 5px;}</style><div id='i' name='i'></div><div></div><p><form action='.' method='get'><button>Main Menu</button></form></p>` +
        `<div style='text-align:right;font-size:11px;'><hr/><a href='https://bit.ly/tasmota' target='_blank' style='color:#aaa;'>Tasmota ${version} by Theo Arends</a></div></div></body></html>`,
    ];
  };

  const refererAllowed = (referer: string | undefined): boolean => {
    if (!referer) return false;
    const r = referer.toUpperCase();
    return r.indexOf(hostname.toUpperCase()) === 7 || r.indexOf(address) === 7;
  };

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const seen = {
      path: req.url ?? '',
      ...(req.headers.referer !== undefined && { referer: req.headers.referer }),
      ...(req.headers.authorization !== undefined && { authorization: req.headers.authorization }),
      answered: true,
    };
    requests.push(seen);
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/in') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end(`404: File Not Found\n\nURI: ${path}\nMethod: GET\nArguments: 0\n`);
      return;
    }
    if (o.webPassword !== undefined) {
      const expected = `Basic ${Buffer.from(`admin:${o.webPassword}`).toString('base64')}`;
      if (req.headers.authorization !== expected) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="Login Required"', 'Content-Type': 'text/html' }).end('401 Unauthorized');
        return;
      }
    }
    if (o.refererCheck && !refererAllowed(req.headers.referer)) {
      // HttpCheckPriviledgedAccess logs "Referer denied" and the handler returns: nothing is sent.
      seen.answered = false;
      setTimeout(() => req.socket.destroy(), o.refusedCloseMs ?? 2000);
      return;
    }
    res.writeHead(200, {
      'Content-Type': 'text/html',
      'Cache-Control': 'no-cache, no-store, must-revalidate',
      Pragma: 'no-cache',
      Expires: '-1',
      'Access-Control-Allow-Origin': '*',
    });
    for (const chunk of page()) res.write(chunk); // chunked, as WSContentStart sets CONTENT_LENGTH_UNKNOWN
    res.end();
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, address, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    url: `http://${address}:${port}`,
    address,
    port,
    mac,
    hostname,
    topic: o.topic,
    requests,
    setKey: (hex) => void (key = hex),
    discoveryTopic: `tasmota/discovery/${mac}/config`,
    discoveryConfig: () => ({
      ip: address,
      dn: friendly,
      fn: [friendly, null, null, null, null, null, null, null],
      hn: hostname,
      mac,
      md: 'Gosund SP111',
      ty: 0,
      if: 0,
      ofln: 'Offline',
      onln: 'Online',
      state: ['OFF', 'ON', 'TOGGLE', 'HOLD'],
      sw: version,
      t: o.topic,
      ft: '%prefix%/%topic%/',
      tp: ['cmnd', 'stat', 'tele'],
      rl: [1, 0, 0, 0, 0, 0, 0, 0],
      swc: [-1, -1, -1, -1, -1, -1, -1, -1],
      swn: [null, null, null, null, null, null, null, null],
      btn: [0, 0, 0, 0, 0, 0, 0, 0],
      so: { '4': 0, '11': 0, '13': 0, '17': 0, '20': 0, '30': 0, '68': 0, '73': 0, '82': 0, '114': 0, '117': 0 },
      lk: 0,
      lt_st: 0,
      sho: [0, 0, 0, 0],
      sht: [
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
      ],
      ver: 1,
    }),
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A plug at its own loopback address on port 80, where `discover` looks for it (discovery gives only an
 * IP). Needs root or `sysctl net.ipv4.ip_unprivileged_port_start=80`; fails loudly otherwise.
 */
export async function startFakePlugOnPort80(o: Omit<FakePlugOptions, 'address' | 'port'>): Promise<FakePlug> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await startFakePlug({ ...o, address: randomLoopback(), port: 80 });
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EACCES') {
        throw new Error(
          'a fake plug must listen on port 80 of a loopback address (discovery gives only an IP): run the tests as root ' +
            'or `sysctl net.ipv4.ip_unprivileged_port_start=80`',
        );
      }
      if (code !== 'EADDRINUSE' || attempt > 20) throw e;
    }
  }
}

/** A loopback address (127.0.0.0/8 all reaches this machine) that nothing here listens on, most likely. */
export function randomLoopback(): string {
  const b = () => 1 + Math.floor(Math.random() * 254);
  return `127.${100 + Math.floor(Math.random() * 150)}.${b()}.${b()}`;
}
