/**
 * The one boundary the model tests fake: the HTTP server behind
 * ServerConnection. `window.fetch` is replaced by a router of canned answers,
 * so api.ts, ServerConnection (token, XSRF, URLs) and the model run for real.
 */

export interface RecordedRequest {
  method: string;
  /** The route under pipeline-scheduler/, without the query. */
  route: string;
  query: URLSearchParams;
  body: any;
}

export interface Answer {
  status?: number;
  body?: unknown;
}

type Handler = (request: RecordedRequest) => Answer | Promise<Answer>;

const PREFIX = '/pipeline-scheduler/';

export class FakeServer {
  readonly requests: RecordedRequest[] = [];

  /**
   * Answer `METHOD route` (a route may end with `*` to match a prefix); a
   * later answer for the same route replaces an earlier one.
   */
  on(method: string, route: string, handler: Handler | Answer): this {
    this._routes.unshift({
      method,
      route,
      handler: typeof handler === 'function' ? handler : () => handler
    });
    return this;
  }

  install(): void {
    this._saved = globalThis.fetch;
    globalThis.fetch = this._fetch as typeof fetch;
  }

  uninstall(): void {
    if (this._saved) {
      globalThis.fetch = this._saved;
    }
  }

  /** The requests to `METHOD route` (exact route), in order. */
  calls(method: string, route: string): RecordedRequest[] {
    return this.requests.filter(r => r.method === method && r.route === route);
  }

  /** Requests that wrote something (anything but GET). */
  writes(): RecordedRequest[] {
    return this.requests.filter(r => r.method !== 'GET');
  }

  private _fetch = async (input: RequestInfo | URL): Promise<Response> => {
    const request = input as Request;
    const url = new URL(request.url);
    const index = url.pathname.indexOf(PREFIX);
    const route =
      index === -1 ? url.pathname : url.pathname.slice(index + PREFIX.length);
    const text = await request.text();
    const recorded: RecordedRequest = {
      method: request.method,
      route,
      query: url.searchParams,
      body: text ? JSON.parse(text) : undefined
    };
    this.requests.push(recorded);
    const match = this._routes.find(
      r =>
        r.method === recorded.method &&
        (r.route.endsWith('*')
          ? route.startsWith(r.route.slice(0, -1))
          : r.route === route)
    );
    const answer = match
      ? await match.handler(recorded)
      : {
          status: 404,
          body: { error: `no fake answer for ${request.method} ${route}` }
        };
    return new Response(
      answer.body === undefined ? '' : JSON.stringify(answer.body),
      {
        status: answer.status ?? 200,
        headers: { 'Content-Type': 'application/json' }
      }
    );
  };

  private _routes: { method: string; route: string; handler: Handler }[] = [];
  private _saved: typeof fetch | null = null;
}
