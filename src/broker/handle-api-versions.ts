/**
 * ApiVersions (18): the version range of every api this broker speaks, from the api table,
 * so a client can pick, per api, the highest version both sides know. Built once: the
 * table does not change while the broker runs.
 */
import type { Api, ApiVersionsResponse } from '../protocol/api.js';
import { API_DEFINITIONS } from '../protocol/api-table.js';
import type { Handler } from './handler.js';

const APIS: ApiVersionsResponse['apis'] = API_DEFINITIONS.map((d) => ({ api: d.key, name: d.name, minVersion: d.minVersion, maxVersion: d.maxVersion }));

export const handleApiVersions: Handler<typeof Api.ApiVersions> = async (_ctx, req) => {
  return { id: req.id, apis: APIS };
};
