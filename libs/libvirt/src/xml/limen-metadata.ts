/** Namespace of the `<metadata>` element every LIMEN domain carries. */
export const LIMEN_XMLNS = 'https://limen.dev/xmlns/domain/1';
export const LIMEN_PREFIX = 'limen';

export interface LimenMetadata {
  vmId: string;
  ownerId: string;
  /** Path of the seed ISO, so undefine can find and delete it on request. */
  seedIsoPath?: string;
}
