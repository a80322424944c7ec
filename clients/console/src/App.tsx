import { useEffect, useState } from "react";
import type { RealtimeClient, User } from "@outrider/client";
import { api, describe, resume } from "./session";
import { Login } from "./Login";
import { Board } from "./Board";

type Link = "connecting" | "live" | "reconnecting" | "stopped";

/** The shell: the login view, or the header and the board of a signed-in admin. */
export function App() {
  const [user, setUser] = useState<User | undefined>();
  const [resuming, setResuming] = useState(true);

  useEffect(() => {
    let cancelled = false;
    void resume().then((u) => {
      if (!cancelled) {
        setUser(u);
        setResuming(false);
      }
    });
    return () => {
      cancelled = true;
    };
  }, []);

  if (resuming) {
    return <main className="center" aria-busy="true">Loading…</main>;
  }
  if (!user) {
    return <Login onLogin={setUser} />;
  }
  return <Signed user={user} onLogout={() => setUser(undefined)} />;
}

function Signed({ user, onLogout }: { user: User; onLogout: () => void }) {
  // One WebSocket for the whole console (the SDK's realtime client,
  // reconnecting with fresh tokens); views subscribe on it.
  const [rt] = useState<RealtimeClient>(() => api.realtime());
  const [link, setLink] = useState<Link>("connecting");
  const [error, setError] = useState<string | undefined>();

  useEffect(() => {
    const offs = [
      rt.on("open", () => setLink("live")),
      rt.on("close", (c) => setLink(c.reconnect ? "reconnecting" : "stopped")),
    ];
    void rt.connect().catch((e: unknown) => setError(describe(e)));
    return () => {
      offs.forEach((off) => off());
      rt.close();
    };
  }, [rt]);

  const logout = async () => {
    try {
      await api.logout();
    } catch (e) {
      api.setTokens(null); // the node refused: forget the tokens anyway
      setError(describe(e));
    }
    rt.close();
    onLogout();
  };

  return (
    <>
      <header className="top">
        <h1>Outrider</h1>
        <span className={`link link-${link}`} role="status" aria-live="polite" data-testid="link">
          {link === "live" ? "Live" : link === "connecting" ? "Connecting…" : link === "reconnecting" ? "Reconnecting…" : "Offline"}
        </span>
        <span className="who" data-testid="user">
          {user.name} <small>({user.email})</small>
        </span>
        <button type="button" onClick={() => void logout()}>
          Log out
        </button>
      </header>
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
      <Board rt={rt} />
    </>
  );
}
