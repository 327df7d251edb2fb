/**
 * The shapes commands print for shared things (streams), so that `workspace`, `review`, `merge`
 * and `status` agree on field names.
 */
import type { Stream } from '../store/index.js';

/** A stream as commands print it (the `--json` minimum fields, plus its state). */
export interface StreamView {
  id: string;
  name: string;
  branch: string;
  base_branch: string | null;
  parent_stream_id: string | null;
  agent_id: string;
  status: Stream['status'];
  review_status: Stream['review_status'];
}

export function toStreamView(stream: Stream): StreamView {
  return {
    id: stream.id,
    name: stream.name,
    branch: stream.branch,
    base_branch: stream.base_branch,
    parent_stream_id: stream.parent_stream_id,
    agent_id: stream.agent_id,
    status: stream.status,
    review_status: stream.review_status,
  };
}
