// The typed API client: paths, bodies, queries and answers all come from the generated schema.
// The access token lives in memory only; the refresh token in localStorage, so a reload keeps
// the user signed in. A 401 triggers one silent refresh and a retry; if that fails the app is
// told to sign in again (onSignedOut).
import type { paths } from "./schema";
import type { SignedIn } from "./types";

type Method = "get" | "post" | "put" | "patch" | "delete";
type Json<R> = R extends { content: { "application/json": infer T } } ? T : undefined;
type Ok<O> = O extends { responses: infer R }
  ? Json<R[Extract<keyof R, 200 | 201 | 202 | 204>]>
  : never;
type BodyOf<O> = O extends { requestBody: { content: { "application/json": infer B } } }
  ? B
  : never;
type QueryOf<O> = O extends { parameters: { query?: infer Q } } ? Q : never;

export type Options<O> = {
  params?: Record<string, string | number>;
  query?: QueryOf<O>;
  body?: BodyOf<O>;
  signal?: AbortSignal;
};

const REFRESH_KEY = "zapdesk.refresh";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfter: number | null = null,
    /** The error's `details`: `field` (or `errors[].field`) names the input at fault. */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

let accessToken: string | null = null;
let refreshing: Promise<boolean> | null = null;
const signedOutListeners = new Set<() => void>();

export function onSignedOut(listener: () => void): () => void {
  signedOutListeners.add(listener);
  return () => signedOutListeners.delete(listener);
}

export function hasRefreshToken(): boolean {
  return localStorage.getItem(REFRESH_KEY) !== null;
}

export function rememberSignIn(signed: SignedIn): void {
  accessToken = signed.access_token;
  localStorage.setItem(REFRESH_KEY, signed.refresh_token);
}

export function forgetSignIn(): void {
  accessToken = null;
  localStorage.removeItem(REFRESH_KEY);
}

function url(path: string, params?: Record<string, string | number>, query?: object): string {
  let filled = path.replace(/{(\w+)}/g, (_, name: string) =>
    encodeURIComponent(String(params?.[name] ?? "")),
  );
  if (query) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value === undefined || value === null || value === "") continue;
      for (const item of Array.isArray(value) ? value : [value]) search.append(key, String(item));
    }
    const text = search.toString();
    if (text) filled += `?${text}`;
  }
  return filled;
}

async function failure(response: Response): Promise<ApiError> {
  const body: unknown = await response.json().catch(() => null);
  const error =
    typeof body === "object" && body !== null && "error" in body
      ? (body.error as { code?: unknown; message?: unknown; details?: unknown })
      : {};
  const retry = Number(response.headers.get("Retry-After"));
  return new ApiError(
    response.status,
    typeof error.code === "string" ? error.code : `http_${response.status}`,
    typeof error.message === "string" ? error.message : response.statusText,
    Number.isFinite(retry) && retry > 0 ? Math.ceil(retry) : null,
    typeof error.details === "object" && error.details !== null
      ? (error.details as Record<string, unknown>)
      : {},
  );
}

/** Trades the stored refresh token for a new pair; false when the user must sign in again. */
export function refresh(): Promise<boolean> {
  refreshing ??= (async () => {
    const token = localStorage.getItem(REFRESH_KEY);
    if (!token) return false;
    try {
      const response = await fetch("/api/v1/auth/refresh", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ refresh_token: token }),
      });
      if (!response.ok) {
        if (response.status === 401) forgetSignIn();
        return false;
      }
      rememberSignIn((await response.json()) as SignedIn);
      return true;
    } catch {
      return false;
    }
  })().finally(() => {
    refreshing = null;
  });
  return refreshing;
}

/** Sends with the access token; refreshes once on 401; a failure becomes an ApiError. */
async function withToken(send: (token: string | null) => Promise<Response>): Promise<Response> {
  if (!accessToken) await refresh();
  let response = await send(accessToken);
  if (response.status === 401 && (await refresh())) response = await send(accessToken);
  if (response.status === 401) {
    forgetSignIn();
    for (const listener of signedOutListeners) listener();
  }
  if (!response.ok) throw await failure(response);
  return response;
}

/** A raw authorized request (for files and images). */
export function authorized(input: string, init: RequestInit = {}): Promise<Response> {
  return withToken((token) => {
    const headers = new Headers(init.headers);
    if (token) headers.set("Authorization", `Bearer ${token}`);
    return fetch(input, { ...init, headers });
  });
}

/** A form posted with upload progress (``onProgress`` gets 0 to 1), which fetch cannot
 * report; ``signal`` cancels it (an AbortError, as fetch would throw). */
export async function upload<T>(
  path: string,
  form: FormData,
  onProgress: (fraction: number) => void,
  signal: AbortSignal,
): Promise<T> {
  const response = await withToken(
    (token) =>
      new Promise<Response>((resolve, reject) => {
        const cancelled = () => reject(new DOMException("The upload was cancelled.", "AbortError"));
        if (signal.aborted) {
          cancelled();
          return;
        }
        const xhr = new XMLHttpRequest();
        xhr.open("POST", path);
        if (token) xhr.setRequestHeader("Authorization", `Bearer ${token}`);
        xhr.upload.onprogress = (event) => {
          if (event.lengthComputable && event.total > 0) onProgress(event.loaded / event.total);
        };
        xhr.onload = () => {
          const headers = new Headers();
          for (const name of ["Content-Type", "Retry-After"]) {
            const value = xhr.getResponseHeader(name);
            if (value) headers.set(name, value);
          }
          resolve(new Response(xhr.status === 204 ? null : xhr.responseText, { status: xhr.status, headers }));
        };
        xhr.onerror = () => reject(new TypeError("Failed to fetch"));
        xhr.onabort = cancelled;
        signal.addEventListener("abort", () => xhr.abort(), { once: true });
        xhr.send(form);
      }),
  );
  return (await response.json()) as T;
}

export async function api<P extends keyof paths, M extends Method & keyof paths[P]>(
  method: M,
  path: P,
  options: Options<paths[P][M]> = {},
): Promise<Ok<paths[P][M]>> {
  const init: RequestInit = { method: method.toUpperCase() };
  if (options.signal) init.signal = options.signal;
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
    init.headers = { "Content-Type": "application/json" };
  }
  const target = url(path as string, options.params, options.query as object | undefined);
  const response = await authorized(target, init);
  if (response.status === 204) return undefined as Ok<paths[P][M]>;
  return (await response.json()) as Ok<paths[P][M]>;
}

/** Sign-in itself: public, and its errors (wrong password, throttled) are shown as they are. */
export async function signIn(email: string, password: string): Promise<SignedIn> {
  const response = await fetch("/api/v1/auth/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  if (!response.ok) throw await failure(response);
  const signed = (await response.json()) as SignedIn;
  rememberSignIn(signed);
  return signed;
}

export async function signOut(): Promise<void> {
  const token = localStorage.getItem(REFRESH_KEY);
  forgetSignIn();
  if (token) {
    await fetch("/api/v1/auth/logout", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: token }),
    }).catch(() => undefined);
  }
}
