import { XMLBuilder, XMLParser } from 'fast-xml-parser';
import { HypervisorError } from '../errors/hypervisor-error';

/**
 * The single place that configures XML reading and writing. Attributes are `@_name`, text is
 * `#text`. The builder escapes every text and attribute value, so user strings can never close
 * an element or inject markup.
 */
export const ATTR = '@_';

/**
 * The characters an XML 1.0 document can hold (https://www.w3.org/TR/xml/#charsets). Control
 * characters, U+FFFE/U+FFFF and lone surrogates have no representation at all, not even escaped:
 * libvirt refuses the whole document ("PCDATA invalid Char value 1"). Refusing them here gives the
 * caller a clear INVALID_ARGUMENT instead of a define that fails deep inside libvirt.
 */
export const XML_CHARACTERS = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&apos;',
  // A raw CR would be read back as LF (XML end-of-line handling); a character reference survives.
  '\r': '&#13;',
};

/** Every text and attribute value is checked and escaped here (the builder's own entity pass is off: it has no CR). */
function escapeValue(name: string, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (!XML_CHARACTERS.test(value)) {
    throw new HypervisorError(
      'INVALID_ARGUMENT',
      `${name.replace(ATTR, '')} holds characters XML cannot represent (control characters or non-characters)`,
    );
  }
  return value.replace(/[&<>"'\r]/g, (c) => ESCAPES[c]);
}

const builder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: ATTR,
  textNodeName: '#text',
  format: true,
  suppressEmptyNode: true,
  processEntities: false,
  tagValueProcessor: escapeValue,
  attributeValueProcessor: escapeValue,
});

/** How both parsers read libvirt's XML. */
const PARSE_OPTIONS = {
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
} as const;

const parser = new XMLParser({
  ...PARSE_OPTIONS,
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
  'domain.devices.channel',
  'network.ip',
  'network.ip.dhcp.range',
  'network.ip.dhcp.host',
  'domain.qemu:commandline.qemu:arg',
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
  // libvirt writes a CR in user text raw (its escaping leaves \r alone, libvirt 9.0), and XML
  // end-of-line handling would read it back as LF. Nothing libvirt formats uses CR for layout, so
  // every raw CR is content: keep it as one.
  return parser.parse(xml.replace(/\r/g, '&#13;')) as XmlNode;
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

/**
 * A document as fast-xml-parser's ordered form: every element is `{ [name]: children[], ':@'?: attributes }`
 * and text is `{ '#text': value }`. Used to edit a document libvirt wrote without reordering or
 * reformatting anything else in it.
 */
export type OrderedNode = Record<string, unknown>;

const orderedParser = new XMLParser({ ...PARSE_OPTIONS, preserveOrder: true });

const orderedBuilder = new XMLBuilder({
  ignoreAttributes: false,
  attributeNamePrefix: ATTR,
  textNodeName: '#text',
  format: false,
  suppressEmptyNode: true,
  processEntities: false,
  preserveOrder: true,
  tagValueProcessor: escapeValue,
  attributeValueProcessor: escapeValue,
});

export function parseOrderedXml(xml: string): OrderedNode[] {
  return orderedParser.parse(xml.replace(/\r/g, '&#13;')) as OrderedNode[];
}

export function buildOrderedXml(nodes: OrderedNode[]): string {
  return orderedBuilder.build(nodes) as string;
}
