/** The agent's routes: the agent serves exactly these, and the api reaches nothing else on it. */
export const AGENT_PATHS = ['/health', '/metrics', '/metrics/prometheus'] as const;
export type AgentPath = (typeof AGENT_PATHS)[number];
