import { useCallback, useState } from "react";
import { ok, type Schemas } from "@outrider/client";
import { api, describe } from "./session";
import { usePages } from "./pages";
import { AddForm, ErrorLine, LoadMore } from "./ui";
import { href, Link } from "./router";

type Webhook = Schemas["Webhook"];
type EventType = Schemas["WebhookEventType"];

const eventTypes: readonly EventType[] = [
  "*",
  "order.created",
  "order.assigned",
  "order.accepted",
  "order.declined",
  "order.offer_expired",
  "order.unassigned",
  "order.status_changed",
  "order.proof_added",
  "order.dispatch_started",
  "order.dispatch_failed",
  "order.payment_changed",
  "order.redacted",
];

/**
 * Webhook endpoints: listed, added (the signing secret is shown once,
 * as the API gives it only then), switched off and on, removed; each one
 * links to its deliveries.
 */
export function Webhooks() {
  const fetchPage = useCallback((cursor?: string) => ok(api.GET("/v1/webhooks", { params: { query: { limit: 50, ...(cursor ? { cursor } : {}) } } })), []);
  const list = usePages(fetchPage, (w) => w.id);
  const [error, setError] = useState<string | undefined>();
  const [secret, setSecret] = useState<{ url: string; secret: string } | undefined>();

  const act = async (call: () => Promise<void>) => {
    setError(undefined);
    try {
      await call();
    } catch (e) {
      setError(describe(e));
    }
  };

  return (
    <main className="page">
      <h2>Webhooks</h2>
      <NewWebhook
        onCreated={(w) => {
          list.prepend(w);
          if (w.secret) {
            setSecret({ url: w.url, secret: w.secret });
          }
        }}
      />
      {secret && (
        <p className="panel" role="status">
          The signing secret of {secret.url} (shown this once): <code data-testid="webhook-secret">{secret.secret}</code>
        </p>
      )}
      <ErrorLine error={error ?? list.error} />
      <table className="drivers" data-testid="webhooks">
        <thead>
          <tr>
            <th scope="col">Endpoint</th>
            <th scope="col">Events</th>
            <th scope="col">State</th>
            <th scope="col">
              <span className="sr-only">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {list.items.map((w) => (
            <tr key={w.id} data-webhook-id={w.id}>
              <td>
                <Link to={href({ view: "webhook", id: w.id })}>{w.url}</Link>
                {w.description && (
                  <>
                    <br />
                    <small className="muted">{w.description}</small>
                  </>
                )}
              </td>
              <td>{w.event_types.includes("*") ? "all events" : w.event_types.join(", ")}</td>
              <td>
                {w.enabled ? "enabled" : "disabled"}
                {w.disabled_reason && ` (${w.disabled_reason})`}
                {w.consecutive_failures > 0 && ` · ${w.consecutive_failures} failures in a row`}
              </td>
              <td>
                <div className="actions">
                <button
                  type="button"
                  className="secondary"
                  onClick={() => void act(async () => list.replace(await ok(api.PATCH("/v1/webhooks/{id}", { params: { path: { id: w.id } }, body: { enabled: !w.enabled } }))))}
                >
                  {w.enabled ? "Disable" : "Enable"}
                </button>
                <button
                  type="button"
                  className="danger"
                  onClick={() =>
                    window.confirm(`Remove the webhook to ${w.url}?`) &&
                    void act(async () => {
                      await ok(api.DELETE("/v1/webhooks/{id}", { params: { path: { id: w.id } } }));
                      list.reload();
                    })
                  }
                >
                  Remove
                </button>
                </div>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.items.length === 0 && !list.loading && <p className="muted">No webhooks yet.</p>}
      <LoadMore pages={list} />
    </main>
  );
}

function NewWebhook({ onCreated }: { onCreated: (w: Webhook) => void }) {
  const submit = async (f: FormData) => {
    const events = f.getAll("event_types").map(String) as EventType[];
    onCreated(await ok(api.POST("/v1/webhooks", { body: { url: String(f.get("url")), description: String(f.get("description") ?? ""), event_types: events.length ? events : ["*"] } })));
  };
  return (
    <AddForm opener="Add a webhook…" label="New webhook" submit={submit}>
      <label>
        URL <input name="url" type="url" required maxLength={2048} placeholder="https://example.com/outrider" />
      </label>
      <label>
        Description <input name="description" maxLength={500} />
      </label>
      <fieldset>
        <legend>Events (none chosen: all)</legend>
        {eventTypes.map((t) => (
          <label key={t} className="check">
            <input type="checkbox" name="event_types" value={t} /> {t === "*" ? "all" : t}
          </label>
        ))}
      </fieldset>
    </AddForm>
  );
}

/** One webhook and its delivery attempts, newest first. */
export function WebhookPage({ id }: { id: string }) {
  const [hook, setHook] = useState<Webhook | undefined>();
  const [error, setError] = useState<string | undefined>();
  const fetchPage = useCallback(
    async (cursor?: string) => {
      if (!cursor) {
        ok(api.GET("/v1/webhooks/{id}", { params: { path: { id } } })).then(setHook, (e: unknown) => setError(describe(e)));
      }
      return ok(api.GET("/v1/webhooks/{id}/deliveries", { params: { path: { id }, query: { limit: 50, ...(cursor ? { cursor } : {}) } } }));
    },
    [id],
  );
  const attempts = usePages(fetchPage, (a) => a.id);
  return (
    <main className="page">
      <p>
        <Link to={href({ view: "webhooks" })}>← Webhooks</Link>
      </p>
      <h2>Deliveries to {hook?.url ?? id}</h2>
      <ErrorLine error={error ?? attempts.error} />
      <p>
        <button type="button" className="secondary" onClick={attempts.reload} disabled={attempts.loading}>
          Refresh
        </button>
      </p>
      <table className="drivers" data-testid="deliveries">
        <thead>
          <tr>
            <th scope="col">When</th>
            <th scope="col">Event</th>
            <th scope="col">Attempt</th>
            <th scope="col">Result</th>
            <th scope="col">Took</th>
          </tr>
        </thead>
        <tbody>
          {attempts.items.map((a) => (
            <tr key={a.id} className={a.success ? "" : "failed"}>
              <td>{new Date(a.at).toLocaleString()}</td>
              <td>
                {a.event_type}
                <br />
                <small className="muted">{a.event_id}</small>
              </td>
              <td>{a.attempt}</td>
              <td>
                {a.success ? "delivered" : "failed"}
                {a.status_code !== null && ` · HTTP ${a.status_code}`}
                {a.error && (
                  <>
                    <br />
                    <small>{a.error}</small>
                  </>
                )}
              </td>
              <td>{a.duration_ms} ms</td>
            </tr>
          ))}
        </tbody>
      </table>
      {attempts.items.length === 0 && !attempts.loading && <p className="muted">No delivery yet.</p>}
      <LoadMore pages={attempts} />
    </main>
  );
}
