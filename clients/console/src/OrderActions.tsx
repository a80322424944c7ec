import { useState } from "react";
import { ok, type Order } from "@outrider/client";
import { ErrorLine } from "./ui";
import { api, describe } from "./session";

/**
 * What a dispatcher can do to an order, by its status: assign (opens the
 * panel of nearby drivers), start automatic dispatch, unassign, and give
 * out the customer's tracking link. Every change is sent at the order's
 * version, so one made meanwhile by someone else is refused
 * (version_conflict) rather than overwritten.
 */
export function OrderActions({
  order,
  onChanged,
  onAssign,
  compact = false,
}: {
  order: Order;
  onChanged: (o: Order) => void;
  onAssign?: () => void;
  /** On a board card: no tracking link. */
  compact?: boolean;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>();
  const [link, setLink] = useState<string | undefined>();
  const pending = order.status === "pending";
  const held = order.status === "assigned" || order.status === "accepted";

  const run = async (call: () => Promise<Order | void>) => {
    setBusy(true);
    setError(undefined);
    try {
      const o = await call();
      if (o) {
        onChanged(o);
      }
    } catch (e) {
      setError(describe(e));
    } finally {
      setBusy(false);
    }
  };
  const path = { params: { path: { id: order.id } } };

  return (
    <div className="actions">
      {pending && onAssign && (
        <button type="button" onClick={onAssign} disabled={busy}>
          Assign…
        </button>
      )}
      {pending && (
        <button
          type="button"
          disabled={busy}
          onClick={() =>
            void run(async () => {
              await ok(api.POST("/v1/orders/{id}/dispatch", { ...path, body: {} }));
            })
          }
        >
          Auto-dispatch
        </button>
      )}
      {held && (
        <button
          type="button"
          disabled={busy}
          onClick={() => void run(() => ok(api.POST("/v1/orders/{id}/unassign", { ...path, body: { expected_version: order.version, reason: "unassigned from the console" } })))}
        >
          Unassign
        </button>
      )}
      {!compact && (
        <button
          type="button"
          className="secondary"
          disabled={busy}
          onClick={() =>
            void run(async () => {
              const t = await ok(api.GET("/v1/orders/{id}/tracking-link", path));
              setLink(`${window.location.origin}/track/${t.token}`);
            })
          }
        >
          Tracking link
        </button>
      )}
      {link && (
        <a href={link} target="_blank" rel="noreferrer" data-testid="tracking-link">
          {link}
        </a>
      )}
      <ErrorLine error={error} />
    </div>
  );
}
