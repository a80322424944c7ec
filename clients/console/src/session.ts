/**
 * The console's one API client (the SDK's openapi-fetch client on the
 * node that served the page) and the session around it. The refresh
 * token is kept in sessionStorage, so a reload of the tab stays signed in
 * (the access token lives in memory only); logout forgets it.
 */
import { ApiError, createClient, type OutriderClient, type User } from "@outrider/client";

const refreshKey = "outrider.console.refresh";

function stored(): string | undefined {
  try {
    return sessionStorage.getItem(refreshKey) ?? undefined;
  } catch {
    return undefined; // storage disabled: sessions end with the page
  }
}

function store(token: string | undefined): void {
  try {
    if (token) {
      sessionStorage.setItem(refreshKey, token);
    } else {
      sessionStorage.removeItem(refreshKey);
    }
  } catch {
    // storage disabled
  }
}

const saved = stored();
export const api: OutriderClient = createClient({
  baseUrl: window.location.origin,
  ...(saved ? { refreshToken: saved } : {}),
  onTokens: (t) => store(t?.refresh_token),
});

/** The console is the dispatchers' (admins'): anyone else is told so. */
export class NotAdminError extends Error {
  constructor(user: User) {
    super(`The console is for admins; ${user.email} is a ${user.role}.`);
    this.name = "NotAdminError";
  }
}

/** Logs in and returns the admin, or throws ApiError / NotAdminError. */
export async function login(email: string, password: string): Promise<User> {
  const t = await api.login(email, password);
  if (t.user.role !== "admin") {
    await api.logout().catch(() => api.setTokens(null));
    throw new NotAdminError(t.user);
  }
  return t.user;
}

/** The admin of the stored session, renewed with its refresh token; undefined without one. */
export async function resume(): Promise<User | undefined> {
  if (!saved) {
    return undefined;
  }
  try {
    const t = await api.refresh();
    return t.user.role === "admin" ? t.user : undefined;
  } catch {
    store(undefined);
    return undefined;
  }
}

/** What to show a person for a failure: the problem+json code and detail when the node sent one. */
export function describe(err: unknown): string {
  if (err instanceof ApiError) {
    const p = err.problem;
    return p ? `${p.code}: ${p.detail ?? p.title}` : `HTTP ${err.status}`;
  }
  if (err instanceof Error) {
    return err.message;
  }
  return String(err);
}
