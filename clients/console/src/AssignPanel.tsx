import { useCallback, useEffect, useRef, useState } from "react";
import { ok, type Order, type Schemas } from "@outrider/client";
import { api, describe } from "./session";

type Nearby = Schemas["NearbyDriver"];

/** How far from the pickup the panel looks for drivers (the route's maximum). */
const radiusM = 50_000;

/**
 * Assign a pending order: the drivers nearest its pickup, ranked by the
 * node (GET /v1/drivers/nearby, nearest first), and one button each that
 * offers the order to that driver (POST /v1/orders/{id}/assign at the
 * order's version, so a change meanwhile is a version_conflict, not a
 * surprise).
 */
export function AssignPanel({ order, onAssigned, onClose }: { order: Order; onAssigned: (o: Order) => void; onClose: () => void }) {
  const [drivers, setDrivers] = useState<Nearby[] | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  const { lat, lng } = order.pickup;

  const find = useCallback(async () => {
    if (lat === undefined || lng === undefined) {
      return;
    }
    setError(undefined);
    try {
      const list = await ok(api.GET("/v1/drivers/nearby", { params: { query: { lat, lng, radius_m: radiusM, limit: 10 } } }));
      setDrivers(list.items);
    } catch (e) {
      setError(describe(e));
    }
  }, [lat, lng]);

  useEffect(() => {
    heading.current?.focus();
    setDrivers(undefined);
    void find();
  }, [order.id, find]);

  const assign = async (d: Nearby) => {
    setBusy(true);
    setError(undefined);
    try {
      onAssigned(
        await ok(
          api.POST("/v1/orders/{id}/assign", {
            params: { path: { id: order.id } },
            body: { driver_id: d.id, expected_version: order.version },
          }),
        ),
      );
    } catch (e) {
      setError(describe(e));
      setBusy(false);
    }
  };

  return (
    <section
      className="panel"
      aria-labelledby="assign-title"
      onKeyDown={(e) => {
        if (e.key === "Escape") {
          onClose();
        }
      }}
    >
      <header>
        <h2 id="assign-title" tabIndex={-1} ref={heading}>
          Assign {order.pickup.address} → {order.dropoff.address}
        </h2>
        <button type="button" onClick={onClose}>
          Close
        </button>
      </header>
      {order.status !== "pending" && <p>This order is {order.status.replace("_", " ")} now.</p>}
      {lat === undefined || lng === undefined ? (
        <p>This order's pickup has no coordinates: drivers cannot be ranked by distance from it.</p>
      ) : drivers === undefined ? (
        !error && <p aria-busy="true">Finding drivers near the pickup…</p>
      ) : drivers.length === 0 ? (
        <p>
          No driver has reported a position within {radiusM / 1000} km of the pickup in the last 5 minutes.{" "}
          <button type="button" onClick={() => void find()}>
            Search again
          </button>
        </p>
      ) : (
        <table className="drivers">
          <caption>Drivers nearest the pickup</caption>
          <thead>
            <tr>
              <th scope="col">Driver</th>
              <th scope="col">Distance</th>
              <th scope="col">State</th>
              <th scope="col">Load</th>
              <th scope="col">
                <span className="sr-only">Action</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {drivers.map((d) => (
              <tr key={d.id} data-driver-id={d.id}>
                <td>
                  {d.name}
                  <br />
                  <small>{d.email}</small>
                </td>
                <td>{formatDistance(d.distance_m)}</td>
                <td>
                  {d.available ? "available" : "unavailable"}
                  {d.online ? " · online" : " · offline"}
                </td>
                <td>
                  {d.active_orders}/{d.capacity}
                </td>
                <td>
                  <button
                    type="button"
                    disabled={busy || order.status !== "pending"}
                    onClick={() => void assign(d)}
                    aria-label={`Assign to ${d.name}`}
                  >
                    Assign
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </section>
  );
}

function formatDistance(m: number): string {
  return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(1)} km`;
}
