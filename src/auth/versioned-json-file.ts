/**
 * The shape both file stores share (users.json, quotas.json): `{ "version": N, "<field>": { ... } }`,
 * read whole at start-up. One place that says which file is damaged and how.
 */
import { readOptionalText } from '../storage/atomic-file.js';

/** The `field` map of the file at `path`; null when there is no file. Throws naming the file when it is not JSON or not version `version`. */
export async function readVersionedMap(path: string, version: number, field: string, kind: string): Promise<Record<string, unknown> | null> {
  const text = await readOptionalText(path);
  if (text === null) return null;
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch (err) {
    throw new Error(`${path} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const map = json?.[field];
  if (json?.version !== version || map === null || typeof map !== 'object' || Array.isArray(map)) throw new Error(`${path} is not a version ${version} ${kind} file`);
  return map as Record<string, unknown>;
}
