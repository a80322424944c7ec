// A program that reads every documented field of every frame the node
// sends on GET /v1/ws — each ServerFrame variant, each event frame's
// `data` — with the types openapi-typescript generates from the OpenAPI
// document. `npm run build` compiles it with tsc --strict (--noEmit), so a
// field the document stops describing, or describes so loosely that it
// reads as `any`, `unknown` or `never` (a bare object did), fails the
// build.
//
// The shape is fixed so that scripts/check-every-field.mjs can hold it to
// the document: one function per schema reachable from ServerFrame, named
// after it and taking `v: S["Name"]`; a union's function hands each
// variant, narrowed, to that variant's function; an object's function
// passes each property to read() — or, when the property is another
// object schema, to that schema's function. A schema or property the
// document adds and this file does not read fails the check.
import type { components } from "../src/schema.js";

type S = components["schemas"];

declare const notAField: unique symbol;
type Untyped = { readonly [notAField]: true };
/** Untyped for any, unknown and never: the types a client cannot use. */
type Typed<T> = 0 extends 1 & T ? Untyped : [T] extends [never] ? Untyped : unknown extends T ? Untyped : T;

const values: unknown[] = [];

/** Reads a field; does not compile for a field typed any, unknown or never. */
function read<T>(value: T, ...untyped: Typed<T> extends Untyped ? [error: "this field is typed any, unknown or never"] : []): void {
  values.push(value, ...untyped);
}

function unreachable(v: never): never {
  throw new Error(`a variant the document does not have: ${JSON.stringify(v)}`);
}

/** Reads every field of one WebSocket message from the node; returns how many values it read. */
export function readMessage(m: S["ServerMessage"]): number {
  values.length = 0;
  for (const f of Array.isArray(m) ? m : [m]) {
    ServerFrame(f);
  }
  return values.length;
}

function ServerFrame(v: S["ServerFrame"]): void {
  switch (v.type) {
    case "ack":
      return AckFrame(v);
    case "error":
      return ErrorFrame(v);
    case "event":
      return EventFrame(v);
    case "location":
      return LocationFrame(v);
    case "pong":
      return PongFrame(v);
    case "driver":
      return DriverFrame(v);
    case "cells":
      return CellsFrame(v);
    default:
      return unreachable(v);
  }
}

function AckFrame(v: S["AckFrame"]): void {
  read(v.type);
  read(v.id);
}

function ErrorFrame(v: S["ErrorFrame"]): void {
  read(v.type);
  read(v.id);
  read(v.channel);
  read(v.code);
  read(v.message);
}

function LocationFrame(v: S["LocationFrame"]): void {
  read(v.type);
  read(v.channel);
  read(v.driver_id);
  read(v.lat);
  read(v.lng);
  read(v.heading);
  read(v.speed);
  read(v.accuracy);
  read(v.ts);
}

function PongFrame(v: S["PongFrame"]): void {
  read(v.type);
}

function DriverFrame(v: S["DriverFrame"]): void {
  read(v.type);
  read(v.channel);
  read(v.driver_id);
  read(v.status);
  read(v.available);
  read(v.capacity);
  read(v.active_orders);
  read(v.lat);
  read(v.lng);
  read(v.at);
}

function CellsFrame(v: S["CellsFrame"]): void {
  read(v.type);
  read(v.channel);
  read(v.zoom);
  v.cells.forEach(FleetCell);
  read(v.at);
}

function FleetCell(v: S["FleetCell"]): void {
  read(v.x);
  read(v.y);
  read(v.count);
  read(v.lat);
  read(v.lng);
}

