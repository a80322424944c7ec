import { useCallback, useEffect, useState } from "react";
import { ok, type Schemas } from "@outrider/client";
import { ErrorLine } from "./ui";
import { api, describe } from "./session";

type Status = Schemas["ClusterStatus"];

/**
 * The cluster as the node that served the console sees it: its members,
 * the actors live on each (by kind), their WebSocket sessions, when each
 * last renewed its membership. Read when the page opens, on Refresh and
 * when the tab comes back into view (the node has no cluster channel to
 * push it).
 */
export function Cluster() {
  const [status, setStatus] = useState<Status | undefined>();
  const [error, setError] = useState<string | undefined>();
  const [read, setRead] = useState<Date | undefined>();
  const load = useCallback(async () => {
    setError(undefined);
    try {
      setStatus(await ok(api.GET("/v1/cluster")));
      setRead(new Date());
    } catch (e) {
      setError(describe(e));
    }
  }, []);
  useEffect(() => {
    void load();
    const onVisible = () => document.visibilityState === "visible" && void load();
    document.addEventListener("visibilitychange", onVisible);
    return () => document.removeEventListener("visibilitychange", onVisible);
  }, [load]);

  const kinds = [...new Set(status?.members.flatMap((m) => Object.keys(m.activations ?? {})) ?? [])].sort();
  return (
    <main className="page">
      <h2>Cluster</h2>
      <p>
        <button type="button" className="secondary" onClick={() => void load()}>
          Refresh
        </button>{" "}
        {status && (
          <span className="muted">
            {status.members.length} {status.members.length === 1 ? "member" : "members"} · membership by {status.provider} · read {read?.toLocaleTimeString()}
          </span>
        )}
      </p>
      <ErrorLine error={error} />
      {status && (
        <table className="drivers" data-testid="members">
          <thead>
            <tr>
              <th scope="col">Member</th>
              <th scope="col">Roles</th>
              <th scope="col">Sockets</th>
              {kinds.map((k) => (
                <th scope="col" key={k}>
                  {k} actors
                </th>
              ))}
              <th scope="col">Joined</th>
              <th scope="col">Heartbeat</th>
            </tr>
          </thead>
          <tbody>
            {status.members.map((m) => (
              <tr key={m.id} data-member-id={m.id}>
                <td>
                  <code>{m.id}</code>
                  {m.self && " (this node)"}
                  {!m.in_topology && " · not routed to"}
                  <br />
                  <small className="muted">
                    {m.http_address ?? "—"} · actors at {m.cluster_address}
                  </small>
                </td>
                <td>{(m.roles ?? []).join(", ") || "—"}</td>
                <td className="sockets">{m.sockets}</td>
                {kinds.map((k) => (
                  <td key={k}>{m.activations?.[k] ?? 0}</td>
                ))}
                <td>{new Date(m.joined_at).toLocaleString()}</td>
                <td>{new Date(m.heartbeat_at).toLocaleTimeString()}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </main>
  );
}
