import type { ReactNode } from 'react';
import { Navigate, useLocation } from 'react-router';
import { useUser } from './useSession';

/** Sends a signed-out visitor to /signin (and back afterwards); `admin` also requires the admin role. */
export function RequireSession({ children, admin = false }: { children: ReactNode; admin?: boolean }) {
  const user = useUser();
  const location = useLocation();
  if (!user) return <Navigate to="/signin" replace state={{ from: location.pathname + location.search }} />;
  if (admin && user.role !== 'admin') return <Navigate to="/vms" replace />;
  return <>{children}</>;
}
