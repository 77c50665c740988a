import { QueryClientProvider } from '@tanstack/react-query';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { RouterProvider } from 'react-router';
import { queryClient } from './api/queryClient';
import './i18n';
import { restoreSession } from './auth/session';
import { router } from './routes';
import './styles.css';

// A stylesheet whose download was cut off (Chromium aborts requests in flight with
// ERR_NETWORK_CHANGED when the machine's network interfaces change: a VPN, a new bridge) would
// leave the whole dashboard unstyled, so it is fetched once more. Module scripts run only after
// the stylesheets before them have loaded or failed. Chromium keeps a sheet for a failed one whose
// rules cannot be read: only rules that can be read mean it loaded. The query string makes the
// second try a new request.
const loaded = (link: HTMLLinkElement) => {
  try {
    return (link.sheet?.cssRules.length ?? 0) > 0;
  } catch {
    return false;
  }
};
for (const link of document.querySelectorAll<HTMLLinkElement>('link[rel="stylesheet"]')) {
  if (loaded(link)) continue;
  const again = link.cloneNode() as HTMLLinkElement;
  again.href = `${link.href}?again`;
  link.replaceWith(again);
}

// The first render waits for the session cookie (if any), so a reload does not bounce through /signin.
await restoreSession();
createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <RouterProvider router={router} />
    </QueryClientProvider>
  </StrictMode>,
);
