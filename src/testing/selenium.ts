import http from 'node:http';

/**
 * An http.Agent that sets `headers` on every request: how Selenium's JavaScript bindings add a header to each
 * WebDriver command (Browserbase's and Hyperbrowser's docs do it this way), for `Builder.usingHttpAgent`.
 */
export function agentWithHeaders(headers: Record<string, string>): http.Agent {
  // addRequest is Node's own (undocumented, untyped) hook that every request of an agent passes through.
  const agent = new http.Agent({ keepAlive: true }) as http.Agent & {
    addRequest(req: http.ClientRequest, options: unknown): void;
  };
  const add = agent.addRequest.bind(agent);
  agent.addRequest = (req, options) => {
    for (const [k, v] of Object.entries(headers)) req.setHeader(k, v);
    add(req, options);
  };
  return agent;
}