function EventFrame(v: S["EventFrame"]): void {
  switch (v.event) {
    case "order.created":
      return OrderCreatedEventFrame(v);
    case "order.assigned":
      return OrderAssignedEventFrame(v);
    case "order.accepted":
      return OrderAcceptedEventFrame(v);
    case "order.declined":
      return OrderDeclinedEventFrame(v);
    case "order.status_changed":
      return OrderStatusChangedEventFrame(v);
    case "order.proof_added":
      return OrderProofAddedEventFrame(v);
    case "order.offer_expired":
      return OrderOfferExpiredEventFrame(v);
    case "order.unassigned":
      return OrderUnassignedEventFrame(v);
    case "order.dispatch_started":
      return OrderDispatchStartedEventFrame(v);
    case "order.dispatch_failed":
      return OrderDispatchFailedEventFrame(v);
    case "order.payment_changed":
      return OrderPaymentChangedEventFrame(v);
    case "order.redacted":
      return OrderRedactedEventFrame(v);
    case "job.offered":
      return JobOfferedEventFrame(v);
    case "job.withdrawn":
      return JobWithdrawnEventFrame(v);
    case "notification.created":
      return NotificationCreatedEventFrame(v);
    default:
      return unreachable(v);
  }
}

// The order events: the order at the event's seq and who caused it.

function OrderCreatedEventFrame(v: S["OrderCreatedEventFrame"]): void {
  read(v.type);
  read(v.channel);
  read(v.seq);
  read(v.event);
  OrderEventData(v.data);
  read(v.at);
}

function OrderAssignedEventFrame(v: S["OrderAssignedEventFrame"]): void {
  read(v.type);
  read(v.channel);
  read(v.seq);
  read(v.event);
  OrderEventData(v.data);
  read(v.at);
}

function OrderAcceptedEventFrame(v: S["OrderAcceptedEventFrame"]): void {
  read(v.type);
  read(v.channel);
  read(v.seq);
  read(v.event);
  OrderEventData(v.data);
  read(v.at);
}

function OrderDeclinedEventFrame(v: S["OrderDeclinedEventFrame"]): void {
  read(v.type);
  read(v.channel);
  read(v.seq);
  read(v.event);
  OrderEventData(v.data);
  read(v.at);
}

function OrderStatusChangedEventFrame(v: S["OrderStatusChangedEventFrame"]): void {
  read(v.type);
  read(v.channel);
  read(v.seq);
  read(v.event);
  OrderEventData(v.data);
  read(v.at);
}

function OrderProofAddedEventFrame(v: S["OrderProofAddedEventFrame"]): void {
  read(v.type);
  read(v.channel);
  read(v.seq);
  read(v.event);
  OrderEventData(v.data);
  read(v.at);
}

function OrderOfferExpiredEventFrame(v: S["OrderOfferExpiredEventFrame"]): void {
  read(v.type);
  read(v.channel);
  read(v.seq);
  read(v.event);
  OrderEventData(v.data);
  read(v.at);
}

function OrderUnassignedEventFrame(v: S["OrderUnassignedEventFrame"]): void {
  read(v.type);
  read(v.channel);
  read(v.seq);
  read(v.event);
  OrderEventData(v.data);
  read(v.at);
}

function OrderDispatchStartedEventFrame(v: S["OrderDispatchStartedEventFrame"]): void {
  read(v.type);
  read(v.channel);
  read(v.seq);
  read(v.event);
  OrderEventData(v.data);
  read(v.at);
}

function OrderDispatchFailedEventFrame(v: S["OrderDispatchFailedEventFrame"]): void {
  read(v.type);
  read(v.channel);
  read(v.seq);
  read(v.event);
  OrderEventData(v.data);
  read(v.at);
}

function OrderPaymentChangedEventFrame(v: S["OrderPaymentChangedEventFrame"]): void {
  read(v.type);
  read(v.channel);
  read(v.seq);
  read(v.event);
  OrderEventData(v.data);
  read(v.at);
}

function OrderRedactedEventFrame(v: S["OrderRedactedEventFrame"]): void {
  read(v.type);
  read(v.channel);
  read(v.seq);
  read(v.event);
  OrderEventData(v.data);
  read(v.at);
}

function OrderEventData(v: S["OrderEventData"]): void {
  Order(v.order);
  By(v.by);
}

function Order(v: S["Order"]): void {
  read(v.id);
  read(v.customer_id);
  read(v.driver_id);
  Place(v.pickup);
  Place(v.dropoff);
  read(v.delivery_option);
  read(v.scheduled_for);
  read(v.payment_status);
  read(v.status);
  read(v.notes);
  read(v.version);
  read(v.offer_expires_at);
  read(v.created_at);
  read(v.updated_at);
}

