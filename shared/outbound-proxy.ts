/**
 * The project's own HTTP clients (BigQuery's insertAll, the token signing certificates) behind
 * the outbound proxy Google's clients use: the same variables, chosen the way gaxios chooses
 * them, handed to Node's agents as `proxyEnv`; and the sockets such an agent opens, so that an
 * exchange that ends (or misses its deadline) while Node is still tunnelling through the proxy
 * can let them go, which Node alone does not.
 */
import type { Agent } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * `proxyEnv` for a node:http(s) Agent that sends requests to `url`, chosen as gaxios chooses: one
 * proxy for every URL, the first set of HTTPS_PROXY, https_proxy, HTTP_PROXY, http_proxy (Node's
 * agents would take only HTTPS_PROXY for an https URL, so that a proxy named by HTTP_PROXY alone
 * would be bypassed, and egress refused), unless NO_PROXY exempts the URL by gaxios's rules.
 * Node is handed the outcome, never NO_PROXY: its own rules differ (`*` is every host there,
 * `example.com` takes in its subdomains), and the project's requests must go where the Google
 * clients' requests go.
 * @see https://github.com/googleapis/gaxios/blob/main/src/gaxios.ts (where it picks the proxy, and reads NO_PROXY)
 */
export function agentProxyEnv(env: Record<string, string | undefined>, url: string): Record<string, string | undefined> {
  const proxy = env.HTTPS_PROXY ?? env.https_proxy ?? env.HTTP_PROXY ?? env.http_proxy;
  if (!proxy || exemptFromProxy(url, env.NO_PROXY ?? env.no_proxy)) return {};
  return { HTTPS_PROXY: proxy, HTTP_PROXY: proxy };
}

/**
 * gaxios's NO_PROXY rules, comma-separated: `.example.com` or `*.example.com` exempts the host
 * names ending so; any other rule only the exact host name, origin or URL.
 */
function exemptFromProxy(url: string, noProxy: string | undefined): boolean {
  if (!noProxy) return false;
  const target = new URL(url);
  return noProxy.split(',').some((entry) => {
    const rule = entry.trim();
    if (rule.startsWith('*.') || rule.startsWith('.')) return target.hostname.endsWith(rule.replace(/^\*\./, '.'));
    return rule === target.origin || rule === target.hostname || rule === target.href;
  });
}

/**
 * Records every socket `agent` opens from now on; `take()` hands over (and forgets) those opened
 * since the last call. Node opens a proxy's CONNECT tunnel before the request holds a socket: a
 * request destroyed meanwhile (its deadline) leaves the tunnel open, and so does a proxy's
 * refusal (407), so the caller destroys what it took when the exchange fails. An agent opens a
 * request's socket synchronously, inside `request()`, so a `take()` right after it takes that
 * request's own.
 */
export function recordSockets(agent: Agent): { take: () => Duplex[] } {
  let opened: Duplex[] = [];
  const createConnection = agent.createConnection.bind(agent);
  agent.createConnection = (options, callback) => {
    const socket = createConnection(options, callback);
    if (socket) opened.push(socket);
    return socket;
  };
  return {
    take: () => {
      const taken = opened;
      opened = [];
      return taken;
    },
  };
}
