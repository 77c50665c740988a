import { useQuery } from '@tanstack/react-query';
import type { components } from '@limen/sdk';
import { useEffect, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { unwrap } from '../../api/problem';
import { api } from '../../auth/session';
import { formatBytes, formatNumber } from '../../i18n';
import { ErrorLine } from '../../ui/Status';
import { useDetailVm } from './VmDetailPage';

type Stats = components['schemas']['VmStatsDto'];

/** One poll every 5 s (each one samples the VM over ~0.5 s on the api); five minutes kept. */
const POLL_MS = 5000;
const KEEP = 60;

interface Sample {
  at: number; // seconds, uPlot's time unit
  cpu: number;
  memoryMiB: number;
  guestReported: boolean;
  read: number;
  write: number;
  rx: number;
  tx: number;
}

/**
 * Memory in use: the guest's total less what its balloon driver reports free; without a balloon
 * driver only the QEMU process's resident size is known (it includes QEMU's own memory, so it can
 * be above the guest's size), and the caption says which one it is.
 */
const usedMiB = (m: Stats['memory']): number =>
  m.availableMiB !== null ? m.currentMiB - m.availableMiB : (m.rssMiB ?? m.currentMiB);

const bytesPerSec = (value: number): string => `${formatBytes(value)}/s`;

/**
 * Live CPU, memory, disk and network charts of a running VM from GET /vms/{id}/stats (the api gives
 * rates, not counters). TanStack Query polls only while the tab is visible (no background refetch)
 * and only while the VM runs. uPlot draws (small, canvas); each chart's caption has the latest values
 * as text, which is what a screen reader reads (the canvas is hidden from it).
 */
export default function VmMonitor() {
  const { t } = useTranslation();
  const vm = useDetailVm();
  const running = vm.state === 'running';
  const stats = useQuery({
    queryKey: ['stats', vm.id],
    enabled: running,
    queryFn: async () => unwrap(await api.GET('/api/v1/vms/{id}/stats', { params: { path: { id: vm.id } } })),
    refetchInterval: POLL_MS,
    refetchIntervalInBackground: false,
    gcTime: 0,
  });
  const [samples, setSamples] = useState<Sample[]>([]);
  useEffect(() => {
    const s = stats.data;
    if (!s) return;
    const sample: Sample = {
      at: stats.dataUpdatedAt / 1000,
      cpu: s.cpuPercent,
      memoryMiB: usedMiB(s.memory),
      guestReported: s.memory.availableMiB !== null,
      read: s.disk.readBytesPerSec,
      write: s.disk.writeBytesPerSec,
      rx: s.network.rxBytesPerSec,
      tx: s.network.txBytesPerSec,
    };
    setSamples((all) => [...all, sample].slice(-KEEP));
  }, [stats.data, stats.dataUpdatedAt]);

  if (!running) return <p className="muted">{t('monitor.notRunning')}</p>;
  const last = samples.at(-1);
  const at = samples.map((s) => s.at);
  const max = stats.data?.memory.maxMiB ?? vm.memoryMiB;
  return (
    <div className="charts" aria-busy={!last} data-samples={samples.length}>
      <ErrorLine error={stats.error} />
      <Chart
        id="cpu"
        title={t('monitor.cpu')}
        caption={last ? t('monitor.cpuNow', { value: formatNumber(Math.round(last.cpu * 10) / 10) }) : ''}
        data={[at, samples.map((s) => s.cpu)]}
        series={[{ label: t('monitor.cpu'), stroke: '#1f4e79' }]}
        top={100}
        format={(v) => `${formatNumber(v)} %`}
      />
      <Chart
        id="memory"
        title={t('monitor.memory')}
        caption={
          last
            ? t(last.guestReported ? 'monitor.memoryNow' : 'monitor.memoryRss', {
                used: formatNumber(last.memoryMiB),
                max: formatNumber(max),
              })
            : ''
        }
        data={[at, samples.map((s) => s.memoryMiB)]}
        series={[{ label: t('monitor.memory'), stroke: '#1b6e20' }]}
        top={max}
        format={(v) => `${formatNumber(v)} MiB`}
      />
      <Chart
        id="disk"
        title={t('monitor.disk')}
        caption={last ? t('monitor.diskNow', { read: bytesPerSec(last.read), write: bytesPerSec(last.write) }) : ''}
        data={[at, samples.map((s) => s.read), samples.map((s) => s.write)]}
        series={[
          { label: t('monitor.read'), stroke: '#1f4e79' },
          { label: t('monitor.write'), stroke: '#a4161a' },
        ]}
        format={bytesPerSec}
      />
      <Chart
        id="network"
        title={t('monitor.network')}
        caption={last ? t('monitor.networkNow', { rx: bytesPerSec(last.rx), tx: bytesPerSec(last.tx) }) : ''}
        data={[at, samples.map((s) => s.rx), samples.map((s) => s.tx)]}
        series={[
          { label: t('monitor.rx'), stroke: '#1b6e20' },
          { label: t('monitor.tx'), stroke: '#8a5300' },
        ]}
        format={bytesPerSec}
      />
    </div>
  );
}

const HEIGHT = 150;

function Chart(props: {
  id: string;
  title: string;
  caption: string;
  data: number[][];
  series: Array<{ label: string; stroke: string }>;
  format: (value: number) => string;
  /** The y axis goes from 0 to at least this (higher when the data does). */
  top?: number;
}) {
  const { t, i18n } = useTranslation();
  const clock = new Intl.DateTimeFormat(i18n.resolvedLanguage, {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot>(undefined);
  const { data, series, format, top = 1024 } = props;
  const latest = useRef({ data, format });
  latest.current = { data, format };
  const labels = series.map((s) => `${s.label}:${s.stroke}`).join();
  useEffect(() => {
    const element = box.current!;
    plot.current = new uPlot(
      {
        width: element.clientWidth,
        height: HEIGHT,
        legend: { show: false },
        cursor: { show: false },
        scales: { y: { range: (_u, _min, high) => [0, Math.max(high, top)] } },
        series: [{}, ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 2 }))],
        axes: [
          // Times in the page's language (uPlot's own labels are English).
          { values: (_u, values) => values.map((v) => clock.format(v * 1000)) },
          { size: 80, values: (_u, values) => values.map((v) => latest.current.format(v)) },
        ],
      },
      latest.current.data as uPlot.AlignedData,
      element,
    );
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: element.clientWidth, height: HEIGHT }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
    };
    // The chart is made again only when its series change (the language); data goes through setData.
  }, [labels, top]);
  useEffect(() => plot.current?.setData(data as uPlot.AlignedData), [data]);
  return (
    <figure className="chart" aria-labelledby={`chart-${props.id}`}>
      <h2 id={`chart-${props.id}`}>{props.title}</h2>
      <div ref={box} aria-hidden="true" />
      <figcaption data-chart={props.id}>
        {props.caption || t('common.loading')}
        {series.length > 1 && (
          <span className="legend">
            {series.map((s) => (
              <span key={s.label}>
                <span className="swatch" style={{ background: s.stroke }} /> {s.label}
              </span>
            ))}
          </span>
        )}
      </figcaption>
    </figure>
  );
}
