import { qemuGroupIdFrom } from './host-capabilities-parser';

const capabilities = (secmodels: string) =>
  `<capabilities><host><uuid>x</uuid>${secmodels}</host><guest><os_type>hvm</os_type></guest></capabilities>`;

describe('qemuGroupIdFrom', () => {
  it("reads the gid QEMU runs with from the DAC model's base label", () => {
    const xml = capabilities(`<secmodel><model>none</model><doi>0</doi></secmodel>
      <secmodel><model>dac</model><doi>0</doi><baselabel type='kvm'>+64055:+64055</baselabel><baselabel type='qemu'>+64055:+64055</baselabel></secmodel>`);
    expect(qemuGroupIdFrom(xml)).toBe(64055);
    expect(
      qemuGroupIdFrom(
        capabilities(`<secmodel><model>dac</model><doi>0</doi><baselabel type='kvm'>107:36</baselabel></secmodel>`),
      ),
    ).toBe(36);
  });

  it('is undefined without DAC', () => {
    expect(qemuGroupIdFrom(capabilities(`<secmodel><model>none</model><doi>0</doi></secmodel>`))).toBeUndefined();
    expect(qemuGroupIdFrom(capabilities(''))).toBeUndefined();
  });
});
