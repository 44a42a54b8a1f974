import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ConnectionReport, connectionReportSchema } from '../api/report.js';

export interface ReceivedReport {
  authorization: string | undefined;
  report: ConnectionReport;
  /** The status this receiver answered with. */
  status: number;
}

export interface ReportReceiver {
  url: string;
  received: ReceivedReport[];
  /** Most requests that were open at the same time. */
  maxConcurrent: number;
  /** Decides the answer to the n-th request (0-based); may wait before answering. */
  answer: (n: number) => number | Promise<number>;
  close(): Promise<void>;
}

/** A stand-in for the operator's report endpoint, on loopback, recording every report it gets. */
export async function startReportReceiver(
  answer: ReportReceiver['answer'] = () => 204,
): Promise<ReportReceiver> {
  let open = 0;
  let count = 0;
  const receiver: ReportReceiver = {
    url: '',
    received: [],
    maxConcurrent: 0,
    answer,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server = http.createServer(async (req, res) => {
    open += 1;
    receiver.maxConcurrent = Math.max(receiver.maxConcurrent, open);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const n = count++;
    const status = await receiver.answer(n);
    const report = JSON.parse(Buffer.concat(chunks).toString('utf8')) as ConnectionReport;
    // The operator's own contract, strictly: a field it would refuse or drop fails the sidecar's tests.
    connectionReportSchema.strict().parse(report);
    receiver.received.push({
      authorization: req.headers.authorization,
      report,
      status,
    });
    open -= 1;
    res.writeHead(status).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/connection-reports`;
  return receiver;
}