function Place(v: S["Place"]): void {
  read(v.address);
  read(v.lat);
  read(v.lng);
}

function By(v: S["By"]): void {
  read(v.user_id);
  read(v.role);
}

// A driver's jobs, on his user channel.

function JobOfferedEventFrame(v: S["JobOfferedEventFrame"]): void {
  read(v.type);
  read(v.channel);
  read(v.seq);
  read(v.event);
  JobOffered(v.data);
  read(v.at);
}

function JobOffered(v: S["JobOffered"]): void {
  read(v.id);
  read(v.event);
  read(v.driver_id);
  read(v.order_id);
  read(v.offer_id);
  read(v.expires_at);
  Place(v.pickup);
  Place(v.dropoff);
  read(v.distance_m);
  read(v.at);
}

function JobWithdrawnEventFrame(v: S["JobWithdrawnEventFrame"]): void {
  read(v.type);
  read(v.channel);
  read(v.seq);
  read(v.event);
  JobWithdrawn(v.data);
  read(v.at);
}

function JobWithdrawn(v: S["JobWithdrawn"]): void {
  read(v.id);
  read(v.event);
  read(v.driver_id);
  read(v.order_id);
  read(v.offer_id);
  read(v.reason);
  read(v.at);
}

// Notifications, pushed on the user channel as they are stored.

function NotificationCreatedEventFrame(v: S["NotificationCreatedEventFrame"]): void {
  read(v.type);
  read(v.channel);
  read(v.seq);
  read(v.event);
  Notification(v.data);
  read(v.at);
}

function Notification(v: S["Notification"]): void {
  switch (v.type) {
    case "order.created":
      return OrderCreatedNotification(v);
    case "order.assigned":
      return OrderAssignedNotification(v);
    case "order.accepted":
      return OrderAcceptedNotification(v);
    case "order.status_changed":
      return OrderStatusChangedNotification(v);
    case "order.proof_added":
      return OrderProofAddedNotification(v);
    case "order.dispatch_failed":
      return OrderDispatchFailedNotification(v);
    default:
      return unreachable(v);
  }
}

function OrderCreatedNotification(v: S["OrderCreatedNotification"]): void {
  read(v.id);
  read(v.type);
  read(v.event_id);
  NotificationPayload(v.payload);
  read(v.read);
  read(v.read_at);
  read(v.created_at);
}

function OrderAssignedNotification(v: S["OrderAssignedNotification"]): void {
  read(v.id);
  read(v.type);
  read(v.event_id);
  NotificationPayload(v.payload);
  read(v.read);
  read(v.read_at);
  read(v.created_at);
}

function OrderAcceptedNotification(v: S["OrderAcceptedNotification"]): void {
  read(v.id);
  read(v.type);
  read(v.event_id);
  NotificationPayload(v.payload);
  read(v.read);
  read(v.read_at);
  read(v.created_at);
}

function OrderStatusChangedNotification(v: S["OrderStatusChangedNotification"]): void {
  read(v.id);
  read(v.type);
  read(v.event_id);
  NotificationPayload(v.payload);
  read(v.read);
  read(v.read_at);
  read(v.created_at);
}

function OrderProofAddedNotification(v: S["OrderProofAddedNotification"]): void {
  read(v.id);
  read(v.type);
  read(v.event_id);
  NotificationPayload(v.payload);
  read(v.read);
  read(v.read_at);
  read(v.created_at);
}

function OrderDispatchFailedNotification(v: S["OrderDispatchFailedNotification"]): void {
  read(v.id);
  read(v.type);
  read(v.event_id);
  NotificationPayload(v.payload);
  read(v.read);
  read(v.read_at);
  read(v.created_at);
}

function NotificationPayload(v: S["NotificationPayload"]): void {
  read(v.order_id);
  read(v.seq);
  read(v.status);
  read(v.message);
  By(v.by);
}
