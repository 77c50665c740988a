import { parseDomstats, runtimeStateOf, splitDomstats } from './domstats-parser';

const OUTPUT = `Domain: 'limen-abc'
  state.state=1
  state.reason=1
  cpu.time=4128425000
  balloon.current=262144
  balloon.maximum=524288
  balloon.rss=240660
  vcpu.current=1
  vcpu.maximum=2
  net.count=1
  net.0.name=vnet0
  net.0.rx.bytes=10
  net.0.rx.pkts=1
  net.0.tx.bytes=20
  net.0.tx.pkts=2
  block.count=1
  block.0.name=vda
  block.0.path=/d.qcow2
  block.0.rd.reqs=1
  block.0.rd.bytes=512
  block.0.wr.reqs=3
  block.0.wr.bytes=4096
  block.0.capacity=67108864

Domain: 'other'
  state.state=5
  state.reason=0
`;

describe('parseDomstats', () => {
  it('parses every domain of one domstats call', () => {
    const [limen, other] = parseDomstats(OUTPUT, new Date(0));
    expect(limen).toEqual({
      name: 'limen-abc',
      vmId: 'abc',
      state: 'running',
      cpuTimeNs: 4128425000,
      vcpus: 1,
      memory: { currentKiB: 262144, maxKiB: 524288, rssKiB: 240660 },
      block: [
        {
          name: 'vda',
          path: '/d.qcow2',
          readBytes: 512,
          writeBytes: 4096,
          readRequests: 1,
          writeRequests: 3,
          capacityBytes: 67108864,
        },
      ],
      net: [
        {
          name: 'vnet0',
          rxBytes: 10,
          txBytes: 20,
          rxPackets: 1,
          txPackets: 2,
          rxErrors: 0,
          txErrors: 0,
          rxDrops: 0,
          txDrops: 0,
        },
      ],
      collectedAt: new Date(0),
    });
    expect(other).toMatchObject({ name: 'other', state: 'shutoff', cpuTimeNs: 0, block: [], net: [] });
    expect(other).not.toHaveProperty('vmId');
  });
});

describe('runtimeStateOf', () => {
  const of = (output: string) => runtimeStateOf(splitDomstats(output)[0].fields);

  it('says why a domain is shut off; a QEMU that was killed leaves reason 3, crashed', () => {
    expect(of(`Domain: 'limen-a'\n  state.state=5\n  state.reason=3\n`)).toEqual({
      state: 'shutoff',
      shutoffReason: 'crashed',
    });
    expect(of(`Domain: 'limen-a'\n  state.state=5\n  state.reason=2\n`)).toEqual({
      state: 'shutoff',
      shutoffReason: 'destroyed',
    });
    expect(of(`Domain: 'limen-a'\n  state.state=5\n  state.reason=1\n`)).toEqual({
      state: 'shutoff',
      shutoffReason: 'shutdown',
    });
    // A code newer than this libvirt catalogue.
    expect(of(`Domain: 'limen-a'\n  state.state=5\n  state.reason=42\n`)).toEqual({
      state: 'shutoff',
      shutoffReason: 'unknown',
    });
  });

  it('gives no shutoff reason for other states (their reasons mean something else) or when none is printed', () => {
    expect(of(`Domain: 'limen-a'\n  state.state=1\n  state.reason=3\n`)).toEqual({ state: 'running' });
    expect(of(`Domain: 'limen-a'\n  state.state=5\n`)).toEqual({ state: 'shutoff' });
  });
});
