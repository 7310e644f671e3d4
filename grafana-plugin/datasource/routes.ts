/**
 * The proxy routes of plugin.json, by the authentication they carry (docs/grafana.md, "Proxy routes").
 * Grafana adds a route's URL parameters and headers to every request it matches, even when they render
 * empty, so each kind of authentication has its own route: only `query-user` sends `u`/`p`, only
 * `query-token` an Authorization header, and `query-none` neither (Grafana's own basic auth passes).
 */
import type { AuthType, TrustOptions } from './types';

export const QUERY_ROUTES: Readonly<Record<AuthType, string>> = { password: 'query-user', token: 'query-token', none: 'query-none' };

/** The configured authentication; settings saved before `authType` existed used a user when one was set. */
export const authTypeOf = (j: Pick<TrustOptions, 'authType' | 'user'>): AuthType => j.authType ?? (j.user ? 'password' : 'none');
