/**
 * Share group (queue) administration: describe and delete groups. A separate class from
 * Admin so the queue surface can grow without touching the topic admin.
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

  /**
   * Deletes a group with no workers: which records were acked, dead-lettered or are owed a
   * retry, and its settings. Throws GROUP_ID_NOT_FOUND, or NON_EMPTY_GROUP while workers
   * are in it (stop them, or wait for their session timeout).
   */
  async deleteGroup(groupId: string): Promise<void> {
    await this.conn.request(Api.ShareDelete, { groupId });
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}
