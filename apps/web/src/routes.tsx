import { lazy, Suspense, type ReactNode } from 'react';
import { createBrowserRouter, Navigate } from 'react-router';
import { vmsQuery } from './api/queries';
import { queryClient } from './api/queryClient';
import { RequireSession } from './auth/RequireSession';
import { currentUser } from './auth/session';
import { Shell } from './layout/Shell';
import { AlertChannels } from './pages/admin/AlertChannels';
import { AlertRules } from './pages/admin/AlertRules';
import { AlertsPage, FiringAlerts } from './pages/admin/AlertsPage';
import { AuditPage } from './pages/admin/AuditPage';
import { HostsPage } from './pages/admin/HostsPage';
import { ImagesPage } from './pages/admin/ImagesPage';
import { NetworksPage } from './pages/admin/NetworksPage';
import { UsersPage } from './pages/admin/UsersPage';
import { AccountPage } from './pages/account/AccountPage';
import { OidcReturnPage } from './pages/OidcReturnPage';
import { RegisterPage } from './pages/RegisterPage';
import { SignInPage } from './pages/SignInPage';
import { CreateVmPage } from './pages/vms/CreateVmPage';
import { VmDetailPage, VmOverview } from './pages/vms/VmDetailPage';
import { VmListPage } from './pages/vms/VmListPage';
import { VmSnapshots } from './pages/vms/VmSnapshots';
import { VmBackups } from './pages/vms/VmBackups';
import { VmActivity } from './pages/vms/VmActivity';
import { Loading } from './ui/Status';

// xterm.js and noVNC are large: they load only when a console tab opens.
const SerialConsole = lazy(() => import('./pages/vms/SerialConsole'));
const VncConsole = lazy(() => import('./pages/vms/VncConsole'));
// uPlot, likewise, only with the charts.
const VmMonitor = lazy(() => import('./pages/vms/VmMonitor'));
const later = (element: ReactNode) => <Suspense fallback={<Loading />}>{element}</Suspense>;

// Starts the VM list's first page on the click, not after the page's first render (which, on a
// freshly loaded dashboard, compiles the list's code first). Not awaited: the page shows its own loading.
function startVmList(): null {
  if (currentUser()) void queryClient.prefetchQuery(vmsQuery);
  return null;
}

export const router = createBrowserRouter([
  { path: '/signin', element: <SignInPage /> },
  { path: '/signin/oidc', element: <OidcReturnPage /> },
  { path: '/register', element: <RegisterPage /> },
  {
    element: (
      <RequireSession>
        <Shell />
      </RequireSession>
    ),
    children: [
      { index: true, element: <Navigate to="/vms" replace /> },
      { path: 'vms', element: <VmListPage />, loader: startVmList },
      { path: 'vms/new', element: <CreateVmPage /> },
      { path: 'account', element: <AccountPage /> },
      {
        path: 'vms/:id',
        element: <VmDetailPage />,
        children: [
          { index: true, element: <VmOverview /> },
          { path: 'monitor', element: later(<VmMonitor />) },
          { path: 'snapshots', element: <VmSnapshots /> },
          { path: 'backups', element: <VmBackups /> },
          { path: 'activity', element: <VmActivity /> },
          { path: 'serial', element: later(<SerialConsole />) },
          { path: 'vnc', element: later(<VncConsole />) },
        ],
      },
      {
        path: 'admin/users',
        element: (
          <RequireSession admin>
            <UsersPage />
          </RequireSession>
        ),
      },
      {
        path: 'admin/alerts',
        element: (
          <RequireSession admin>
            <AlertsPage />
          </RequireSession>
        ),
        children: [
          { index: true, element: <FiringAlerts /> },
          { path: 'rules', element: <AlertRules /> },
          { path: 'channels', element: <AlertChannels /> },
        ],
      },
      {
        path: 'admin/hosts',
        element: (
          <RequireSession admin>
            <HostsPage />
          </RequireSession>
        ),
      },
      {
        path: 'admin/networks',
        element: (
          <RequireSession admin>
            <NetworksPage />
          </RequireSession>
        ),
      },
      {
        path: 'admin/images',
        element: (
          <RequireSession admin>
            <ImagesPage />
          </RequireSession>
        ),
      },
      {
        path: 'admin/audit',
        element: (
          <RequireSession admin>
            <AuditPage />
          </RequireSession>
        ),
      },
      { path: '*', element: <Navigate to="/vms" replace /> },
    ],
  },
]);
