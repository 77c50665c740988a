import { useTranslation } from 'react-i18next';
import { NavLink, Outlet, useNavigate } from 'react-router';
import { useLiveEvents } from '../api/live';
import { signOut } from '../auth/session';
import { useUser } from '../auth/useSession';
import { LanguageSelect } from './LanguageSelect';

/**
 * The navigation, one list: screens still to come are listed without a link. A link is current on
 * its own path only (`/vms` is not current on `/vms/new`), except where `nested` sub-screens live.
 */
const NAV: ReadonlyArray<{ to?: string; label: string; admin?: boolean; nested?: boolean }> = [
  { to: '/vms', label: 'nav.vms' },
  { to: '/vms/new', label: 'nav.create' },
  { to: '/account', label: 'nav.account' },
  { to: '/admin/users', label: 'nav.users', admin: true },
  { to: '/admin/alerts', label: 'nav.alerts', admin: true, nested: true },
  { to: '/admin/hosts', label: 'nav.hosts', admin: true },
  { to: '/admin/networks', label: 'nav.networks', admin: true },
  { to: '/admin/images', label: 'nav.images', admin: true },
  { to: '/admin/audit', label: 'nav.audit', admin: true },
];

export function Shell() {
  const { t } = useTranslation();
  const user = useUser();
  const navigate = useNavigate();
  const live = useLiveEvents();
  const items = NAV.filter((item) => !item.admin || user?.role === 'admin');
  return (
    <div className="shell">
      <a className="skip" href="#main">
        {t('app.skip')}
      </a>
      <header className="topbar">
        <span className="brand">{t('app.name')}</span>
        <span className={live ? 'live on' : 'live'} role="status">
          {live ? t('vms.live') : t('vms.offline')}
        </span>
        <span className="spacer" />
        <LanguageSelect />
        <span className="who">
          {user?.username} {user?.role === 'admin' ? `(${user.role})` : ''}
        </span>
        <button type="button" onClick={() => void signOut().then(() => navigate('/signin', { replace: true }))}>
          {t('app.signOut')}
        </button>
      </header>
      <nav className="sidenav" aria-label={t('app.menu')}>
        <ul>
          {items.map((item) => (
            <li key={item.label}>
              {item.to ? (
                <NavLink to={item.to} end={!item.nested}>
                  {t(item.label)}
                </NavLink>
              ) : (
                <span className="soon">
                  {t(item.label)} <small>({t('nav.soon')})</small>
                </span>
              )}
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}
