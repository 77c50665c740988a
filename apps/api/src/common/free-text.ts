import { Matches, ValidationOptions } from 'class-validator';

/**
 * Characters allowed in free text that LIMEN hands to libvirt (VM and snapshot descriptions become
 * `<description>` in domain and snapshot XML): exactly what an XML 1.0 document can hold. Control
 * characters other than tab, newline and carriage return, U+FFFE/U+FFFF and lone surrogates cannot
 * be written in XML at all, so libvirt would refuse the definition long after the request was
 * accepted; NUL cannot even be stored in a PostgreSQL text column.
 */
export const FREE_TEXT = /^[\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]*$/u;

export function IsFreeText(options?: ValidationOptions): PropertyDecorator {
  return Matches(FREE_TEXT, {
    message: '$property must not contain control characters (other than tab and line breaks) or unpaired surrogates',
    ...options,
  });
}
