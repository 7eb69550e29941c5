/**
 * Who may use the dashboard: the holder of its token. Loopback is no boundary (every account
 * on the machine reaches 127.0.0.1), so the token is required there too unless the config
 * opts out explicitly (`dashboard_auth: "none"`).
 *
 * A request proves it holds the token by `Authorization: Bearer <token>` (scripts,
 * Prometheus), by the login cookie (the browser, after opening the `?token=` URL once), or
 * by `?token=` itself, which the server answers with a redirect that sets the cookie.
 * No imports from the conductor's config: config.ts uses this module.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { ensurePrivateDir } from '../shared/privateFiles.js';

/** Shortest token accepted, from the config or a file. */
export const MIN_DASHBOARD_TOKEN_LENGTH = 16;
const MAX_TOKEN_LENGTH = 512;
/** What a token file may hold: what generateToken makes, or a configured token's charset. */
const TOKEN_FILE_PATTERN = /^[\x21-\x7e]+$/;

export type DashboardAuthMode = 'token' | 'none';

export function isLoopbackAddress(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** 24 random bytes, URL-safe (it travels in a query string and a cookie). */
export function generateToken(): string {
  return crypto.randomBytes(24).toString('base64url');
}

/**
 * The token kept in `file`, or a new one written there (0600, atomically). Kept across
 * restarts so open pages and their cookies, and a Prometheus `credentials_file`, keep
 * working; a file anyone else could have read (not ours, or not 0600) is replaced.
 */
export function loadOrCreateToken(file: string): string {
  try {
    const st = fs.lstatSync(file);
    const ours = st.isFile() && st.uid === process.getuid?.() && (st.mode & 0o077) === 0;
    const text = ours ? fs.readFileSync(file, 'utf8').trim() : '';
    if (text.length >= MIN_DASHBOARD_TOKEN_LENGTH && text.length <= MAX_TOKEN_LENGTH && TOKEN_FILE_PATTERN.test(text)) return text;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const token = generateToken();
  ensurePrivateDir(path.dirname(file));
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.fchmodSync(fd, 0o600); // whatever the umask
    fs.writeFileSync(fd, `${token}\n`);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
  return token;
}

/** Compares in constant time whatever the lengths (both sides are hashed first). */
function sameSecret(given: string, expected: string): boolean {
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export interface AuthResult {
  ok: boolean;
  /** A valid `?token=`: answer with the login redirect. */
  login?: boolean;
  /** Why not, for the 401 (never the token). */
  reason?: string;
}

export class DashboardAuth {
  /** The cookie carries a value derived from the token, never the token itself (which may hold any character). */
  private readonly cookieSecret: string | undefined;

  constructor(
    readonly mode: DashboardAuthMode,
    /** Required when mode is "token". */
    readonly token: string | undefined,
  ) {
    if (mode === 'token' && (!token || token.length < MIN_DASHBOARD_TOKEN_LENGTH || token.length > MAX_TOKEN_LENGTH)) {
      throw new Error(`dashboard token: use ${MIN_DASHBOARD_TOKEN_LENGTH} to ${MAX_TOKEN_LENGTH} characters`);
    }
    this.cookieSecret = token && crypto.createHmac('sha256', token).update('mzt dashboard login cookie').digest('base64url');
  }

  /** One cookie name per port: two dashboards on one host (cookies ignore ports) keep theirs apart. */
  cookieName(port: number): string {
    return `mzt_dashboard_${port}`;
  }

  check(req: http.IncomingMessage, url: URL, port: number): AuthResult {
    if (this.mode === 'none') return { ok: true };
    const token = this.token!;
    const query = url.searchParams.get('token');
    if (query !== null) {
      return sameSecret(query, token) ? { ok: true, login: true } : { ok: false, reason: 'the token in the URL is not valid (it may be from before a change of dashboard_token)' };
    }
    const header = req.headers.authorization;
    if (header !== undefined) {
      const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
      return bearer !== undefined && sameSecret(bearer, token) ? { ok: true } : { ok: false, reason: 'the Authorization header does not carry the valid token ("Bearer <token>")' };
    }
    const cookie = cookieValue(req.headers.cookie, this.cookieName(port));
    if (cookie !== undefined) {
      return sameSecret(cookie, this.cookieSecret!) ? { ok: true } : { ok: false, reason: 'the login cookie is no longer valid (the token changed)' };
    }
    return { ok: false, reason: 'no token given' };
  }

  /** The login cookie: the browser sends it back to this host only, never to script. */
  setCookie(port: number): string {
    return `${this.cookieName(port)}=${this.cookieSecret}; Path=/; HttpOnly; SameSite=Strict`;
  }
}
