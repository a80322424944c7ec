import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { ok, type RealtimeClient, type Schemas } from "@outrider/client";
import { ErrorLine } from "./ui";
import { api, describe } from "./session";
import { Chart, type Line } from "./Chart";
import { isOrderEvent } from "./live";

type Days = Schemas["OrdersByDay"]["series"];
type Times = Schemas["DeliveryTimes"];

/** At most one re-read of the numbers per this many milliseconds while orders move. */
const settleMs = 3000;

/**
 * Orders by day and delivery times over the last 30 days, in the
 * browser's time zone. Live: the orders channel says when an order is
 * created or changes status, and the numbers are read again (at most once
 * every few seconds, however busy the node is).
 */
export function Stats({ rt }: { rt: RealtimeClient }) {
  const [days, setDays] = useState<Days | undefined>();
  const [times, setTimes] = useState<Times | undefined>();
  const [error, setError] = useState<string | undefined>();
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

  const load = useCallback(async () => {
    try {
      const query = { tz };
      const [d, t] = await Promise.all([
        ok(api.GET("/v1/metrics/orders-by-day", { params: { query } })),
        ok(api.GET("/v1/metrics/delivery-times", { params: { query } })),
      ]);
      setDays(d.series);
      setTimes(t);
      setError(undefined);
    } catch (e) {
      setError(describe(e));
    }
  }, [tz]);

  const timer = useRef(0);
  useEffect(() => {
    void load();
    const sub = rt.subscribe("orders", (f) => {
      if (isOrderEvent(f) && (f.event === "order.created" || f.event === "order.status_changed") && !timer.current) {
        timer.current = window.setTimeout(() => {
          timer.current = 0;
          void load();
        }, settleMs);
      }
    });
    return () => {
      window.clearTimeout(timer.current);
      timer.current = 0;
      void sub.unsubscribe().catch(() => {});
    };
  }, [rt, load]);

  const daily = useMemo(() => {
    if (!days) {
      return undefined;
    }
    const x = days.map((d) => Date.parse(`${d.day}T12:00:00Z`) / 1000);
    const lines: Line[] = [
      { label: "created", colour: "#1f4e79", values: days.map((d) => d.created) },
      { label: "delivered", colour: "#2e8540", values: days.map((d) => d.delivered) },
      { label: "cancelled", colour: "#8a949e", values: days.map((d) => d.cancelled) },
      { label: "failed", colour: "#a4161a", values: days.map((d) => d.failed) },
    ];
    return { x, lines };
  }, [days]);

  const durations = useMemo(() => {
    if (!times) {
      return undefined;
    }
    const minutes = (s: number | null) => (s === null ? null : Math.round(s / 6) / 10);
    return {
      x: times.series.map((d) => Date.parse(`${d.day}T12:00:00Z`) / 1000),
      lines: [
        { label: "median (min)", colour: "#1f4e79", values: times.series.map((d) => minutes(d.p50_s)) },
        { label: "90th percentile (min)", colour: "#f5a623", values: times.series.map((d) => minutes(d.p90_s)) },
      ] as Line[],
      hx: times.histogram.map((_b, i) => i),
      hLabels: times.histogram.map((b, i) => (b.le_minutes === null ? `> ${times.histogram[i - 1]?.le_minutes ?? 0}` : `≤ ${b.le_minutes}`)),
      hLines: [{ label: "orders", colour: "#2e8540", values: times.histogram.map((b) => b.count), bars: true }] as Line[],
      total: times.series.reduce((n, d) => n + d.delivered, 0),
    };
  }, [times]);

  return (
    <main className="page">
      <h2>Orders and delivery times</h2>
      <p className="muted">The last 30 days, days in {tz}.</p>
      <ErrorLine error={error} />
      <div className="charts">
        {daily && (
          <figure>
            <Chart title="Orders by day" x={daily.x} lines={daily.lines} yLabel="orders" />
            <details>
              <summary>As a table</summary>
              <table className="drivers" data-testid="orders-by-day">
                <thead>
                  <tr>
                    <th scope="col">Day</th>
                    <th scope="col">Created</th>
                    <th scope="col">Delivered</th>
                    <th scope="col">Cancelled</th>
                    <th scope="col">Failed</th>
                  </tr>
                </thead>
                <tbody>
                  {days?.map((d) => (
                    <tr key={d.day} data-day={d.day}>
                      <td>{d.day}</td>
                      <td className="created">{d.created}</td>
                      <td className="delivered">{d.delivered}</td>
                      <td>{d.cancelled}</td>
                      <td>{d.failed}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </details>
          </figure>
        )}
        {durations && (
          <>
            <figure>
              <Chart title="Delivery time by day (order placed → delivered)" x={durations.x} lines={durations.lines} yLabel="minutes" />
            </figure>
            <figure>
              <Chart title={`Delivery times, ${durations.total} orders`} x={durations.hx} xLabels={durations.hLabels} lines={durations.hLines} yLabel="orders" />
            </figure>
          </>
        )}
      </div>
    </main>
  );
}
