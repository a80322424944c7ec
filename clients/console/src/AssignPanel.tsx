import { useCallback, useEffect, useRef, useState } from "react";
import { ok, type ChannelFrame, type Order, type RealtimeClient, type Schemas, type Viewport } from "@outrider/client";
import { ErrorLine } from "./ui";
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
 *
 * While the panel is open the list stays live on the console's socket:
 * the `fleet` channel with a viewport just around those drivers (so the
 * node sends only them, not the whole fleet) brings each one's positions
 * and availability, and the list is ranked again by distance.
 */
export function AssignPanel({
  rt,
  order,
  onAssigned,
  onClose,
}: {
  rt: RealtimeClient;
  order: Order;
  onAssigned: (o: Order) => void;
  onClose: () => void;
}) {
  const [drivers, setDrivers] = useState<Nearby[] | undefined>();
  const [box, setBox] = useState<number | undefined>(); // the viewport's half-width in metres
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
      const farthest = Math.max(0, ...list.items.map((d) => d.distance_m));
      setBox(Math.min(radiusM, Math.max(1000, farthest * 1.5)));
    } catch (e) {
      setError(describe(e));
    }
  }, [lat, lng]);

  useEffect(() => {
    heading.current?.focus();
    setDrivers(undefined);
    void find();
  }, [order.id, find]);

  useEffect(() => {
    if (lat === undefined || lng === undefined || box === undefined) {
      return;
    }
    const sub = rt.subscribe("fleet", (f) => setDrivers((ds) => ds && follow(ds, f, lat, lng)), { viewport: around(lat, lng, box) });
    return () => {
      void sub.unsubscribe().catch(() => {});
    };
  }, [rt, lat, lng, box]);

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
                <td className="distance">{formatDistance(d.distance_m)}</td>
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
      <ErrorLine error={error} />
    </section>
  );
}

function formatDistance(m: number): string {
  return m < 1000 ? `${Math.round(m)} m` : `${(m / 1000).toFixed(1)} km`;
}

/** The list after a fleet frame: a listed driver's new state or position, ranked again by distance. */
function follow(list: Nearby[], f: ChannelFrame, lat: number, lng: number): Nearby[] {
  if ((f.type !== "driver" && f.type !== "location") || !list.some((d) => d.id === f.driver_id)) {
    return list;
  }
  const next = list.map((d) => {
    if (d.id !== f.driver_id) {
      return d;
    }
    if (f.type === "driver") {
      const moved =
        f.lat !== undefined && f.lng !== undefined && f.at !== undefined && (!d.last_location || Date.parse(f.at) > Date.parse(d.last_location.at))
          ? { distance_m: metres(lat, lng, f.lat, f.lng), last_location: { lat: f.lat, lng: f.lng, at: f.at } }
          : {};
      return { ...d, status: f.status, available: f.available, capacity: f.capacity, active_orders: f.active_orders, ...moved };
    }
    if (d.last_location && Date.parse(f.ts) <= Date.parse(d.last_location.at)) {
      return d; // older than what the list shows
    }
    return { ...d, distance_m: metres(lat, lng, f.lat, f.lng), last_location: { lat: f.lat, lng: f.lng, at: f.ts } };
  });
  return next.sort((a, b) => a.distance_m - b.distance_m || (a.id < b.id ? -1 : 1));
}

/** A box of half-width m metres around a point (degrees; west > east across the antimeridian). */
function around(lat: number, lng: number, m: number): Viewport {
  const dLat = m / 111_320;
  const dLng = m / (111_320 * Math.max(Math.cos((lat * Math.PI) / 180), 0.01));
  const wrap = (x: number) => ((((x + 180) % 360) + 360) % 360) - 180;
  return { south: Math.max(-90, lat - dLat), north: Math.min(90, lat + dLat), west: wrap(lng - dLng), east: wrap(lng + dLng) };
}

/** The great-circle distance in metres (haversine), as the node measures distance_m. */
function metres(lat1: number, lng1: number, lat2: number, lng2: number): number {
  const r = Math.PI / 180;
  const a = Math.sin(((lat2 - lat1) * r) / 2) ** 2 + Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(((lng2 - lng1) * r) / 2) ** 2;
  return 2 * 6_371_000 * Math.asin(Math.min(1, Math.sqrt(a)));
}
