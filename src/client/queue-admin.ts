/**
 * Share group (queue) administration: describe groups. A separate class from Admin so the
 * queue surface can grow (reset, delete) without touching the topic admin.
 */
import { Api, type ShareDescribeResponse, type ShareGroupDescriptionWire } from '../protocol/api.js';
import { fromWireError } from '../protocol/errors.js';
import { Connection, type ConnectionOptions } from './connection.js';
import { brokerUrl } from './producer.js';

export type ShareGroupDescription = ShareGroupDescriptionWire;

export class QueueAdmin {
  readonly conn: Connection;

  constructor(opts: ConnectionOptions & { url?: string; brokers?: string[] } = {}) {
    this.conn = new Connection(brokerUrl(opts), opts);
  }

  /** Every share group's ids. */
  async listGroups(): Promise<string[]> {
    const res = await this.conn.request<ShareDescribeResponse>(Api.ShareDescribe, {});
    return res.groups.map((g) => g.groupId);
  }

  /** One group's counts; throws GROUP_ID_NOT_FOUND for an unknown group. */
  async describeGroup(groupId: string): Promise<ShareGroupDescription> {
    const res = await this.conn.request<ShareDescribeResponse>(Api.ShareDescribe, { groupIds: [groupId] });
    const g = res.groups[0];
    if (g.error) throw fromWireError(g.error);
    return g;
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}
