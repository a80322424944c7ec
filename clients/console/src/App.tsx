import { useEffect, useState } from "react";
import type { RealtimeClient, User } from "@outrider/client";
import { ErrorLine } from "./ui";
import { api, describe, resume } from "./session";
import { Login } from "./Login";
import { Board } from "./Board";
import { OrderPage } from "./OrderPage";
import { Fleet } from "./Fleet";
import { Stats } from "./Stats";
import { Cluster } from "./Cluster";
import { Users } from "./Users";
import { WebhookPage, Webhooks } from "./Webhooks";
import { href, Link, useRoute, type Route } from "./router";

type Link = "connecting" | "live" | "reconnecting" | "stopped";

/** The shell: the login view, or the header, the navigation and a view of a signed-in admin. */
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

const sections: { route: Exclude<Route, { view: "missing" }>; name: string; views: Route["view"][] }[] = [
  { route: { view: "board" }, name: "Board", views: ["board", "order"] },
  { route: { view: "fleet" }, name: "Fleet", views: ["fleet"] },
  { route: { view: "stats" }, name: "Stats", views: ["stats"] },
  { route: { view: "webhooks" }, name: "Webhooks", views: ["webhooks", "webhook"] },
  { route: { view: "users" }, name: "Users", views: ["users"] },
  { route: { view: "cluster" }, name: "Cluster", views: ["cluster"] },
];

function Signed({ user, onLogout }: { user: User; onLogout: () => void }) {
  // One WebSocket for the whole console (the SDK's realtime client,
  // reconnecting with fresh tokens); views subscribe on it.
  const [rt] = useState<RealtimeClient>(() => api.realtime());
  const [link, setLink] = useState<Link>("connecting");
  const [error, setError] = useState<string | undefined>();
  const route = useRoute();

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

  useEffect(() => {
    const name = sections.find((s) => s.views.includes(route.view))?.name;
    document.title = name ? `${name} · Outrider console` : "Outrider console";
  }, [route.view]);

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
        <nav aria-label="Console">
          {sections.map((s) => (
            <Link key={s.name} to={href(s.route)} aria-current={s.views.includes(route.view) ? "page" : undefined}>
              {s.name}
            </Link>
          ))}
        </nav>
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
      <ErrorLine error={error} />
      <View route={route} rt={rt} user={user} />
    </>
  );
}

function View({ route, rt, user }: { route: Route; rt: RealtimeClient; user: User }) {
  switch (route.view) {
    case "board":
      return <Board rt={rt} />;
    case "order":
      return <OrderPage key={route.id} rt={rt} id={route.id} />;
    case "fleet":
      return <Fleet rt={rt} />;
    case "stats":
      return <Stats rt={rt} />;
    case "cluster":
      return <Cluster />;
    case "webhooks":
      return <Webhooks />;
    case "webhook":
      return <WebhookPage key={route.id} id={route.id} />;
    case "users":
      return <Users me={user} />;
    case "missing":
      return (
        <main className="page">
          <h2>No such page</h2>
          <p>
            <code>{route.path}</code> is not a page of the console. <Link to={href({ view: "board" })}>Go to the board</Link>.
          </p>
        </main>
      );
  }
}
