import { CreateSnapshotDto } from '../snapshots/dto/snapshot.dto';
import { CreateVmDto } from '../vms/dto/create-vm.dto';
import { UpdateVmDto } from '../vms/dto/update-vm.dto';
import { AppException } from './problem';
import { createValidationPipe } from './validation';

const pipe = createValidationPipe();
const vm = { name: 'web-1', vcpus: 1, memoryMiB: 128, diskGiB: 1, imageId: '0d6b2c4e-1111-4222-8333-944455556666' };

async function failedFields(metatype: new () => object, body: object): Promise<string[]> {
  try {
    await pipe.transform(body, { type: 'body', metatype, data: undefined });
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(AppException);
    return ((error as AppException).extra.errors as Array<{ field: string }>).map((e) => e.field);
  }
}

// Found by test/reliability/property-domain-xml.spec.ts: a description holding U+FFFE (or any
// control character) was accepted, and libvirt then refused the domain XML built from it.
describe('free-text descriptions', () => {
  it.each([['\u0000'], ['\u0001'], ['\u001b[31m'], ['\b'], ['\ufffe'], ['\uffff'], ['\ud800'], ['\udc00x']])(
    'refuses %j in VM and snapshot descriptions',
    async (bad) => {
      const description = `before ${bad} after`;
      expect(await failedFields(CreateVmDto, { ...vm, description })).toEqual(['description']);
      expect(await failedFields(UpdateVmDto, { description })).toEqual(['description']);
      expect(await failedFields(CreateSnapshotDto, { name: 'snap', description })).toEqual(['description']);
    },
  );

  it('accepts tabs, line breaks, markup characters and any unicode text', async () => {
    const description = 'line 1\r\nline 2\ttab <b>&amp;</b> "q" \'q\' ]]> é \u{1f600} \u2028 \u0085 \u007f \ufffd';
    expect(await failedFields(CreateVmDto, { ...vm, description })).toEqual([]);
    expect(await failedFields(UpdateVmDto, { description })).toEqual([]);
    expect(await failedFields(CreateSnapshotDto, { name: 'snap', description })).toEqual([]);
  });
});
