/**
 * The InfluxDB URL as the audit prints it, in reports and error lines alike: never its user info or query.
 * `--url http://user:pass@host:8086` is a common way to pass credentials, and reports end up in tickets.
 */

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*:\/\/)?/;

export function displayUrl(raw: string): string {
  let url: URL | undefined;
  try {
    url = new URL(raw);
  } catch {
    url = undefined;
  }
  if (url && (url.protocol === 'http:' || url.protocol === 'https:')) {
    if (!url.username && !url.password && !url.search && !url.hash && !raw.includes('@')) return raw;
    // The query and fragment are never sent (influx-pager resolves paths against the base), so drop them.
    const user = url.password ? `${url.username}:***@` : url.username ? '***@' : '';
    return `${url.protocol}//${user}${url.host}${url.pathname}`;
  }
  // Not a URL the audit would use (so it may well be printed in an error): everything up to the last `@`
  // may be user info, a password with `/`, `?` or `#` in it included.
  const scheme = SCHEME.exec(raw)![0];
  const at = raw.lastIndexOf('@');
  const rest = at >= 0 ? `***@${raw.slice(at + 1)}` : raw.slice(scheme.length);
  return scheme + rest.replace(/[?#][^]*$/, '');
}

const decoded = (text: string): string => {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
};

/**
 * `text` with the URL and every spelling of its user info replaced: for messages the audit did not
 * write itself (a Node error, say). A password shorter than 4 characters is left alone when it stands
 * apart, or every message would be starred through.
 */
export function withoutUrlSecrets(text: string, raw: string): string {
  let out = text.split(raw).join(displayUrl(raw));
  const at = raw.lastIndexOf('@');
  if (at < 0) return out;
  const userInfo = raw.slice(SCHEME.exec(raw)![0].length, at);
  const colon = userInfo.indexOf(':');
  const password = colon < 0 ? '' : userInfo.slice(colon + 1);
  const secrets = [userInfo, decoded(userInfo), ...(password.length >= 4 ? [password, decoded(password)] : [])];
  for (const secret of new Set(secrets.filter(Boolean).sort((a, b) => b.length - a.length))) out = out.split(secret).join('***');
  return out;
}

/** Free text (an argument parser's message, say) with the user info of any URL in it starred out. */
export const redactUrlsIn = (text: string): string => text.replace(/\b([A-Za-z][A-Za-z0-9+.-]*:\/\/)[^\s'"]*@/g, '$1***@');
