import { XMLBuilder, XMLParser } from 'fast-xml-parser';

/**
 * The single place that configures XML reading and writing. Attributes are `@_name`, text is
 * `#text`. The builder escapes every text and attribute value, so user strings can never close
 * an element or inject markup.
 */
export const ATTR = '@_';

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: ATTR,
  textNodeName: '#text',
  format: true,
  suppressEmptyNode: true,
  processEntities: true,
});

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: ATTR,
  textNodeName: '#text',
  // Keep every value a string: "007" stays "007", numbers are converted where they are used.
  parseTagValue: false,
  parseAttributeValue: false,
  // Keep user text byte-exact (descriptions may start or end with spaces).
  trimValues: false,
  processEntities: true,
  // libxml2 writes characters such as \r as numeric references (&#13;); decode those too.
  htmlEntities: true,
  isArray: (_name, jpath) => ARRAY_PATHS.has(String(jpath)),
});

/** Elements that may repeat; always parsed as arrays so callers need no shape checks. */
const ARRAY_PATHS = new Set([
  'domain.devices.disk',
  'domain.devices.interface',
  'domain.devices.serial',
  'domain.devices.console',
  'domain.devices.graphics',
  'domain.devices.video',
  'domain.devices.controller',
  'domain.os.boot',
  'capabilities.guest',
  'capabilities.guest.arch.domain',
  'capabilities.guest.arch.machine',
]);

export type XmlNode = Record<string, unknown>;

export function buildXml(document: XmlNode): string {
  return builder.build(document) as string;
}

export function parseXml(xml: string): XmlNode {
  return parser.parse(xml) as XmlNode;
}

/** Text content of an element parsed with trimValues=false (string, or `#text` of an element with attributes). */
export function textOf(node: unknown): string | undefined {
  if (typeof node === 'string') return node;
  if (node && typeof node === 'object' && '#text' in node) {
    const text = (node as XmlNode)['#text'];
    return typeof text === 'string' ? text : undefined;
  }
  return undefined;
}

export function attrOf(node: unknown, name: string): string | undefined {
  if (!node || typeof node !== 'object') return undefined;
  const value = (node as XmlNode)[ATTR + name];
  return typeof value === 'string' ? value : undefined;
}

export function childOf(node: unknown, name: string): XmlNode | undefined {
  if (!node || typeof node !== 'object') return undefined;
  const child = (node as XmlNode)[name];
  if (child === undefined || child === null) return undefined;
  // An empty element (<acpi/>) parses as ''; represent it as an empty node.
  if (typeof child === 'string') return { '#text': child };
  return Array.isArray(child) ? (child[0] as XmlNode) : (child as XmlNode);
}

export function childrenOf(node: unknown, name: string): XmlNode[] {
  if (!node || typeof node !== 'object') return [];
  const child = (node as XmlNode)[name];
  if (child === undefined || child === null) return [];
  const list = Array.isArray(child) ? child : [child];
  return list.map((item) => (typeof item === 'string' ? { '#text': item } : (item as XmlNode)));
}
