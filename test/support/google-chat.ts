import { FakeReceiver } from './receiver.ts';
import type { ReceivedRequest, Reply } from './receiver.ts';

const WIDGETS = ['textParagraph', 'decoratedText', 'image', 'buttonList', 'divider', 'grid', 'columns', 'chipList'];

/** A message as Google Chat would read it. */
export interface ReceivedChatMessage {
  text?: string;
  cardsV2?: Array<{ cardId: string; card: { header?: { title: string; subtitle?: string }; sections?: Array<{ header?: string; widgets: Array<Record<string, { text?: string; topLabel?: string }>> }> } }>;
  thread?: { threadKey?: string };
}

/**
 * What Google Chat's spaces.messages.create would refuse, from its reference: over 32,000
 * bytes, neither text nor cards, a card without a cardId, a section without widgets, a widget
 * that is not exactly one kind. And what hookrelay promises: a thread key, and
 * messageReplyOption=REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD on the URL (without it Chat ignores
 * the key and starts a new thread each time).
 */
export function googleChatProblems(request: ReceivedRequest): string[] {
  const problems: string[] = [];
  const url = new URL(request.path, 'http://chat.invalid');
  if (url.searchParams.get('messageReplyOption') !== 'REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD') problems.push('messageReplyOption is not REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD');
  if (Buffer.byteLength(request.body) > 32_000) problems.push(`${Buffer.byteLength(request.body)} bytes > 32,000`);
  let message: ReceivedChatMessage;
  try {
    message = request.json();
  } catch {
    return [...problems, 'not JSON'];
  }
  if (!message.thread?.threadKey) problems.push('no thread.threadKey');
  if (!message.text && !message.cardsV2?.length) problems.push('neither text nor cardsV2');
  message.cardsV2?.forEach((entry, c) => {
    if (!entry.cardId) problems.push(`cardsV2[${c}]: no cardId`);
    entry.card.sections?.forEach((section, s) => {
      if (section.widgets.length === 0) problems.push(`cardsV2[${c}].sections[${s}]: no widgets`);
      section.widgets.forEach((widget, w) => {
        if (Object.keys(widget).filter((key) => WIDGETS.includes(key)).length !== 1) problems.push(`cardsV2[${c}].sections[${s}].widgets[${w}]: not exactly one widget`);
      });
    });
  });
  return problems;
}

/** A Google Chat space webhook on loopback: 200 with the created message (its thread named per thread key), 400 otherwise. */
export async function fakeGoogleChat(): Promise<FakeReceiver & { messages(): ReceivedChatMessage[]; threadOf(index: number): string }> {
  const fake = await FakeReceiver.start();
  const threads = new Map<string, string>();
  const answers: string[] = [];
  fake.respond((request): Reply => {
    const problems = googleChatProblems(request);
    if (problems.length > 0) return { status: 400, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ error: { code: 400, message: problems.join('; '), status: 'INVALID_ARGUMENT' } }) };
    const key = request.json<ReceivedChatMessage>().thread!.threadKey!;
    if (!threads.has(key)) threads.set(key, `spaces/AAAA/threads/t${threads.size + 1}`);
    answers.push(threads.get(key)!);
    return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: `spaces/AAAA/messages/m${answers.length}`, thread: { name: threads.get(key), threadKey: key } }) };
  });
  return Object.assign(fake, {
    messages: () => fake.requests.map((request) => request.json<ReceivedChatMessage>()),
    threadOf: (index: number) => answers[index]!,
  });
}
