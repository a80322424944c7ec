// The README's "Ten lines", compiled by npm run build (tsc --strict) so that
// they stay true; test/readme.test.ts checks the README still shows these
// lines. Only the import differs: the package imports itself by name.
import { createClient, ok } from "../src/index.js";

export async function example(password: string): Promise<void> {
const api = createClient({ baseUrl: "http://localhost:8080" });
await api.login("customer@demo.outrider", password);
const order = await ok(api.POST("/v1/orders", { body: {
  pickup: { address: "1 Depot Rd" }, dropoff: { address: "9 Home St" }, delivery_option: "standard" } }));
const rt = api.realtime();                 // Node 20: { WebSocket } from the ws package, or --experimental-websocket
await rt.connect();
rt.subscribeOrder(order.id, (f) => {
  if (f.type === "event") console.log(f.seq, f.event, f.data.order.status);
}, { since: order.version });
}
