import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { SEVERITIES } from '../alerting/alert-metrics';
import { AlertRepository } from '../alerting/alert.repository';
import { VM_STATES } from '../vms/vm-state';
import { VmRepository } from '../vms/vm.repository';

/**
 * The api's Prometheus metrics, on a registry of its own (not prom-client's
 * global one), so several apps in one process never collide.
 */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'limen_http_requests_total',
    help: 'HTTP requests by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'limen_http_request_duration_seconds',
    help: 'HTTP request durations by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  readonly operations = new Counter({
    name: 'limen_operations_total',
    help: 'Finished operations by kind and status',
    labelNames: ['kind', 'status'] as const,
    registers: [this.registry],
  });

  readonly operationDuration = new Histogram({
    name: 'limen_operation_duration_seconds',
    help: 'Operation durations from claim to end, by kind and status',
    labelNames: ['kind', 'status'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
    registers: [this.registry],
  });

  readonly quotaDenials = new Counter({
    name: 'limen_quota_denials_total',
    help: 'Requests refused with QUOTA_EXCEEDED, by resource',
    labelNames: ['resource'] as const,
    registers: [this.registry],
  });

  readonly virshDuration = new Histogram({
    name: 'limen_virsh_command_duration_seconds',
    help: 'virsh command latency (queueing included) by command and success',
    labelNames: ['command', 'ok'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30],
    registers: [this.registry],
  });

  readonly eventStreamRestarts = new Counter({
    name: 'limen_hypervisor_event_stream_restarts_total',
    help: 'Restarts of the hypervisor event stream (each one triggers a resync sweep)',
    registers: [this.registry],
  });

  constructor(vms: VmRepository, alerts: AlertRepository) {
    collectDefaultMetrics({ register: this.registry, prefix: 'limen_api_' });
    new Gauge({
      name: 'limen_vms',
      help: 'VMs by state',
      labelNames: ['state'] as const,
      registers: [this.registry],
      async collect() {
        const rows = await vms.countByState();
        this.reset();
        for (const state of VM_STATES) this.set({ state }, rows.find((r) => r.state === state)?.count ?? 0);
      },
    });
    this.firingAlertsGauge(alerts);
  }

  /** Registered here, counted from the alerts table at scrape time: right on every replica. */
  private firingAlertsGauge(alerts: AlertRepository): void {
    new Gauge({
      name: 'limen_alerts_firing',
      help: 'Alerts currently firing, by severity',
      labelNames: ['severity'] as const,
      registers: [this.registry],
      async collect() {
        const rows = await alerts.firingCountsBySeverity();
        this.reset();
        for (const severity of SEVERITIES)
          this.set({ severity }, rows.find((r) => r.severity === severity)?.count ?? 0);
      },
    });
  }

  observeHttp(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, seconds);
  }

  observeOperation(kind: string, status: string, seconds: number): void {
    this.operations.inc({ kind, status });
    this.operationDuration.observe({ kind, status }, seconds);
  }
}
