import {
  BlockStats,
  DomainState,
  DomainStats,
  NetStats,
  ShutoffReason,
  domainStateFromCode,
  shutoffReasonFromCode,
} from '../../models';
import { vmIdFromDomainName } from '../../naming/domain-name';

type Fields = Map<string, string>;

/** Splits `virsh domstats` output into one key=value map per domain. */
export function splitDomstats(output: string): Array<{ name: string; fields: Fields }> {
  const domains: Array<{ name: string; fields: Fields }> = [];
  let current: { name: string; fields: Fields } | undefined;
  for (const rawLine of output.split('\n')) {
    const header = /^Domain: '(.*)'$/.exec(rawLine);
    if (header) {
      current = { name: header[1], fields: new Map() };
      domains.push(current);
      continue;
    }
    const line = rawLine.trim();
    const eq = line.indexOf('=');
    if (current && eq > 0) current.fields.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return domains;
}

export interface RuntimeState {
  state: DomainState;
  shutoffReason?: ShutoffReason;
}

/** The state and, for a shut-off domain, why (`virsh domstats --state`: state.state, state.reason). */
export function runtimeStateOf(fields: Fields): RuntimeState {
  const state = domainStateFromCode(Number(fields.get('state.state') ?? 0));
  const reason = fields.get('state.reason');
  if (state !== 'shutoff' || reason === undefined) return { state };
  return { state, shutoffReason: shutoffReasonFromCode(Number(reason)) };
}

function num(fields: Fields, key: string): number {
  const value = fields.get(key);
  return value === undefined ? 0 : Number(value);
}

function optionalNum(fields: Fields, key: string): number | undefined {
  const value = fields.get(key);
  return value === undefined ? undefined : Number(value);
}

function blockStats(fields: Fields): BlockStats[] {
  const result: BlockStats[] = [];
  for (let i = 0; i < num(fields, 'block.count'); i++) {
    const p = `block.${i}.`;
    const path = fields.get(`${p}path`);
    const capacityBytes = optionalNum(fields, `${p}capacity`);
    const allocationBytes = optionalNum(fields, `${p}allocation`);
    result.push({
      name: fields.get(`${p}name`) ?? `block${i}`,
      ...(path ? { path } : {}),
      readBytes: num(fields, `${p}rd.bytes`),
      writeBytes: num(fields, `${p}wr.bytes`),
      readRequests: num(fields, `${p}rd.reqs`),
      writeRequests: num(fields, `${p}wr.reqs`),
      ...(capacityBytes !== undefined ? { capacityBytes } : {}),
      ...(allocationBytes !== undefined ? { allocationBytes } : {}),
    });
  }
  return result;
}

function netStats(fields: Fields): NetStats[] {
  const result: NetStats[] = [];
  for (let i = 0; i < num(fields, 'net.count'); i++) {
    const p = `net.${i}.`;
    result.push({
      name: fields.get(`${p}name`) ?? `net${i}`,
      rxBytes: num(fields, `${p}rx.bytes`),
      txBytes: num(fields, `${p}tx.bytes`),
      rxPackets: num(fields, `${p}rx.pkts`),
      txPackets: num(fields, `${p}tx.pkts`),
      rxErrors: num(fields, `${p}rx.errs`),
      txErrors: num(fields, `${p}tx.errs`),
      rxDrops: num(fields, `${p}rx.drop`),
      txDrops: num(fields, `${p}tx.drop`),
    });
  }
  return result;
}

/**
 * Converts `virsh domstats --state --cpu-total --balloon --vcpu --interface --block` output.
 * `memoryFallback` supplies configured memory for stopped domains, which report no balloon.
 */
export function parseDomstats(output: string, collectedAt = new Date()): DomainStats[] {
  return splitDomstats(output).map(({ name, fields }) => {
    const vmId = vmIdFromDomainName(name);
    const available = optionalNum(fields, 'balloon.available');
    const unused = optionalNum(fields, 'balloon.unused');
    const rss = optionalNum(fields, 'balloon.rss');
    return {
      name,
      ...(vmId ? { vmId } : {}),
      state: domainStateFromCode(num(fields, 'state.state')),
      cpuTimeNs: num(fields, 'cpu.time'),
      vcpus: num(fields, 'vcpu.current'),
      memory: {
        currentKiB: num(fields, 'balloon.current'),
        maxKiB: num(fields, 'balloon.maximum'),
        ...(available !== undefined ? { availableKiB: available } : {}),
        ...(unused !== undefined ? { unusedKiB: unused } : {}),
        ...(rss !== undefined ? { rssKiB: rss } : {}),
      },
      block: blockStats(fields),
      net: netStats(fields),
      collectedAt,
    };
  });
}
