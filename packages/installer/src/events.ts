import { ErrorCodes, type AttuneError } from "@attune/pack-storage";
import type { InstallerContext } from "./context";
import type { EventData } from "./record";

/**
 * Append a history event. When its identity no longer exists (an API token deleted meanwhile, or
 * the reason a commit failed), the event is kept with the actor by name only. Other failures (a
 * busy or unreachable database) are thrown: trying again at once would only wait twice.
 */
export async function appendEventKeepingActor(ctx: InstallerContext, event: EventData): Promise<void> {
  try {
    await ctx.store.appendEvent(event);
  } catch (err) {
    if (event.actorId === null || (err as AttuneError).code !== ErrorCodes.ENOTFOUND) throw err;
    await ctx.store.appendEvent({ ...event, actorId: null });
  }
}
