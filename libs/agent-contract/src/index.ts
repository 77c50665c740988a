// What the host metrics agent (apps/agent) and the api (its AgentClient) agree on.
export * from './agent-paths';
export * from './host-metrics';
