/**
 * Prometheus metrics of one broker (a registry per app, so tests and several
 * brokers in one process do not share counters).
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The broker's metrics. */
export class BrokerMetrics {
  readonly registry = new Registry();
  readonly decisions = new Counter({ name: 'geobridge_decisions_total', help: 'Route decisions, by zone and role of the first candidate', labelNames: ['zone', 'role'], registers: [this.registry] });
  readonly refusals = new Counter({ name: 'geobridge_refusals_total', help: 'Route refusals, by code', labelNames: ['code'], registers: [this.registry] });
  readonly routeSeconds = new Histogram({
    name: 'geobridge_route_duration_seconds',
    help: 'Time to answer POST /v1/route, including ticket signing and the durable audit write',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    registers: [this.registry],
  });
  readonly liveBridges = new Gauge({ name: 'geobridge_live_bridges', help: 'Datacenters whose bridge sent a heartbeat within the timeout', registers: [this.registry] });
  readonly bridgeLoop = new Gauge({ name: 'geobridge_bridge_loop_utilization', help: "Share of the time a bridge's event loop was busy, as its last heartbeat reported it", labelNames: ['datacenter'], registers: [this.registry] });
  readonly loadSheds = new Counter({ name: 'geobridge_bridge_load_sheds_total', help: 'Bridges that started (shedding="true") or stopped (shedding="false") shedding load (serve --shed-at)', labelNames: ['datacenter', 'shedding'], registers: [this.registry] });
  readonly bridgeRejections = new Counter({
    name: 'geobridge_bridge_rejections_total',
    help: 'Bridge messages that failed authentication (bad signature, unknown, stale, replayed, malformed), by code and the path they came in on',
    labelNames: ['code', 'channel'],
    registers: [this.registry],
  });
  readonly rateLimited = new Counter({ name: 'geobridge_rate_limited_total', help: 'Requests and presence connections refused with 429, by the per-address limit they hit', labelNames: ['limit'], registers: [this.registry] });
  readonly renewals = new Counter({ name: 'geobridge_ticket_renewals_total', help: 'Route tickets renewed for connected participants, or refused', labelNames: ['outcome'], registers: [this.registry] });
  readonly auditRecords = new Counter({ name: 'geobridge_audit_records_total', help: 'Audit records appended, by type', labelNames: ['type'], registers: [this.registry] });
  readonly manifestVersion = new Gauge({ name: 'geobridge_manifest_version', help: 'Version of the manifest in force', registers: [this.registry] });
}
