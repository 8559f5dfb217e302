/**
 * The proxy settings handed to Node's agents, chosen as gaxios chooses them (one proxy for every
 * URL, the first set of HTTPS_PROXY, https_proxy, HTTP_PROXY, http_proxy; NO_PROXY by its rules).
 */
import { describe, expect, it } from 'vitest';
import { agentProxyEnv } from '../../shared/outbound-proxy.ts';

describe('agentProxyEnv', () => {
  const URL = 'https://bigquery.googleapis.com/bigquery/v2/projects/p/datasets/d/tables/t/insertAll';
  const PROXY = { HTTPS_PROXY: 'http://p:1', HTTP_PROXY: 'http://p:1' };
  const cases: { name: string; env: Record<string, string>; expected: Record<string, string> }[] = [
    { name: 'nothing set', env: {}, expected: {} },
    { name: 'HTTP_PROXY alone serves https too', env: { HTTP_PROXY: 'http://p:1' }, expected: { HTTPS_PROXY: 'http://p:1', HTTP_PROXY: 'http://p:1' } },
    { name: 'HTTPS_PROXY alone serves http too', env: { https_proxy: 'http://s:2' }, expected: { HTTPS_PROXY: 'http://s:2', HTTP_PROXY: 'http://s:2' } },
    {
      name: 'HTTPS_PROXY first, then https_proxy, HTTP_PROXY, http_proxy',
      env: { http_proxy: 'http://d:4', HTTP_PROXY: 'http://c:3', https_proxy: 'http://b:2', HTTPS_PROXY: 'http://a:1' },
      expected: { HTTPS_PROXY: 'http://a:1', HTTP_PROXY: 'http://a:1' },
    },
    {
      name: 'NO_PROXY in either case, NO_PROXY first',
      env: { HTTP_PROXY: 'http://p:1', no_proxy: 'bigquery.googleapis.com', NO_PROXY: 'a.test' },
      expected: PROXY,
    },
    { name: 'the exact host name exempts', env: { HTTP_PROXY: 'http://p:1', NO_PROXY: 'a.test, bigquery.googleapis.com' }, expected: {} },
    { name: 'the origin exempts', env: { HTTP_PROXY: 'http://p:1', NO_PROXY: 'https://bigquery.googleapis.com' }, expected: {} },
    { name: 'a leading dot exempts the hosts under it', env: { HTTP_PROXY: 'http://p:1', NO_PROXY: '.googleapis.com' }, expected: {} },
    { name: 'so does a leading *.', env: { HTTP_PROXY: 'http://p:1', NO_PROXY: '*.googleapis.com' }, expected: {} },
    { name: 'a bare domain is not its subdomains (unlike curl and Node)', env: { HTTP_PROXY: 'http://p:1', NO_PROXY: 'googleapis.com' }, expected: PROXY },
    { name: '* is not every host (unlike curl and Node)', env: { HTTP_PROXY: 'http://p:1', NO_PROXY: '*' }, expected: PROXY },
    { name: 'NO_PROXY without a proxy', env: { NO_PROXY: '*' }, expected: {} },
  ];
  for (const c of cases) {
    it(c.name, () => {
      expect(agentProxyEnv(c.env, URL)).toEqual(c.expected);
    });
  }
});
