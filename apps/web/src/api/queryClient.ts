import { QueryClient } from '@tanstack/react-query';

/** The dashboard's one query cache: the React tree reads it, and route loaders start queries in it. */
export const queryClient = new QueryClient({
  defaultOptions: { queries: { retry: 1, refetchOnWindowFocus: false, staleTime: 30_000 } },
});
