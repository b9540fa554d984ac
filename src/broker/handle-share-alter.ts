/**
 * ShareAlter (api 1120): changes settings of an existing share group, such as its group-wide
 * rate and concurrency limits (`sluice queue alter`). The new config is written durably to
 * the share state log (a config record, so it survives a restart and, in cluster mode, a
 * coordinator move) before the answer, and applies to the next acquire; parked acquires look
 * again at once, since a raised limit may let them take work.
 */
import type { Api } from '../protocol/api.js';
import { UnknownShareGroupError } from '../queue/errors.js';
import { shareServiceFor } from './share-coordinators.js';
import { pickSettings, settingsOf } from './share-settings.js';
import type { Handler } from './handler.js';

export const handleShareAlter: Handler<typeof Api.ShareAlter> = async (ctx, req) => {
  const svc = shareServiceFor(ctx, req.groupId);
  if (!svc.coord.group(req.groupId)) throw new UnknownShareGroupError(req.groupId);
  const config = svc.coord.configure(req.groupId, pickSettings(req.settings));
  await svc.commit([], true);
  svc.wakeGroup(req.groupId);
  ctx.log.info('share group altered', { group: req.groupId, settings: req.settings });
  return { id: req.id, settings: settingsOf(config) };
};
