// The console in a real browser (Chromium through playwright-core), against
// a real node. e2e/console (Go) starts the node, runs this script and
// talks to it over stdin/stdout, one line each way:
//
//   (before it starts, the test placed 101 orders: two pages)
//   script → test: "STEP board-ready"   the admin is in and the board live
//   test → script: "order <id> <driver id>"  an order placed through the API
//                                        (after the board loaded), and the
//                                        driver near its pickup
//   script → test: "STEP assign-open"   the nearby drivers are listed
//   test → script: "moved"              the driver sent a fix nearer the pickup
//   script → test: "STEP assigned"      the order offered from the console
//   test → script: "accepted"           the driver accepted on his socket
//   script → test: "STEP filtered"      the board shows accepted orders only
//   test → script: "picked-up"          the driver picked the order up
//   script → test: "STEP order-page"    the order page is open (a webhook
//                                        was added before)
//   test → script: "in-transit"         the driver sent a fix and moved
//                                        the order to in_transit
//   script → test: "STEP tracking-open" the customer's tracking page is open
//   test → script: "moved-closer"       the driver sent a fix nearer the dropoff
//   script → test: "STEP tracking-moved" the tracking page followed him
//   test → script: "delivered"          the driver delivered the order
//   script → test: "STEP fleet-open"    the fleet map shows the driver
//   test → script: "fleet-moved"        the driver sent a fix ~600 m away
//   script → test: "STEP stats-open"    the charts are drawn
//   test → script: "placed"             one more order placed through the API
//   script → test: "STEP board-again"   back on the board
//   test → script: "second <id>"        an order with coordinates the admin
//                                        assigned to the other driver
//   script → test: "STEP auto-dispatched" unassigned and dispatched from the board
//   script → test: "STEP done"          every check passed
//
// Environment: OUTRIDER_URL, OUTRIDER_ADMIN_EMAIL, OUTRIDER_ADMIN_PASSWORD,
// OUTRIDER_WEBHOOK_URL (a receiver the test runs), CHROMIUM (the browser
// binary), OUT_DIR (screenshots go there).
// It fails (exit 1) on the first check that does not hold, on any console
// error or uncaught exception of the page, and on any request to another
// origin than the node's.
import { mkdtempSync, mkdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set`);
  }
  return v;
};
const base = env("OUTRIDER_URL");
const origin = new URL(base).origin;
const wsOrigin = origin.replace(/^http/, "ws");
const out = env("OUT_DIR");
mkdirSync(out, { recursive: true });

const lines = createInterface({ input: process.stdin });
const queue = [];
const waiters = [];
lines.on("line", (l) => (waiters.length ? waiters.shift()(l) : queue.push(l)));
const nextLine = () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((res) => waiters.push(res)));
const step = (name) => console.log(`STEP ${name}`);

const profile = mkdtempSync(join(tmpdir(), "outrider-chromium-"));
// The machine's network is closed: without these Chromium keeps trying
// to reach Google's services and floods refused connections.
const context = await chromium.launchPersistentContext(profile, {
  executablePath: env("CHROMIUM"),
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
  viewport: { width: 1366, height: 860 },
});

const problems = [];
const requests = [];
let allowed401 = 0; // the failed login we provoke logs one "Failed to load resource: 401"
context.on("request", (r) => requests.push(r.url()));
const page = context.pages()[0] ?? (await context.newPage());
page.setDefaultTimeout(30_000); // a loaded make test; a passing run waits for none of it
page.on("console", (m) => {
  if (m.type() !== "error") {
    return;
  }
  if (allowed401 > 0 && /status of 401/.test(m.text())) {
    allowed401--;
    return;
  }
  problems.push(`console error: ${m.text()}`);
});
page.on("pageerror", (e) => problems.push(`uncaught: ${e.stack ?? e.message}`));
page.on("websocket", (ws) => requests.push(ws.url()));
page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));

const shot = async (name, p = page) => {
  await p.evaluate(() => window.scrollTo(0, 0));
  await p.screenshot({ path: join(out, `${name}.png`) });
};
const expectLine = async (want) => {
  const got = await nextLine();
  if (got !== want) {
    throw new Error(`the test said ${JSON.stringify(got)}, not ${want}`);
  }
};
/** The centre of an SVG marker on the page, in CSS pixels. */
const centre = async (locator) => {
  const b = await locator.boundingBox();
  if (!b) {
    throw new Error("the marker is not drawn");
  }
  return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
};
const nav = (name) => page.getByRole("navigation", { name: "Console" }).getByRole("link", { name, exact: true });
const card = (status, id) => page.locator(`section[data-status="${status}"] [data-order-id="${id}"]`);

try {
  // Login: a wrong password shows the node's problem code.
  await page.goto(`${base}/console/`);
  await page.getByLabel("Email").fill(env("OUTRIDER_ADMIN_EMAIL"));
  await page.getByLabel("Password").fill("not-the-Password-42");
  allowed401 = 1;
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByTestId("login-error").filter({ hasText: "unauthorized" }).waitFor();
  await shot("login");

  await page.getByLabel("Password").fill(env("OUTRIDER_ADMIN_PASSWORD"));
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByTestId("user").filter({ hasText: env("OUTRIDER_ADMIN_EMAIL") }).waitFor();
  await page.getByTestId("link").filter({ hasText: "Live" }).waitFor();
  await page.locator('section[data-status="pending"]').waitFor();
  // The test placed 101 orders before: a page of 100, then the rest.
  await page.getByText("100 orders loaded").waitFor();
  await page.getByRole("button", { name: "Load more" }).click();
  await page.getByText("101 orders loaded").waitFor();
  await page.getByRole("button", { name: "Load more" }).waitFor({ state: "detached" });
  step("board-ready");

  // An order placed through the API appears without a reload.
  const [, orderId, driverId] = (await nextLine()).split(" ");
  await card("pending", orderId).waitFor();
  await shot("board");

  // The assign panel by keyboard: Enter opens it, Escape closes it and
  // the focus returns to the card's button.
  const assignButton = card("pending", orderId).getByRole("button", { name: "Assign…" });
  await assignButton.focus();
  await page.keyboard.press("Enter");
  await page.getByRole("heading", { name: /^Assign / }).waitFor();
  await page.keyboard.press("Escape");
  await page.getByRole("heading", { name: /^Assign / }).waitFor({ state: "detached" });
  await page.waitForFunction(() => document.activeElement?.textContent === "Assign…");

  // Assign it from the board to the driver the node ranks near the pickup.
  await assignButton.click();
  const row = page.locator(`tr[data-driver-id="${driverId}"]`);
  await row.waitFor();
  await shot("assign");
  // The driver moves closer: the panel follows him on the fleet channel.
  const metres = async () => {
    const text = (await row.locator("td.distance").textContent()) ?? "";
    const m = /^([\d.]+) (m|km)$/.exec(text.trim());
    if (!m) {
      throw new Error(`the distance cell says ${JSON.stringify(text)}`);
    }
    return Number(m[1]) * (m[2] === "km" ? 1000 : 1);
  };
  const before = await metres();
  step("assign-open");
  if ((await nextLine()) !== "moved") {
    throw new Error("the test did not say moved");
  }
  await page.waitForFunction(
    ([id, was]) => {
      const m = /^([\d.]+) (m|km)$/.exec(document.querySelector(`tr[data-driver-id="${id}"] td.distance`)?.textContent?.trim() ?? "");
      return m !== null && Number(m[1]) * (m[2] === "km" ? 1000 : 1) < was;
    },
    [driverId, before],
  );
  console.log(`the panel followed the driver: ${before} m, then ${await metres()} m`);
  await row.getByRole("button", { name: /^Assign to / }).click();
  await card("assigned", orderId).waitFor();
  step("assigned");

  // The driver accepts on his phone: the card moves live.
  if ((await nextLine()) !== "accepted") {
    throw new Error("the test did not say accepted");
  }
  await card("accepted", orderId).waitFor();
  await shot("board-accepted");

  // A reload keeps the session (the refresh token in sessionStorage) and
  // reads the board again: one more WebSocket, the page's second life.
  await page.reload();
  await page.getByTestId("link").filter({ hasText: "Live" }).waitFor();
  await card("accepted", orderId).waitFor();

  // Keyboard: the search box takes the focus by Tab from the status filter.
  await page.getByLabel("Status").focus();
  await page.keyboard.press("Tab");
  const focused = await page.evaluate(() => document.activeElement?.id);
  if (focused !== "search") {
    throw new Error(`Tab from the status filter focused #${focused}, not the search box`);
  }
  // Search narrows the board to the order.
  await page.keyboard.type(orderId.slice(-8));
  await card("accepted", orderId).waitFor();
  const cards = await page.locator("[data-order-id]").count();
  if (cards !== 1) {
    throw new Error(`searching for ${orderId} left ${cards} cards`);
  }

  await page.getByLabel("Search").fill("");

  // The status filter reads the list again with the API's filter; an
  // order that moves to a status not shown leaves the board live.
  await page.getByLabel("Status").selectOption("accepted");
  await card("accepted", orderId).waitFor();
  await page.getByText("1 order loaded").waitFor();
  step("filtered");
  if ((await nextLine()) !== "picked-up") {
    throw new Error("the test did not say picked-up");
  }
  await page.locator(`[data-order-id="${orderId}"]`).waitFor({ state: "detached" });
  await page.getByText("0 orders loaded").waitFor(); // it left the board's memory too
  await page.getByLabel("Status").selectOption("picked_up");
  await card("picked_up", orderId).waitFor();
  await page.getByLabel("Status").selectOption("active");
  await card("picked_up", orderId).waitFor();

  // Webhooks: add one (to the test's receiver); its secret is shown once.
  await nav("Webhooks").click();
  await page.getByRole("heading", { name: "Webhooks" }).waitFor();
  await page.getByRole("button", { name: "Add a webhook…" }).click();
  await page.getByLabel("URL").fill(env("OUTRIDER_WEBHOOK_URL"));
  await page.getByLabel("Description").fill("the test's receiver");
  await page.getByLabel("all", { exact: true }).check();
  await page.getByRole("button", { name: "Add", exact: true }).click();
  await page.getByTestId("webhook-secret").waitFor();
  const hookRow = page.locator("[data-webhook-id]").filter({ hasText: env("OUTRIDER_WEBHOOK_URL") });
  await hookRow.waitFor();
  await shot("webhooks");

  // The order page, from the board's card: the timeline grows live, the
  // trail follows the driver, the proof shows as a thumbnail.
  await nav("Board").click();
  await card("picked_up", orderId).getByRole("link").click();
  await page.getByRole("heading", { name: `Order ${orderId}` }).waitFor();
  await page.getByTestId("order-status").filter({ hasText: "Picked up" }).waitFor();
  const timeline = page.getByTestId("timeline").locator("li");
  await timeline.and(page.locator('[data-event="order.status_changed"][data-status="picked_up"]')).waitFor();
  const entries = await timeline.count();
  await page.getByRole("img", { name: /^Proof #/ }).waitFor();
  await page.getByRole("cell", { name: "accepted" }).or(page.getByText("Assigned by hand")).first().waitFor();
  step("order-page");
  await expectLine("in-transit");
  await timeline.and(page.locator('[data-event="order.status_changed"][data-status="in_transit"]')).waitFor();
  if ((await timeline.count()) <= entries) {
    throw new Error(`the timeline did not grow: ${entries}, then ${await timeline.count()}`);
  }
  await page.getByTestId("order-status").filter({ hasText: "In transit" }).waitFor();
  await page.locator(".trail-head").waitFor();
  await page.getByTestId("trail-count").filter({ hasText: /^[1-9]\d* position/ }).waitFor();
  await shot("order");

  // The customer's tracking page, at the link the order page gives out.
  await page.getByRole("button", { name: "Tracking link" }).click();
  const trackingURL = await page.getByTestId("tracking-link").getAttribute("href");
  if (!trackingURL?.startsWith(`${origin}/track/`)) {
    throw new Error(`the tracking link is ${trackingURL}`);
  }
  const track = await context.newPage();
  track.setDefaultTimeout(30_000);
  track.on("console", (m) => m.type() === "error" && problems.push(`tracking page console error: ${m.text()}`));
  track.on("pageerror", (e) => problems.push(`tracking page uncaught: ${e.message}`));
  track.on("websocket", (ws) => requests.push(ws.url()));
  await track.setViewportSize({ width: 430, height: 900 }); // a phone
  await track.goto(trackingURL);
  await track.getByTestId("track-status").filter({ hasText: "On the way to you" }).waitFor();
  await track.getByTestId("track-link").filter({ hasText: "Live" }).waitFor();
  await track.locator(".driver-marker").waitFor();
  const eta = track.getByTestId("track-eta");
  const etaBefore = await eta.textContent();
  const markerBefore = await centre(track.locator(".driver-marker"));
  step("tracking-open");
  await expectLine("moved-closer");
  await track.waitForFunction((was) => {
    const now = document.querySelector('[data-testid="track-eta"]')?.textContent;
    return now && now !== was;
  }, etaBefore);
  const markerAfter = await centre(track.locator(".driver-marker"));
  if (Math.hypot(markerAfter.x - markerBefore.x, markerAfter.y - markerBefore.y) < 3) {
    throw new Error(`the driver's marker on the tracking page did not move: ${JSON.stringify(markerBefore)} → ${JSON.stringify(markerAfter)}`);
  }
  console.log(`the tracking page followed the driver: ${etaBefore} → ${await eta.textContent()}`);
  await shot("tracking", track);
  step("tracking-moved");
  await expectLine("delivered");
  await track.getByTestId("track-status").filter({ hasText: "Delivered" }).waitFor();
  await track.getByTestId("track-link").filter({ hasText: "This delivery has ended." }).waitFor();
  await track.close();
  await timeline.and(page.locator('[data-event="order.status_changed"][data-status="delivered"]')).waitFor();

  // The fleet map: the driver's marker moves as he does.
  await nav("Fleet").click();
  const marker = page.locator(`path.driver-marker[data-driver-id="${driverId}"]`);
  await marker.waitFor();
  await page.locator(`.fleet-side tr[data-driver-id="${driverId}"]`).waitFor();
  const markerWas = await centre(marker);
  step("fleet-open");
  await expectLine("fleet-moved");
  await page.waitForFunction(
    ([id, was]) => {
      const b = document.querySelector(`path.driver-marker[data-driver-id="${id}"]`)?.getBoundingClientRect();
      return b !== undefined && Math.hypot(b.x + b.width / 2 - was.x, b.y + b.height / 2 - was.y) >= 3;
    },
    [driverId, markerWas],
  );
  console.log(`the fleet map moved the driver: ${JSON.stringify(markerWas)} → ${JSON.stringify(await centre(marker))}`);
  await shot("fleet");

  // The charts: today's created count goes up live when an order is placed.
  await nav("Stats").click();
  await page.getByText("As a table").click();
  const today = page.locator("[data-testid=orders-by-day] tr").last();
  await today.waitFor();
  const created = async () => Number(await today.locator("td.created").textContent());
  const wasCreated = await created();
  if (!(wasCreated >= 102)) {
    throw new Error(`today's row says ${wasCreated} orders created, the test placed 102`);
  }
  await page.locator(".chart canvas").first().waitFor();
  step("stats-open");
  await expectLine("placed");
  await page.waitForFunction((was) => Number(document.querySelector("[data-testid=orders-by-day] tr:last-child td.created")?.textContent) === was + 1, wasCreated);
  await page.getByText("As a table").click();
  await shot("stats");

  // The webhook's deliveries: the events since it was added reached the receiver.
  await nav("Webhooks").click();
  await hookRow.getByRole("link").click();
  await page.getByRole("heading", { name: /^Deliveries to / }).waitFor();
  const delivered = page.locator("[data-testid=deliveries] tbody tr").filter({ hasText: "delivered · HTTP 204" });
  for (let i = 0; i < 60 && (await delivered.count()) === 0; i++) {
    await page.getByRole("button", { name: "Refresh" }).click();
    await page.waitForTimeout(500);
  }
  await delivered.first().waitFor();
  await shot("deliveries");

  // Users: the drivers, the demo's among them.
  await nav("Users").click();
  await page.getByLabel("Role", { exact: true }).selectOption("driver");
  await page.locator("[data-testid=users] tbody tr").filter({ hasText: "driver1@demo.outrider" }).waitFor();
  await page.locator("[data-testid=users] tbody tr").filter({ hasText: "admin@demo.outrider" }).waitFor({ state: "detached" });
  await shot("users");

  // The cluster: this node, its actors and its sockets (this page's and the driver's phone).
  await nav("Cluster").click();
  const self = page.locator("[data-testid=members] tbody tr").filter({ hasText: "(this node)" });
  await self.waitFor();
  const sockets = Number(await self.locator("td.sockets").textContent());
  if (!(sockets >= 2)) {
    throw new Error(`the cluster page says this node holds ${sockets} sockets; the console's and the driver's are open`);
  }
  await shot("cluster");
  await nav("Board").click();
  await page.locator('section[data-status="pending"]').waitFor();

  // Unassign, then automatic dispatch, from the board's cards.
  step("board-again");
  const [, second] = (await nextLine()).split(" ");
  await card("assigned", second).getByRole("button", { name: "Unassign" }).click();
  await card("pending", second).getByRole("button", { name: "Auto-dispatch" }).click();
  await card("pending", second).getByRole("link").or(card("assigned", second).getByRole("link")).click();
  await page.getByRole("heading", { name: `Order ${second}` }).waitFor();
  await page.getByTestId("timeline").locator('[data-event="order.unassigned"]').waitFor();
  await page.getByTestId("dispatch-state").filter({ hasText: / · run 1, / }).waitFor();
  step("auto-dispatched");
  await nav("Board").click();
  await page.locator('section[data-status="pending"]').waitFor();

  // A tablet.
  await page.setViewportSize({ width: 820, height: 1180 });
  await shot("board-tablet");

  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("button", { name: "Sign in" }).waitFor();

  const foreign = requests.filter((u) => !u.startsWith(`${origin}/`) && !u.startsWith(`${wsOrigin}/`));
  if (foreign.length > 0) {
    problems.push(`requests that left the node: ${foreign.join(", ")}`);
  }
  if (!requests.some((u) => u.startsWith(`${wsOrigin}/v1/ws`))) {
    problems.push("the page opened no WebSocket to the node");
  }
  const opened = requests.filter((u) => u.startsWith(`${wsOrigin}/v1/ws`)).length;
  if (opened !== 2) {
    problems.push(`the page opened ${opened} WebSockets, not one per load (2)`);
  }
  if (problems.length > 0) {
    throw new Error(problems.join("\n"));
  }
  console.log(`${requests.length} requests, all to ${origin}`);
  step("done");
} catch (e) {
  await shot("failure").catch(() => {});
  console.error(e instanceof Error ? e.stack : e);
  if (problems.length > 0) {
    console.error(problems.join("\n"));
  }
  process.exitCode = 1;
} finally {
  lines.close();
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
