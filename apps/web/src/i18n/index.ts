import i18n from 'i18next';
import LanguageDetector from 'i18next-browser-languagedetector';
import { initReactI18next } from 'react-i18next';
import { en } from './en';
import { ko } from './ko';

export const LANGUAGES = [
  { code: 'en', label: 'English' },
  { code: 'ko', label: '한국어' },
] as const;

// The browser's language picks the first time; a choice made in the menu is remembered (localStorage).
void i18n
  .use(LanguageDetector)
  .use(initReactI18next)
  .init({
    resources: { en: { translation: en }, ko: { translation: ko } },
    fallbackLng: 'en',
    supportedLngs: ['en', 'ko'],
    nonExplicitSupportedLngs: true,
    interpolation: { escapeValue: false },
    detection: { order: ['localStorage', 'navigator'], lookupLocalStorage: 'limen.language', caches: ['localStorage'] },
  });
i18n.on('languageChanged', (lng) => document.documentElement.setAttribute('lang', lng));
document.documentElement.setAttribute('lang', i18n.resolvedLanguage ?? 'en');

/** Dates and numbers in the chosen language. */
// One formatter per language, made on first use: building an Intl formatter costs far more than using
// one, and lists (the VM list, audit log) format a date or number in every row.
const dateFormats = new Map<string | undefined, Intl.DateTimeFormat>();
const numberFormats = new Map<string | undefined, Intl.NumberFormat>();
const dateFormat = (lng = i18n.resolvedLanguage) =>
  dateFormats.get(lng) ??
  dateFormats.set(lng, new Intl.DateTimeFormat(lng, { dateStyle: 'medium', timeStyle: 'short' })).get(lng)!;
const numberFormat = (lng = i18n.resolvedLanguage) =>
  numberFormats.get(lng) ?? numberFormats.set(lng, new Intl.NumberFormat(lng)).get(lng)!;

export const formatDate = (iso: string | null | undefined): string => (iso ? dateFormat().format(new Date(iso)) : '');
export const formatNumber = (value: number): string => numberFormat().format(value);

const BYTE_UNITS = ['byte', 'kilobyte', 'megabyte', 'gigabyte', 'terabyte'] as const;
/** A byte count in the largest decimal unit below it (kB = 1000 B, as Intl names them), in the chosen language. */
export const formatBytes = (bytes: number): string => {
  const step = Math.min(BYTE_UNITS.length - 1, bytes > 0 ? Math.floor(Math.log10(bytes) / 3) : 0);
  return new Intl.NumberFormat(i18n.resolvedLanguage, {
    style: 'unit',
    unit: BYTE_UNITS[step],
    maximumFractionDigits: 1,
  }).format(bytes / 1000 ** step);
};

export default i18n;
