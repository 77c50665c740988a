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
export const formatDate = (iso: string | null | undefined): string =>
  iso
    ? new Intl.DateTimeFormat(i18n.resolvedLanguage, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(iso))
    : '';
export const formatNumber = (value: number): string => new Intl.NumberFormat(i18n.resolvedLanguage).format(value);

export default i18n;
