/** Lucca tenant addresses: normalising what an operator pastes, and refusing hosts that are not Lucca's. */

const LUCCA_HOST_SUFFIXES = ['.ilucca.net', '.ilucca-test.net', '.ilucca-demo.net', '.ilucca.ch'];
const LUCCA_SANDBOX_HOST = /^[a-z0-9-]+-[a-z0-9-]+\.sandbox\.(eu1|eu2|ch1)\.luccasoftware\.com$/;
const HOST_LABELS = /^([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+$/;

function isLuccaHost(hostname: string): boolean {
  if (LUCCA_SANDBOX_HOST.test(hostname)) return true;
  return LUCCA_HOST_SUFFIXES.some((suffix) => {
    if (!hostname.endsWith(suffix)) return false;
    return HOST_LABELS.test(hostname.slice(0, -suffix.length + 1));
  });
}

/**
 * `https://Acme.ilucca.net/home/` → `https://acme.ilucca.net`. Operators paste whatever their browser
 * shows, so on a Lucca host only the origin is kept; on other hosts (a local fake Lucca serving
 * tenants under a path) the path is kept, without its trailing slash. A missing scheme means https.
 */
export function normaliseLuccaBaseUrl(input: string): string {
  const trimmed = input.trim();
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new TypeError(`Not a valid Lucca URL: "${trimmed}" (expected e.g. https://acme.ilucca.net)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TypeError(`A Lucca URL must be http(s), got ${url.protocol}`);
  }
  if (url.username || url.password) {
    throw new TypeError('A Lucca URL must not carry credentials; the API key is given separately');
  }
  if (isLuccaHost(url.hostname)) return url.origin;
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

interface AllowedEntry {
  protocol: 'http:' | 'https:';
  /** Exact hostname, or a suffix starting with "." when the entry was a `*.` glob. */
  host: string;
  wildcardHost: boolean;
  /** Effective port, or '*' for any. */
  port: string;
}

const ENTRY = /^(?:(https?):\/\/)?(\*\.[^:/]+|\[[0-9a-f:.]+\]|[^:/*[\]]+)(?::(\d{1,5}|\*))?\/?$/;

function parseAllowedEntry(raw: string): AllowedEntry | null {
  const m = ENTRY.exec(raw.trim().toLowerCase());
  if (!m?.[2]) return null;
  const protocol = m[1] === 'http' ? 'http:' : 'https:';
  const wildcardHost = m[2].startsWith('*.');
  const host = wildcardHost ? m[2].slice(1) : m[2];
  return { protocol, host, wildcardHost, port: m[3] ?? defaultPort(protocol) };
}

function defaultPort(protocol: string): string {
  return protocol === 'http:' ? '80' : '443';
}

/**
 * Whether an entry of `LUCCA_ALLOWED_HOSTS` is understood: an origin (`http://127.0.0.1:4010`),
 * a host (`lucca.example.test`) or a host glob (`*.example.test`), optionally with `:port` or `:*`.
 * Without a scheme an entry allows https only; without a port, the scheme's default port only.
 */
export function isValidAllowedHostEntry(entry: string): boolean {
  return parseAllowedEntry(entry) !== null;
}

/**
 * Whether the API key may be sent to `url`: https on one of Lucca's documented tenant hosts,
 * or a match of one of the `extraAllowed` entries (local testing).
 */
export function isAllowedLuccaUrl(url: string, extraAllowed: readonly string[]): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.username || parsed.password) return false;
  if (parsed.protocol === 'https:' && parsed.port === '' && isLuccaHost(parsed.hostname)) return true;
  const port = parsed.port || defaultPort(parsed.protocol);
  return extraAllowed.some((raw) => {
    const entry = parseAllowedEntry(raw);
    if (!entry || entry.protocol !== parsed.protocol) return false;
    if (entry.port !== '*' && entry.port !== port) return false;
    return entry.wildcardHost
      ? parsed.hostname.endsWith(entry.host) && parsed.hostname.length > entry.host.length
      : parsed.hostname === entry.host;
  });
}
