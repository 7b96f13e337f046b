// Who may fetch a media item (protocol.md §7.3, §8.2, §8.8): its uploader, and a current member of a chat in
// which a message carrying it has a seq at or after the member's joined_seq. Pure: the caller supplies the
// recorded links (media → chat, highest seq carrying it) and the chat's members.
export interface MediaLink {
  chatId: string;
  /** The highest seq of a message in this chat that carries the media. */
  seq: number;
}

export interface MemberView {
  userId: string;
  joinedSeq: number;
  /** A membership change still being committed: not yet a member. */
  pending: boolean;
}

export function memberMaySee(link: MediaLink, members: readonly MemberView[], userId: string): boolean {
  const m = members.find((x) => x.userId === userId);
  return m !== undefined && !m.pending && link.seq >= m.joinedSeq;
}
