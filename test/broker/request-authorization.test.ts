// What the one table of checks (src/broker/request-authorization.ts) asks of a request, checked
// directly against an in-memory ACL set: here the share-group admin apis that name a topic.
// ShareCancel by key reads the topic's records to match their keys (it answers which offsets
// matched), and ShareReset moves where the group reads the topic (to earliest: every record
// again). Group alter alone must not let a principal search or replay a topic it may not read
// (Kafka asks topic READ of AlterShareGroupOffsets too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AclSet, type AclBinding } from '../../src/auth/acl.js';
import type { AclStore } from '../../src/auth/acl-store.js';
import { Authorizer } from '../../src/broker/authorize.js';
import { authorizeRequest } from '../../src/broker/request-authorization.js';
import type { BrokerContext, RequestScope } from '../../src/broker/context.js';
import { Api } from '../../src/protocol/api.js';
import type { Request } from '../../src/protocol/parse-request.js';

function allow(resourceType: AclBinding['resourceType'], resourceName: string, operation: AclBinding['operation']): AclBinding {
  return { principal: 'mallory', resourceType, resourceName, patternType: 'literal', operation, permission: 'allow' };
}

function contextWith(bindings: AclBinding[]): BrokerContext {
  const store: AclStore = { current: new AclSet(bindings), add: async () => {}, remove: async () => [], close: async () => {} };
  return { authorizer: new Authorizer(store, {}) } as unknown as BrokerContext;
}

const scope = { principal: 'mallory' } as RequestScope;
const cancelByKey = { id: 1, api: Api.ShareCancel, version: 0, groupId: 'workers', topic: 'payroll', key: Buffer.from('employee-7') } as unknown as Request;
const resetToEarliest = { id: 2, api: Api.ShareReset, version: 0, groupId: 'workers', topic: 'payroll', to: 'earliest' } as unknown as Request;

function refusal(ctx: BrokerContext, req: Request): string | undefined {
  try {
    authorizeRequest(ctx, req, scope);
    return undefined;
  } catch (err) {
    return (err as { code?: string }).code;
  }
}

test('ShareCancel and ShareReset need read on their topic besides alter on the group', () => {
  const groupOnly = contextWith([allow('group', 'workers', 'alter')]);
  assert.equal(refusal(groupOnly, cancelByKey), 'TOPIC_AUTHORIZATION_FAILED', 'a cancel by key searches the topic\'s record keys');
  assert.equal(refusal(groupOnly, resetToEarliest), 'TOPIC_AUTHORIZATION_FAILED', 'a reset replays the topic to the group');

  const both = contextWith([allow('group', 'workers', 'alter'), allow('topic', 'payroll', 'read')]);
  assert.equal(refusal(both, cancelByKey), undefined);
  assert.equal(refusal(both, resetToEarliest), undefined);

  const topicOnly = contextWith([allow('topic', 'payroll', 'read')]);
  assert.equal(refusal(topicOnly, cancelByKey), 'GROUP_AUTHORIZATION_FAILED');
});
